"""The images the kind lab needs, made without a registry: rootfs tars + ``docker import``.

* static-binary images (kube-apiserver, -controller-manager, -scheduler, etcd, coredns, pause,
  local-path-provisioner, busybox helpers, lab-cni): a tiny distroless-like rootfs holding the
  binary, built with tarfile;
* kube-proxy: bookworm minbase + iptables/conntrack (kube-proxy runs them) + the binary;
* the kind node base: kind v0.27.0's images/base (same packages, files, cleanup, services),
  with Debian's containerd, runc and CNI plugins instead of kind's own builds;
* the Python base of the scheduler image: bookworm minbase + Debian's python3, with pip and a
  wheelhouse of the project's dependencies downloaded from PyPI on the host (see Dockerfile).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Callable

from lab.build import BuildError
from lab.images.kindimage import cni
from lab.images.kindimage import versions as V
from lab.images.kindimage.docker import DockerCLI
from lab.images.kindimage.gobins import module_dir
from lab.images.kindimage.rootfs import RootfsBuilder, static_rootfs

REPO_ROOT = Path(__file__).resolve().parents[3]
PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PY_BASE_IMAGE = "scheduler-lab/python:3.11-bookworm"
NODE_BASE_PACKAGES = (
    "systemd", "systemd-sysv", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux",
    "mount", "kmod", "libseccomp2", "pigz", "fuse-overlayfs", "nfs-common", "open-iscsi", "bash",
    "ca-certificates", "curl", "jq", "procps", "containerd", "runc", "containernetworking-plugins", "socat",
)
BUSYBOX_APPLETS = ("sh", "mkdir", "rm", "chmod", "cat", "mv", "printf", "sleep", "echo", "ip", "ls", "test")


def kind_source() -> Path:
    """kind v0.27.0's source in the Go module cache (images/base, the default manifests)."""
    return module_dir("sigs.k8s.io/kind", V.KIND)


class ImageMaker:
    def __init__(self, docker: DockerCLI, rootfs: RootfsBuilder, bins: Path, work: Path,
                 say: Callable[[str], None] = print) -> None:
        self.docker = docker
        self.rootfs = rootfs
        self.bins = bins
        self.work = work
        self.say = say

    def _import(self, tar: Path, ref: str, changes: tuple[str, ...] = ()) -> None:
        args = ["import"]
        for change in changes:
            args += ["--change", change]
        self.docker.run(*args, str(tar), ref, what=f"docker import {ref}")

    # -- component images ----------------------------------------------------------------------
    def component_images(self, force: bool = False) -> list[str]:
        """Import every image the node preloads; return their references."""
        self.work.mkdir(parents=True, exist_ok=True)
        made: list[str] = []
        k8s = self.bins / "k8s"
        for ref, binary in V.component_images().items():
            if binary == "kube-proxy":
                continue
            if force or not self.docker.image_exists(ref):
                src = k8s if binary in V.CONTROL_PLANE else self.bins / binary
                if binary in ("coredns", "pause"):
                    tar = static_rootfs(self.work / f"{binary}.tar", {binary: src})
                    self._import(tar, ref, (f'ENTRYPOINT ["/{binary}"]',))
                else:
                    tar = static_rootfs(self.work / f"{binary}.tar", {f"usr/local/bin/{binary}": src})
                    self._import(tar, ref, (PATH_ENV,))
            made.append(ref)
        proxy = f"{V.REGISTRY}/kube-proxy:{V.KUBERNETES}"
        if force or not self.docker.image_exists(proxy):
            def add_proxy(root: Path) -> None:
                shutil.copy2(self.bins / "kube-proxy", root / "usr" / "local" / "bin" / "kube-proxy")
            tar = self.rootfs.derive("kube-proxy", ("iptables", "conntrack", "ipset"), add_proxy,
                                     key=_stat_key(self.bins / "kube-proxy"))
            self._import(tar, proxy, (PATH_ENV,))
        made.append(proxy)
        made += self._storage_and_cni(force)
        return made

    def _storage_and_cni(self, force: bool) -> list[str]:
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not Path(busybox).exists():
            raise BuildError("busybox is needed for the helper images (apt-get install busybox-static)")
        links = {f"bin/{a}": "busybox" for a in BUSYBOX_APPLETS}
        refs = []
        if force or not self.docker.image_exists(V.LOCAL_PATH_PROVISIONER_IMAGE):
            tar = static_rootfs(self.work / "local-path-provisioner.tar",
                                {"usr/local/bin/local-path-provisioner": self.bins / "local-path-provisioner"})
            self._import(tar, V.LOCAL_PATH_PROVISIONER_IMAGE, (PATH_ENV,))
        refs.append(V.LOCAL_PATH_PROVISIONER_IMAGE)
        if force or not self.docker.image_exists(V.LOCAL_PATH_HELPER_IMAGE):
            tar = static_rootfs(self.work / "local-path-helper.tar", {"bin/busybox": Path(busybox)}, links)
            self._import(tar, V.LOCAL_PATH_HELPER_IMAGE, (PATH_ENV,))
        refs.append(V.LOCAL_PATH_HELPER_IMAGE)
        if force or not self.docker.image_exists(V.LAB_CNI_IMAGE):
            script = self.work / "lab-cni.sh"
            script.write_text(cni.SCRIPT)
            script.chmod(0o755)
            tar = static_rootfs(self.work / "lab-cni.tar",
                                {"bin/busybox": Path(busybox), "usr/local/bin/kubectl": self.bins / "k8s",
                                 "lab-cni.sh": script}, links)
            self._import(tar, V.LAB_CNI_IMAGE, (PATH_ENV,))
        refs.append(V.LAB_CNI_IMAGE)
        return refs

    # -- the node base -------------------------------------------------------------------------
    def node_base(self, restrict_oom_score_adj: bool) -> str:
        """kind's images/base, from Debian packages; returns the image reference."""
        src = kind_source() / "images" / "base" / "files"
        key = f"oom={restrict_oom_score_adj}"
        ref = f"scheduler-lab/kind-base:{V.KIND}-{'oomr' if restrict_oom_score_adj else 'std'}"
        if self.docker.image_exists(ref):
            return ref

        def customize(root: Path) -> None:
            _copy_kind_base_files(src, root)
            config = root / "etc" / "containerd" / "config.toml"
            if restrict_oom_score_adj:
                # Nothing may lower oom_score_adj where CAP_SYS_RESOURCE is missing (pod sandboxes).
                text = config.read_text().replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")
                config.write_text(text)
            _kind_base_cleanup(root)

        tar = self.rootfs.derive("kind-base", NODE_BASE_PACKAGES, customize, key=key + _tree_key(src))
        plain = ref + "-imported"
        self._import(tar, plain, ("ENV container=docker", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'))
        # docker import cannot set STOPSIGNAL (kind's base sets it for systemd): one classic build step.
        self.docker.run("build", "-t", ref, "-", what="docker build (node base)",
                        input_bytes=f"FROM {plain}\nSTOPSIGNAL SIGRTMIN+3\n".encode())
        self.docker.run("rmi", plain, what="docker rmi")
        return ref

    # -- the Python base -----------------------------------------------------------------------
    def python_base(self) -> str:
        reqs = _python_base_requirements()
        # Tagged by the dependency set: a dependency added to pyproject.toml gets a new base
        # (an older one, still in a kept Docker data root, would lack its wheel).
        ref = f"{PY_BASE_IMAGE}-{hashlib.sha256(chr(10).join(reqs).encode()).hexdigest()[:10]}"
        if self.docker.image_exists(ref):
            return ref
        wheelhouse = self.work / "wheelhouse"
        shutil.rmtree(wheelhouse, ignore_errors=True)
        self.say("  downloading the scheduler's wheels from PyPI (host)")
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                               "--dest", str(wheelhouse), *reqs], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"pip download of the scheduler's dependencies failed: {proc.stderr.strip()[-200:]}")

        def customize(root: Path) -> None:
            shutil.copytree(wheelhouse, root / "wheelhouse")
            pip = next((root / "wheelhouse").glob("pip-*.whl"))
            # pip, setuptools and wheel as a python:slim image has them (with RECORD: uninstallable).
            self.rootfs._run(["chroot", str(root), "python3", f"/wheelhouse/{pip.name}/pip", "install", "-q",
                              "--no-index", "--find-links=/wheelhouse", "--break-system-packages",
                              "pip", "setuptools", "wheel"], "installing pip (chroot)")
            for marker in (root / "usr" / "lib").glob("python3*/EXTERNALLY-MANAGED"):
                marker.unlink()  # an image of its own: pip may install into the system Python

        tar = self.rootfs.derive("python3", ("python3", "python-is-python3", "ca-certificates"), customize,
                                 key=json.dumps(sorted(p.name for p in wheelhouse.iterdir())))
        # pip in an image built FROM this base finds every dependency in /wheelhouse, offline.
        self._import(tar, ref, (PATH_ENV, "ENV LANG=C.UTF-8", "ENV PIP_FIND_LINKS=/wheelhouse", "ENV PIP_NO_INDEX=1"))
        return ref


def _python_base_requirements() -> list[str]:
    """What the Python base's wheelhouse holds: the project's runtime and build requirements, and pip."""
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return sorted([*deps["project"]["dependencies"], *deps["build-system"]["requires"], "pip"])


def _copy_kind_base_files(src: Path, root: Path) -> None:
    """images/base/Dockerfile's COPY lines."""
    for sub in ("usr/local/bin", "kind", "etc"):
        shutil.copytree(src / sub, root / sub, dirs_exist_ok=True)
    for script in (root / "usr/local/bin").iterdir():
        script.chmod(0o755)
    for script in (root / "kind/bin").iterdir():
        script.chmod(0o755)
    # kind's units and scripts expect its own builds' paths; Debian's packages put them in /usr/bin.
    for name in ("containerd", "ctr", "containerd-shim-runc-v2"):
        _link(root / "usr/local/bin" / name, f"/usr/bin/{name}")
    _link(root / "usr/local/sbin/runc", "/usr/sbin/runc")
    (root / "opt/cni/bin").mkdir(parents=True, exist_ok=True)
    for plugin in ("host-local", "loopback", "ptp", "portmap", "bridge"):
        _link(root / "opt/cni/bin" / plugin, f"/usr/lib/cni/{plugin}")
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _kind_base_cleanup(root: Path) -> None:
    """images/base/Dockerfile's first RUN after the install, and its systemctl enable/mask."""
    for pattern in ("lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
                    "lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
                    "lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
                    "lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*"):
        for p in root.glob(pattern):
            if p.is_symlink() or p.is_file():
                p.unlink()
    with open(root / "etc/systemd/journald.conf", "a") as fh:
        fh.write("ReadKMsg=no\n")
    _link(root / "sbin/init", "/lib/systemd/systemd")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in ("kubelet.service", "containerd.service", "undo-mount-hacks.service"):
        _link(wants / unit, f"/etc/systemd/system/{unit}")
    _link(root / "etc/systemd/system/systemd-binfmt.service", "/dev/null")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}-{int(st.st_mtime)}"


def _tree_key(root: Path) -> str:
    return ",".join(f"{p.relative_to(root)}:{p.stat().st_size}" for p in sorted(root.rglob("*")) if p.is_file())
