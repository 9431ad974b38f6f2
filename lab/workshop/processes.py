"""The background processes workshop steps start, and stopping them safely.

Steps 03 and 08 start a scheduler with ``CMD & echo $! > .lab/workshop/NAME.pid``. Such a file
holds a bare pid, which could be reused by another process later, so it counts as a record only
for a process that started within RECORD_WINDOW seconds before the file was written (``$!`` is
written right after the start). A JSON record (lab.host.procs.OwnedProcess, as a challenge's solution
writes one) is trusted as lab.host.procs trusts it. Nothing else is ever signalled."""
from __future__ import annotations

import signal
from pathlib import Path

import psutil

from lab.host.procs import OwnedProcess

RECORD_WINDOW = 10.0  # seconds between `cmd &` and `echo $! > file`, at most, on a loaded machine
CLOCK_SLACK = 2.0     # the file's mtime and the process's create_time come from different clocks' roundings


def workshop_dir(workdir: Path) -> Path:
    return workdir / "workshop"


def recorded(pidfile: Path) -> OwnedProcess | None:
    """The process a workshop pid file records, if it is still that process; None otherwise."""
    record = OwnedProcess.load(pidfile)
    if record is not None:
        return record if record.is_same() else None
    try:
        text = pidfile.read_text().strip()
        written = pidfile.stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return None
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        return None
    try:
        proc = psutil.Process(int(text))
        started = proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not (written - RECORD_WINDOW <= started <= written + CLOCK_SLACK):
        return None  # the pid now belongs to a process that did not exist when the file was written
    return OwnedProcess.of(proc.pid)


def stop_recorded(workdir: Path) -> list[str]:
    """Stop every process a pid file in .lab/workshop records (SIGTERM, then SIGKILL after 10 s) and
    remove the files; what was done, one line each."""
    done: list[str] = []
    for pidfile in sorted(workshop_dir(workdir).glob("*.pid")):
        record = recorded(pidfile)
        if record is not None and record.terminate_then_kill(timeout=10.0, session=False, first=signal.SIGTERM):
            done.append(f"stopped {pidfile.stem} (process {record.pid})")
        pidfile.unlink(missing_ok=True)
    return done


def start_recorded(workdir: Path, name: str, argv: list[str], env: dict[str, str]) -> OwnedProcess:
    """Start a background process for a challenge's solution, recorded as .lab/workshop/NAME.pid
    (an OwnedProcess record) with its log in .lab/workshop/NAME.log."""
    import subprocess

    directory = workshop_dir(workdir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=Path(__file__).resolve().parents[2])
    record = OwnedProcess.of(proc.pid)
    record.save(directory / f"{name}.pid")
    return record
