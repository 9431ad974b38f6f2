"""`lab up` / `lab down` of the local provider: idempotence and cleaning up after a crash.

These start a second, private lab in a temporary directory (its own ports), so they never
touch the session's cluster.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.harness import NotYet, wait_for

ROOT = Path(__file__).resolve().parent.parent



# The session's provider comes from --provider (or $LAB_PROVIDER, its default): these tests
# start private local labs, which on a kind or Vagrant session would only add load.
pytestmark = pytest.mark.requires("lab_processes")


def lab(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "--workdir", str(workdir), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(f"{entry.name}: {cmd[:120]}")
    return found


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_down_after_a_killed_up_leaves_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "--workdir", str(workdir), "up"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def apiserver_started() -> None:
            if not (workdir / "run" / "kube-apiserver.pid").exists():
                raise NotYet("kube-apiserver not started yet")

        wait_for(apiserver_started, timeout=240, what="lab up to reach the API server")
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash of `lab up` half-way: no cleanup code runs
        proc.wait(timeout=30)
    try:
        ports = json.loads((workdir / "state.json").read_text())["ports"]
        assert processes_mentioning(str(workdir)), "expected the half-started lab's processes to be running"
        down = lab(workdir, "down")
        assert down.returncode == 0, down.stderr
        assert processes_mentioning(str(workdir)) == []
        assert [p for p in ports.values() if listening(p)] == []
    finally:
        lab(workdir, "down")  # whatever failed above, leave no control plane running


def test_up_twice_is_safe_and_failures_name_the_component(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    # Take etcd's peer port away, so etcd cannot start: the failure must name etcd, show its log
    # and leave no process behind.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    workdir.mkdir()
    taken = blocker.getsockname()[1]
    ports = {n: p for n, p in zip(("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager",
                                    "kube-scheduler"), _free_ports(5))}
    ports["etcd-peer"] = taken
    (workdir / "state.json").write_text(json.dumps({"ports": ports}))
    try:
        failed = lab(workdir, "up")
    finally:
        blocker.close()
    assert failed.returncode == 1
    assert "lab up failed at etcd" in failed.stdout + failed.stderr
    assert "address already in use" in failed.stdout
    assert failed.stderr.strip().count("\n") == 0, f"stderr is not one line: {failed.stderr!r}"
    assert processes_mentioning(str(workdir)) == []
    # The port the blocker held is free again, but on a busy host another program (another lab
    # choosing its ports with bind(0)) may take it at once: the retry gets a fresh one, as
    # `lab down --wipe` would give it.
    state = json.loads((workdir / "state.json").read_text())
    state["ports"]["etcd-peer"] = _free_ports(1)[0]
    (workdir / "state.json").write_text(json.dumps(state))
    first = lab(workdir, "up")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    try:
        second = lab(workdir, "up")
        assert second.returncode == 0, second.stderr
        assert "already up" in second.stdout
        status = lab(workdir, "status")
        assert status.returncode == 0 and status.stdout.count(" ok ") >= 5, status.stdout
    finally:
        assert lab(workdir, "down", "--wipe").returncode == 0
    assert processes_mentioning(str(workdir)) == []


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_deploy_after_down_and_up_waits_for_this_runs_leaders(tmp_path: Path) -> None:
    """`lab down` keeps etcd's data: the scheduler pods' Ready and their Leases are those of the
    processes that just stopped. `lab up` + `lab deploy` must not count them: podrunner writes the
    pods not ready before `lab up` returns, and deploy returns only once a replica of this run has
    renewed each Lease. So step 01's check passes as soon as `make lab-up` has returned."""
    workdir = tmp_path / "lab"
    try:
        for attempt in ("first", "again"):
            up = lab(workdir, "up")
            assert up.returncode == 0, f"{attempt}: {up.stdout[-2000:]}{up.stderr}"
            deploy = lab(workdir, "deploy")
            assert deploy.returncode == 0, f"{attempt}: {deploy.stdout[-2000:]}{deploy.stderr}"
            holders = {app: _holder(workdir, app) for app in ("custom-k8s-scheduler", "py-scheduler")}
            for app, holder in holders.items():
                assert f"deployment/{app}: {holder.split('_')[0]} leads" in deploy.stdout, (holder, deploy.stdout)
            verify = lab(workdir, "verify", "01")
            assert verify.returncode == 0, f"{attempt}: {verify.stdout}{verify.stderr}"
            if attempt == "first":
                before = holders
                assert lab(workdir, "down").returncode == 0
        # Every identity is name_uuid with a uuid per process: the holders now are processes of this run.
        assert all(holders[app] != before[app] for app in holders), (before, holders)
    finally:
        lab(workdir, "down", "--wipe")
    assert processes_mentioning(str(workdir)) == []


def _holder(workdir: Path, app: str) -> str:
    out = subprocess.run([str(workdir / "bin" / "kubectl"), f"--kubeconfig={workdir / 'kubeconfig'}", "get", "lease",
                          app, "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()
