"""Debian bookworm root filesystems made with debootstrap, for images no registry has to serve.

One ``--variant=minbase`` bootstrap is cached as a tar; each image rootfs is that tar extracted,
plus Debian packages installed with apt-get inside a chroot (on the host's network: that is
only Debian's package registry), plus a ``customize`` hook, tarred again and cached by a key of
its inputs. ``docker import`` turns a tar into an image (lab/images/kindimage/images.py).
"""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Callable

from lab.build import BuildError
from lab.images.kindimage.cachelock import cache_lock

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror() -> str:
    """The mirror this machine's apt uses (so a proxied or mirrored apt keeps working)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        m = re.search(r"^URIs:\s*(\S+/debian)\s*$", path.read_text(), re.M)
        if m:
            return m.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+bookworm\b", legacy.read_text(), re.M)
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


class RootfsBuilder:
    """Builds and caches rootfs tars under ``cache`` (``~/.cache/scheduler-lab/rootfs``)."""

    def __init__(self, cache: Path, log: Path, say: Callable[[str], None] = print) -> None:
        self.cache = cache
        self.log = log
        self.say = say

    def _run(self, args: list[str], what: str, cwd: Path | None = None) -> None:
        with open(self.log, "a") as out:
            out.write(f"\n$ {' '.join(args)}\n")
            out.flush()
            proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                  env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
                                       "LC_ALL": "C"})
        if proc.returncode != 0:
            raise BuildError(f"{what} failed (exit {proc.returncode}); see {self.log}")

    def minbase(self) -> Path:
        # The cache's tars and .partial work directories are shared by every checkout.
        with cache_lock("rootfs", self.say, self.cache.parent):
            return self._minbase()

    def derive(self, name: str, packages: tuple[str, ...], customize: Callable[[Path], None] | None = None,
               key: str = "") -> Path:
        """minbase + ``packages`` + ``customize(root)``; cached by name, packages and ``key``."""
        with cache_lock("rootfs", self.say, self.cache.parent):
            return self._derive(name, packages, customize, key)

    def _minbase(self) -> Path:
        tar = self.cache / f"{SUITE}-minbase.tar"
        if tar.exists():
            return tar
        if shutil.which("debootstrap") is None:
            raise BuildError("debootstrap is needed to build images without a registry (apt-get install debootstrap)")
        self.cache.mkdir(parents=True, exist_ok=True)
        work = self.cache / f"{SUITE}-minbase.partial"
        shutil.rmtree(work, ignore_errors=True)
        t0 = time.monotonic()
        self.say(f"  debootstrap --variant=minbase {SUITE} (a few minutes)")
        self._run(["debootstrap", "--variant=minbase", SUITE, str(work), debian_mirror()], "debootstrap")
        self._pack(work, tar)
        self.say(f"  debootstrapped {SUITE} in {time.monotonic() - t0:.0f}s")
        return tar

    def _derive(self, name: str, packages: tuple[str, ...], customize: Callable[[Path], None] | None,
                key: str) -> Path:
        digest = hashlib.sha256(repr((packages, key)).encode()).hexdigest()[:10]
        tar = self.cache / f"{name}-{digest}.tar"
        if tar.exists():
            return tar
        base = self.minbase()
        work = self.cache / f"{name}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        t0 = time.monotonic()
        self._run(["tar", "-xpf", str(base), "-C", str(work)], f"extracting {base.name}")
        if packages:
            self._apt(work, packages)
        if customize is not None:
            customize(work)
        self._pack(work, tar)
        self.say(f"  rootfs {name} in {time.monotonic() - t0:.0f}s")
        return tar

    def _apt(self, root: Path, packages: tuple[str, ...]) -> None:
        shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
        # Nothing installed may start a service inside the chroot.
        policy = root / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        self._run(["chroot", str(root), "apt-get", "update", "-q"], "apt-get update (chroot)")
        self._run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                  f"apt-get install {' '.join(packages[:3])}... (chroot)")
        self._run(["chroot", str(root), "apt-get", "clean"], "apt-get clean (chroot)")
        policy.unlink()
        for junk in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/info"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "resolv.conf").write_text("")

    def _pack(self, root: Path, tar: Path) -> None:
        partial = tar.with_suffix(".tar.partial")
        self._run(["tar", "--numeric-owner", "-cpf", str(partial), "-C", str(root), "."], f"packing {tar.name}")
        partial.rename(tar)
        shutil.rmtree(root, ignore_errors=True)


def static_rootfs(dest: Path, files: dict[str, Path], links: dict[str, str] | None = None) -> Path:
    """A tiny distroless-like rootfs: passwd/group for numeric users, /tmp, and ``files``
    (path in image -> file on disk, mode kept). Built with tarfile: no debootstrap needed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        def add_text(path: str, text: str, mode: int = 0o644) -> None:
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))

        for d, mode in (("etc", 0o755), ("tmp", 0o1777), ("bin", 0o755), ("usr", 0o755), ("usr/bin", 0o755),
                        ("usr/local", 0o755), ("usr/local/bin", 0o755), ("var", 0o755), ("var/run", 0o755)):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
            tar.addfile(info)
        add_text("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:"
                 "/sbin/nologin\n")
        add_text("etc/group", "root:x:0:\nnonroot:x:65532:\n")
        add_text("etc/nsswitch.conf", "hosts: files dns\n")
        for path, src in files.items():
            info = tar.gettarinfo(str(src), arcname=path)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with open(src, "rb") as fh:
                tar.addfile(info, fh)
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(info)
    partial.rename(dest)
    return dest
