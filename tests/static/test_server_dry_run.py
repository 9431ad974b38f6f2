"""Server-side dry-run of every manifest against the running lab cluster's v1.29 API server, when
there is one on this machine (`python -m lab up`). Nothing is persisted: --dry-run=server."""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.static.conftest import MANIFESTS, REPO

LAB = REPO / ".lab"


def loopback_kubeconfig() -> Path | None:
    """.lab/kubeconfig if it exists and points at this machine (never dry-run against a VM or a
    remote cluster from a unit test)."""
    path = LAB / "kubeconfig"
    try:
        config = yaml.safe_load(path.read_text())
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        server = next(c for c in config["clusters"] if c["name"] == current["cluster"])["cluster"]["server"]
        host = urlparse(server).hostname or ""
        return path if host == "localhost" or ipaddress.ip_address(host).is_loopback else None
    except (OSError, ValueError, KeyError, StopIteration, TypeError, yaml.YAMLError):
        return None


def kubectl() -> str | None:
    lab_kubectl = LAB / "bin" / "kubectl"
    return str(lab_kubectl) if lab_kubectl.exists() else shutil.which("kubectl")


def lab_cluster() -> tuple[str, Path]:
    config, tool = loopback_kubeconfig(), kubectl()
    if config is None or tool is None:
        pytest.skip("no lab cluster on this machine (.lab/kubeconfig on loopback) and kubectl to dry-run against")
    version = subprocess.run([tool, "--kubeconfig", str(config), "version", "-o", "json"], capture_output=True,
                             text=True, timeout=30)
    if version.returncode != 0:
        pytest.skip("the lab cluster in .lab/kubeconfig is not answering (run `python -m lab up`)")
    server = yaml.safe_load(version.stdout)["serverVersion"]["gitVersion"]
    assert server.startswith("v1.29."), server
    return tool, config


@pytest.mark.parametrize("directory, namespace", [("kube-scheduler", None), ("py-scheduler", None),
                                                  ("samples", "default")])
def test_server_side_dry_run(directory: str, namespace: str | None) -> None:
    tool, config = lab_cluster()
    args = [tool, "--kubeconfig", str(config), "apply", "--dry-run=server", "-k", str(MANIFESTS / directory)]
    if namespace:
        args[3:3] = ["-n", namespace]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(server dry run)") == len([p for p in (MANIFESTS / directory).glob("*.yaml")
                                                        if p.name != "kustomization.yaml"
                                                        for d in yaml.safe_load_all(p.read_text()) if d])
