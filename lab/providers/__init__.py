"""The lab's providers by name, and which one a lab directory was brought up with.

Kept here, below the CLI, so the CLI, the workshop machinery and the wipe guard all read one list
without importing each other.
"""
from __future__ import annotations

import json
from pathlib import Path

PROVIDERS = ("local", "kind", "vagrant", "vagrant-containers", "existing")


def recorded_provider(workdir: Path) -> str:
    """The provider the last `lab up` in this workdir used (local when none)."""
    try:
        return json.loads((workdir / "provider.json").read_text())["provider"]
    except (OSError, ValueError, KeyError, TypeError):
        return "local"


def record_provider(workdir: Path, name: str) -> None:
    """Note which provider `lab up` used in ``workdir`` (read back by ``recorded_provider``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "provider.json").write_text(json.dumps({"provider": name}) + "\n")
