"""A local lab component (kube-scheduler, kwok, podrunner, ...) restarted when it exits, as kubelet
restarts a static pod. (The second schedulers' replicas are pods now: lab/podrunner runs them.)

    python -m lab.replica --name kube-scheduler --child-pid-file F -- COMMAND...

The wrapper plays kubelet: when the scheduler exits (it exits 1 when it loses its Lease, by
design) it is started again after a crash-loop backoff (1s doubling to 30s, reset after 60s of
running), as a fresh process with a fresh leader-election identity. SIGTERM/SIGINT to the
wrapper is passed on to the scheduler (which then releases its Lease) and ends the wrapper.

The child pid file holds the running child's ``OwnedProcess`` record (pid, boot, start ticks), so
it is told apart from whatever process reuses its pid later.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from lab.host.procs import OwnedProcess

BACKOFF_START, BACKOFF_MAX, HEALTHY_RUN = 1.0, 30.0, 60.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab.replica")
    p.add_argument("--name", required=True)
    p.add_argument("--child-pid-file", type=Path, required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = BACKOFF_START
    restarts = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        with contextlib.suppress(psutil.NoSuchProcess):  # (one that exited at once has no record)
            OwnedProcess.of(child.pid).save(args.child_pid_file)
        code = child.wait()
        args.child_pid_file.unlink(missing_ok=True)
        if stopping:
            print(f"replica {args.name}: scheduler exited with code {code} after SIGTERM; done", flush=True)
            return 0
        if time.monotonic() - started > HEALTHY_RUN:
            backoff = BACKOFF_START
        restarts += 1
        print(f"replica {args.name}: scheduler exited with code {code}; restart #{restarts} in {backoff:.0f}s "
              f"(as a Deployment's pod would be)", flush=True)
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        backoff = min(backoff * 2, BACKOFF_MAX)
    return 0


if __name__ == "__main__":
    sys.exit(main())
