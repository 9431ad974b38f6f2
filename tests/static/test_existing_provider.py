"""ExistingProvider against a fake API server on 127.0.0.1: it only ever asks GET /version."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from lab.providers.base import ProviderError
from lab.providers.existing import ExistingProvider
from tests.static.conftest import free_port


class FakeApi:
    def __init__(self, git_version: str) -> None:
        self.requests: list[tuple[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                api.requests.append((self.command, self.path))
                body = json.dumps({"gitVersion": git_version, "major": "1", "minor": "29"}).encode()
                code = 200 if (self.command, self.path) == ("GET", "/version") else 404
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": server}}],
        "users": [{"name": "lab", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
    }))
    return path


@pytest.fixture
def api_129():
    api = FakeApi("v1.29.15")
    yield api
    api.close()


def provider(spec, tmp_path: Path, **kw) -> ExistingProvider:
    return ExistingProvider(spec, tmp_path / "lab", say=lambda _: None, timeout=5, **kw)


def test_up_copies_the_kubeconfig_and_only_reads_version(spec, tmp_path, api_129) -> None:
    source = kubeconfig(tmp_path / "mine.yaml", api_129.url)
    p = provider(spec, tmp_path, kubeconfig=source)
    p.check_prerequisites()
    assert p.up() == tmp_path / "lab" / "kubeconfig"
    assert (tmp_path / "lab" / "kubeconfig").read_text() == source.read_text()
    p.down()
    assert p.status().up is True
    assert api_129.requests and set(api_129.requests) == {("GET", "/version")}, "nothing but GET /version"
    assert source.exists()


def test_kubeconfig_from_the_environment(spec, tmp_path, api_129) -> None:
    source = kubeconfig(tmp_path / "from-env.yaml", api_129.url)
    p = provider(spec, tmp_path, env={"KUBECONFIG": f"{tmp_path / 'missing'}:{source}", "HOME": str(tmp_path)})
    assert p.source_kubeconfig() == source
    p.check_prerequisites()


def test_other_minor_is_only_a_warning(spec, tmp_path, capsys) -> None:
    api = FakeApi("v1.31.2")
    try:
        p = provider(spec, tmp_path, kubeconfig=kubeconfig(tmp_path / "k.yaml", api.url))
        p.check_prerequisites()
    finally:
        api.close()
    assert "warning: the existing cluster runs v1.31.2" in capsys.readouterr().err


def test_missing_kubeconfig_is_one_line(spec, tmp_path) -> None:
    p = provider(spec, tmp_path, env={"HOME": str(tmp_path)})
    with pytest.raises(ProviderError) as info:
        p.check_prerequisites()
    message = str(info.value)
    assert "\n" not in message and "not found" in message and "--kubeconfig" in message


def test_unreachable_server_is_one_line(spec, tmp_path) -> None:
    p = provider(spec, tmp_path, kubeconfig=kubeconfig(tmp_path / "k.yaml", f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ProviderError) as info:
        p.check_prerequisites()
    message = str(info.value)
    assert "\n" not in message and "cannot reach the API server http://127.0.0.1:" in message
    assert p.status().up is False


def test_garbage_kubeconfig_is_one_line(spec, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("this: is: not: a kubeconfig\n")
    with pytest.raises(ProviderError) as info:
        provider(spec, tmp_path, kubeconfig=bad).check_prerequisites()
    assert "\n" not in str(info.value) and "bad.yaml" in str(info.value)


def test_wipe_removes_only_the_copy(spec, tmp_path, api_129) -> None:
    source = kubeconfig(tmp_path / "mine.yaml", api_129.url)
    p = provider(spec, tmp_path, kubeconfig=source)
    p.up()
    p.down(wipe=True)
    assert not (tmp_path / "lab" / "kubeconfig").exists() and source.exists()
