"""e2e/faultproxy.py's server errors on loopback, without a cluster: a small TLS "API server" with
the lab's PKI behind the proxy, and a client that trusts only the lab's CA (as the scheduler does)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from e2e.faultproxy import FaultProxy, ProxyTls
from lab.host.pki import Pki


class _Api(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None, str]] = []  # method, path, client cert CN, body

    def _answer(self, code: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        cert = self.connection.getpeercert()
        cn = dict(x[0] for x in cert["subject"])["commonName"] if cert else None
        self.seen.append((self.command, self.path, cn, body))
        data = json.dumps({"kind": "Status", "status": "Success", "code": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(200)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(201)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lab(tmp_path: Path):
    pki = Pki(tmp_path / "pki")
    pki.ensure({"admin": ("kubernetes-admin", "system:masters")}, serving_ips=["127.0.0.1"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.pair("apiserver").cert), str(pki.pair("apiserver").key))
    ctx.load_verify_locations(str(pki.ca.cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
        "clusters": [{"name": "lab", "cluster": {"server": f"https://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(pki.pair("admin").cert),
                                             "client-key": str(pki.pair("admin").key)}}]}))
    _Api.seen = []
    proxy = FaultProxy(target_port=server.server_address[1], tls=ProxyTls.for_lab(pki.dir, kubeconfig))
    client = ssl.create_default_context(cafile=str(pki.ca.cert))
    client.load_cert_chain(str(pki.pair("admin").cert), str(pki.pair("admin").key))
    yield proxy, client
    proxy.stop()
    server.shutdown()


def _call(proxy: FaultProxy, client: ssl.SSLContext, method: str, path: str) -> tuple[int, dict, dict]:
    data = b'{"kind": "Binding"}' if method == "POST" else None
    request = urllib.request.Request(f"https://127.0.0.1:{proxy.port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, context=client, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_outside_a_fault_tls_passes_through_to_the_api_server(lab) -> None:
    proxy, client = lab
    code, _, body = _call(proxy, client, "GET", "/api/v1/nodes")
    assert (code, body["status"]) == (200, "Success")
    # The client's own certificate reached the server: the proxy did not terminate TLS.
    assert _Api.seen == [("GET", "/api/v1/nodes", "kubernetes-admin", "")]
    assert proxy.injected == {} and proxy.forwarded == 0


@pytest.mark.parametrize(("code", "reason"), [(503, "ServiceUnavailable"), (500, "InternalError"),
                                              (504, "Timeout")])
def test_a_server_error_is_a_status_answered_by_the_proxy_alone(lab, code: int, reason: str) -> None:
    proxy, client = lab
    proxy.server_errors(60, code)
    got, headers, body = _call(proxy, client, "POST", "/api/v1/namespaces/ns/pods/p/binding")
    assert got == code
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", reason, code)
    assert headers["Connection"] == "close" and "Retry-After" not in headers
    assert _Api.seen == [], "the request reached the API server"
    assert proxy.injected[code] == 1


def test_429_carries_retry_after_in_the_header_and_the_status(lab) -> None:
    proxy, client = lab
    proxy.server_errors(60, 429, retry_after=2)
    got, headers, body = _call(proxy, client, "GET", "/api/v1/pods?watch=true")
    assert (got, body["reason"], body["details"]["retryAfterSeconds"]) == (429, "TooManyRequests", 2)
    assert headers["Retry-After"] == "2"


def test_reach_server_sends_the_bind_and_replaces_its_answer_other_requests_pass(lab) -> None:
    proxy, client = lab
    proxy.server_errors(60, 500, match=r"^POST /api/v1/namespaces/[^/]+/pods/[^/]+/binding", reach_server=True)
    got, _, body = _call(proxy, client, "POST", "/api/v1/namespaces/ns/pods/p/binding")
    assert (got, body["reason"]) == (500, "InternalError")
    got, _, body = _call(proxy, client, "GET", "/api/v1/nodes")
    assert (got, body["status"]) == (200, "Success")
    # Both reached the server, re-originated with the kubeconfig's client certificate.
    assert _Api.seen == [("POST", "/api/v1/namespaces/ns/pods/p/binding", "kubernetes-admin", '{"kind": "Binding"}'),
                         ("GET", "/api/v1/nodes", "kubernetes-admin", "")]
    assert proxy.reached == {"201": 1} and proxy.injected == {500: 1} and proxy.forwarded == 1


def test_heal_ends_the_fault_for_new_connections(lab) -> None:
    proxy, client = lab
    proxy.server_errors(60, 503)
    assert _call(proxy, client, "GET", "/api/v1/nodes")[0] == 503
    proxy.heal()
    assert _call(proxy, client, "GET", "/api/v1/nodes")[0] == 200
    assert [s[0:3] for s in _Api.seen] == [("GET", "/api/v1/nodes", "kubernetes-admin")]


def test_stop_releases_the_port_at_once(lab) -> None:
    """A thread left blocked in accept() would keep the port listening and pass one more connection
    through with no fault at all."""
    proxy, _ = lab
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def test_a_connection_accepted_as_a_fault_begins_does_not_escape_its_reset(lab) -> None:
    """Accepted before server_errors() and registered after its reset, a pass-through connection
    would carry the client's requests past the fault; it is closed instead, and the client's next
    connection gets the fault's answer."""
    proxy, client = lab
    dialing, go_on = threading.Event(), threading.Event()
    dial = proxy._dial_upstream

    def held_dial() -> socket.socket:
        dialing.set()
        go_on.wait(10)
        return dial()

    proxy._dial_upstream = held_dial  # type: ignore[method-assign]
    early = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    assert dialing.wait(10), "the proxy never dialled the API server for the first connection"
    proxy.server_errors(60, 503)  # sets the fault, then resets every registered connection
    go_on.set()
    try:
        assert early.recv(1) == b"", "the connection accepted before the reset was left open"
    except ConnectionResetError:
        pass
    finally:
        early.close()
    assert [path for _, path in proxy.accepts] == ["closed: a reset began meanwhile"]
    assert _call(proxy, client, "GET", "/api/v1/nodes")[0] == 503
    assert _Api.seen == []
