"""Deploying the lab's second schedulers (filled in by issue 4's work)."""
from __future__ import annotations

from pathlib import Path

from lab.procs import Supervisor

PREFIX = "sched-"


def _sup(workdir: Path) -> Supervisor:
    return Supervisor(workdir / "deploy")


def local_scheduler_status(workdir: Path) -> list[tuple[str, int | None]]:
    sup = _sup(workdir)
    return [(n, sup.pid(n)) for n in sup.names()]


def stop_local_schedulers(workdir: Path) -> list[str]:
    return _sup(workdir).stop_all()
