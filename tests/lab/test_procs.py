"""Process supervision of the local lab, with real (tiny) processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.procs import Supervisor, _alive, _group_alive


def sleeper(tmp: Path) -> list[str]:
    return [sys.executable, "-c", f"import signal; open({str(tmp / 'started')!r}, 'a').close(); signal.pause()"]


def test_start_records_pid_and_stop_kills_the_group(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    proc = sup.start("a", ["bash", "-c", "sleep 600 & sleep 600"])
    assert sup.pid("a") == proc.pid and _alive(proc.pid)
    assert sup.start("a", ["true"]).pid == proc.pid, "starting a running component twice starts nothing"
    assert sup.stop("a", timeout=5)
    assert sup.pid("a") is None and not _alive(proc.pid)
    assert not _group_alive(proc.pid), "children of the group survived"  # (zombies awaiting init don't count)


def test_a_recycled_pid_is_never_trusted(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.run_dir.mkdir(parents=True)
    # Our own pid with a wrong start time: a stale file from an old run whose pid was reused.
    sup.pid_path("ghost").write_text(f"{os.getpid()} 1\n")
    assert sup.pid("ghost") is None
    assert not sup.pid_path("ghost").exists()
    assert not sup.stop("ghost")


def test_sweep_finds_processes_that_name_the_lab_dir(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    stray = subprocess.Popen(sleeper(tmp_path), start_new_session=True)  # not recorded anywhere
    try:
        for attempt in Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.05),
                                retry=retry_if_exception_type(AssertionError), reraise=True):
            with attempt:  # until it has exec'd (before that /proc shows the forking parent)
                assert (tmp_path / "started").exists()
        found = sup.sweep()
        assert stray.pid in found
        assert stray.wait(timeout=10) == -signal.SIGKILL
    finally:
        if stray.poll() is None:
            stray.kill()


def test_sweep_spares_a_sibling_lab_whose_name_starts_the_same(tmp_path: Path) -> None:
    # make bench's private lab (.lab-bench) beside the default one (.lab): tearing down .lab
    # killed the benchmark's API server when the sweep matched the name as a substring.
    lab, sibling = tmp_path / ".lab", tmp_path / ".lab-bench"
    sibling.mkdir()
    other = subprocess.Popen(sleeper(sibling), start_new_session=True, cwd=sibling)
    try:
        for attempt in Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.05),
                                retry=retry_if_exception_type(AssertionError), reraise=True):
            with attempt:
                assert (sibling / "started").exists()
        assert other.pid not in Supervisor(lab).sweep()
        assert other.poll() is None and _alive(other.pid)
        assert other.pid in Supervisor(sibling).sweep()  # its own lab's sweep still finds it
        assert other.wait(timeout=10) == -signal.SIGKILL
    finally:
        if other.poll() is None:
            other.kill()


def test_tail_shows_the_last_lines(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.start("echo", ["bash", "-c", "for i in $(seq 1 50); do echo line$i; done"])
    for attempt in Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.05),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            assert sup.tail("echo", 3).splitlines() == ["line48", "line49", "line50"]
