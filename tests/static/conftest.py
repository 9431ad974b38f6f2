"""Shared helpers for the static checks: what can be verified without Docker, VirtualBox or a
cluster (schemas, manifests, scripts, version pins, providers driven by fake tools)."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.providers.base import ProviderError
from lab.providers.plan import Step
from lab.spec import LabSpec, load_spec

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


@pytest.fixture(scope="session")
def spec() -> LabSpec:
    return load_spec()


def manifest_docs(subdir: str = "") -> list[tuple[Path, dict]]:
    """Every Kubernetes object under manifests/ (kustomization files excluded)."""
    docs = []
    for path in sorted((MANIFESTS / subdir).rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def find(kind: str, name: str, subdir: str = "") -> dict:
    hits = [d for _, d in manifest_docs(subdir) if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected exactly one {kind} {name} in manifests/{subdir}, found {len(hits)}"
    return hits[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tool(directory: Path, name: str, script: str) -> Path:
    """An executable shell script standing in for a real tool (docker, kind, vagrant, ...)."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def python_tool(directory: Path, name: str, module_file: Path) -> Path:
    """An executable that runs a Python file with this interpreter."""
    return write_tool(directory, name, f'exec "{sys.executable}" "{module_file}" "$@"\n')


def tool_env(bin_dir: Path, *, system: bool = False, **extra: str) -> dict[str, str]:
    """An environment whose PATH is only bin_dir (plus /usr/bin:/bin when ``system``), so a test
    never picks up a real docker/kind/kubectl/vagrant from this machine by accident."""
    dirs = [str(bin_dir)] + ([d for d in ("/usr/bin", "/bin") if Path(d).is_dir()] if system else [])
    env = {"PATH": os.pathsep.join(dirs), "HOME": str(bin_dir)}
    env.update(extra)
    return env


class FakeRunner:
    """Answers by the first matching argv prefix; records every step it was asked to run."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, step: Step, *, check: bool = True, timeout: float | None = None):
        argv = list(step.argv)
        self.calls.append(argv)
        code, out = 0, ""
        for prefix, answer in self.answers.items():
            if tuple(argv[1:1 + len(prefix)]) == prefix:
                code, out = answer
                break
        if check and code != 0:
            raise ProviderError(f"fake: {argv[:3]} failed")
        return subprocess.CompletedProcess(argv, code, out, "")
