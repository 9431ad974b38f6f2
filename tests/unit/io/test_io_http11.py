"""runtime/http11.py, the minimal HTTP/1.1 client behind KubeClient's unary requests: answers framed
by Content-Length, chunked coding or the server closing, however TCP splits them; interim and
bodiless answers; when the connection can be kept; what it refuses to read or to send; and the
request it puts on the wire.

Most tests hand the connection a scripted socket whose recv() returns exactly the pieces the test
chose, one per call: over real TCP two writes may arrive as one read, so only a stand-in controls
the splits. It fails the test if the client reads past the scripted answer (a real server would
leave it waiting there). A few tests go over real loopback sockets for connect() and the wire.
"""

from __future__ import annotations

import http.client
import http.server
import io
import socket
import string
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.runtime.http11 import MAX_HEAD, HttpConnection, HttpProtocolError, Response

_TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
_FRAMING = ("content-length", "transfer-encoding", "connection")  # drawn by the tests, not at random


class _ScriptedSocket:
    """Stands in for HttpConnection.sock: recv() hands out the scripted pieces one per call (cut
    to recv's size), then b"" if the server closes, else fails the test: the client read past
    the answer, where a real server would leave it waiting."""

    def __init__(self, pieces: Iterable[bytes] = (), *, closes: bool = False) -> None:
        self.pieces = deque(pieces)
        assert all(self.pieces), "an empty piece would read as the server closing"
        self.closes = closes
        self.sent: list[bytes] = []
        self.timeouts: list[float | None] = []

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def recv(self, size: int) -> bytes:
        if self.pieces:
            piece = self.pieces.popleft()
            if len(piece) > size:
                self.pieces.appendleft(piece[size:])
                piece = piece[:size]
            return piece
        if self.closes:
            return b""
        raise AssertionError("the client read past the scripted answer")

    def close(self) -> None:
        pass


def _scripted(pieces: Iterable[bytes], *, closes: bool = False,
              host: str = "api.example", port: int = 6443) -> tuple[HttpConnection, _ScriptedSocket]:
    connection = HttpConnection(host, port)
    sock = _ScriptedSocket(pieces, closes=closes)
    connection.sock = sock  # type: ignore[assignment]
    return connection, sock


def _get(connection: HttpConnection, method: str = "GET", target: str = "/api/v1/pods",
         body: bytes | None = None, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return connection.request(method, target, headers, body, connect_timeout=5, timeout=5)


def _split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    edges = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


# -- the answer side, property-based ------------------------------------------------------------

@st.composite
def _answers(draw: st.DrawFn) -> tuple[bytes, int, str, dict[str, str], bytes, list[str]]:
    """An HTTP/1.1 answer with a framed body: (its bytes, status, reason, expected headers by
    lower-case name, body, the header names to look up in assorted cases)."""
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.text(_VISIBLE + " ", max_size=20))
    names = draw(st.lists(st.text(_TOKEN, min_size=1, max_size=12).filter(lambda n: n.lower() not in _FRAMING),
                          min_size=1, max_size=5))
    fields: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 8))):  # drawn from a few names: repeats, in any case
        name = draw(st.sampled_from(names))
        name = draw(st.sampled_from([name, name.lower(), name.upper(), name.swapcase()]))
        value = draw(st.text(_VISIBLE + " ", max_size=30))
        fields.append((name, value))
    if draw(st.booleans()):
        fields.append((draw(st.sampled_from(["Connection", "connection"])),
                       draw(st.sampled_from(["keep-alive", "Keep-Alive"]))))
    body = draw(st.binary(max_size=5000))
    chunked = draw(st.booleans())
    framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
    fields.insert(draw(st.integers(0, len(fields))), framing)
    if chunked:
        cuts = draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=6))
        payload = b""
        for chunk in [*_split(body, cuts), b""]:  # the empty chunk is the last-chunk, "0"
            size = format(len(chunk), draw(st.sampled_from(["x", "X"])))
            size = "0" * draw(st.integers(0, 3)) + size
            extension = draw(st.sampled_from(["", ";a=b", ";a=b;c"]))
            payload += f"{size}{extension}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
        for index in range(draw(st.integers(0, 2))):  # trailer fields: read and dropped
            payload += f"X-Trailer-{index}: {draw(st.text(_VISIBLE, max_size=10))}\r\n".encode()
        payload += b"\r\n"
    else:
        payload = body
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    expected: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        expected[key] = value.strip() if key not in expected else f"{expected[key]}, {value.strip()}"
    lookups = [name for name, _ in fields] + [name.swapcase() for name, _ in fields]
    return head.encode() + payload, status, reason.strip(), expected, body, lookups


@settings(max_examples=60, deadline=None)
@given(answer=_answers(), data=st.data())
def test_a_framed_answer_split_anywhere_reads_back_as_sent(answer: tuple, data: st.DataObject) -> None:
    wire, status, reason, expected, body, lookups = answer
    cuts = data.draw(st.lists(st.integers(1, len(wire) - 1), max_size=8), label="cuts")
    connection, sock = _scripted(_split(wire, cuts))
    response = _get(connection)
    assert (response.status, response.reason, response.body) == (status, reason, body)
    assert dict(response.headers) == expected  # names lower-case, repeats joined, no trailers
    for name in lookups:
        assert name in response.headers
        assert response.headers[name] == response.headers.get(name) == expected[name.lower()]
    assert response.headers.get("X-Not-Sent") is None and "X-Not-Sent" not in response.headers
    # Framed and kept alive: every byte read, none past the answer, the connection reusable.
    assert response.will_close is False
    assert not sock.pieces


# -- the answer side, examples ------------------------------------------------------------------

def test_two_answers_in_a_row_on_one_connection() -> None:
    connection, sock = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"])
    first = _get(connection)
    sock.pieces.extend([b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsec",
                        b"ond\r\n0\r\n\r\n"])
    second = _get(connection, "POST", body=b"{}")
    assert (first.status, first.body, first.will_close) == (200, b"first", False)
    assert (second.status, second.reason, second.body, second.will_close) == (201, "Created", b"second", False)
    assert len(sock.sent) == 2


def test_bytes_past_the_answer_make_the_connection_unusable() -> None:
    # Nobody asked for them: the next answer on this connection could not be framed.
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"])
    response = _get(connection)
    assert (response.body, response.will_close) == (b"ok", True)


@pytest.mark.parametrize("pieces", [
    [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", b" until", b" close"],
    [b"HTTP/1.1 200 OK\r\n", b"Content-Type: text/plain\r\n\r\n", b"all of it until close"],
    [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it until close"],
])
def test_a_body_without_framing_is_read_until_the_server_closes(pieces: list[bytes]) -> None:
    connection, sock = _scripted(pieces, closes=True)
    response = _get(connection)
    assert (response.status, response.body, response.will_close) == (200, b"all of it until close", True)
    assert not sock.pieces


def test_an_empty_body_until_close() -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\n\r\n"], closes=True)
    response = _get(connection)
    assert (response.body, response.will_close) == (b"", True)


@pytest.mark.parametrize("pieces", [
    [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
    [b"HTTP/1.1 100 Continue\r\n\r", b"\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"],
])
def test_interim_answers_are_skipped(pieces: list[bytes]) -> None:
    connection, sock = _scripted(pieces)
    response = _get(connection, "POST", body=b"{}")
    assert (response.status, response.reason, response.body, response.will_close) == (200, "OK", b"ok", False)
    assert "link" not in response.headers  # the interim answer's headers are not the answer's
    assert not sock.pieces


@pytest.mark.parametrize("method, head", [
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
    ("HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("GET", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
    ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
    ("DELETE", b"HTTP/1.1 204 No Content\r\n\r\n"),
])
def test_head_204_and_304_answers_have_no_body(method: str, head: bytes) -> None:
    # Reading the 10 bytes Content-Length announces would hang: the scripted socket fails instead.
    connection, _ = _scripted([head])
    response = _get(connection, method)
    assert (response.status, response.body, response.will_close) == (int(head[9:12]), b"", False)




def test_a_repeated_content_length_that_agrees_is_accepted() -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"])
    response = _get(connection)
    assert (response.body, response.headers["Content-Length"], response.will_close) == (b"ok", "2, 2", False)


@pytest.mark.parametrize("version, connection_header, will_close", [
    ("HTTP/1.1", None, False),
    ("HTTP/1.1", "Connection: close", True),
    ("HTTP/1.1", "connection: Close", True),
    ("HTTP/1.1", "Connection: keep-alive, close", True),
    ("HTTP/1.1", "Connection: keep-alive", False),
    ("HTTP/1.0", None, True),
    ("HTTP/1.0", "Connection: keep-alive", False),
    ("HTTP/1.0", "Connection: Keep-Alive", False),
    ("HTTP/1.0", "Connection: close", True),
    ("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", True),  # not HTTP any more
])
def test_when_the_connection_can_be_kept(version: str, connection_header: str | None, will_close: bool) -> None:
    status_line = version if " " in version else f"{version} 200 OK"
    head = f"{status_line}\r\nContent-Length: 2\r\n" + (f"{connection_header}\r\n" if connection_header else "")
    # A 101 has no body (what follows is the new protocol): nothing after its head here, so only
    # the status itself can say the connection is spent.
    expected_body = b"" if " " in version else b"ok"
    connection, _ = _scripted([head.encode() + b"\r\n" + expected_body])
    response = _get(connection)
    assert (response.body, response.will_close) == (expected_body, will_close)


# -- what it refuses to read -------------------------------------------------------------------

@pytest.mark.parametrize("status_line", [
    b"HTTP/2 200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 abc OK", b"HTTP/1.1  200 OK",
    b"ICY 200 OK", b"garbage", b"", b"http/1.1 200 OK",
])
def test_a_malformed_status_line_is_refused(status_line: bytes) -> None:
    connection, _ = _scripted([status_line + b"\r\nContent-Length: 0\r\n\r\n"])
    with pytest.raises(HttpProtocolError):
        _get(connection)


@pytest.mark.parametrize("line", [b"No-Colon", b"Name : value", b" Folded: value", b": no name"])
def test_a_malformed_header_line_is_refused(line: bytes) -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + line + b"\r\n\r\n"])
    with pytest.raises(HttpProtocolError):
        _get(connection)


@pytest.mark.parametrize("size", [b"zz", b"0x10", b"-1", b"+1", b"", b" ", b"1 2", b";a=b", b"1" * 17])
def test_a_bad_chunk_size_is_refused(size: bytes) -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size
                               + b"\r\nhello\r\n0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="chunk size"):
        _get(connection)


@pytest.mark.parametrize("payload", [b"5\r\nhelloXY0\r\n\r\n", b"5\r\nhello\n0\r\n\r\n", b"3\r\nhello\r\n0\r\n\r\n"])
def test_a_chunk_not_followed_by_crlf_is_refused(payload: bytes) -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + payload])
    with pytest.raises(HttpProtocolError, match="CRLF"):
        _get(connection)


@pytest.mark.parametrize("fields", [
    b"Content-Length: 12\r\nContent-Length: 13\r\n", b"Content-Length: 12, 13\r\n", b"Content-Length: -1\r\n",
    b"Content-Length: +5\r\n", b"Content-Length: abc\r\n", b"Content-Length:\r\n", b"Content-Length: 1 2\r\n",
    # Latin-1 superscript digits: str.isdigit() says yes, int() says no.
    b"Content-Length: \xb2\r\n", b"Content-Length: 1\xb9\r\n",
])
def test_a_bad_content_length_is_refused(fields: bytes) -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n" + b"x" * 13])
    with pytest.raises(HttpProtocolError, match="Content-Length"):
        _get(connection)


def test_a_head_that_never_ends_is_refused_without_reading_it_all() -> None:
    line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
    pieces = [b"HTTP/1.1 200 OK\r\n"] + [line] * (4 * MAX_HEAD // len(line))
    connection, sock = _scripted(pieces)  # no blank line: a client without a limit would read all
    with pytest.raises(HttpProtocolError, match="larger than"):
        _get(connection)
    assert sock.pieces  # it stopped early


@pytest.mark.parametrize("padding", [MAX_HEAD, MAX_HEAD + 100, 2 * MAX_HEAD - 100])
def test_a_complete_head_just_over_the_limit_is_refused(padding: int) -> None:
    # Arrives whole in one read: the limit holds for the head found, not only between reads.
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * padding + b"\r\nContent-Length: 2\r\n\r\nok"
    connection, _ = _scripted([head[:MAX_HEAD - 10], head[MAX_HEAD - 10:]])
    with pytest.raises(HttpProtocolError, match="larger than"):
        _get(connection)


def test_a_complete_head_far_over_the_limit_is_refused() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * (3 * MAX_HEAD) + b"\r\nContent-Length: 0\r\n\r\n"
    connection, _ = _scripted([head])
    with pytest.raises(HttpProtocolError, match="larger than"):
        _get(connection)


@pytest.mark.parametrize("answer", [
    b"",  # closed before a byte
    b"HTTP/1.1 200 OK\r\nContent-Le",  # mid-head
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r",  # one byte short of the head's end
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfour",  # mid-body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # mid-chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",  # before the last chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n",  # mid-trailers
    b"HTTP/1.1 100 Continue\r\n\r\n",  # after an interim answer
])
def test_a_connection_closed_mid_answer_is_refused(answer: bytes) -> None:
    connection, _ = _scripted(_split(answer, range(0, len(answer), 7)), closes=True)
    with pytest.raises(HttpProtocolError, match="closed"):
        _get(connection)


def test_the_protocol_error_is_an_os_error() -> None:
    # KubeClient treats it as the transport failure it is.
    assert issubclass(HttpProtocolError, OSError)


# -- the request side ----------------------------------------------------------------------------

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _parse_request(data: bytes) -> tuple[str, str, str, http.client.HTTPMessage, bytes]:
    """The request as http.server reads it: (method, target, version, headers, body); fails on
    a request it would refuse or on bytes after the body."""

    class Reader(http.server.BaseHTTPRequestHandler):
        def __init__(self) -> None:  # no socket: parse from memory
            self.rfile, self.wfile = io.BytesIO(data), io.BytesIO()
            self.client_address = ("127.0.0.1", 0)
            self.raw_requestline = self.rfile.readline(65537)

        def log_message(self, *args: object) -> None:
            pass

    reader = Reader()
    assert reader.parse_request(), reader.wfile.getvalue()
    length = reader.headers.get("Content-Length")
    body = reader.rfile.read(int(length)) if length is not None else b""
    assert reader.rfile.read() == b"", "bytes after the request"
    return reader.command, reader.path, reader.request_version, reader.headers, body


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       # Not "//...": http.server's parser collapses leading slashes (an open-redirect guard).
       target=st.text(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%?", max_size=60).filter(
           lambda t: not t.startswith("/")),
       body=st.none() | st.binary(max_size=3000),
       headers=st.lists(st.tuples(st.text(_TOKEN, min_size=1, max_size=12).filter(
           lambda n: n.lower() not in ("host", "content-length", "transfer-encoding", "accept-encoding")),
           st.text(_VISIBLE, min_size=1, max_size=30)), max_size=4))
def test_any_request_goes_out_as_one_well_formed_write(method: str, target: str, body: bytes | None,
                                                      headers: list[tuple[str, str]]) -> None:
    connection, sock = _scripted([_OK])
    response = _get(connection, method, "/" + target, body, headers)
    assert response.status == 200
    assert len(sock.sent) == 1  # head and body in one write (one TLS record)
    command, path, version, parsed, read_body = _parse_request(sock.sent[0])
    assert (command, path, version, read_body) == (method, "/" + target, "HTTP/1.1", body or b"")
    assert parsed.get_all("Host") == ["api.example:6443"]
    for name, value in headers:
        assert value in parsed.get_all(name)
    # Content-Length whenever there is a body, and always for the methods that carry one.
    has_length = body is not None or method in ("POST", "PUT", "PATCH")
    assert parsed.get_all("Content-Length") == ([str(len(body or b""))] if has_length else None)


@pytest.mark.parametrize("method, body, length", [
    ("POST", None, "0"), ("PUT", None, "0"), ("PATCH", None, "0"), ("POST", b"{}", "2"),
    ("GET", None, None), ("DELETE", None, None), ("GET", b"", "0"), ("DELETE", b"{}", "2"),
])
def test_content_length_on_the_wire(method: str, body: bytes | None, length: str | None) -> None:
    connection, sock = _scripted([_OK])
    _get(connection, method, "/x", body)
    head, _, sent_body = sock.sent[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert [line for line in lines if line.lower().startswith(b"content-length:")] == (
        [f"Content-Length: {length}".encode()] if length is not None else [])
    assert sent_body == (body or b"")


def test_the_request_head_on_the_wire() -> None:
    connection, sock = _scripted([_OK])
    connection.request("POST", "/api/v1/namespaces/default/pods/p/binding",
                       [("Authorization", "Bearer t"), ("Content-Type", "application/json")], b'{"a": 1}',
                       connect_timeout=1.0, timeout=2.5)
    assert sock.sent == [b"POST /api/v1/namespaces/default/pods/p/binding HTTP/1.1\r\n"
                         b"Host: api.example:6443\r\nAccept-Encoding: identity\r\n"
                         b"Authorization: Bearer t\r\nContent-Type: application/json\r\n"
                         b'Content-Length: 8\r\n\r\n{"a": 1}']
    assert len(sock.timeouts) == 2 and all(0 < t <= 2.5 for t in sock.timeouts)  # what is left, before each op


def test_an_ipv6_host_goes_in_brackets() -> None:
    assert HttpConnection("::1", 6443)._host_header == "[::1]:6443"
    assert HttpConnection("127.0.0.1", 80)._host_header == "127.0.0.1:80"
    connection, sock = _scripted([_OK], host="fd00::10", port=443)
    _get(connection)
    assert b"\r\nHost: [fd00::10]:443\r\n" in sock.sent[0]


@pytest.mark.parametrize("target, headers", [
    ("/a b", []), ("/a\rb", []), ("/a\nb", []), ("/a\r\nX-Injected: 1", []),
    ("/a", [("X-Note", "a\r\nX-Injected: 1")]), ("/a", [("X-Note", "a\nb")]), ("/a", [("X-Note", "a\rb")]),
    ("/a", [("X-Bad\r\nName", "v")]),
    ("/✓", []), ("/a", [("X-Note", "✓")]),  # not Latin-1 (UnicodeEncodeError, a ValueError)
    ("/a\tb", []), ("/a\x00b", []), ("/a\x7fb", []), ("/é", []),  # controls, non-ASCII in the target
])
def test_a_request_that_would_split_the_head_is_refused_before_a_byte_is_sent(
        target: str, headers: list[tuple[str, str]]) -> None:
    client_end, server_end = socket.socketpair()
    with server_end:
        connection = HttpConnection("api.example", 6443)
        connection.sock = client_end
        with pytest.raises(ValueError):
            connection.request("POST", target, headers, b"{}", connect_timeout=5, timeout=5)
        connection.close()  # the server end now reads EOF after whatever was sent
        server_end.settimeout(5)
        assert server_end.recv(65536) == b""


def test_a_refused_request_does_not_even_connect() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        connection = HttpConnection("127.0.0.1", listener.getsockname()[1])
        with pytest.raises(ValueError):
            _get(connection, target="/a b")
        assert connection.sock is None
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection waiting to be accepted
            listener.accept()


# -- over real loopback sockets ---------------------------------------------------------------

def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    """One request (head, then its Content-Length body) off `conn`; (request, bytes after it)."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        assert data, "the client closed before a whole request head"
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = conn.recv(65536)
        assert data, "the client closed before a whole request body"
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


@contextmanager
def _loopback(answers: list[list[bytes]], *, close_after: bool = False) -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 for one connection: for each answer, it reads one request and
    writes the answer's pieces; then it closes (close_after) or waits for the client to. Yields
    (port, the requests received); on exit, fails on anything the server thread raised."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    requests: list[bytes] = []
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                buffer = b""
                for pieces in answers:
                    request, buffer = _read_request(conn, buffer)
                    requests.append(request)
                    for piece in pieces:
                        conn.sendall(piece)
                if not close_after:
                    while conn.recv(65536):  # until the client hangs up
                        pass
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        thread.join(timeout=15)
        listener.close()
    assert not thread.is_alive(), "the server thread is stuck"
    assert not errors, errors


def test_two_answers_over_one_kept_alive_tcp_connection() -> None:
    answers = [[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"\r\nfir", b"st"],
               [b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6;a=b\r\nsecond\r\n0\r\n\r\n"]]
    with _loopback(answers) as (port, requests):
        connection = HttpConnection("127.0.0.1", port)
        try:
            first = _get(connection)  # connects
            sock = connection.sock
            second = _get(connection, "POST", body=b"{}")
            assert connection.sock is sock  # the same connection
        finally:
            connection.close()
    assert (first.status, first.body, first.will_close) == (200, b"first", False)
    assert (second.status, second.body, second.will_close) == (201, b"second", False)
    assert requests[0].startswith(b"GET /api/v1/pods HTTP/1.1\r\nHost: 127.0.0.1:")
    assert requests[1].startswith(b"POST /api/v1/pods HTTP/1.1\r\n") and requests[1].endswith(b"\r\n\r\n{}")
    assert len(requests) == 2


def test_a_body_until_close_over_tcp() -> None:
    with _loopback([[b"HTTP/1.0 200 OK\r\n\r\nsome ", b"body"]], close_after=True) as (port, _):
        connection = HttpConnection("127.0.0.1", port)
        try:
            response = _get(connection)
        finally:
            connection.close()
    assert (response.status, response.body, response.will_close) == (200, b"some body", True)


def test_a_server_closing_mid_body_over_tcp() -> None:
    with _loopback([[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"]], close_after=True) as (port, _):
        connection = HttpConnection("127.0.0.1", port)
        try:
            with pytest.raises(HttpProtocolError):
                _get(connection)
        finally:
            connection.close()
