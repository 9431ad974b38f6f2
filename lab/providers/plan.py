"""The plan/runner plumbing every provider that shells out shares: a ``Step`` (one command and why it
runs), the runners that execute it (one-line ProviderError on failure), and the steps that label the
nodes and deploy both second schedulers (kind, vagrant, vagrant-containers).
"""
from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from lab.providers.base import ProviderError
from lab.spec import LabSpec, NodeSpec

if TYPE_CHECKING:
    from lab.host.docker_netns import DockerEngine

NAME_LABEL = "scheduler-lab.dev/name"
ROLE_LABEL = "scheduler-lab.dev/role"
# What the py-scheduler Deployment (and the workshop's manifests) ask for; on kind the nodes have
# it under this name, built and loaded under the lab's own tag (py_scheduler_build_image).
PY_SCHEDULER_IMAGE = "scheduler-lab/py-scheduler:0.1.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Applied in this order; each directory is a kustomization.
SCHEDULER_MANIFESTS = ("manifests/kube-scheduler", "manifests/py-scheduler")
# Deployment name -> the directory that defines it (all in kube-system).
SCHEDULER_DEPLOYMENTS = {"custom-k8s-scheduler": "manifests/kube-scheduler",
                         "py-scheduler": "manifests/py-scheduler"}
SCHEDULER_NAMESPACE = "kube-system"
ROLLOUT_TIMEOUT = "300s"


# -- the commands ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One command of a plan. ``stream``: show its output live (long steps) instead of capturing."""

    argv: tuple[str, ...]
    why: str
    stream: bool = False
    env: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in self.env)
        return prefix + shlex.join(self.argv)


class Runner(Protocol):
    def __call__(self, step: Step, *, check: bool = True, timeout: float | None = None
                 ) -> subprocess.CompletedProcess[str]: ...


def last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class EngineRunner:
    """Runs each Step where the kind lab lives: inside the project's network namespace, with its
    DOCKER_HOST, when the project started dockerd (lab/host/docker_netns.py); else as it is."""

    def __init__(self, engine: DockerEngine, env: dict[str, str]) -> None:
        self.engine = engine
        self.env = env

    def __call__(self, step: Step, *, check: bool = True, timeout: float | None = None
                 ) -> subprocess.CompletedProcess[str]:
        wrapped = Step(tuple(self.engine.wrap(list(step.argv))), step.why, step.stream, step.env)
        return SubprocessRunner(self.engine.env(self.env))(wrapped, check=check, timeout=timeout)


class SubprocessRunner:
    """Runs a Step with plain subprocess (no shell); a failure becomes a one-line ProviderError."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)

    def __call__(self, step: Step, *, check: bool = True, timeout: float | None = None
                 ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **dict(step.env)}
        try:
            if step.stream:
                proc = subprocess.run(list(step.argv), env=env, text=True, timeout=timeout)
            else:
                proc = subprocess.run(list(step.argv), env=env, text=True, capture_output=True,
                                      timeout=timeout)
        except FileNotFoundError:
            raise ProviderError(f"{step.argv[0]}: not found (needed to {step.why})") from None
        except subprocess.TimeoutExpired:
            raise ProviderError(f"`{shlex.join(step.argv[:3])} ...` did not finish within {timeout:.0f}s "
                                f"(while trying to {step.why})") from None
        if check and proc.returncode != 0:
            detail = "see its output above" if step.stream else (last_line(proc.stderr)
                                                                  or last_line(proc.stdout))
            raise ProviderError(f"`{shlex.join(step.argv[:4])} ...` failed with exit code "
                                f"{proc.returncode} while trying to {step.why}: {detail}")
        return proc


# -- node labels -----------------------------------------------------------------------------------
def lab_node_labels(node: NodeSpec) -> dict[str, str]:
    """Every label a lab node carries on a real cluster: lab.yaml's plus the two lab labels."""
    return {**node.labels, NAME_LABEL: node.name, ROLE_LABEL: node.role}


# -- steps shared with the Vagrant provider -------------------------------------------------------
def node_label_steps(kubectl: Sequence[str], spec: LabSpec, node_names: dict[str, str]) -> list[Step]:
    """Label and taint each node as lab.yaml says (idempotent: --overwrite)."""
    steps = []
    for node in spec.nodes:
        real = node_names[node.name]
        pairs = [f"{k}={v}" for k, v in lab_node_labels(node).items()]
        steps.append(Step((*kubectl, "label", "node", real, "--overwrite", *pairs),
                          f"label {real} as lab node {node.name}"))
        for taint in node.taints:
            value = f"={taint.value}" if taint.value else ""
            steps.append(Step((*kubectl, "taint", "node", real, f"{taint.key}{value}:{taint.effect}",
                               "--overwrite"), f"taint {real} like lab node {node.name}"))
    return steps


def deploy_steps(kubectl: Sequence[str], repo_root: Path) -> list[Step]:
    """Apply both schedulers' kustomizations, then wait for both Deployments to roll out."""
    steps = [Step((*kubectl, "apply", "-k", str(repo_root / d)), f"apply {d}")
             for d in SCHEDULER_MANIFESTS]
    steps += [Step((*kubectl, "-n", SCHEDULER_NAMESPACE, "rollout", "status", f"deployment/{name}",
                    f"--timeout={ROLLOUT_TIMEOUT}"), f"wait for both replicas of {name}", stream=True)
              for name in SCHEDULER_DEPLOYMENTS]
    return steps
