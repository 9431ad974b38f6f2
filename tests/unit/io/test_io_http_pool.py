"""KubeClient's unary requests over its own http.client pool: kept-alive connections, a connection
the server closed while idle replaced before use, and the TLS name checked (tls-server-name)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab.host.pki import Pki
from scheduler.runtime.kube import ApiError, KubeClient, load_configuration


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server
    close_after_answer = False
    connections: set[tuple[str, int]] = set()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).connections.add(self.client_address)
        body = b'{"kind": "Namespace"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Hang up without saying so (no "Connection: close"), as a server's idle timeout does.
        self.close_connection = type(self).close_after_answer

    def log_message(self, *args: object) -> None:
        pass


def _kubeconfig(tmp_path: Path, cluster: dict, name: str) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster}], "contexts": [{"name": "c", "context": {"cluster": "c"}}]}))
    return str(path)


def _serve(server: http.server.HTTPServer) -> Iterator[http.server.HTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def handler() -> type[_Handler]:
    class Handler(_Handler):
        connections: set[tuple[str, int]] = set()

    return Handler


def test_requests_reuse_one_kept_alive_connection(tmp_path: Path, handler: type[_Handler]) -> None:
    for server in _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)):
        client = KubeClient(load_configuration(_kubeconfig(tmp_path, {"server": f"http://127.0.0.1:{server.server_port}"},
                                                           "k")), qps=0, burst=1, timeout=5)
        for _ in range(5):
            assert client.request("GET", "/api/v1/namespaces/default") == {"kind": "Namespace"}
        assert len(handler.connections) == 1


class _ClosingServer(http.server.ThreadingHTTPServer):
    """Counts the connections it has closed (after their one answer)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.closed = threading.Semaphore(0)

    def shutdown_request(self, request: object) -> None:
        super().shutdown_request(request)
        self.closed.release()


def test_an_idle_connection_the_server_closed_is_replaced_before_use(tmp_path: Path, handler: type[_Handler]) -> None:
    # Sent on the dead connection, the next request would fail (RemoteDisconnected/BrokenPipe).
    # Each request waits until the server has closed the previous connection: sent before that,
    # it would meet the race every keep-alive client meets (urllib3's pool the same).
    handler.close_after_answer = True
    for server in _serve(_ClosingServer(("127.0.0.1", 0), handler)):
        client = KubeClient(load_configuration(_kubeconfig(tmp_path, {"server": f"http://127.0.0.1:{server.server_port}"},
                                                           "k")), qps=0, burst=1, timeout=5)
        for _ in range(3):
            assert client.request("GET", "/api/v1/namespaces/default") == {"kind": "Namespace"}
            assert server.closed.acquire(timeout=10)
        assert len(handler.connections) == 3


def test_the_tls_server_name_is_checked(tmp_path: Path, handler: type[_Handler]) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure({}, ["127.0.0.1"])  # the serving certificate names localhost, kubernetes... and 127.0.0.1
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.pair("apiserver").cert, pki.pair("apiserver").key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for server in _serve(server):
        url = f"https://127.0.0.1:{server.server_port}"
        for name, ok in ((None, True), ("kubernetes.default.svc", True), ("elsewhere.example", False)):
            cluster = {"server": url, "certificate-authority": str(pki.ca.cert),
                       **({"tls-server-name": name} if name else {})}
            client = KubeClient(load_configuration(_kubeconfig(tmp_path, cluster, f"k-{name}")), qps=0, burst=1,
                                timeout=5)
            if ok:
                assert client.request("GET", "/api/v1/namespaces/default") == {"kind": "Namespace"}, name
            else:
                with pytest.raises(ApiError) as caught:
                    client.request("GET", "/api/v1/namespaces/default")
                assert caught.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in str(caught.value), str(caught.value)


def test_a_text_body_goes_out_as_utf8(tmp_path: Path) -> None:
    received: list[bytes] = []

    class Echo(_Handler):
        def do_PATCH(self) -> None:  # noqa: N802 - the stdlib's name
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.do_GET()

    for server in _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)):
        client = KubeClient(load_configuration(_kubeconfig(tmp_path, {"server": f"http://127.0.0.1:{server.server_port}"},
                                                           "k")), qps=0, burst=1, timeout=5)
        client.request("PATCH", "/api/v1/namespaces/default", body='{"note": "déjà → ✓"}')
        assert received == ['{"note": "déjà → ✓"}'.encode()]


class _TlsClosingServer(_ClosingServer):
    """A TLS 1.3 server asking for a client certificate (as the API server does), closing each
    connection after one answer so that every request opens a new one; it records, per
    connection, whether the handshake resumed a session and which client it authenticated."""

    def __init__(self, address: tuple[str, int], handler: type[_Handler], pki: Pki) -> None:
        super().__init__(address, handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(pki.pair("apiserver").cert, pki.pair("apiserver").key)
        context.load_verify_locations(pki.ca.cert)
        context.verify_mode = ssl.CERT_OPTIONAL
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.handshakes: list[tuple[bool, str]] = []

    def finish_request(self, request: ssl.SSLSocket, client_address: object) -> None:  # type: ignore[override]
        subject = dict(item for rdn in request.getpeercert()["subject"] for item in rdn)
        self.handshakes.append((request.session_reused, subject["commonName"]))
        super().finish_request(request, client_address)


def _tls_client(tmp_path: Path, pki: Pki, port: int) -> KubeClient:
    cluster = {"server": f"https://127.0.0.1:{port}", "certificate-authority": str(pki.ca.cert)}
    path = tmp_path / "tls-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"client-certificate": str(pki.pair("scheduler").cert),
                                         "client-key": str(pki.pair("scheduler").key)}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return KubeClient(load_configuration(str(path)), qps=0, burst=1, timeout=5)


def test_new_connections_resume_the_first_tls_session_and_stay_authenticated(tmp_path: Path,
                                                                              handler: type[_Handler]) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure({"scheduler": ("system:kube-scheduler", None)}, ["127.0.0.1"])
    handler.close_after_answer = True
    for server in _serve(_TlsClosingServer(("127.0.0.1", 0), handler, pki)):
        client = _tls_client(tmp_path, pki, server.server_port)
        for _ in range(3):
            assert client.request("GET", "/api/v1/namespaces/default") == {"kind": "Namespace"}
            assert server.closed.acquire(timeout=10)
        # One full handshake; the next connections resume it, and the server still knows the
        # client by the certificate of that first handshake.
        assert server.handshakes == [(False, "system:kube-scheduler"), (True, "system:kube-scheduler"),
                                     (True, "system:kube-scheduler")]


def test_a_session_the_restarted_server_does_not_know_costs_one_full_handshake(tmp_path: Path,
                                                                                 handler: type[_Handler]) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure({"scheduler": ("system:kube-scheduler", None)}, ["127.0.0.1"])
    handler.close_after_answer = True
    first = _TlsClosingServer(("127.0.0.1", 0), handler, pki)
    port = first.server_port
    for server in _serve(first):
        client = _tls_client(tmp_path, pki, port)
        for _ in range(2):
            client.request("GET", "/api/v1/namespaces/default")
            assert server.closed.acquire(timeout=10)
    # A new server on the same port has new ticket keys: the old session is refused, the client
    # shakes hands in full, and from then on resumes the new session.
    for server in _serve(_TlsClosingServer(("127.0.0.1", port), handler, pki)):
        for _ in range(2):
            assert client.request("GET", "/api/v1/namespaces/default") == {"kind": "Namespace"}
            assert server.closed.acquire(timeout=10)
        assert [reused for reused, _ in server.handshakes] == [False, True]
