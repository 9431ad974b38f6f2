"""The lab's kubectl, run for the workshop machinery (reset, solutions) with the lab's kubeconfig.

Writes go through kubectl rather than the Python client because the workshop's objects live in
YAML files a participant also applies with kubectl: one path, the same objects."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

TIMEOUT = 120.0


class KubectlError(RuntimeError):
    """A kubectl call failed; the message is one line (the command and kubectl's first error line)."""


def kubectl_binary(workdir: Path) -> str:
    """The lab's own kubectl (local lab), else the one on PATH (kind, vagrant, existing)."""
    own = workdir / "bin" / "kubectl"
    if own.exists():
        return str(own)
    found = shutil.which("kubectl")
    if found is None:
        raise KubectlError(f"no kubectl: neither {own} nor one on PATH (python -m lab build)")
    return found


def kubectl(workdir: Path, *args: str, stdin: str | None = None, timeout: float = TIMEOUT,
            check: bool = True) -> str:
    """Run ``kubectl ARGS`` against the lab; its output (stdout). Raises KubectlError when it fails."""
    env = dict(os.environ, KUBECONFIG=str(workdir / "kubeconfig"))
    argv = [kubectl_binary(workdir), *args]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired:
        raise KubectlError(f"kubectl {' '.join(args)}: no answer within {timeout:.0f}s") from None
    if check and done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["(no message)"]
        raise KubectlError(f"kubectl {' '.join(args)}: {lines[-1]}")
    return done.stdout
