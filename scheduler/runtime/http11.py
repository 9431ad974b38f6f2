"""A minimal HTTP/1.1 client connection for the API server's unary requests.

Why not http.client: per request it writes the head and the body as separate TLS records, reads
the answer line by line through a buffered file and parses the headers with the email package.
Against the lab's API server that is about 220 µs of CPU per small GET, four times what one
write, a few reads and a split cost here; a pod costs two such requests (its bind and its event).

What it speaks is exactly what the API server answers: a status line, headers, then a body framed
by Content-Length, by chunked transfer coding, or (without either) by the server closing. 1xx
interim answers are skipped; HEAD, 204 and 304 answers have no body. Anything else it cannot
frame (a malformed status line, a bad chunk size, a head over 64 KiB, a connection closed
mid-answer) raises ``HttpProtocolError``, an OSError, so callers treat it as the transport
failure it is. Watches do not come here: they stream through urllib3.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
_HEX = b"0123456789abcdefABCDEF"
_CHUNK = 65536
_NO_BODY_STATUS = (204, 304)


class HttpProtocolError(OSError):
    """An answer that is not HTTP/1.x as framed by RFC 9112, or one cut short."""


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


class HttpConnection:
    """One kept-alive connection to ``host:port`` (TLS when ``context`` is given).

    Not thread-safe: one request at a time, as a pool hands it out. After an exception the
    connection is in an unknown state; close it.
    """

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None) -> None:
        self.host, self.port = host, port
        self._context, self._server_hostname = context, server_hostname or host
        self.sock: socket.socket | None = None
        self._host_header = (f"[{host}]" if ":" in host else host) + f":{port}"
        self._buffer = b""  # bytes read past the head, not yet consumed

    def connect(self, timeout: float) -> None:
        sock = socket.create_connection((self.host, self.port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self._server_hostname)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._buffer = b""

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def request(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None,
                *, connect_timeout: float, read_timeout: float) -> Response:
        """Send one request (connecting first if needed) and read its whole answer.

        Raises ValueError, before anything is sent, for a header with CR or LF, a target with a
        space, a control or a non-ASCII character, or a header that is not Latin-1: as http.client
        refuses them, so nothing can split the head."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}", "Accept-Encoding: identity"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        if (" " in target or not target.isascii() or not target.isprintable()
                or any("\r" in line or "\n" in line for line in lines)):
            raise ValueError(f"refusing to send a request target with a space, a control or non-ASCII "
                             f"character, or a header with CR or LF: {target[:80]!r}")
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
        if self.sock is None:
            self.connect(connect_timeout)
        assert self.sock is not None
        self.sock.settimeout(read_timeout)
        # One write: head and body leave in one TLS record (http.client sends two).
        self.sock.sendall(head + (body or b""))
        return self._read_response(method)

    # -- reading ---------------------------------------------------------------------------

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(_CHUNK)
        if not data:
            raise HttpProtocolError("connection closed by the server before the answer was complete")
        return data

    def _read_head(self) -> bytes:
        data = self._buffer
        start = 0
        while True:
            end = data.find(b"\r\n\r\n", max(0, start - 3))
            if end > MAX_HEAD:
                raise HttpProtocolError(f"answer head larger than {MAX_HEAD} bytes")
            if end >= 0:
                self._buffer = data[end + 4:]
                return data[:end]
            if len(data) > MAX_HEAD:
                raise HttpProtocolError(f"answer head larger than {MAX_HEAD} bytes")
            start = len(data)
            data += self._recv()

    def _read_response(self, method: str) -> Response:
        while True:
            head = self._read_head()
            status_line, _, header_block = head.partition(b"\r\n")
            version, status, reason = _parse_status_line(status_line)
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            break
        headers = _parse_headers(header_block)
        connection = (headers.get("connection") or "").lower()
        will_close = ("close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
                      or status == 101)  # after Switching Protocols the connection is not HTTP
        if method == "HEAD" or status in _NO_BODY_STATUS or status == 101:
            body = b""
        elif "chunked" in (headers.get("transfer-encoding") or "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(_content_length(headers["content-length"]))
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
            if len(data) > MAX_HEAD:
                raise HttpProtocolError("chunk size line too long")
            data += self._recv()

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size_field = self._read_line().split(b";", 1)[0].strip()
            if not size_field or size_field.strip(_HEX) or len(size_field) > 16:
                raise HttpProtocolError(f"bad chunk size {size_field[:20]!r}")
            size = int(size_field, 16)
            if size == 0:
                while self._read_line():  # trailer fields, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            if self._read_exactly(2) != b"\r\n":
                raise HttpProtocolError("chunk not followed by CRLF")

    def _read_until_close(self) -> bytes:
        assert self.sock is not None
        parts = [self._buffer]
        self._buffer = b""
        while True:
            chunk = self.sock.recv(_CHUNK)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)


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
