"""A minimal HTTP/1.1 client connection for the API server's unary requests.

Why not http.client: per request it writes the head and the body as separate TLS records, reads
the answer line by line through a buffered file and parses the headers with the email package.
Against the lab's API server that is about 220 µs of CPU per small GET, four times what one
write, a few reads and a split cost here; a pod costs two such requests (its bind and its event).

A request has one deadline, as a Go client's context or ``http.Client.Timeout`` gives client-go:
name resolution, connect, TLS handshake, sending and reading the whole answer (head and body) all
fit in ``timeout`` seconds. Every socket operation is given only the time left, so a server that
drips its answer a byte at a time cannot hold a request past its deadline (a per-operation
timeout would restart with every byte); when the time is up, ``RequestTimeout`` is raised.
A failure before any byte of the request left (resolution, connect, handshake) is a
``ConnectError``: the caller knows the server cannot have acted on it.

What it reads is an answer framed as RFC 9112 section 6.3 says, strictly: a status line, headers,
then a body framed by Content-Length, by the chunked transfer coding, or (without either) by the
server closing. 1xx interim answers are skipped (at most ``MAX_INTERIM`` of them, Go's bound);
HEAD, 204 and 304 answers have no body. Refused, as ``HttpProtocolError`` (an OSError, so callers
treat it as the transport failure it is): a malformed status line, header or chunk size; a head
over ``max_head`` bytes or a body over ``max_body``; an answer with both Transfer-Encoding and
Content-Length (section 6.3 rule 3: "ought to be handled as an error", a smuggling vector);
Transfer-Encoding in an HTTP/1.0 answer (rule 3 again: faulty framing); any transfer coding but
exactly ``chunked`` (we never send TE, so a server may apply no other, RFC 9110 section 10.1.4;
Go's net/http, client-go's transport, refuses them as "unsupported transfer encoding" too); and a
connection closed mid-answer. Watches do not come here: they stream through urllib3.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
# The largest answer body read into memory. The scheduler's biggest answers are lists: the
# informers page them (500 objects a page, about 2 MB), but the cache debugger lists all nodes
# and all non-terminal pods in one answer. Measured on the lab's API server: a node is 3.6 KB of
# JSON, so a 5,000-node list is about 18 MB; 512 MiB leaves a margin of more than 25 for nodes
# that carry more (kubelet's image list) while a runaway or hostile server cannot make one
# answer hold more than that. (A pod is about 3.6 KB too: an unpaginated list of 150,000 pods
# would not fit; the cache debugger would have to page it.)
MAX_BODY = 512 * 1024 * 1024
MAX_INTERIM = 5  # 1xx answers skipped before the final one (Go's max1xxResponses)
_HEX = b"0123456789abcdefABCDEF"
_CHUNK = 65536
_NO_BODY_STATUS = (204, 304)


class HttpProtocolError(OSError):
    """An answer that is not HTTP/1.x as framed by RFC 9112, or one cut short."""


class RequestTimeout(TimeoutError):
    """The request's deadline passed before its whole answer was read."""


class ConnectError(OSError):
    """Resolving, connecting or the TLS handshake failed: no byte of the request was sent.
    ``timed_out`` tells a deadline from a refusal."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Headers(dict[str, str]):
    """Response headers, looked up case-insensitively (names are stored lower-case); a repeated
    header's values are joined with ", " (RFC 9110, 5.3)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes
    will_close: bool  # the connection cannot carry another request


def resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """``getaddrinfo`` for a TCP connection, within ``timeout`` seconds.

    An IP literal (the API server's usual address) is converted without a lookup. A name is
    looked up on a short-lived daemon thread, since getaddrinfo itself takes no timeout: past the
    deadline the caller gets TimeoutError and the thread is left to finish on its own. Measured
    here (2 busy cores): an IP literal 5-13 µs, "localhost" looked up directly 14-31 µs, on the
    thread 0.4-0.8 ms of wall time, paid only by a new connection (beside its TLS handshake)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    outcome: list = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome.append(exc)
        done.set()

    threading.Thread(target=lookup, name=f"resolve {host}"[:40], daemon=True).start()
    if not done.wait(max(0.0, timeout)):
        raise TimeoutError(f"resolving {host} took longer than {timeout:.3g}s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class TlsSessions:
    """The newest resumable TLS session with one server, for the connections that open after it.

    kube-scheduler's client-go sends everything over one HTTP/2 connection, so it shakes hands once.
    Over HTTP/1.1 each request in flight needs a connection of its own: a burst of binds opens
    up to BIND_WORKERS of them, and the event writer as many again. A full handshake costs the
    API server an RSA signature and this process another (its client certificate's), both on the
    2 cores the scheduling shares. A connection that resumes a session (TLS 1.3 PSK with a fresh
    ECDHE exchange, RFC 8446 section 2.2) signs nothing: the server takes the client certificate
    it authenticated before from its ticket. A ticket the server no longer honours (it restarted)
    only costs the full handshake it would have been anyway, whose session then replaces it.

    The session is taken after a connection's first answer: a TLS 1.3 server sends its tickets
    after the handshake, so they have arrived by then. One context's sessions only: OpenSSL
    refuses a session from another SSLContext."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: ssl.SSLSession | None = None

    def current(self) -> ssl.SSLSession | None:
        with self._lock:
            return self._session

    def keep_from(self, sock: ssl.SSLSocket) -> None:
        """Keep `sock`'s session when its handshake was a full one and the server gave a ticket."""
        if sock.session_reused:
            return
        session = sock.session
        if session is not None and session.has_ticket:
            with self._lock:
                self._session = session


class HttpConnection:
    """One kept-alive connection to ``host:port`` (TLS when ``context`` is given).

    Not thread-safe: one request at a time, as a pool hands it out. After an exception the
    connection is in an unknown state; close it.
    """

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, max_head: int = MAX_HEAD,
                 max_body: int = MAX_BODY, sessions: TlsSessions | None = None) -> None:
        self.host, self.port = host, port
        self._context, self._server_hostname = context, server_hostname or host
        self._sessions = sessions
        self._session_unseen = False  # connected with TLS, session not yet offered to `sessions`
        self.sock: socket.socket | None = None
        self._host_header = (f"[{host}]" if ":" in host else host) + f":{port}"
        self._buffer = b""  # bytes read past the head, not yet consumed
        self.max_head, self.max_body = max_head, max_body
        self._deadline = 0.0  # monotonic time the request in progress must be answered by

    def connect(self, timeout: float) -> None:
        """Resolve, connect and (with TLS) shake hands within ``timeout`` seconds in all.
        Raises ConnectError."""
        deadline = time.monotonic() + timeout
        try:
            infos = resolve(self.host, self.port, timeout)
        except TimeoutError as exc:
            raise ConnectError(str(exc), timed_out=True) from None
        except OSError as exc:
            raise ConnectError(f"resolving {self.host}: {exc}") from None
        error: OSError | None = None
        for family, type_, proto, _, address in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.settimeout(_left(deadline))
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._context is not None:
                    session = self._sessions.current() if self._sessions is not None else None
                    sock = self._context.wrap_socket(sock, server_hostname=self._server_hostname,
                                                     do_handshake_on_connect=False, session=session)
                    sock.settimeout(_left(deadline))
                    sock.do_handshake()  # one deadline over the whole handshake (CPython's _ssl)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            self._buffer = b""
            self._session_unseen = self._sessions is not None and isinstance(sock, ssl.SSLSocket)
            return
        timed_out = isinstance(error, TimeoutError)
        raise ConnectError(f"connecting to {self._host_header}: "
                           f"{'timed out' if timed_out else error or 'no address'}", timed_out=timed_out)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def request(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None,
                *, timeout: float, connect_timeout: float | None = None) -> Response:
        """Send one request (connecting first if needed) and read its whole answer, all within
        ``timeout`` seconds (connecting within ``connect_timeout`` of them, when given).

        Raises ValueError, before anything is sent, for a header with CR or LF, a target with a
        space, a control or a non-ASCII character, or a header that is not Latin-1: as http.client
        refuses them, so nothing can split the head. Raises ConnectError when nothing was sent,
        RequestTimeout past the deadline, HttpProtocolError or another OSError otherwise."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}", "Accept-Encoding: identity"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        if (" " in target or not target.isascii() or not target.isprintable()
                or any("\r" in line or "\n" in line for line in lines)):
            raise ValueError(f"refusing to send a request target with a space, a control or non-ASCII "
                             f"character, or a header with CR or LF: {target[:80]!r}")
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
        started = time.monotonic()
        self._deadline = started + timeout
        if self.sock is None:
            self.connect(min(timeout, connect_timeout) if connect_timeout is not None else timeout)
        try:
            # One write: head and body leave in one TLS record (http.client sends two).
            self._send(head + body if body else head)
            response = self._read_response(method)
        except TimeoutError:
            raise RequestTimeout(f"{method} not answered within {timeout:.3g}s "
                                 f"({time.monotonic() - started:.3g}s)") from None
        if self._session_unseen:
            self._session_unseen = False
            assert self._sessions is not None and isinstance(self.sock, ssl.SSLSocket)
            self._sessions.keep_from(self.sock)
        return response

    # -- the socket, under the deadline --------------------------------------------------------

    def _send(self, data: bytes) -> None:
        sock = self.sock
        assert sock is not None
        sock.settimeout(_left(self._deadline))
        sent = sock.send(data)  # a request is small: nearly always all of it at once
        if sent < len(data):
            view = memoryview(data)
            while sent < len(data):
                sock.settimeout(_left(self._deadline))
                sent += sock.send(view[sent:])

    def _recv(self) -> bytes:
        sock = self.sock
        assert sock is not None
        sock.settimeout(_left(self._deadline))
        data = sock.recv(_CHUNK)
        if not data:
            raise HttpProtocolError("connection closed by the server before the answer was complete")
        return data

    # -- reading ---------------------------------------------------------------------------

    def _read_head(self) -> bytes:
        data = self._buffer
        start = 0
        while True:
            end = data.find(b"\r\n\r\n", max(0, start - 3))
            if end > self.max_head:
                raise HttpProtocolError(f"answer head larger than {self.max_head} bytes")
            if end >= 0:
                self._buffer = data[end + 4:]
                return data[:end]
            if len(data) > self.max_head:
                raise HttpProtocolError(f"answer head larger than {self.max_head} bytes")
            start = len(data)
            data += self._recv()

    def _read_response(self, method: str) -> Response:
        interim = 0
        while True:
            head = self._read_head()
            status_line, _, header_block = head.partition(b"\r\n")
            version, status, reason = _parse_status_line(status_line)
            if 100 <= status < 200 and status != 101:
                # An interim answer (100 Continue, 103 Early Hints): the real one follows.
                interim += 1
                if interim > MAX_INTERIM:
                    raise HttpProtocolError(f"more than {MAX_INTERIM} interim (1xx) answers")
                continue
            break
        headers = _parse_headers(header_block)
        connection = (headers.get("connection") or "").lower()
        will_close = ("close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
                      or status == 101)  # after Switching Protocols the connection is not HTTP
        if method == "HEAD" or status in _NO_BODY_STATUS or status == 101:
            body = b""
        elif "transfer-encoding" in headers:
            _check_transfer_encoding(version, headers)
            body = self._read_chunked()
        elif "content-length" in headers:
            size = _content_length(headers["content-length"])
            if size > self.max_body:
                raise HttpProtocolError(f"answer body of {size} bytes is over the {self.max_body}-byte limit")
            body = self._read_exactly(size)
        else:
            body, will_close = self._read_until_close(), True
        if self._buffer:  # bytes nobody asked for: the next answer could not be framed
            will_close = True
        return Response(status, reason, headers, body, will_close)

    def _read_exactly(self, size: int) -> bytes:
        data = self._buffer
        if len(data) >= size:
            self._buffer = data[size:]
            return data[:size]
        parts, have = [data], len(data)
        while have < size:
            chunk = self._recv()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._buffer = data[size:]
        return data[:size]

    def _read_line(self) -> bytes:
        data = self._buffer
        while True:
            end = data.find(b"\r\n")
            if end >= 0:
                self._buffer = data[end + 2:]
                return data[:end]
            if len(data) > self.max_head:
                raise HttpProtocolError("chunk size or trailer line too long")
            data += self._recv()

    def _read_chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            size_field = self._read_line().split(b";", 1)[0].strip()
            if not size_field or size_field.strip(_HEX) or len(size_field) > 16:
                raise HttpProtocolError(f"bad chunk size {size_field[:20]!r}")
            size = int(size_field, 16)
            if size == 0:
                trailers = 0
                while line := self._read_line():  # trailer fields, up to the empty line
                    trailers += len(line) + 2
                    if trailers > self.max_head:
                        raise HttpProtocolError(f"trailer fields larger than {self.max_head} bytes")
                return b"".join(parts)
            total += size
            if total > self.max_body:
                raise HttpProtocolError(f"chunked answer body over the {self.max_body}-byte limit")
            parts.append(self._read_exactly(size))
            if self._read_exactly(2) != b"\r\n":
                raise HttpProtocolError("chunk not followed by CRLF")

    def _read_until_close(self) -> bytes:
        sock = self.sock
        assert sock is not None
        parts, total = [self._buffer], len(self._buffer)
        self._buffer = b""
        while True:
            sock.settimeout(_left(self._deadline))
            chunk = sock.recv(_CHUNK)
            if not chunk:
                return b"".join(parts)
            total += len(chunk)
            if total > self.max_body:
                raise HttpProtocolError(f"answer body over the {self.max_body}-byte limit")
            parts.append(chunk)


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; TimeoutError once it has passed (a socket given 0 would not
    wait at all, and None would wait for ever)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _check_transfer_encoding(version: str, headers: Headers) -> None:
    """Only ``Transfer-Encoding: chunked`` alone, in an HTTP/1.1 answer without Content-Length
    (see the module's docstring for the rules this follows)."""
    value = headers["transfer-encoding"]
    if "content-length" in headers:
        raise HttpProtocolError("answer has both Transfer-Encoding and Content-Length")
    if version == "HTTP/1.0":
        raise HttpProtocolError("Transfer-Encoding in an HTTP/1.0 answer")
    if [coding.strip().lower() for coding in value.split(",")] != ["chunked"]:
        raise HttpProtocolError(f"unsupported transfer encoding {value[:40]!r} (only chunked)")


def _parse_status_line(line: bytes) -> tuple[str, int, str]:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise HttpProtocolError(f"not an HTTP/1.x status line: {line[:60]!r}")
    return version.decode("latin-1"), int(code), reason.decode("latin-1").strip()


def _parse_headers(block: bytes) -> Headers:
    headers = Headers()
    if not block:
        return headers
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise HttpProtocolError(f"malformed header line {line[:60]!r}")
        key = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        previous = dict.get(headers, key)
        dict.__setitem__(headers, key, text if previous is None else f"{previous}, {text}")
    return headers


def _content_length(value: str) -> int:
    # A repeated Content-Length arrives joined ("12, 12"): acceptable only if every copy agrees.
    values = {v.strip() for v in value.split(",")}
    only = next(iter(values))
    if len(values) != 1 or not (only.isascii() and only.isdigit()):
        raise HttpProtocolError(f"bad Content-Length {value[:40]!r}")
    return int(values.pop())
