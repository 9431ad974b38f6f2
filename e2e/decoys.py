"""Decoys: processes a test starts outside the lab, which the lab must never signal.

Used by the unit tests of process ownership (tests/lab) and by the e2e ownership tests. Each decoy
is killed by the test's teardown (the test started it), whatever the test did.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed


class _NotExecYet(Exception):
    """The decoy still shows its forking parent's command line."""


class Decoys:
    """Processes started here, outside any lab."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], cwd: Path | None = None, argv0: str | None = None) -> subprocess.Popen:
        """Start ``args`` in a session of its own; return once it runs its own command line (before
        exec, /proc shows the forking parent's, which would make a decoy look like something else)."""
        proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        for attempt in Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.02),
                                retry=retry_if_exception_type(_NotExecYet), reraise=True):
            with attempt:
                if psutil.Process(proc.pid).cmdline()[:1] != [argv0 or args[0]]:
                    raise _NotExecYet(f"decoy {args[0]} not exec'd yet")
        return proc

    def all_running(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def assert_all_running(self, after: str) -> None:
        dead = [f"{p.args[0]} (pid {p.pid}, exit {p.returncode})" for p in self.procs if p.poll() is not None]
        assert dead == [], f"{after} signalled processes the lab did not start: {dead}"

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def decoys() -> Iterator[Decoys]:
    made = Decoys()
    yield made
    made.kill_all()
