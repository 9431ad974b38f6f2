"""The scheduler's HTTP endpoints: /healthz, /livez, /readyz, /metrics and /configz.

Two listeners, as practical with the standard library:

* `--secure-port` (default 10259, like kube-scheduler): HTTPS with a self-signed certificate made
  in memory at start-up (an EC P-256 key; the PEM is handed to `ssl` through a memfd, so nothing is
  written to disk and a read-only root filesystem works).
* `--port` (default 0 = off): the same endpoints over plain HTTP, handy for local runs and tests.

Both are guarded like kube-scheduler's secure port (scheduler/runtime/auth.py): delegated
authentication (TokenReview) and authorization (SubjectAccessReview); only the always-allow paths
(/healthz, /readyz, /livez by default) are served to anonymous callers. The answers are
kube-scheduler's: 401 for a token the API server refuses, 403 for a caller without permission,
both as a metav1.Status.

Connections are served by a fixed pool of WORKERS threads; at most WORKERS + PENDING accepted
connections are being served or waiting at any time (beyond that a new connection is closed at
once), on a listen backlog of BACKLOG: the callers are a few (kubelet probes, a metrics scraper, the lab), so 16 threads are
plenty, and a flood of connections costs a bounded number of threads and sockets instead of one
thread each. A kept-alive connection gives its worker back as soon as another connection waits,
and an idle one is closed after IDLE_TIMEOUT seconds.

Checks, named like kube-scheduler's: `ping`; `leaderElection` (client-go's watchdog: a leader that
has not renewed for leaseDuration + 20 s fails, a standby is healthy); `shutdown` (fails once
termination started) and `sched-handler-sync` (fails until the informer caches synced).
/healthz and /livez run ping + leaderElection; /readyz runs all four. `/readyz/<check>` runs one;
`?verbose` lists them.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import unquote, urlsplit

from scheduler.runtime import configz
from scheduler.runtime.auth import AuthError, DelegatedAuth, go_quote, sanitize, status_body
from scheduler.runtime.klog import V, kv
from scheduler.runtime.metrics import SchedulerMetrics

__all__ = ["BACKLOG", "Checks", "PENDING", "ProbeServer", "WORKERS", "self_signed_context"]

log = logging.getLogger("scheduler.runtime.server")

Check = Callable[[], "str | None"]  # None when healthy, else the reason

WORKERS = 16  # connection handlers (threads), fixed
PENDING = 32  # accepted connections waiting for a handler; more are closed at once
BACKLOG = 64  # the kernel's queue of connections not yet accepted
IDLE_TIMEOUT = 10  # seconds a connection may stay silent (also bounds a slow TLS handshake)
JSON = "application/json"


@dataclass
class Checks:
    synced: Callable[[], bool] = lambda: True
    leader: Check = lambda: None
    shutting_down: Callable[[], bool] = lambda: False
    extra: dict[str, Check] = field(default_factory=dict)

    def named(self) -> dict[str, Check]:
        checks: dict[str, Check] = {
            "ping": lambda: None,
            "leaderElection": self.leader,
            "shutdown": lambda: "process is shutting down" if self.shutting_down() else None,
            "sched-handler-sync": lambda: None if self.synced() else "waiting for handlers to sync",
        }
        checks.update(self.extra)
        return checks

    def for_endpoint(self, endpoint: str) -> list[str]:
        if endpoint == "readyz":
            return ["ping", "leaderElection", "shutdown", "sched-handler-sync", *self.extra]
        return ["ping", "leaderElection"]


def _run_checks(checks: Checks, endpoint: str, only: str | None) -> tuple[bool, list[str]] | None:
    named = checks.named()
    names = checks.for_endpoint(endpoint)
    if only is not None:
        if only not in names:
            return None
        names = [only]
    lines, ok = [], True
    for name in names:
        reason = named[name]()
        if reason is None:
            lines.append(f"[+]{name} ok")
        else:
            ok = False
            lines.append(f"[-]{name} failed: reason withheld")
            log.log(V(2), kv("Health check failed", endpoint=endpoint, check=name, reason=reason))
    return ok, lines


def _make_handler(metrics: SchedulerMetrics, checks: Checks, auth: DelegatedAuth) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "scheduler-lab"
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # replaced by the klog-style line in _send

        def _send(self, code: int, body: bytes, content_type: str, started: float) -> None:
            self.send_response(code)
            if content_type == JSON:  # the apiserver's error responses are never cached
                self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            if self.server.waiting():  # type: ignore[attr-defined]
                self.close_connection = True  # give the worker to a waiting connection
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            latency = (time.perf_counter() - started) * 1e6
            log.log(V(3), kv("HTTP", verb=self.command, URI=self.path, latency=f"{latency:.3f}µs",
                             userAgent=self.headers.get("User-Agent", ""), srcIP=self.client_address[0],
                             resp=code))

        def _allowed(self, path: str, started: float) -> bool:
            """Authenticate and authorize like kube-scheduler's filter chain; answer and return
            False when the request may not go on."""
            user = auth.authenticate(self.headers.get("Authorization"))
            if user is None:
                self._send(401, status_body(401, "Unauthorized", "Unauthorized"), JSON, started)
                return False
            verb = self.command.lower()
            try:
                decision = auth.authorize(user, verb, path)
            except AuthError as exc:
                log.error(kv("Authorization failed", path=path, err=str(exc)))
                self._send(500, sanitize(f"Internal Server Error: {go_quote(path)}: authorization failed\n").encode(),
                           "text/plain; charset=utf-8", started)
                return False
            if not decision.allowed:
                message = f"forbidden: User {go_quote(user.name)} cannot {verb} path {go_quote(path)}"
                if decision.reason:
                    message += f": {decision.reason}"
                self._send(403, status_body(403, "Forbidden", sanitize(message)), JSON, started)
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            started = time.perf_counter()
            parts = urlsplit(self.path)
            if not self._allowed(unquote(parts.path), started):
                return
            path = parts.path.rstrip("/") or "/"
            if path == "/configz":  # the configuration as loaded (scheduler/runtime/configz.py)
                self._send(200, configz.body(), JSON, started)
                return
            if path == "/metrics":
                body, content_type = metrics.exposition(self.headers.get("Accept"))
                self._send(200, body, content_type, started)
                return
            segments = path.strip("/").split("/")
            if segments[0] in ("healthz", "livez", "readyz") and len(segments) <= 2:
                log.log(V(5), f'kube-scheduler: "{path}" satisfied by exact match')
                result = _run_checks(checks, segments[0], segments[1] if len(segments) == 2 else None)
                if result is None:
                    self._send(404, b"404 page not found\n", "text/plain; charset=utf-8", started)
                    return
                ok, lines = result
                verbose = "verbose" in parts.query
                if ok:
                    text = "\n".join([*lines, f"{segments[0]} check passed"]) + "\n" if verbose else "ok"
                    self._send(200, text.encode(), "text/plain; charset=utf-8", started)
                else:
                    text = "\n".join([*lines, f"{segments[0]} check failed"]) + "\n"
                    self._send(500, text.encode(), "text/plain; charset=utf-8", started)
                return
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8", started)

        def do_other(self) -> None:
            # Like kube-scheduler's handlers, every method is authorized (verb = the lower-cased
            # method) and then served alike; a request body is never read, so the connection closes.
            self.close_connection = True
            self.do_GET()

        do_HEAD = do_GET  # noqa: N815
        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_other  # noqa: N815

    return Handler


class _Server(HTTPServer):
    """An HTTP(S) server whose connections are handled by a fixed pool of threads."""

    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 tls: ssl.SSLContext | None, workers: int | None = None, pending: int | None = None) -> None:
        workers = WORKERS if workers is None else workers
        pending = PENDING if pending is None else pending
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)
        if tls is not None:
            # The handshake happens in a worker (first read), never in the accept loop.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        # Admission counts connections being served or waiting, so a burst that arrives before the
        # idle workers wake up is not turned away: at most workers + pending at any time.
        self._slots = threading.BoundedSemaphore(workers + pending)
        self._pending: queue.SimpleQueue[tuple[socket.socket, object] | None] = queue.SimpleQueue()
        self._idle = workers
        self._idle_lock = threading.Lock()
        self._workers = [threading.Thread(target=self._work, name=f"http-{i}", daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()

    def waiting(self) -> bool:
        """Whether an accepted connection waits for a worker."""
        with self._idle_lock:
            return self._pending.qsize() > self._idle

    def queued(self) -> int:
        return self._pending.qsize()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            log.log(V(2), kv("Too many connections, closing a new one", client=str(client_address)))
            self.shutdown_request(request)
            return
        self._pending.put((request, client_address))

    def _work(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            with self._idle_lock:
                self._idle -= 1
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - one broken connection must not end the worker
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                with self._idle_lock:
                    self._idle += 1
                self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        log.log(V(4), kv("HTTP connection error", client=str(client_address)))

    def server_close(self) -> None:
        super().server_close()
        # TCPServer.__init__ calls this when bind fails (the port is taken), before the pool exists.
        for _ in getattr(self, "_workers", ()):
            self._pending.put(None)


def self_signed_context(hosts: list[str]) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for `hosts` (kept in memory)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"localhost@{int(now.timestamp())}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pem(context, pem)
    return context


def _load_pem(context: ssl.SSLContext, pem: bytes) -> None:
    # ssl only loads certificates from paths: use an anonymous in-memory file where Linux has
    # one, a private temporary file otherwise (deleted right after loading).
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("serving-cert", 0)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
            return
        except OSError:
            pass
        finally:
            os.close(fd)
    with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
        handle.write(pem)
        handle.flush()
        context.load_cert_chain(handle.name)


class ProbeServer:
    def __init__(self, metrics: SchedulerMetrics, checks: Checks, *, bind_address: str = "0.0.0.0",
                 port: int = 0, secure_port: int = 0, auth: DelegatedAuth | None = None) -> None:
        self.metrics = metrics
        self.checks = checks
        # No authenticator given: nobody to ask, so only the always-allow paths are served (like
        # kube-scheduler without authentication/authorization kubeconfigs).
        self.auth = auth if auth is not None else DelegatedAuth(None)
        self.bind_address = bind_address
        self.port = port
        self.secure_port = secure_port
        self._servers: list[_Server] = []

    def start(self) -> list[str]:
        """Start the enabled listeners; returns their URLs. Raises OSError if a port is taken."""
        handler = _make_handler(self.metrics, self.checks, self.auth)
        urls = []
        if self.secure_port:
            hosts = ["localhost", "127.0.0.1", socket.gethostname()]
            if self.bind_address not in ("0.0.0.0", "::", ""):
                hosts.append(self.bind_address)
            server = _Server((self.bind_address, self.secure_port), handler, self_signed_context(hosts))
            self._servers.append(server)
            urls.append(f"https://{self.bind_address}:{server.server_address[1]}")
        if self.port:
            server = _Server((self.bind_address, self.port), handler, None)
            self._servers.append(server)
            urls.append(f"http://{self.bind_address}:{server.server_address[1]}")
        for server in self._servers:
            threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        for url in urls:
            log.info(kv("Serving", url=url))
        return urls

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
