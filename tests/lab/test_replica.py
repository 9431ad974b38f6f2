"""The replica wrapper restarts a scheduler that exits, like a Deployment's pod, and records the
scheduler it runs so that `lab kill-leader` signals that process and never one reusing its pid."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab import deploy
from lab.procs import OwnedProcess
from lab.providers.base import ProviderError, ProviderStatus
from e2e.decoys import Decoys


def poll(check, timeout=20):
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.1),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            return check()


def test_replica_restarts_its_child_and_forwards_sigterm(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    child = (f"import signal,sys; open({str(counter)!r},'a').write('x'); "
             "sys.exit(1) if len(open(%r).read()) < 2 else signal.pause()" % str(counter))
    pidfile = tmp_path / "child.pid"
    wrapper = subprocess.Popen([sys.executable, "-m", "lab.replica", "--name", "r0", "--child-pid-file",
                                str(pidfile), "--", sys.executable, "-c", child],
                               stdout=subprocess.PIPE, text=True)
    try:
        def restarted() -> None:
            assert counter.exists() and len(counter.read_text()) == 2 and pidfile.exists()

        poll(restarted)
        record = json.loads(pidfile.read_text())
        child = psutil.Process(record["pid"])
        assert child.ppid() == wrapper.pid and record["create_time"] == child.create_time()
        wrapper.send_signal(signal.SIGTERM)
        out, _ = wrapper.communicate(timeout=20)
        assert wrapper.returncode == 0
        assert "restart #1" in out and "after SIGTERM" in out
        assert not pidfile.exists()
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


class _LocalLab:
    """What kill_leader asks of a provider: a lab that is up and runs its schedulers as processes."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def status(self) -> ProviderStatus:
        return ProviderStatus(up=True, kubeconfig=self.kubeconfig)

    def scheduler_runtime(self) -> str:
        return "process"


@pytest.fixture
def leading_replica(tmp_path: Path, monkeypatch) -> Path:
    """Replica custom-k8s-scheduler-0 leads (as its /metrics would say); returns its child pid file."""
    monkeypatch.setattr(deploy, "find_leader", lambda workdir, app: f"{app}-0")
    monkeypatch.setattr(deploy, "_lease_holder", lambda workdir, admin, name: f"{name}-0_abc")
    child_file = tmp_path / "deploy" / "run" / "custom-k8s-scheduler-0.child"
    child_file.parent.mkdir(parents=True)
    return child_file


def test_kill_leader_signals_the_recorded_scheduler(tmp_path: Path, leading_replica: Path, decoys: Decoys,
                                                   capsys) -> None:
    scheduler = decoys.start(["sleep", "300"])  # stands for the replica's scheduler process
    OwnedProcess.of(scheduler.pid).save(leading_replica)
    assert deploy.kill_leader(_LocalLab(tmp_path / "kubeconfig"), tmp_path, "custom-k8s-scheduler") == 0
    assert scheduler.wait(timeout=10) == -signal.SIGKILL
    assert f"pid {scheduler.pid}" in capsys.readouterr().out


@pytest.mark.parametrize("record", ["bare pid", "another start"])
def test_kill_leader_never_signals_a_process_reusing_the_pid(tmp_path: Path, leading_replica: Path,
                                                             decoys: Decoys, record: str) -> None:
    """The scheduler exited and a process outside the lab got its pid: nothing is signalled."""
    decoy = decoys.start(["sleep", "300"])
    if record == "bare pid":  # what the replica wrapper wrote before it recorded the start time
        leading_replica.write_text(f"{decoy.pid}\n")
    else:
        real = OwnedProcess.of(decoy.pid)
        OwnedProcess(pid=decoy.pid, start_ticks=real.start_ticks - 3, create_time=real.create_time - 0.03).save(
            leading_replica)
    with pytest.raises(ProviderError) as refused:
        deploy.kill_leader(_LocalLab(tmp_path / "kubeconfig"), tmp_path, "custom-k8s-scheduler")
    assert "nothing was signalled" in str(refused.value) and "\n" not in str(refused.value)
    assert deploy.child_pid(tmp_path, "custom-k8s-scheduler-0") is None
    assert decoys.all_running()
