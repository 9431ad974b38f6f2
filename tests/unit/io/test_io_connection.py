"""The API connection without the Kubernetes client library: kubeconfigs read like the library
reads them, the service account, JSON decoding, error bodies and the watch line splitter."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from lab.host.pki import Pki
from scheduler.runtime.connection import ConnectionError_, _ServiceAccountToken, in_cluster
from scheduler.runtime.informer import _lines
from scheduler.runtime.kube import ApiError, KubeConfigError, dumps, load_configuration, loads


def kubeconfig(tmp_path: Path, cluster: dict, user: dict | None, name: str = "kubeconfig") -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": cluster}],
           "contexts": [{"name": "c", "context": {"cluster": "c", **({"user": "u"} if user is not None else {})}}]}
    if user is not None:
        doc["users"] = [{"name": "u", "user": user}]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def library(path: str):
    """What kubernetes.config.load_kube_config makes of the same file."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=configuration)
    return configuration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.ensure({"admin": ("admin", "system:masters")}, ["127.0.0.1"])
    return pki


def test_token_and_insecure_read_like_the_library(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443/", "insecure-skip-tls-verify": True},
                      {"token": "abc"})
    conn, lib = load_configuration(path), library(path)
    assert conn.host == lib.host == "https://127.0.0.1:6443"
    assert conn.verify is lib.verify_ssl is False
    assert conn.authorization() == lib.get_api_key_with_prefix("authorization") == "Bearer abc"


def test_token_file_is_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file")
    path = kubeconfig(tmp_path, {"server": "http://127.0.0.1:8080"}, {"tokenFile": "tok"})
    assert load_configuration(path).authorization() == library(path).get_api_key_with_prefix("authorization")


def test_basic_auth_and_no_user(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"server": "http://127.0.0.1:8080"}, {"username": "me", "password": "pw"})
    assert load_configuration(path).authorization() == library(path).get_api_key_with_prefix("authorization")
    path = kubeconfig(tmp_path, {"server": "http://127.0.0.1:8080"}, None, name="anonymous")
    assert load_configuration(path).authorization() is None


def test_certificates_as_data_and_files(tmp_path: Path, pki: Pki) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    admin = pki.pair("admin")
    as_data = kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443", "certificate-authority-data": b64(pki.ca.cert)},
                         {"client-certificate-data": b64(admin.cert), "client-key-data": b64(admin.key)}, "data")
    as_files = kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443", "certificate-authority": str(pki.ca.cert)},
                          {"client-certificate": str(admin.cert), "client-key": str(admin.key)}, "files")
    for path in (as_data, as_files):
        conn = load_configuration(path)
        assert conn.verify and conn.host == library(path).host
        assert conn.ssl_context().verify_mode.name == "CERT_REQUIRED"
        assert conn.authorization() is None
    assert load_configuration(as_files).ca_file == str(pki.ca.cert)


def test_the_kubeconfigs_ca_is_the_only_one_trusted(tmp_path: Path, pki: Pki) -> None:
    """As client-go: a given CA replaces the system's roots. Were the system store loaded too, any
    public CA could vouch for the API server."""
    from cryptography import x509

    ca = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    common_name = ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    data = base64.b64encode(pki.ca.cert.read_bytes()).decode()
    for cluster in ({"certificate-authority-data": data}, {"certificate-authority": str(pki.ca.cert)}):
        conn = load_configuration(kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443", **cluster}, None))
        for context in (conn.ssl_context(), conn.hostname_checking_context()):
            trusted = context.get_ca_certs()
            assert [dict(rdn[0] for rdn in c["subject"]).get("commonName") for c in trusted] == [common_name]


def test_missing_certificate_file_is_one_line(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443", "certificate-authority": "nope.crt"},
                      {"token": "x"})
    with pytest.raises(KubeConfigError, match="File does not exist"):
        load_configuration(path)


def test_exec_plugins_go_to_the_library(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
                      {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}})
    conn = load_configuration(path)  # the library reads it (the plugin runs only when a request asks)
    assert conn.host == "https://127.0.0.1:6443" and conn.verify is False


def test_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t1")
    (tmp_path / "ca.crt").write_text("pem")
    conn = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, str(tmp_path))
    assert conn.host == "https://[fd00::1]:443" and conn.ca_file == str(tmp_path / "ca.crt")
    assert conn.authorization() == "bearer t1"
    with pytest.raises(ConnectionError_, match="Service host/port is not set"):
        in_cluster({}, str(tmp_path))
    with pytest.raises(ConnectionError_, match="set but empty"):
        in_cluster({"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"}, str(tmp_path))


def test_service_account_token_is_reread_every_minute(tmp_path: Path) -> None:
    now = [0.0]
    (tmp_path / "token").write_text("old")
    token = _ServiceAccountToken(str(tmp_path / "token"), clock=lambda: now[0])
    (tmp_path / "token").write_text("new")
    assert token() == "bearer old"
    now[0] = 60.0
    assert token() == "bearer new"


@pytest.mark.parametrize("text", ['{"a": 1}', '[18446744073709551615, -9223372036854775808]',
                                  '[1, 2.5, "\\u00e9", null, true]', '{"s": "\\ud800"}', '[1e400]'])
def test_loads_reads_what_json_reads(text: str) -> None:
    assert loads(text.encode()) == json.loads(text)


def test_loads_raises_value_error_on_garbage() -> None:
    with pytest.raises(ValueError):
        loads(b"{nope")


def test_dumps_round_trips_what_orjson_cannot_encode() -> None:
    for obj in ({"a": [1, "b", None]}, {"big": 2**70}, {"s": "\ud800"}):
        assert json.loads(dumps(obj)) == json.loads(json.dumps(obj))


def test_api_error_from_an_error_answer() -> None:
    err = ApiError.from_response(429, "Too Many Requests",
                                 b'{"kind":"Status","message":"slow down","reason":"TooManyRequests"}',
                                 {"Retry-After": "2"})
    assert (err.status, err.reason, err.message, err.retry_after) == (429, "TooManyRequests", "slow down", 2.0)
    err = ApiError.from_response(502, "Bad Gateway", b"<html>", {})
    assert (err.status, err.reason, err.message) == (502, "Bad Gateway", "Bad Gateway")


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool = False):
        yield from self.chunks


def test_watch_lines_across_chunk_boundaries() -> None:
    assert list(_lines(Chunks(b'{"a"', b':1}\n{"b":2}\n\n  \n{"c"', b":3}"))) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    assert list(_lines(Chunks(b"x\ny\n", b"", b"z\n"))) == [b"x", b"y", b"z"]


def test_requests_go_out_in_origin_form_under_the_servers_path_prefix(tmp_path: Path) -> None:
    # client-go sends "GET /api/v1/nodes HTTP/1.1"; a full URL went out in absolute form
    # ("POST https://host/api/...") and the fault proxy's Binding matcher never saw a bind.
    import http.server
    import threading

    from scheduler.runtime.kube import KubeClient

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(self.requestline)
            body = b'{"items": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for server_url, expected in ((f"http://127.0.0.1:{server.server_port}", "GET /api/v1/nodes?limit=5 HTTP/1.1"),
                                     (f"http://127.0.0.1:{server.server_port}/k8s/c1/",
                                      "GET /k8s/c1/api/v1/nodes?limit=5 HTTP/1.1")):
            conn = load_configuration(kubeconfig(tmp_path, {"server": server_url}, None, name=f"k{len(seen)}"))
            client = KubeClient(conn, qps=100, burst=100, timeout=5, user_agent="t")
            assert client.request("GET", "/api/v1/nodes", query={"limit": 5}) == {"items": []}
            assert seen[-1] == expected
    finally:
        server.shutdown()
        server.server_close()
