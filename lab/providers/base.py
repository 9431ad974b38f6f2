"""The interface every lab provider implements (local, kind, vagrant, existing)."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from lab.spec import LabSpec


class ProviderError(RuntimeError):
    """A provider could not do what was asked; str() is one line saying what to do."""


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    healthy: bool
    version: str = ""
    detail: str = ""


@dataclass
class ProviderStatus:
    up: bool
    kubeconfig: Path | None
    components: list[ComponentStatus] = field(default_factory=list)
    detail: str = ""


class Provider(abc.ABC):
    """One way to get a lab cluster. ``workdir`` is the project's .lab/ directory."""

    name: str = ""

    def __init__(self, spec: LabSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig written by ``up`` (same place for every provider)."""
        return self.workdir / "kubeconfig"

    @abc.abstractmethod
    def check_prerequisites(self) -> None:
        """Raise ProviderError (one line: what is missing and how to get it) before touching anything."""

    @abc.abstractmethod
    def up(self) -> Path:
        """Create or start the cluster (idempotent) and return the admin kubeconfig path."""

    @abc.abstractmethod
    def down(self, wipe: bool = False) -> None:
        """Stop what ``up`` started; ``wipe`` also deletes state."""

    @abc.abstractmethod
    def status(self) -> ProviderStatus:
        """What is running, without changing anything."""

    def scheduler_runtime(self) -> str:
        """How the lab's second schedulers run: "deployment" (real pods) or "process" (local)."""
        return "deployment"
