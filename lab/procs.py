"""Starting and stopping the lab's local processes without leaving orphans.

Every process runs in its own session (process group), logs to ``logs/<name>.log`` and has a
pid file ``run/<name>.pid`` holding "pid start-time". Before signalling, the start time is
checked against /proc so a recycled pid is never killed. ``sweep`` also finds processes whose
command line mentions the lab directory, which catches anything a crashed ``lab up`` left.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Proc:
    name: str
    pid: int


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the ")" that closes the command name.
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Supervisor:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir.resolve()
        self.run_dir = self.workdir / "run"
        self.log_dir = self.workdir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        existing = self.pid(name)
        if existing is not None:
            return Proc(name, existing)
        log = open(self.log_path(name), "ab")
        log.write(f"\n==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})}, cwd=self.workdir,
        )
        log.close()
        self.pid_path(name).write_text(f"{proc.pid} {_start_time(proc.pid) or ''}\n")
        return Proc(name, proc.pid)

    def pid(self, name: str) -> int | None:
        """The live pid recorded for ``name``, or None (a stale pid file is removed)."""
        path = self.pid_path(name)
        try:
            pid_s, _, started = path.read_text().strip().partition(" ")
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        if _alive(pid) and (not started or _start_time(pid) == started):
            return pid
        path.unlink(missing_ok=True)
        return None

    def names(self) -> list[str]:
        if not self.run_dir.exists():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.pid"))

    def stop(self, name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """Signal the process group of ``name``; escalate to SIGKILL after ``timeout``."""
        pid = self.pid(name)
        if pid is None:
            self.pid_path(name).unlink(missing_ok=True)
            return False
        _signal_group(pid, sig)
        deadline = time.monotonic() + timeout
        while (_alive(pid) or _group_alive(pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid) or _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
            deadline = time.monotonic() + 5.0
            while _group_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_path(name).unlink(missing_ok=True)
        return True

    def stop_all(self, order: list[str] | None = None, timeout: float = 10.0) -> list[str]:
        names = self.names()
        ordered = [n for n in (order or []) if n in names] + [n for n in names if n not in (order or [])]
        stopped = [n for n in ordered if self.stop(n, timeout)]
        return stopped + [f"orphan pid {p}" for p in self.sweep()]

    def sweep(self) -> list[int]:
        """Kill any process whose command line or cwd points into the lab directory.

        Into it, not merely past its name: ``/work/.lab`` must not match ``/work/.lab-bench/...``
        (``make bench``'s private lab beside the default one; a plain substring test made
        ``lab down`` kill a running benchmark's API server)."""
        spare = _ancestors(os.getpid())
        marker = str(self.workdir)
        names_it = re.compile(re.escape(marker) + r"(?=/|\s|$)")
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in spare:
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if names_it.search(cmd) or cwd == marker or cwd.startswith(marker + "/"):
                found.append(int(entry.name))
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in found:
            _wait_gone(pid, 5.0)
        return found

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            with open(self.log_path(name), errors="replace") as f:
                return "".join(deque(f, maxlen=lines))
        except OSError:
            return "(no log)"


def _ancestors(pid: int) -> set[int]:
    """This process and its parents: never swept, even if their command line names the lab."""
    out = set()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
