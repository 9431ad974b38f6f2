"""Decoys: processes a test starts outside the lab, which the lab must never signal.

Each is killed by the test's teardown (the test started it), whatever the test did."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed


class Decoys:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], cwd: Path | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def all_running(self) -> bool:
        return all(p.poll() is None for p in self.procs)


def poll(check, timeout: float = 20.0):
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.05),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            return check()


@pytest.fixture
def decoys() -> Iterator[Decoys]:
    made = Decoys()
    yield made
    for proc in made.procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
