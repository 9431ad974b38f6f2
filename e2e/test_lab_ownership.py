"""The lab touches only what it started (issue 22), shown on real local labs with decoys around them.

Decoys are processes these tests start outside the lab: a shell parked in the lab directory, a
command naming a path in it, a `tail -f` of a lab log, a process whose pid a stale lab record names,
and another checkout's running lab. `lab down`, a failed `lab up`, `lab kill-leader` and
`lab down --wipe` must leave every one of them running. Each test starts private labs in temporary
directories (their own ports) and stops them itself; it never touches the session's cluster.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from e2e.decoys import Decoys
from e2e.harness import NotYet, wait_for

ROOT = Path(__file__).resolve().parent.parent
NODES = 4  # lab.yaml's nodes
STALE = ("old-component.pid", "older-component.pid")  # records naming decoys (stale_records)


pytestmark = pytest.mark.requires("lab_processes")  # lab up/down processes, of private local labs


def lab(workdir: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "--workdir", str(workdir), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def up(workdir: Path) -> None:
    done = lab(workdir, "up")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def around(workdir: Path, decoys: Decoys) -> None:
    """The processes that only look like the lab's: cwd in it, its path on the command line, a tail -f."""
    log = workdir / "logs" / "etcd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    decoys.start(["sleep", "600"], cwd=workdir)
    decoys.start([sys.executable, "-c", "import signal; signal.pause()", str(workdir / "x")])
    decoys.start(["tail", "-f", str(log)])


def stale_records(workdir: Path, decoys: Decoys) -> None:
    """Records naming a decoy's pid: one with another start (the pid was reused), one bare pid."""
    reused = decoys.start(["sleep", "600"])
    ticks = round((psutil.Process(reused.pid).create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    run = workdir / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / STALE[0]).write_text(json.dumps({"pid": reused.pid, "start_ticks": ticks - 5,
                                                       "create_time": 1.0, "sid": reused.pid, "token": "x"}))
    bare = decoys.start(["sleep", "600"])
    (run / STALE[1]).write_text(f"{bare.pid}\n")


def recorded(workdir: Path) -> dict[str, int]:
    """Pid of every process the lab recorded (components, replica wrappers, their schedulers)."""
    out = {}
    for path in [*workdir.glob("run/*.pid"), *workdir.glob("podrunner/pods/*/run/*/record.json")]:
        if path.name in STALE:
            continue
        try:
            out[str(path.relative_to(workdir))] = int(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def all_gone(pids) -> None:
    left = [p for p in pids if running(p)]
    if left:
        raise NotYet(f"still running: {left}")


def kubectl(workdir: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([str(workdir / "bin" / "kubectl"), f"--kubeconfig={workdir / 'kubeconfig'}", *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise NotYet(f"kubectl {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")
    return done.stdout


def assert_answers(workdir: Path) -> None:
    """The lab in ``workdir`` works: every node Ready, and a new pod gets scheduled."""
    def nodes_ready() -> None:
        nodes = json.loads(kubectl(workdir, "get", "nodes", "-o", "json"))["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n["status"].get("conditions", []))]
        if len(ready) != NODES:
            raise NotYet(f"{len(ready)}/{NODES} nodes Ready")

    wait_for(nodes_ready, timeout=120, what=f"the nodes of {workdir} to be Ready")
    name = f"still-here-{uuid.uuid4().hex[:8]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                    "resources": {"requests": {"cpu": "10m"}}}]}}
    wait_for(lambda: kubectl(workdir, "create", "-f", "-", stdin=json.dumps(pod)), timeout=60,
             what="the pod to be created (the default ServiceAccount exists)")
    try:
        def bound() -> None:
            node = kubectl(workdir, "get", "pod", name, "-n", "default", "-o", "jsonpath={.spec.nodeName}")
            if not node.strip():
                raise NotYet("not scheduled yet")

        wait_for(bound, timeout=120, what=f"pod {name} to be scheduled in {workdir}")
    finally:
        kubectl(workdir, "delete", "pod", name, "-n", "default", "--wait=false")


@pytest.fixture(scope="module")
def other_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Another checkout's running local lab (its own LAB_DIR); stopped and wiped by this fixture."""
    workdir = tmp_path_factory.mktemp("other-checkout") / ".lab"
    try:
        up(workdir)
        yield workdir
    finally:
        lab(workdir, "down", "--wipe")


def assert_other_lab_untouched(other: Path, pids: dict[str, int], after: str) -> None:
    gone = [f"{name} (pid {pid})" for name, pid in pids.items() if not running(pid)]
    assert gone == [], f"{after} stopped another checkout's lab: {gone}"
    assert recorded(other) == pids


def test_two_checkouts_labs_run_side_by_side_and_one_going_down_leaves_the_other(
        tmp_path: Path, other_checkout: Path) -> None:
    mine = tmp_path / ".lab"
    try:
        up(mine)
        assert_answers(mine)
        assert_answers(other_checkout)
        others = recorded(other_checkout)
        mine_pids = recorded(mine)
        assert set(mine_pids.values()).isdisjoint(others.values())
        done = lab(mine, "down")
        assert done.returncode == 0, done.stderr
        assert [p for p in mine_pids.values() if running(p)] == []
        assert_other_lab_untouched(other_checkout, others, "`lab down` of the first lab")
        assert_answers(other_checkout)
    finally:
        lab(mine, "down", "--wipe")


def test_down_kill_leader_and_wipe_signal_only_what_the_lab_started(
        tmp_path: Path, other_checkout: Path, decoys: Decoys) -> None:
    mine = tmp_path / ".lab"
    others = recorded(other_checkout)
    try:
        up(mine)
        deployed = lab(mine, "deploy", "--only", "custom-k8s-scheduler")
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr
        around(mine, decoys)
        stale_records(mine, decoys)

        # podrunner records each container process it starts (pid, start time, token: lab.host.procs);
        # kill-leader signals the leader pod's processes through those records, then deletes the pod.
        # (A record whose pid was reused by another process is refused: tests/lab, OwnedProcess.)
        records = sorted((mine / "podrunner" / "pods").glob("kube-system_custom-k8s-scheduler-*/run/*/record.json"))
        assert len(records) == 2, records
        schedulers = [int(json.loads(r.read_text())["pid"]) for r in records]
        killed = lab(mine, "kill-leader", "custom-k8s-scheduler")
        assert killed.returncode == 0, killed.stderr
        assert re.search(r"deleted pod kube-system/custom-k8s-scheduler-\S+, the holder of Lease", killed.stdout)
        wait_for(lambda: any(not running(p) for p in schedulers), timeout=30,
                 what="the leader's scheduler process to be killed")
        decoys.assert_all_running("`lab kill-leader`")

        pids = recorded(mine)
        down = lab(mine, "down")
        assert down.returncode == 0, down.stderr
        wait_for(lambda: all_gone(pids.values()), timeout=30, what="every process of the lab to be gone")
        decoys.assert_all_running("`lab down`")
        assert_other_lab_untouched(other_checkout, others, "`lab down`")

        wiped = lab(mine, "down", "--wipe")
        assert wiped.returncode == 0, wiped.stderr
        assert not (mine / "etcd").exists() and not (mine / "pki").exists()
        decoys.assert_all_running("`lab down --wipe`")
        assert_other_lab_untouched(other_checkout, others, "`lab down --wipe`")
        assert_answers(other_checkout)
    finally:
        lab(mine, "down", "--wipe")


def test_a_failed_up_stops_only_what_it_started(tmp_path: Path, other_checkout: Path, decoys: Decoys) -> None:
    """`lab up` fails at kube-apiserver (its port is bound by another program, though not listening,
    so the up-front port check passes) after etcd started: etcd is stopped, nothing else is."""
    mine = tmp_path / ".lab"
    others = recorded(other_checkout)
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 0))
        with socket.socket() as s, socket.socket() as t, socket.socket() as u, socket.socket() as v:
            for sock in (s, t, u, v):
                sock.bind(("127.0.0.1", 0))
            ports = {"etcd": s.getsockname()[1], "etcd-peer": t.getsockname()[1],
                     "kube-controller-manager": u.getsockname()[1], "kube-scheduler": v.getsockname()[1]}
        ports["kube-apiserver"] = squatter.getsockname()[1]
        mine.mkdir()
        (mine / "state.json").write_text(json.dumps({"ports": ports}))
        around(mine, decoys)
        stale_records(mine, decoys)
        failed = lab(mine, "up")
        assert failed.returncode == 1, failed.stdout[-2000:]
        assert "lab up failed at kube-apiserver" in failed.stdout, failed.stdout[-2000:]
        etcd = int(re.search(r"etcd running \(pid (\d+)\)", failed.stdout).group(1))
        assert not running(etcd), "the etcd this up started is still running"
        decoys.assert_all_running("a failed `lab up`")
        assert_other_lab_untouched(other_checkout, others, "a failed `lab up`")
    finally:
        squatter.close()
        lab(mine, "down", "--wipe")
