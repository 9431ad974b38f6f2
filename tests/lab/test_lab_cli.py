"""The `lab` command line without a cluster: bad input gives one line and a non-zero exit."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lab(*args: str, cwd: Path = ROOT, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got: {proc.stderr!r}"
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_bad_spec_file_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text("kind: LabSpec\nclusterName: x\n")
    line = one_line_error(lab("--spec", str(spec), "--workdir", str(tmp_path / "w"), "status"))
    assert str(spec) in line and "versions" in line


def test_spec_refuses_non_loopback_local_addresses(tmp_path: Path) -> None:
    text = (ROOT / "lab" / "lab.yaml").read_text().replace("nodeAddressBase: 127.0.10.10", "nodeAddressBase: 10.0.0.10")
    spec = tmp_path / "lab.yaml"
    spec.write_text(text)
    line = one_line_error(lab("--spec", str(spec), "--workdir", str(tmp_path / "w"), "status"))
    assert "networking.local.nodeAddressBase" in line and "127.0.0.0/8" in line


# As root the lab starts (and if need be installs) its own dockerd instead of stopping: these two
# would then bring up a whole kind lab from a unit test, beside whatever kind build is running.
_ROOT_STARTS_DOCKER = pytest.mark.skipif(
    os.geteuid() == 0, reason="needs a non-root user: as root the lab starts its own Docker engine instead of "
                              "stopping, so the missing-Docker message is not what root sees")


@_ROOT_STARTS_DOCKER
@pytest.mark.skipif(shutil.which("docker") is not None and subprocess.run(
    ["docker", "info"], capture_output=True).returncode == 0, reason="a Docker engine is reachable here")
def test_kind_without_docker_stops_naming_it_with_its_fix(tmp_path: Path) -> None:
    proc = lab("--workdir", str(tmp_path / "w"), "up", "--provider", "kind")
    # lab doctor's report: a heading, then every problem on one line with its fix (Docker among them)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    heading, *problems = proc.stderr.splitlines()
    assert heading.startswith("the kind lab cannot start here") and problems
    assert all(line.startswith("  - ") and " — fix: " in line for line in problems)
    assert any("docker" in line.lower() for line in problems)
    assert not (tmp_path / "w" / "kubeconfig").exists(), "nothing may be half-applied"


def test_unknown_provider_is_rejected(tmp_path: Path) -> None:
    proc = lab("--workdir", str(tmp_path / "w"), "up", "--provider", "minikube")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_status_of_a_lab_that_is_not_up(tmp_path: Path) -> None:
    proc = lab("--workdir", str(tmp_path / "w"), "status")
    assert proc.returncode == 1
    assert "not up" in proc.stdout


@_ROOT_STARTS_DOCKER
def test_e2e_suite_on_kind_without_docker_stops_with_one_line(tmp_path: Path) -> None:
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker engine is reachable here, so the missing-Docker message cannot be shown "
                    "(it is checked wherever Docker is absent, as in CI's unit stage)")
    proc = subprocess.run([sys.executable, "-m", "pytest", "e2e/test_lab_cluster.py", "--provider", "kind",
                           "-q", "-p", "no:cacheprovider", "--lab-dir", str(tmp_path / "w")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    exits = [line for line in (proc.stdout + proc.stderr).splitlines() if "--provider kind" in line]
    assert len(exits) == 1 and "docker" in exits[0].lower(), proc.stdout[-2000:]
