"""A loopback TCP proxy in front of the API server that injects network faults.

Only the scheduler under test talks through it (its kubeconfig points here); everything else,
the test included, talks to the API server directly. Outside a server-error fault TLS passes
through untouched (the proxy never sees HTTP), so the faults are the ones a real network makes:

* ``reset()``: every open connection is closed with a TCP RST (watches drop, requests fail);
* ``blackhole(seconds)``: bytes stop flowing both ways (requests and watches hang, then time out);
* ``drop_responses(seconds)``: requests still reach the API server but answers are held back: a
  bind that *did* bind the pod times out on the client (the hardest case for the cache);
* ``delay(seconds, latency)``: every chunk waits ``latency`` before it is forwarded.

With ``tls`` (a ``ProxyTls``: a serving certificate for 127.0.0.1 signed by the lab's CA, and the
scheduler's own client credentials from its kubeconfig) it can also make the API server *answer*
errors:

* ``server_errors(seconds, code=503, ...)``: open connections are reset; every new connection is
  TLS-terminated by the proxy, the request head (and body) is read, and a request that matches
  (``match``, a regex on ``"METHOD /path?query"``; every request by default) is answered with the
  API server's own ``Status`` error for ``code`` (503 ServiceUnavailable, 500 InternalError, 504
  Timeout, 429 TooManyRequests; ``retry_after`` adds ``Retry-After`` and ``retryAfterSeconds``, as
  the API server does) and ``Connection: close``. By default the request never reaches the API
  server; ``reach_server=True`` sends it first (re-originated with the client credentials) and
  replaces the answer: a bind that *did* bind the pod is answered 500. A request that does not
  match is forwarded, one request per connection. Once the fault is over, new connections pass
  through untouched again.
* ``hold_answer(match, hold, stall=...)``: the same TLS-terminated path; the *first* request
  matching ``match`` reaches the API server, whose answer is read and then held back ``hold``
  seconds, after which the connection is closed unanswered: a bind that bound the pod times out on
  the client. While it is held, forwarded requests matching ``stall`` (e.g. the pod watch) have
  their answers held back too, so the client cannot learn the outcome elsewhere first.

It binds 127.0.0.1 only and forwards only to a 127.0.0.1 address.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["FaultProxy", "ProxyTls", "status_error"]

# What kube-apiserver answers for each code (k8s.io/apimachinery/pkg/api/errors, v0.29): reason,
# message and HTTP reason phrase.
_ERRORS = {
    429: ("TooManyRequests", "Too many requests, please try again later.", "Too Many Requests"),
    500: ("InternalError", "Internal error occurred: injected by the scheduler-lab fault proxy",
          "Internal Server Error"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request "
          "(injected by the scheduler-lab fault proxy)", "Service Unavailable"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout "
          "(injected by the scheduler-lab fault proxy)", "Gateway Timeout"),
}
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024


def status_error(code: int, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 error answer carrying a metav1.Status, as kube-apiserver writes it
    (responsewriters.ErrorNegotiated: ``Retry-After`` when details.retryAfterSeconds > 0)."""
    reason, message, phrase = _ERRORS[code]
    status: dict = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": message, "reason": reason, "code": code}
    details: dict = {}
    if code == 500:
        details["causes"] = [{"message": "injected by the scheduler-lab fault proxy"}]
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    if details:
        status["details"] = details
    body = json.dumps(status).encode()
    head = [f"HTTP/1.1 {code} {phrase}", "Content-Type: application/json", f"Content-Length: {len(body)}",
            "Cache-Control: no-cache, private", "Connection: close"]
    if retry_after:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ProxyTls:
    """The proxy's two TLS ends: it serves as 127.0.0.1 with a certificate signed by the lab's CA
    (so the scheduler's verification holds) and connects to the API server with the client
    credentials of the scheduler's kubeconfig (a bearer token travels in the request itself)."""

    def __init__(self, serving_cert: Path, serving_key: Path, ca_cert: Path, kubeconfig: Path) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="faultproxy-"))
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.load_cert_chain(str(serving_cert), str(serving_key))
        self.server.set_alpn_protocols(["http/1.1"])  # Go's client would speak h2 otherwise
        self.client = ssl.create_default_context(cafile=str(ca_cert))
        self.client.set_alpn_protocols(["http/1.1"])
        config = yaml.safe_load(kubeconfig.read_text())
        current = next((c["context"] for c in config.get("contexts") or []
                        if c["name"] == config.get("current-context")), None)
        users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
        user = users.get((current or {}).get("user")) or next(iter(users.values()), {})
        cert, key = self._material(user, "client-certificate"), self._material(user, "client-key")
        if cert and key:
            self.client.load_cert_chain(str(cert), str(key))

    def _material(self, user: dict, name: str) -> Path | None:
        if user.get(f"{name}-data"):
            path = self._dir / name
            path.write_bytes(base64.b64decode(user[f"{name}-data"]))
            path.chmod(0o600)
            return path
        return Path(user[name]) if user.get(name) else None

    @classmethod
    def for_lab(cls, pki_dir: Path, kubeconfig: Path) -> ProxyTls:
        from lab.host.pki import Pki

        pki = Pki(pki_dir)
        pair = pki.ensure_serving("fault-proxy", "scheduler-lab-fault-proxy", ["127.0.0.1"])
        return cls(pair.cert, pair.key, pki.ca.cert, kubeconfig)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class _ServerErrors:
    until: float
    code: int
    match: re.Pattern | None
    reach_server: bool
    retry_after: int | None
    hold: float | None = None  # hold_answer(): the first match's answer is held this long, then dropped
    stall: re.Pattern | None = None
    held: bool = False
    stall_until: float = 0.0

    def applies(self, request_line: str) -> bool:
        return time.monotonic() < self.until and (self.match is None or bool(self.match.search(request_line)))


@dataclass
class _Mode:
    blackhole_until: float = 0.0
    drop_responses_until: float = 0.0
    delay_until: float = 0.0
    latency: float = 0.0
    server_errors: _ServerErrors | None = None


@dataclass
class FaultProxy:
    target_port: int
    target_host: str = "127.0.0.1"
    port: int = 0
    mode: _Mode = field(default_factory=_Mode)
    connections: int = 0
    tls: ProxyTls | None = None
    # What server_errors() did: answers injected per code, requests forwarded untouched, and the
    # API server's own status for the requests that reached it before their answer was replaced.
    injected: Counter = field(default_factory=Counter)
    forwarded: int = 0
    reached: Counter = field(default_factory=Counter)
    # Every accepted connection: (monotonic time, the path it took: "pass", "tls", "refused", ...),
    # for evidence when a fault had no effect (which path the scheduler's connections took, when).
    accepts: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.target_host.startswith("127."):
            raise ValueError(f"the fault proxy forwards to loopback only, not {self.target_host}")
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._resets = 0  # reset() calls so far: a connection accepted before one is not let past it
        self._stopped = threading.Event()
        self._mode_changed = threading.Condition()  # wakes held pumps on heal() and stop()
        self._acceptor = threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True)
        self._acceptor.start()

    # -- faults ------------------------------------------------------------------------------

    def reset(self) -> int:
        """Close every open connection with an RST; returns how many were cut."""
        with self._lock:
            victims = list(self._open)
            self._open.clear()
            self._resets += 1
        for sock in victims:
            try:
                # Linger 0 makes the close an RST. shutdown() first: a close() alone does not wake
                # the pump thread blocked in recv() on it, and the fd would stay open until data came.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(victims) // 2

    def blackhole(self, seconds: float) -> None:
        self.mode.blackhole_until = time.monotonic() + seconds

    def drop_responses(self, seconds: float) -> None:
        self.mode.drop_responses_until = time.monotonic() + seconds

    def delay(self, seconds: float, latency: float) -> None:
        self.mode.latency = latency
        self.mode.delay_until = time.monotonic() + seconds

    def server_errors(self, seconds: float, code: int = 503, *, match: str | None = None,
                      reach_server: bool = False, retry_after: int | None = None) -> None:
        """Answer matching requests with ``code`` for ``seconds`` (see the module's docstring)."""
        if self.tls is None:
            raise RuntimeError("server_errors needs the proxy's TLS material (FaultProxy(tls=ProxyTls...))")
        if code not in _ERRORS:
            raise ValueError(f"no Status for HTTP {code}; one of {sorted(_ERRORS)}")
        self.mode.server_errors = _ServerErrors(time.monotonic() + seconds, code,
                                                re.compile(match) if match else None, reach_server, retry_after)
        self.reset()  # pooled connections would pass by: every request from now on opens a new one

    def hold_answer(self, match: str, hold: float, *, stall: str | None = None, seconds: float = 120.0) -> None:
        """The first request matching ``match`` (within ``seconds``) reaches the API server; its
        answer is held ``hold`` seconds and never delivered (see the module's docstring)."""
        if self.tls is None:
            raise RuntimeError("hold_answer needs the proxy's TLS material (FaultProxy(tls=ProxyTls...))")
        self.mode.server_errors = _ServerErrors(time.monotonic() + seconds, 0, re.compile(match), True, None,
                                                hold=hold, stall=re.compile(stall) if stall else None)
        self.reset()  # pooled connections would pass by: every request from now on opens a new one

    def fault_until(self) -> float:
        """When the current fault's window ends (monotonic)."""
        errors = self.mode.server_errors
        return max(self.mode.blackhole_until, self.mode.drop_responses_until, self.mode.delay_until,
                   errors.until if errors else 0.0)

    def describe(self, since: float) -> str:
        """The proxy's own state, for a note on a fault that had no effect: is it accepting, how
        many connections are open, and which paths the connections accepted since ``since`` took."""
        paths = Counter(path for at, path in list(self.accepts) if at >= since)
        with self._lock:
            open_sockets = len(self._open)
        return (f"proxy :{self.port}: accepting {self._acceptor.is_alive()}, {open_sockets} sockets open, "
                f"{len(self.accepts)} connections accepted in all, since then {dict(paths) or 'none'}")

    def heal(self) -> None:
        with self._mode_changed:
            self.mode = _Mode()
            self._mode_changed.notify_all()

    def stop(self) -> None:
        with self._mode_changed:
            self._stopped.set()
            self._mode_changed.notify_all()
        try:
            # shutdown() first: close() alone leaves a thread blocked in accept() holding the
            # listening socket, which would then pass one more connection through with no fault.
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._acceptor.join(5)
        self.reset()

    # -- plumbing ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                resets = self._resets
            errors = self.mode.server_errors
            if errors is not None and time.monotonic() < errors.until:
                self.accepts.append((time.monotonic(), "tls"))
                with self._lock:
                    self._open.add(client)
                    self.connections += 1
                threading.Thread(target=self._answer, args=(client, errors), daemon=True).start()
                continue
            try:
                upstream = self._dial_upstream()
            except OSError:
                self.accepts.append((time.monotonic(), "refused"))
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                # A fault that resets connections (server_errors(), hold_answer()) may have begun
                # since this one was accepted: registered now it would escape that reset and carry
                # the client's requests (all of them, over HTTP/2) past the fault. Closed instead;
                # the client reconnects, into the fault.
                missed_reset = self._resets != resets
                if not missed_reset:
                    self._open.update((client, upstream))
                    self.connections += 1
            if missed_reset:
                self.accepts.append((time.monotonic(), "closed: a reset began meanwhile"))
                for sock in (client, upstream):
                    sock.close()
                continue
            self.accepts.append((time.monotonic(), "pass"))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _dial_upstream(self) -> socket.socket:
        """A plain TCP connection to the API server, for a pass-through connection."""
        return socket.create_connection((self.target_host, self.target_port), timeout=5)

    def _stall_left(self, is_response: bool) -> float:
        """Seconds this direction stays held back (0: it flows)."""
        until = max(self.mode.blackhole_until, self.mode.drop_responses_until if is_response else 0.0)
        return until - time.monotonic()

    def _hold(self, is_response: bool) -> None:
        """Block while the fault holds this direction: until its end time, heal() or stop()."""
        with self._mode_changed:
            while not self._stopped.is_set():
                left = self._stall_left(is_response)
                if left <= 0:
                    return
                self._mode_changed.wait(left)

    def _pump(self, src: socket.socket, dst: socket.socket, is_response: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # A black hole stalls bytes both ways, a response drop only the answers: held
                # back like a dead route would, while the client's timeouts run out.
                self._hold(is_response)
                if time.monotonic() < self.mode.delay_until:
                    self._stopped.wait(self.mode.latency)  # the injected latency; cut short by stop()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._close(sock)

    # -- server errors: the TLS-terminated path ------------------------------------------------

    def _answer(self, raw: socket.socket, errors: _ServerErrors) -> None:
        """One request on a connection opened during a server-error fault: answered or forwarded."""
        assert self.tls is not None
        conn: socket.socket = raw
        upstream: socket.socket | None = None
        try:
            raw.settimeout(10)  # a client that never speaks must not hold the thread
            conn = self.tls.server.wrap_socket(raw, server_side=True)
            self._replace(raw, conn)
            head, body = _read_request(conn)
            # A black hole begun since this connection opened holds its request too: without this
            # a connection left over from a server-error fault carried requests through the hole.
            self._hold(False)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target = (request_line.split(" ") + ["", ""])[:2]
            # heal() ends the fault for requests still on their way in, too.
            faulted = self.mode.server_errors is errors and errors.applies(f"{method} {target}")
            if faulted and errors.hold is not None:
                with self._lock:
                    first, errors.held = not errors.held, True
                if first:
                    self._hold_answer(conn, head, body, errors)
                    return
                faulted = False  # only the first: the rest pass through
            if faulted and not errors.reach_server:
                self.injected[errors.code] += 1
                conn.sendall(status_error(errors.code, errors.retry_after))
                return
            upstream = self._upstream()
            upstream.sendall(_connection_close(head) + body)
            if faulted:
                # The API server acts on the request; its answer is read, dropped and replaced.
                answer = _read_all(upstream)
                status = answer.split(b" ", 2)[1].decode("latin-1") if answer.count(b" ") >= 2 else "?"
                self.reached[status] += 1
                self.injected[errors.code] += 1
                conn.sendall(status_error(errors.code, errors.retry_after))
                return
            self.forwarded += 1
            conn.settimeout(None)
            upstream.settimeout(None)
            # One direction only (the request is complete, and it asked the server to close after
            # answering): one thread per TLS connection, never two reading and writing one SSL object.
            stalled = errors.stall is not None and bool(errors.stall.search(f"{method} {target}"))
            self._pump_response(upstream, conn, errors if stalled else None)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (conn, upstream):
                if sock is not None:
                    self._close(sock)

    def _hold_answer(self, conn: socket.socket, head: bytes, body: bytes, errors: _ServerErrors) -> None:
        """Forward the request, read the API server's answer, hold it, then close unanswered."""
        assert errors.hold is not None
        errors.stall_until = time.monotonic() + errors.hold
        upstream = self._upstream()
        try:
            upstream.sendall(_connection_close(head) + body)
            answer = _read_all(upstream)
        finally:
            self._close(upstream)
        status = answer.split(b" ", 2)[1].decode("latin-1") if answer.count(b" ") >= 2 else "?"
        self.reached[status] += 1
        self.injected["held"] += 1
        with self._mode_changed:
            while (not self._stopped.is_set() and self.mode.server_errors is errors
                   and time.monotonic() < errors.stall_until):
                self._mode_changed.wait(errors.stall_until - time.monotonic())

    def _upstream(self) -> socket.socket:
        assert self.tls is not None
        plain = socket.create_connection((self.target_host, self.target_port), timeout=10)
        with self._lock:
            self._open.add(plain)
        tls = self.tls.client.wrap_socket(plain, server_hostname=self.target_host)
        self._replace(plain, tls)
        return tls

    def _replace(self, old: socket.socket, new: socket.socket) -> None:
        with self._lock:
            if old in self._open:
                self._open.discard(old)
                self._open.add(new)

    def _pump_response(self, src: socket.socket, dst: socket.socket, stalled_by: _ServerErrors | None = None) -> None:
        while True:
            data = src.recv(65536)
            if not data:
                return
            self._hold(True)
            if stalled_by is not None:  # hold_answer's stall: wait while an answer is held
                with self._mode_changed:
                    while (not self._stopped.is_set() and self.mode.server_errors is stalled_by
                           and time.monotonic() < stalled_by.stall_until):
                        self._mode_changed.wait(stalled_by.stall_until - time.monotonic())
            if time.monotonic() < self.mode.delay_until:
                self._stopped.wait(self.mode.latency)
            dst.sendall(data)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass


def _read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    """The request head (through the blank line) and its whole body (Content-Length or chunked)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the request head")
        data += chunk
        if len(data) > _MAX_HEAD:
            raise ValueError("request head too large")
    head, body = data.split(b"\r\n\r\n", 1)
    head += b"\r\n\r\n"
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:] if line)}
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("connection closed inside the request body")
            body += chunk
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("connection closed inside the request body")
            body += chunk
            if len(body) > _MAX_BODY:
                raise ValueError("request body too large")
    return head, body


def _connection_close(head: bytes) -> bytes:
    """The request head asking the server to close after its answer (one request per connection)."""
    lines = [line for line in head.rstrip(b"\r\n").split(b"\r\n")
             if not line.lower().startswith((b"connection:", b"keep-alive:"))]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _read_all(sock: socket.socket, limit: float = 30.0) -> bytes:
    """Everything the server sends until it closes (it was asked to), within ``limit`` seconds."""
    sock.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError):
            return data
        if not chunk:
            return data
        data += chunk


def proxy_for_lab(workdir: Path, kubeconfig: Path) -> FaultProxy:
    """A proxy in front of the local lab's API server: it serves with a certificate from the lab's
    CA and forwards with the kubeconfig's client credentials (what the schedulers under test get)."""
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return FaultProxy(target_port=int(server.rsplit(":", 1)[1]), tls=ProxyTls.for_lab(workdir / "pki", kubeconfig))
