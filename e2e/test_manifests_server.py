"""Every manifest passes a server-side dry-run (full validation by the v1.29 API server, nothing
persisted), on whichever provider the suite runs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from e2e.harness import SuiteCluster

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


@pytest.mark.parametrize("directory", ["kube-scheduler", "py-scheduler", "samples"])
def test_server_side_dry_run(cluster: SuiteCluster, namespace: str, directory: str) -> None:
    args = ["apply", "--dry-run=server", "--validate=strict", "-k", str(MANIFESTS / directory)]
    if directory == "samples":
        args += ["-n", namespace]
    out = cluster.kubectl(*args, check=False)
    assert out.returncode == 0, out.stderr
    docs = [d for p in (MANIFESTS / directory).glob("*.yaml") if p.name != "kustomization.yaml"
            for d in yaml.safe_load_all(p.read_text()) if d]
    assert out.stdout.count("(server dry run)") == len(docs), out.stdout
