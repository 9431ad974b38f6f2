"""Which directory is a lab's, and what in it the lab made: the only things ``lab down --wipe`` deletes.

A lab directory carries the marker ``lab-owned.json``. ``claim`` creates the directory, or accepts
an empty one, one with the marker, or one a lab made before markers existed (its ``provider.json``
or ``state.json`` say so); a directory holding anything else is refused, so the lab never writes
into it. ``recording`` adds to the marker every top-level entry that appears in the directory while
a lab command runs (what ``lab up`` and ``lab deploy`` make); ``remove_owned`` deletes only entries
the marker lists, and ``require_owned`` refuses a directory without it.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.providers import PROVIDERS
from lab.providers.base import ProviderError

MARKER = "lab-owned.json"
# What `lab up` made in its directory before the marker existed: adopted (if present) once.
LEGACY_ENTRIES = ("etcd", "pki", "kubeconfigs", "run", "state.json", "kubeconfig", "bin", "deploy", "logs",
                  "provider.json", "kind-config.yaml", "kind-node-image.json", "py-scheduler-image.tar",
                  "vagrant-containers", "vagrant", "docker", "workshop")

BUILD_LOGS = ("build.log", "kind-build.log")


class NotALabDirectory(ProviderError):
    """The directory is not one the lab made; str() is one line naming it and why."""


def _read_marker(workdir: Path) -> dict | None:
    try:
        data = json.loads((workdir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("created"), list):
        return None
    return data


def _write_marker(workdir: Path, data: dict) -> None:
    partial = workdir / f".{MARKER}.{os.getpid()}.partial"
    partial.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(partial, workdir / MARKER)


def _made_by_an_older_lab(workdir: Path) -> bool:
    """A directory an earlier lab wrote, recognised by the exact shape of the files it left: its
    provider.json, its state.json, or (after only `lab build`) nothing but the lab's own entries
    with logs/build.log or logs/kind-build.log among them."""
    try:
        names = {e.name for e in workdir.iterdir()}
    except OSError:
        return False
    if names <= set(LEGACY_ENTRIES) and any((workdir / "logs" / log).is_file() for log in BUILD_LOGS):
        return True
    try:
        provider = json.loads((workdir / "provider.json").read_text())
        if isinstance(provider, dict) and set(provider) == {"provider"} and provider["provider"] in PROVIDERS:
            return True
    except (OSError, ValueError):
        pass
    try:
        state = json.loads((workdir / "state.json").read_text())
        ports = state.get("ports") if isinstance(state, dict) else None
        return isinstance(ports, dict) and {"etcd", "kube-apiserver"} <= set(ports)
    except (OSError, ValueError):
        return False


def marker(workdir: Path) -> dict | None:
    """The directory's marker; a directory an older lab made gets one (listing what that lab made)."""
    data = _read_marker(workdir)
    if data is None and workdir.is_dir() and _made_by_an_older_lab(workdir):
        data = {"workdir": str(workdir), "created": sorted(e for e in LEGACY_ENTRIES if os.path.lexists(workdir / e)),
                "adopted": "made by a lab before lab-owned.json existed"}
        _write_marker(workdir, data)
    return data


def claim(workdir: Path) -> None:
    """Make ``workdir`` the lab's (creating it if absent); NotALabDirectory if it holds other things."""
    if marker(workdir) is not None:
        return
    if os.path.lexists(workdir) and not workdir.is_dir():
        raise NotALabDirectory(f"{workdir}: not a directory; choose another lab directory (--workdir or LAB_DIR)")
    if workdir.is_dir() and any(workdir.iterdir()):
        raise NotALabDirectory(f"{workdir}: holds files and has no {MARKER}, so the lab did not make it and will "
                               "not write into it; choose a new or empty directory (--workdir or LAB_DIR)")
    made = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    _write_marker(workdir, {"workdir": str(workdir), "created": [], "made_directory": made})


def _entries(workdir: Path) -> set[str]:
    try:
        return {e.name for e in workdir.iterdir()} - {MARKER}
    except OSError:
        return set()


@contextmanager
def recording(workdir: Path, *, adopt: bool = False) -> Iterator[None]:
    """Claim ``workdir`` and add every top-level entry that appears in it meanwhile to its marker.

    ``adopt``: accept a directory the project owns by design though the lab did not make it (the
    repository's ``.lab``, which Vagrant shares with its machines); only what appears is listed."""
    if adopt and marker(workdir) is None:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_marker(workdir, {"workdir": str(workdir), "created": [], "made_directory": False})
    claim(workdir)
    before = _entries(workdir)
    try:
        yield
    finally:
        appeared = {e for e in _entries(workdir) - before if not e.endswith(".partial")}
        data = marker(workdir)
        if appeared and data is not None:
            data["created"] = sorted(set(data["created"]) | appeared)
            _write_marker(workdir, data)


def require_owned(workdir: Path) -> frozenset[str]:
    """What the lab made in ``workdir``; NotALabDirectory (one line) if it has no marker."""
    data = marker(workdir)
    if data is None:
        why = "does not exist" if not os.path.lexists(workdir) else f"has no {MARKER}, so the lab did not make it"
        raise NotALabDirectory(f"refusing to wipe {workdir}: it {why}")
    return frozenset(str(e) for e in data["created"])


def remove_owned(workdir: Path, names: Iterable[str]) -> list[str]:
    """Delete those of the top-level ``names`` the marker lists (a symlink itself, never its target)."""
    owned = require_owned(workdir)
    removed = []
    for name in names:
        if name not in owned or "/" in name or name in ("", ".", ".."):
            continue
        path = workdir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        removed.append(name)
    data = marker(workdir)
    if data is not None and removed:
        data["created"] = sorted(set(data["created"]) - set(removed))
        _write_marker(workdir, data)
    return removed
