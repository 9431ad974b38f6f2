"""Enter a pod's private namespaces, then exec the container's program (run via unshare).

    unshare --mount --uts --propagation private -- python -m lab.podrunner.mountns SETUP.json -- ARGV...

In the new mount namespace the pod's volumes are bind-mounted where the pod mounts them, so fixed
in-container paths (/etc/kubernetes/..., /var/run/secrets/kubernetes.io/serviceaccount) work
without touching the host: a mount point that does not exist on the host is made in an overlay
(upper layer on a tmpfs private to this namespace) over its nearest existing parent directory.
The UTS namespace gives the process the pod's name as hostname (leader-election identities are
"<hostname>_<uuid>", as in a cluster). Mounting needs root; a non-root user would run this under
``unshare --user --map-root-user`` (user namespaces enabled), which the lab does not exercise.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _make_mount_point(target: Path, scratch: Path, overlaid: set[Path]) -> None:
    if target.exists():
        return
    parent = target
    while not parent.exists():
        parent = parent.parent
    if parent not in overlaid:
        layer = scratch / f"overlay{len(overlaid)}"
        (layer / "upper").mkdir(parents=True)
        (layer / "work").mkdir()
        _mount("-t", "overlay", "overlay", "-o",
               f"lowerdir={parent},upperdir={layer / 'upper'},workdir={layer / 'work'}", str(parent))
        overlaid.add(parent)
    target.mkdir(parents=True, exist_ok=True)


def mount_order(mounts: list[dict]) -> list[dict]:
    """Mounts whose target covers another mount's source go last: a pod's emptyDir at /tmp would
    otherwise hide the sources of the mounts after it when the lab directory itself is under /tmp."""
    def covers_a_source(m: dict) -> bool:
        target = Path(os.path.realpath(m["target"]))
        return any(o is not m and Path(os.path.realpath(o["source"])).is_relative_to(target) for o in mounts)

    return sorted(mounts, key=covers_a_source)


def enter(setup: dict) -> None:
    scratch = Path(setup["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "tmpfs", str(scratch))
    overlaid: set[Path] = set()
    for m in mount_order(setup["mounts"]):
        target = Path(os.path.realpath(m["target"]))
        _make_mount_point(target, scratch, overlaid)
        _mount("--bind", m["source"], str(target))
        if m["readOnly"]:
            _mount("-o", "remount,bind,ro", str(target))
    socket.sethostname(setup["hostname"])


def main(argv: list[str]) -> None:
    setup = json.loads(Path(argv[0]).read_text())
    command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
    enter(setup)
    os.execvpe(command[0], command, setup["env"])


if __name__ == "__main__":
    main(sys.argv[1:])
