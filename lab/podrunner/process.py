"""A container as a local process: started in the pod's namespaces, recorded, stopped by its record."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from lab.host.procs import _GATE, OWNER_ENV, OwnedProcess
from lab.podrunner.volumes import Mount

ROOT = Path(__file__).resolve().parents[2]


def start(argv: list[str], env: dict[str, str], mounts: list[Mount], hostname: str, run_dir: Path,
          log: Path) -> tuple[subprocess.Popen, OwnedProcess]:
    """Start ``argv``; its record is saved in run_dir/record.json before it may exec."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    setup = {"scratch": str(run_dir / "scratch"), "hostname": hostname, "env": {**env, OWNER_ENV: token},
             "mounts": [{"source": m.source, "target": m.target, "readOnly": m.read_only} for m in mounts]}
    (run_dir / "setup.json").write_text(json.dumps(setup))
    command = ["unshare", "--mount", "--uts", "--propagation", "private", "--", sys.executable, "-m",
               "lab.podrunner.mountns", str(run_dir / "setup.json"), "--", *argv]
    go_read, go_write = os.pipe()
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", _GATE, "container", *command], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=go_read, start_new_session=True,
                                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
                                         OWNER_ENV: token}, cwd=run_dir)
        finally:
            os.close(go_read)
    try:
        record = OwnedProcess.of(proc.pid, token=token)
        record.save(run_dir / "record.json")
        os.write(go_write, b"go\n")
    finally:
        os.close(go_write)
    return proc, record


def stop_recorded(pods_dir: Path, grace: float = 5.0) -> int:
    """Stop every container process recorded under ``pods_dir`` (only those records name); how many.

    Containers live in sessions of their own, so stopping podrunner leaves them running: `lab down`
    stops them here, and a (re)started podrunner stops what an earlier run left before it starts
    the pods anew (two processes of one pod would both bind its address)."""
    stopped = 0
    for path in sorted(pods_dir.glob("*/run/*/record.json")):
        record = OwnedProcess.load(path)
        if record is not None and record.terminate_then_kill(grace):
            stopped += 1
        path.unlink(missing_ok=True)
    return stopped


def stop_pod(pods_dir: Path, namespace: str, pod: str, grace: float) -> int:
    """Signal one pod's recorded container processes now (grace 0: SIGKILL at once); how many.

    The pod keeps its record files: podrunner sees the exit and then the deletion as usual."""
    stopped = 0
    for path in sorted(pods_dir.glob(f"{namespace}_{pod}_*/run/*/record.json")):
        record = OwnedProcess.load(path)
        if record is not None and record.terminate_then_kill(
                grace, first=signal.SIGKILL if grace <= 0 else signal.SIGTERM):
            stopped += 1
    return stopped
