"""Start a workshop step's background process, and stop exactly that process later.

    python -m lab.workshop.background start NAME -- COMMAND [ARGS...]
    python -m lab.workshop.background stop NAME

``start`` runs COMMAND from the current directory in a session of its own, its output in
``.lab/workshop/NAME.log``, and records it in ``.lab/workshop/NAME.pid`` (pid, create time,
session: ``lab.host.procs.OwnedProcess``) before it may run. ``stop`` signals only that recorded
process (SIGTERM, then SIGKILL after a grace period) and removes the record; a pid that now
belongs to another process is never signalled. Why not ``cmd & echo $! > file`` and ``kill``:
a plain pid can be reused by an unrelated process once the scheduler has exited.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lab.host.procs import SignalDenied, Supervisor

WORKSHOP_DIR = Path(".lab") / "workshop"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL


def supervisor(workshop_dir: Path = WORKSHOP_DIR) -> Supervisor:
    """A Supervisor whose records and logs are ``<workshop_dir>/NAME.pid|.log`` and whose commands
    run from the current directory (so relative paths in them mean what the participant typed)."""
    sup = Supervisor(Path.cwd())
    sup.run_dir = sup.log_dir = workshop_dir.resolve()
    return sup


def start(name: str, command: list[str], workshop_dir: Path = WORKSHOP_DIR) -> int:
    sup = supervisor(workshop_dir)
    running = sup.pid(name)
    if running is not None:
        print(f"{name} is already running (pid {running}): python -m lab.workshop.background stop {name}",
              file=sys.stderr)
        return 1
    proc = sup.start(name, command)
    print(f"{name} started (pid {proc.pid}), log in {workshop_dir / (name + '.log')}")
    return 0


def stop(name: str, workshop_dir: Path = WORKSHOP_DIR) -> str:
    """Stop the process recorded as ``name`` and remove its record; what happened, in one line.

    Raises SignalDenied (one line) when the kernel refused the signal; the record then stays."""
    sup = supervisor(workshop_dir)
    path = sup.pid_path(name)
    record = sup.record(name)
    if record is None:
        path.unlink(missing_ok=True)  # absent, or not a record the lab wrote: nothing to signal
        return f"{name} is not running (no record in {workshop_dir / (name + '.pid')})"
    stopped = record.terminate_then_kill(STOP_TIMEOUT)
    path.unlink(missing_ok=True)
    return f"{name} stopped" if stopped else f"{name} had already exited"


def _stop_command(name: str) -> int:
    try:
        print(stop(name))
    except SignalDenied as exc:
        print(f"cannot stop {name}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.workshop.background",
                                     description="start or stop a workshop step's background process")
    sub = parser.add_subparsers(dest="action", required=True)
    st = sub.add_parser("start", help="start COMMAND in the background, recorded as NAME")
    st.add_argument("name")
    st.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    sp = sub.add_parser("stop", help="stop the process recorded as NAME")
    sp.add_argument("name")
    args = parser.parse_args(argv)
    if not NAME.match(args.name):
        parser.error(f"NAME {args.name!r}: lower-case letters, digits and '-' only")
    if args.action == "start":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("start: give the command after --")
        return start(args.name, command)
    return _stop_command(args.name)


if __name__ == "__main__":
    sys.exit(main())
