"""What the step 10 and 11 challenges need from the cluster and the lab directory: kubectl with the
lab's kubeconfig, the stored answer of a prediction, and removing the steps' own objects.

The challenge CLI's branch (wt-challenges) has shared versions of these (lab.workshop.kubectl,
.progress, .reset); this module reads the answers where that one stores them
(<lab dir>/challenges/answers/NN.txt) and uses its reset when it is there, so the two agree."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 120.0


class KubectlError(RuntimeError):
    """A kubectl call failed; the message is one line."""


def kubectl(workdir: Path, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    own = workdir / "bin" / "kubectl"
    binary = str(own) if own.exists() else shutil.which("kubectl")
    if binary is None:
        raise KubectlError(f"no kubectl: neither {own} nor one on PATH")
    env = dict(os.environ, KUBECONFIG=str(workdir / "kubeconfig"))
    try:
        done = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KubectlError(f"kubectl {' '.join(args)}: no answer within {timeout:.0f}s") from None
    if check and done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["(no message)"]
        raise KubectlError(f"kubectl {' '.join(args)}: {lines[-1]}")
    return done


def answer_file(workdir: Path, step: str) -> Path:
    return workdir / "challenges" / "answers" / f"{step}.txt"


def stored_answer(workdir: Path, step: str) -> str | None:
    try:
        text = answer_file(workdir, step).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def store_answer(workdir: Path, step: str, text: str) -> None:
    path = answer_file(workdir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(" ".join(text.split()) + "\n", encoding="utf-8")


def delete_step_objects(workdir: Path, step: str, files: tuple[str, ...], configmaps: tuple[str, ...],
                        pods: tuple[str, ...]) -> None:
    """Remove what one step creates (its files' objects, the ConfigMaps made with `kubectl create`,
    its pods); the full reset of the challenge CLI is used instead where it exists."""
    try:
        from lab.workshop.reset import reset_to  # type: ignore[import-not-found]
    except ImportError:
        reset_to = None
    if reset_to is not None:
        from lab.cluster import LabCluster

        reset_to(LabCluster(workdir), step)
        return
    for path in files:
        kubectl(workdir, "delete", "--ignore-not-found", "--wait=true", "--cascade=foreground", "-f", path)
    if configmaps:
        kubectl(workdir, "delete", "--ignore-not-found", "configmap", *configmaps)
    if pods:
        kubectl(workdir, "delete", "--ignore-not-found", "--grace-period=1", "pod", *pods)
