"""Process supervision of the local lab, with real (tiny) processes, and decoys it must never touch."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import psutil
import pytest

from lab.host.procs import OWNER_ENV, OwnedProcess, SignalDenied, Supervisor
from e2e.decoys import Decoys
from tests.lab.conftest import poll


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def exec_done(proc, argv0: str) -> None:
    """Until the decoy runs its own program (before exec /proc shows the forking parent)."""
    poll(lambda: _assert(psutil.Process(proc.pid).cmdline()[:1] == [argv0]))


def _assert(ok: bool) -> None:
    assert ok


def python_sleeper(*extra_argv: str) -> list[str]:
    return [sys.executable, "-c", "import signal; signal.pause()", *extra_argv]


def test_start_records_pid_create_time_and_session_and_stop_ends_the_session(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    proc = sup.start("a", ["bash", "-c", "sleep 600 & sleep 600"])
    record = json.loads(sup.pid_path("a").read_text())
    assert record["pid"] == proc.pid and record["sid"] == proc.pid
    assert record["create_time"] == psutil.Process(proc.pid).create_time()
    assert sup.pid("a") == proc.pid
    assert sup.start("a", ["true"]).pid == proc.pid, "starting a running component twice starts nothing"
    poll(lambda: _assert(len(sup.record("a").session()) == 3))  # bash and its two sleeps
    members = [p.pid for p in sup.record("a").session()]
    assert sup.stop("a", timeout=5)
    assert sup.pid("a") is None and not sup.pid_path("a").exists()
    assert not any(running(pid) for pid in members), "members of the session survived"


def test_the_command_runs_only_once_its_record_is_on_disk(tmp_path: Path, monkeypatch) -> None:
    sup = Supervisor(tmp_path)
    seen: list[int] = []

    def disk_full(self: OwnedProcess, path: Path) -> None:
        seen.append(self.pid)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(OwnedProcess, "save", disk_full)
    with pytest.raises(OSError):
        sup.start("a", ["touch", str(tmp_path / "ran")])
    poll(lambda: _assert(not running(seen[0])))  # it exits at EOF instead of running the command
    assert not (tmp_path / "ran").exists(), "an unrecorded process ran its command"


def test_stop_all_spares_processes_that_only_look_like_the_labs(tmp_path: Path, decoys: Decoys) -> None:
    """A shell parked in the lab directory, a command naming a path in it, a `tail -f` of a lab log:
    not started by the lab, so never signalled (a cwd/command-line sweep killed all three)."""
    workdir = tmp_path / ".lab"
    sup = Supervisor(workdir)
    component = sup.start("etcd", python_sleeper())
    parked = decoys.start(["sleep", "300"], cwd=workdir)
    naming = decoys.start(python_sleeper(str(workdir / "x")))
    tail = decoys.start(["tail", "-f", str(sup.log_path("etcd"))])
    for proc, argv0 in ((parked, "sleep"), (naming, sys.executable), (tail, "tail")):
        exec_done(proc, argv0)
    assert sup.stop_all(timeout=5) == ["etcd"]
    assert not running(component.pid)
    assert decoys.all_running(), "a process the lab did not start was signalled"


def test_a_pid_now_used_by_another_process_is_never_signalled(tmp_path: Path, decoys: Decoys) -> None:
    sup = Supervisor(tmp_path)
    decoy = decoys.start(["sleep", "300"])
    real = OwnedProcess.of(decoy.pid)
    sup.run_dir.mkdir(parents=True)
    # The recorded process exited and the decoy got its pid: same pid, another start.
    stale = OwnedProcess(pid=decoy.pid, start_ticks=real.start_ticks - 1, create_time=real.create_time - 0.01,
                         sid=decoy.pid, token="t")
    stale.save(sup.pid_path("old"))
    assert not stale.is_same() and stale.session() == []
    assert sup.pid("old") is None
    assert not stale.signal(signal.SIGKILL)
    assert not sup.stop("old")
    (sup.pid_path("legacy")).write_text(f"{decoy.pid} {real.start_ticks + 7}\n")  # the pre-psutil format
    assert not sup.stop("legacy")
    assert sup.stop_all() == []
    assert decoys.all_running()


def test_a_pid_file_without_a_start_time_is_not_a_record(tmp_path: Path, decoys: Decoys) -> None:
    """A bare pid (another program's pid file, or one from an old lab) proves nothing."""
    sup = Supervisor(tmp_path)
    decoy = decoys.start(["sleep", "300"])
    sup.run_dir.mkdir(parents=True)
    sup.pid_path("etcd").write_text(f"{decoy.pid}\n")
    assert sup.pid("etcd") is None
    assert not sup.stop("etcd")
    assert sup.pid_path("etcd").read_text() == f"{decoy.pid}\n", "a file the lab did not write was changed"
    assert decoys.all_running()


def test_a_legacy_record_still_stops_its_own_process(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    proc = sup.start("a", python_sleeper())
    # As the lab wrote it before psutil: field 22 of /proc/PID/stat, the start in clock ticks after boot.
    ticks = int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert OwnedProcess.of(proc.pid).start_ticks == ticks
    sup.pid_path("a").write_text(f"{proc.pid} {ticks}\n")
    assert sup.pid("a") == proc.pid
    assert sup.stop("a", timeout=5) and not running(proc.pid)


def test_orphans_of_a_dead_leader_are_found_by_session_and_token(tmp_path: Path, decoys: Decoys) -> None:
    """A supervisor killed -9 leaves its child running: stopping the component still ends it,
    while a process of another session is untouched."""
    sup = Supervisor(tmp_path)
    child_pid_file = tmp_path / "child"
    leader = sup.start("w", ["sh", "-c", f'sleep 300 & echo $! > {child_pid_file}; wait'])
    poll(lambda: _assert(child_pid_file.exists() and child_pid_file.read_text().strip().isdigit()))
    child = int(child_pid_file.read_text())
    other = decoys.start(["sleep", "300"])
    record = sup.record("w")
    assert psutil.Process(child).environ()[OWNER_ENV] == record.token
    assert record.terminate_then_kill(5, session=False)  # the leader only
    poll(lambda: _assert(not running(leader.pid)))
    assert running(child), "the orphan should still be there for this test"
    assert sup.stop("w", timeout=5)
    assert not running(child)
    assert decoys.all_running() and running(other.pid)


def test_a_refused_signal_is_reported_in_one_line(tmp_path: Path, monkeypatch) -> None:
    sup = Supervisor(tmp_path)
    proc = sup.start("a", python_sleeper())

    def refuse(self: psutil.Process, sig: int) -> None:
        raise psutil.AccessDenied(self.pid)

    with monkeypatch.context() as patched:
        patched.setattr(psutil.Process, "send_signal", refuse)
        with pytest.raises(SignalDenied) as denied:
            sup.stop_all(timeout=1)
    line = str(denied.value)
    assert "\n" not in line and f"pid {proc.pid}" in line and "SIGTERM" in line and line.startswith("a: ")
    assert sup.pid("a") == proc.pid, "the record of a process still running is kept"
    assert sup.stop("a", timeout=5)


def test_tail_shows_the_last_lines(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.start("echo", ["bash", "-c", "for i in $(seq 1 50); do echo line$i; done"])
    poll(lambda: _assert(sup.tail("echo", 3).splitlines() == ["line48", "line49", "line50"]))


def test_a_step_of_the_wall_clock_does_not_disown_a_recorded_process(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A paused and resumed virtual machine, or an NTP step, moves every process's wall-clock
    create_time (psutil adds the boot time, which the kernel recomputes from the stepped clock). The
    lab must still know its own processes then, or `down` leaves them running."""
    sup = Supervisor(tmp_path)
    proc = sup.start("a", python_sleeper())
    real_boot_time = psutil.boot_time()
    monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: real_boot_time + 60.0)
    assert abs(psutil.Process(proc.pid).create_time() - sup.record("a").create_time) >= 59, "the step took no effect"
    assert sup.pid("a") == proc.pid
    assert sup.stop("a", timeout=5) and not running(proc.pid)


def test_a_record_from_another_boot_is_never_its_process(tmp_path: Path, decoys: Decoys) -> None:
    """Same pid and same start in ticks after boot, but recorded during another boot: not the lab's."""
    sup = Supervisor(tmp_path)
    decoy = decoys.start(["sleep", "300"])
    real = OwnedProcess.of(decoy.pid)
    assert real.boot_id and real.is_same()
    other_boot = OwnedProcess(pid=real.pid, start_ticks=real.start_ticks, create_time=real.create_time,
                              sid=real.sid, token="t", boot_id="00000000-0000-0000-0000-000000000000")
    sup.run_dir.mkdir(parents=True)
    other_boot.save(sup.pid_path("old"))
    assert sup.pid("old") is None
    assert not sup.stop("old")
    assert decoys.all_running()
