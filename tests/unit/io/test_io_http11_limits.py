"""runtime/http11.py's bounds: one deadline per request (name resolution, connect, TLS handshake,
sending and the whole answer), strict RFC 9112 framing (Transfer-Encoding with Content-Length,
transfer codings other than chunked, TE in HTTP/1.0), interim answers, and the head and body caps.

The deadline tests use real loopback servers (a drip-feeding one sends a byte every 50 ms) and
assert elapsed time against the request's own timeout plus ``MARGIN``: measured with both cores
busy (two spinning processes) the overshoot stayed under 0.05 s; 0.3 s leaves room for a loaded
machine while a per-operation timeout (which restarts with every byte) overshoots by seconds.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_io_http11 import _get, _scripted

from scheduler.runtime import http11
from scheduler.runtime.http11 import (
    MAX_INTERIM,
    ConnectError,
    HttpConnection,
    HttpProtocolError,
    RequestTimeout,
)

MARGIN = 0.3  # seconds past a request's deadline it may take to give up (see the docstring)
DRIP_PERIOD = 0.05


@contextmanager
def _server(behaviour) -> Iterator[int]:
    """A TCP server on 127.0.0.1 running ``behaviour(conn, stop)`` for each connection until the
    test ends; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=_run, args=(conn,), daemon=True).start()

    def _run(conn: socket.socket) -> None:
        with conn:
            try:
                behaviour(conn, stop)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _read_head(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("client went away")
        data += chunk


def _drip(payload: bytes):
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        _read_head(conn)
        for byte in payload:
            if stop.wait(DRIP_PERIOD):
                return
            conn.sendall(bytes([byte]))
        stop.wait(30)
    return behaviour


def _timed(fn) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


@pytest.mark.parametrize("answer", [
    # The body drips: each byte comes well within a per-read timeout, the whole never in time.
    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000,
    # The head itself drips.
    b"HTTP/1.1 200 OK\r\nX-Pad: " + b"y" * 1000 + b"\r\n\r\n",
    # Chunked, dripping inside a chunk.
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + b"z" * 1000,
], ids=["body", "head", "chunked"])
def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(answer: bytes) -> None:
    with _server(_drip(answer)) as port:
        connection = HttpConnection("127.0.0.1", port)
        try:
            elapsed, error = _timed(lambda: connection.request("GET", "/", (), None, timeout=0.5))
        finally:
            connection.close()
    assert isinstance(error, RequestTimeout), error
    assert isinstance(error, TimeoutError) and isinstance(error, OSError)  # callers see a transport error
    assert 0.5 <= elapsed < 0.5 + MARGIN, elapsed


def test_an_answer_that_comes_in_time_is_read_whole_over_a_slow_drip() -> None:
    with _server(_drip(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")) as port:
        connection = HttpConnection("127.0.0.1", port)
        try:
            response = connection.request("GET", "/", (), None, timeout=20)
        finally:
            connection.close()
    assert (response.status, response.body) == (200, b"abc")


def test_a_tls_handshake_that_never_comes_fails_as_not_sent_within_the_deadline() -> None:
    def silent(conn: socket.socket, stop: threading.Event) -> None:
        stop.wait(30)  # accepts TCP, never answers the ClientHello

    context = ssl.create_default_context()
    with _server(silent) as port:
        connection = HttpConnection("127.0.0.1", port, context=context, server_hostname="localhost")
        elapsed, error = _timed(lambda: connection.request("GET", "/", (), None, timeout=0.4))
        connection.close()
    assert isinstance(error, ConnectError) and error.timed_out, error
    assert 0.4 <= elapsed < 0.4 + MARGIN, elapsed


def test_the_connect_bound_is_part_of_the_request_deadline() -> None:
    def silent(conn: socket.socket, stop: threading.Event) -> None:
        stop.wait(30)

    with _server(silent) as port:
        connection = HttpConnection("127.0.0.1", port, context=ssl.create_default_context(),
                                    server_hostname="localhost")
        elapsed, error = _timed(lambda: connection.request("GET", "/", (), None, timeout=5, connect_timeout=0.3))
        connection.close()
    assert isinstance(error, ConnectError) and error.timed_out
    assert 0.3 <= elapsed < 0.3 + MARGIN, elapsed


def test_a_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    connection = HttpConnection("127.0.0.1", port)  # nothing listens there any more
    with pytest.raises(ConnectError) as error:
        connection.request("GET", "/", (), None, timeout=2)
    assert not error.value.timed_out and "connecting to 127.0.0.1:" in str(error.value)


def test_name_resolution_is_bounded_by_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host, *args, **kwargs):
        if host == "api.hangs.example":
            release.wait(30)  # a resolver that never answers
            raise socket.gaierror("released")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    connection = HttpConnection("api.hangs.example", 6443)
    try:
        elapsed, error = _timed(lambda: connection.request("GET", "/", (), None, timeout=0.4))
    finally:
        release.set()
    assert isinstance(error, ConnectError) and error.timed_out, error
    assert "resolving api.hangs.example" in str(error)
    assert 0.4 <= elapsed < 0.4 + MARGIN, elapsed


def test_a_name_that_does_not_resolve_is_a_connect_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    with pytest.raises(ConnectError) as error:
        HttpConnection("api.unknown.example", 6443).request("GET", "/", (), None, timeout=1)
    assert not error.value.timed_out and "Name or service not known" in str(error.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_an_ip_literal_is_never_looked_up(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    real = socket.getaddrinfo
    flags_seen: list[int] = []

    def numeric_only(h, port, *args, flags=0, **kwargs):
        flags_seen.append(flags)
        assert flags & socket.AI_NUMERICHOST, "an IP literal went to the resolver"
        return real(h, port, *args, flags=flags, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    assert http11.resolve(host, 443, 0.001)[0][4][1] == 443
    assert flags_seen


# -- framing (RFC 9112 section 6.3) -------------------------------------------------------------

def test_transfer_encoding_with_content_length_is_refused() -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"5\r\nhello\r\n0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="both Transfer-Encoding and Content-Length"):
        _get(connection)


@pytest.mark.parametrize("value", ["gzip, chunked", "chunked, gzip", "gzip", "chunked, chunked", "identity",
                                   "chunked;q=1", ""])
def test_a_transfer_coding_other_than_chunked_alone_is_refused(value: str) -> None:
    connection, _ = _scripted([f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {value}\r\n\r\n".encode()
                               + b"5\r\nhello\r\n0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="transfer encoding"):
        _get(connection)


def test_a_repeated_transfer_encoding_field_is_refused() -> None:
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="transfer encoding"):
        _get(connection)


@pytest.mark.parametrize("value", ["chunked", "Chunked", "CHUNKED", " chunked "])
def test_chunked_is_matched_as_a_token_in_any_case(value: str) -> None:
    connection, _ = _scripted([f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {value}\r\n\r\n".encode()
                               + b"5\r\nhello\r\n0\r\n\r\n"])
    assert _get(connection).body == b"hello"


def test_transfer_encoding_in_an_http_1_0_answer_is_refused() -> None:
    connection, _ = _scripted([b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="HTTP/1.0"):
        _get(connection)


@settings(max_examples=60, deadline=None)
@given(codings=st.lists(st.sampled_from(["chunked", "gzip", "deflate", "compress", "identity", "x-custom"]),
                        min_size=1, max_size=4),
       spaces=st.sampled_from([",", ", ", " ,  "]))
def test_only_exactly_chunked_frames_a_body(codings: list[str], spaces: str) -> None:
    value = spaces.join(codings)
    connection, _ = _scripted([f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {value}\r\n\r\n".encode()
                               + b"2\r\nok\r\n0\r\n\r\n"])
    if codings == ["chunked"]:
        assert _get(connection).body == b"ok"
    else:
        with pytest.raises(HttpProtocolError):
            _get(connection)


def test_interim_answers_are_skipped_over_tcp() -> None:
    answer = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
              b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")

    def answer_once(conn: socket.socket, stop: threading.Event) -> None:
        _read_head(conn)
        conn.sendall(answer)
        stop.wait(30)

    with _server(answer_once) as port:
        connection = HttpConnection("127.0.0.1", port)
        try:
            response = connection.request("POST", "/", (), b"{}", timeout=5)
        finally:
            connection.close()
    assert (response.status, response.body, "link" in response.headers) == (201, b"ok", False)


def test_endless_interim_answers_are_refused() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1)
    connection, _ = _scripted([interim + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    with pytest.raises(HttpProtocolError, match="interim"):
        _get(connection)
    connection, _ = _scripted([b"HTTP/1.1 100 Continue\r\n\r\n" * MAX_INTERIM
                               + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert _get(connection).status == 200


# -- caps -----------------------------------------------------------------------------------------

def _framed(body: bytes, framing: str) -> tuple[list[bytes], bool]:
    if framing == "length":
        return [f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode(), *([body] if body else [])], False
    if framing == "chunked":
        chunks = b"".join(f"{len(body[i:i + 7]):x}\r\n".encode() + body[i:i + 7] + b"\r\n"
                          for i in range(0, len(body), 7))
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"], False
    return [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", *([body] if body else [])], True


@settings(max_examples=80, deadline=None)
@given(size=st.integers(0, 200), cap=st.integers(0, 200), framing=st.sampled_from(["length", "chunked", "close"]))
def test_a_body_is_read_up_to_the_cap_and_refused_past_it(size: int, cap: int, framing: str) -> None:
    body = bytes(range(256))[:size]
    pieces, closes = _framed(body, framing)
    connection, sock = _scripted(pieces, closes=closes)
    connection.max_body = cap
    if size <= cap:
        assert _get(connection).body == body
    else:
        with pytest.raises(HttpProtocolError, match="limit"):
            _get(connection)


def test_a_content_length_over_the_cap_is_refused_before_reading_the_body() -> None:
    connection, sock = _scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 1000001\r\n\r\n"])  # no body scripted
    connection.max_body = 1_000_000
    with pytest.raises(HttpProtocolError, match="1000001 bytes"):
        _get(connection)


def test_the_head_cap_is_configurable() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    connection, _ = _scripted([head])
    connection.max_head = 100
    with pytest.raises(HttpProtocolError, match="larger than 100 bytes"):
        _get(connection)
    connection, _ = _scripted([head])
    assert _get(connection).status == 200  # the default cap (64 KiB) takes it


def test_endless_trailer_fields_are_refused() -> None:
    trailers = b"".join(b"X-T: " + b"t" * 50 + b"\r\n" for _ in range(10))
    connection, _ = _scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + b"\r\n"])
    connection.max_head = 200
    with pytest.raises(HttpProtocolError, match="trailer"):
        _get(connection)


def test_the_default_body_cap_takes_a_5000_node_list_with_room() -> None:
    assert http11.MAX_BODY >= 25 * 18 * 1000 * 1000  # 18 MB measured for 5,000 lab nodes, a margin of 25
