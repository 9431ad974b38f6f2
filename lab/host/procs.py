"""The lab's own processes: start them, record them, and signal only what was recorded.

Ownership is a record, never a guess from a command line or a working directory. ``Supervisor.start``
starts each component in a session of its own and writes ``run/<name>.pid`` (JSON: pid, start in
clock ticks after boot, the kernel's boot id, session id, and a random token put in the component's
environment) *before* the component may exec: it first waits on its stdin for the go-ahead, so a
``lab up`` killed half-way leaves nothing running that is not recorded. Before any signal the pid
is checked to still be the recorded process (same boot, same start in clock ticks after boot), so a
reused pid is never signalled.

Stopping a component signals its session. While the recorded leader lives, every member of its
session descends from it (a process can only inherit its parent's session or start its own), so all
are the lab's. Once the leader is gone (a supervisor killed -9, a crashed ``lab up``), a member is
signalled only if it also started after the leader and carries the leader's token in its environment.
Nothing else is ever signalled. ``OwnedProcess`` is the reusable record for any process the lab starts.
"""
from __future__ import annotations

import json
import os
import secrets
import signal as signals
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

# Put in the environment of every process the lab starts; its children inherit it.
OWNER_ENV = "SCHEDULER_LAB_OWNER"
# The started process waits for one line on stdin (the go-ahead, sent once its record is on disk)
# before it execs the real command with stdin from /dev/null; at EOF (the lab died first) it exits.
_GATE = 'read -r go && exec "$@" </dev/null'
# A process's start, counted in clock ticks after boot, never changes; the kernel's boot id tells
# two boots apart. The wall-clock create_time is no identity: it moves with every step of the system
# clock (psutil derives it from the boot time, which the kernel recomputes from the stepped clock).
# Records written before the boot id was kept are matched as they were: ticks, plus a create_time
# close enough to tell two boots apart. Measured here: a virtual machine paused and resumed moved
# create_time by 32 s, and a lab whose records compared it with 5 s of slack left its processes
# running after `down` (they no longer looked like its own).
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_WALL_CLOCK_SLACK = 5.0
_BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
_KILL_WAIT = 5.0


class SignalDenied(PermissionError):
    """The kernel refused a signal to a recorded process; str() is one line naming it."""


@dataclass(frozen=True)
class OwnedProcess:
    """One process the lab started, identified beyond its (reusable) pid.

    ``of(pid)`` records a live process; ``save``/``load`` keep the record in a file;
    ``is_same()`` says whether the pid is still that process; ``signal(sig)`` signals it (only it),
    ``terminate_then_kill(timeout)`` stops it and, with ``session=True``, its session's members.
    """

    pid: int
    start_ticks: int                  # clock ticks after boot at its start: immune to clock steps
    create_time: float | None = None  # psutil create_time(): seconds since the epoch (None: a pre-psutil record)
    sid: int | None = None            # the session it leads (processes started with start_new_session=True)
    token: str = ""                   # OWNER_ENV in its environment, inherited by its children
    boot_id: str = ""                 # the kernel's boot id when it was recorded ("": an older record)

    @classmethod
    def of(cls, pid: int, *, token: str = "") -> OwnedProcess:
        """The record of live process ``pid`` (psutil.NoSuchProcess if it is gone)."""
        proc = psutil.Process(pid)
        try:
            sid: int | None = os.getsid(pid)
        except OSError:
            sid = None
        return cls(pid=pid, start_ticks=_ticks(proc), create_time=proc.create_time(),
                   sid=pid if sid == pid else None, token=token, boot_id=boot_id())

    # -- the record on disk ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(asdict(self)) + "\n")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> OwnedProcess | None:
        """The record in ``path``; None when absent or not a record the lab wrote (never trusted)."""
        try:
            text = path.read_text()
        except OSError:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return _legacy_record(text)
        return cls.from_record(data) if isinstance(data, dict) else None

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> OwnedProcess | None:
        """The record held in ``data`` (its fields among others, as `save` or dockerd's engine.json
        write them); None when they are missing or malformed."""
        try:
            return cls(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]),
                       create_time=None if data.get("create_time") is None else float(data["create_time"]),
                       sid=None if data.get("sid") is None else int(data["sid"]), token=str(data.get("token", "")),
                       boot_id=str(data.get("boot_id", "")))
        except (KeyError, TypeError, ValueError):
            return None

    # -- identity ----------------------------------------------------------------------------------
    def process(self) -> psutil.Process | None:
        """The live process behind the record, or None (gone, a zombie, or the pid now someone else's)."""
        if self.pid <= 0:
            return None
        try:
            proc = psutil.Process(self.pid)
            if not self._matches(proc) or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return proc

    def is_same(self) -> bool:
        return self.process() is not None

    def _matches(self, proc: psutil.Process) -> bool:
        if _ticks(proc) != self.start_ticks:
            return False
        if self.boot_id:
            return self.boot_id == boot_id()
        return self.create_time is None or abs(proc.create_time() - self.create_time) <= _WALL_CLOCK_SLACK

    def session(self) -> list[psutil.Process]:
        """The recorded process (if still it) and the members of its session that are the lab's."""
        leader = self.process()
        if self.sid is None:
            return [leader] if leader else []
        try:
            holder: psutil.Process | None = psutil.Process(self.sid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            holder = None
        if holder is not None and not self._matches(holder):
            # The id now names another process: the kernel frees a pid only once no process has it
            # as its session id either, so no member of the recorded session is left.
            return []
        # The recorded leader (running, or a zombie) still holding the id proves every member came
        # from it; once the id is free, only members carrying the leader's token are.
        proven = holder is not None
        members = [leader] if leader else []
        for proc in psutil.process_iter():
            if proc.pid in (self.pid, os.getpid()):
                continue
            try:
                if os.getsid(proc.pid) != self.sid or _ticks(proc) < self.start_ticks:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if not proven and (not self.token or proc.environ().get(OWNER_ENV) != self.token):
                    continue
            except (OSError, psutil.Error):
                continue
            members.append(proc)
        return members

    # -- signals -----------------------------------------------------------------------------------
    def signal(self, sig: int) -> bool:
        """Send ``sig`` to the recorded process only; False if the pid is no longer it."""
        proc = self.process()
        return proc is not None and _send(proc, sig)

    def terminate_then_kill(self, timeout: float = 10.0, *, session: bool = True,
                            first: int = signals.SIGTERM) -> bool:
        """``first`` (SIGTERM), ``timeout`` seconds to exit, then SIGKILL; False if nothing was running.

        Raises SignalDenied (one line) when the kernel refused a signal, after trying the rest."""
        procs = self.session() if session else [p for p in [self.process()] if p]
        if not procs:
            return False
        accepted, denied = _signal_each(procs, first)
        alive = _wait_gone(accepted, timeout)
        if session:
            # A supervisor may have started a child while it stopped: look again before SIGKILL.
            seen = {p.pid for p in procs}
            alive += [p for p in self.session() if p.pid not in seen]
        killed, refused = _signal_each(alive, signals.SIGKILL)
        _wait_gone(killed, _KILL_WAIT)
        denied += refused
        if denied:
            more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
            raise SignalDenied(denied[0] + more)
        return True


def _legacy_record(text: str) -> OwnedProcess | None:
    """A pid file from before psutil: "pid starttime-ticks" (the session leader's own pid)."""
    fields = text.split()
    if len(fields) != 2 or not all(f.isascii() and f.isdigit() for f in fields):
        return None
    pid = int(fields[0])
    return OwnedProcess(pid=pid, start_ticks=int(fields[1]), sid=pid)


def boot_id() -> str:
    """The kernel's id of this boot (a new one at every boot, the same for every process)."""
    global _boot_id
    if _boot_id is None:
        _boot_id = _BOOT_ID_PATH.read_text().strip()
    return _boot_id


_boot_id: str | None = None


def _ticks(proc: psutil.Process) -> int:
    """Clock ticks from boot to the process's start: the kernel's own count, /proc/PID/stat field 22,
    read as it is (no wall clock involved). psutil.NoSuchProcess once the process is gone."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        raise psutil.NoSuchProcess(proc.pid) from None
    # Field 2, the command name, may hold spaces and parentheses: the fields after it follow the last ")".
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def _send(proc: psutil.Process, sig: int) -> bool:
    try:
        proc.send_signal(sig)  # psutil checks once more that the pid is still this process
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, PermissionError):
        raise SignalDenied(f"not permitted to send {signals.Signals(sig).name} to pid {proc.pid} "
                           f"({_describe(proc)}): it runs as another user") from None
    return True


def _signal_each(procs: list[psutil.Process], sig: int) -> tuple[list[psutil.Process], list[str]]:
    """Signal each; (the processes that took it or are gone, one line per refusal)."""
    accepted, denied = [], []
    for proc in procs:
        try:
            _send(proc, sig)
            accepted.append(proc)
        except SignalDenied as exc:
            denied.append(str(exc))
    return accepted, denied


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.name()}, user {proc.username()}"
    except psutil.Error:
        return "unknown"


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process has exited (a zombie counts as exited); those still running."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not _gone(p)]
    return alive


@dataclass
class Proc:
    name: str
    pid: int


class Supervisor:
    """The processes of one lab directory: ``run/<name>.pid`` records, ``logs/<name>.log`` output."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir.resolve()
        self.run_dir = self.workdir / "run"
        self.log_dir = self.workdir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def record(self, name: str) -> OwnedProcess | None:
        return OwnedProcess.load(self.pid_path(name))

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        existing = self.pid(name)
        if existing is not None:
            return Proc(name, existing)
        if self.record(name) is not None:
            self.stop(name)  # what the previous run of this component left in its session
        token = secrets.token_hex(16)
        with open(self.log_path(name), "ab") as log:
            log.write(f"\n==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
            log.flush()
            go_read, go_write = os.pipe()
            try:
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", _GATE, name, *args], stdout=log, stderr=subprocess.STDOUT, stdin=go_read,
                    start_new_session=True, env={**os.environ, **(env or {}), OWNER_ENV: token}, cwd=self.workdir,
                )
            except BaseException:
                os.close(go_write)
                raise
            finally:
                os.close(go_read)
        try:
            OwnedProcess.of(proc.pid, token=token).save(self.pid_path(name))
            os.write(go_write, b"go\n")
        finally:
            os.close(go_write)  # without the go-ahead the process exits instead of running the command
        return Proc(name, proc.pid)

    def pid(self, name: str) -> int | None:
        """The pid recorded for ``name`` if it still is that process, else None."""
        record = self.record(name)
        return record.pid if record is not None and record.is_same() else None

    def names(self) -> list[str]:
        if not self.run_dir.is_dir():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.pid"))

    def stop(self, name: str, timeout: float = 10.0, sig: int = signals.SIGTERM) -> bool:
        """Stop ``name`` and its session (``sig``, then SIGKILL after ``timeout``); False if nothing ran.

        A file that is not a record the lab wrote is left alone. Raises SignalDenied (one line)."""
        record = self.record(name)
        if record is None:
            return False
        stopped = record.terminate_then_kill(timeout, first=sig)
        self.pid_path(name).unlink(missing_ok=True)
        return stopped

    def stop_all(self, order: list[str] | None = None, timeout: float = 10.0) -> list[str]:
        """Stop every recorded component (``order`` first); SignalDenied after trying them all."""
        names = self.names()
        ordered = [n for n in (order or []) if n in names] + [n for n in names if n not in (order or [])]
        stopped, denied = [], []
        for name in ordered:
            try:
                if self.stop(name, timeout):
                    stopped.append(name)
            except SignalDenied as exc:
                denied.append(f"{name}: {exc}")
        if denied:
            raise SignalDenied("; ".join(denied))
        return stopped

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            with open(self.log_path(name), errors="replace") as f:
                return "".join(deque(f, maxlen=lines))
        except OSError:
            return "(no log)"
