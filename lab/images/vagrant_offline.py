"""What the Vagrant lab needs to provision with no internet, built on the host from package
registries only, with the kind lab's builders (lab/images/kindimage: Go binaries, debootstrap rootfs,
component images), so nothing is compiled or bootstrapped twice:

* the box image the vagrant-containers machines boot (Debian bookworm + systemd + what a Vagrant
  box and the scripts' ``apt-get install`` lines need);
* ``.lab/vagrant/offline/`` (the machines' ``/vagrant/.lab/vagrant/offline/``): the apt
  repository of lab/images/offline_apt.py, the images ``kubeadm`` would pull as docker-archives, and
  the lab-cni manifest (lab/vagrant/offline/README.md);
* the Python scheduler's image archive, which build-image.sh would make with buildah online.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

from lab.build import cache_root
from lab.host.docker_netns import DockerEngine, quirks
from lab.images.kindimage import cni
from lab.images.kindimage import versions as V
from lab.images.kindimage.docker import DockerCLI
from lab.images.kindimage.gobins import ensure_go_bins, module_dir
from lab.images.kindimage.images import PATH_ENV, ImageMaker
from lab.images.kindimage.rootfs import RootfsBuilder
from lab.images.offline_apt import AptRepo, kubernetes_packages
from lab.providers.plan import PY_SCHEDULER_IMAGE
from lab.spec import LabSpec

# Bumped when customize() changes, so the cached box rootfs is rebuilt.
BOX_REVISION = 3
# Built-in kernel modules the scripts `modprobe`: a VM has /lib/modules, a container none.
BUILTIN_MODULES = ("kernel/fs/overlayfs/overlay.ko", "kernel/net/bridge/br_netfilter.ko")
# PID 1 of a machine, before kind's entrypoint: in a VM /etc/hosts, /etc/hostname and
# /etc/resolv.conf are plain files (common.sh edits /etc/hosts with sed -i); Docker bind-mounts them.
BOX_INIT = """#!/bin/sh
for f in /etc/hosts /etc/hostname /etc/resolv.conf; do
  cp "$f" "$f.box" && if umount "$f" 2>/dev/null; then mv "$f.box" "$f"; else rm -f "$f.box"; fi
done
exec /usr/local/bin/entrypoint "$@"
"""
# containerd in the machines may not lower oom_score_adj where CAP_SYS_RESOURCE is missing;
# common.sh rewrites config.toml, so the box applies this on every containerd start.
OOM_DROP_IN = """[Service]
# scheduler-lab box: this host lacks CAP_SYS_RESOURCE (lab/host/docker_netns.py quirks)
ExecStartPre=/bin/sh -c 'test -f /etc/containerd/config.toml && sed -i "s/restrict_oom_score_adj = false/restrict_oom_score_adj = true/" /etc/containerd/config.toml || true'
"""


class OfflineArtifacts:
    def __init__(self, spec: LabSpec, repo_root: Path, engine: DockerEngine, log: Path,
                 say: Callable[[str], None] = print) -> None:
        self.spec = spec
        self.repo_root = repo_root
        self.log = log
        self.say = say
        self.docker = DockerCLI(engine.env(), log)
        self.rootfs = RootfsBuilder(cache_root() / "rootfs", log, say)
        self._bins: Path | None = None

    def bins(self) -> Path:
        if self._bins is None:
            self._bins = ensure_go_bins(self.spec, self.log, self.say)
        return self._bins

    def maker(self) -> ImageMaker:
        return ImageMaker(self.docker, self.rootfs, self.bins(), cache_root() / "kind-images", self.say)

    # -- the box ---------------------------------------------------------------------------------
    def ensure_box(self, image: str, packages: tuple[str, ...]) -> str:
        if self.docker.image_exists(image):
            return image
        t0 = time.monotonic()
        entrypoint = module_dir("sigs.k8s.io/kind", V.KIND) / "images/base/files/usr/local/bin/entrypoint"
        oom = quirks().no_sys_resource
        kernel = os.uname().release

        def customize(root: Path) -> None:
            # kind's entrypoint prepares cgroups, mounts and machine-id for systemd in a container.
            target = root / "usr/local/bin/entrypoint"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entrypoint, target)
            target.chmod(0o755)
            # ... which checks the filesystem of /kind (a kind node's build info directory).
            (root / "kind").mkdir(exist_ok=True)
            init = root / "usr/local/bin/box-init"
            init.write_text(BOX_INIT)
            init.chmod(0o755)
            self.rootfs._run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash",
                              "--groups", "sudo", "vagrant"], "adding the vagrant user")
            (root / "etc/sudoers.d/vagrant").write_text("vagrant ALL=(ALL) NOPASSWD:ALL\n")
            (root / "etc/sudoers.d/vagrant").chmod(0o440)
            # No Debian mirror inside the namespace: the box's own sources would only fail.
            (root / "etc/apt/sources.list").write_text("")
            for f in (root / "etc/apt/sources.list.d").glob("*"):
                f.unlink()
            modules = root / "lib/modules" / kernel
            modules.mkdir(parents=True, exist_ok=True)
            (modules / "modules.builtin").write_text("\n".join(BUILTIN_MODULES) + "\n")
            (modules / "modules.order").write_text("")
            self.rootfs._run(["chroot", str(root), "depmod", kernel], "depmod (built-in modules)")
            # What cannot run in a container (kind's base image does the same).
            for pattern in ("lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
                            "lib/systemd/system/local-fs.target.wants/*",
                            "lib/systemd/system/sockets.target.wants/*udev*",
                            "lib/systemd/system/sockets.target.wants/*initctl*",
                            "etc/systemd/system/getty.target.wants/*"):
                for p in root.glob(pattern):
                    p.unlink()
            for unit in ("systemd-binfmt.service", "getty@tty1.service", "systemd-udevd.service"):
                (root / "etc/systemd/system" / unit).unlink(missing_ok=True)
                (root / "etc/systemd/system" / unit).symlink_to("/dev/null")
            with open(root / "etc/systemd/journald.conf", "a") as fh:
                fh.write("ReadKMsg=no\n")
            if oom:
                drop_in = root / "etc/systemd/system/containerd.service.d/10-restrict-oom.conf"
                drop_in.parent.mkdir(parents=True, exist_ok=True)
                drop_in.write_text(OOM_DROP_IN)

        tar = self.rootfs.derive("vagrant-box", packages, customize,
                                 key=f"{kernel}-oom={oom}-{entrypoint.stat().st_size}-{BOX_REVISION}")
        plain = f"{image}-imported"
        self.docker.run("import", "--change", "ENV container=docker", "--change", PATH_ENV,
                        "--change", 'ENTRYPOINT ["/usr/local/bin/box-init", "/sbin/init"]', str(tar), plain,
                        what="docker import (box)")
        # docker import cannot set STOPSIGNAL (systemd stops cleanly on SIGRTMIN+3).
        self.docker.run("build", "-t", image, "-", what="docker build (box)",
                        input_bytes=f"FROM {plain}\nSTOPSIGNAL SIGRTMIN+3\n".encode())
        self.docker.run("rmi", plain, what="docker rmi")
        self.say(f"  box {image} in {time.monotonic() - t0:.0f}s")
        return image

    # -- .lab/vagrant/offline --------------------------------------------------------------------
    def needed_images(self) -> list[str]:
        """What kubeadm v1.29.15 pulls (and containerd's sandbox image), plus lab-cni."""
        return [*V.component_images(), V.LAB_CNI_IMAGE]

    def ensure_offline_dir(self, offline: Path) -> Path:
        t0 = time.monotonic()
        AptRepo(offline / "apt").build(kubernetes_packages(self.spec, self.bins()))
        images = offline / "images"
        images.mkdir(parents=True, exist_ok=True)
        wanted = self.needed_images()
        archives = {ref: images / (ref.rsplit("/", 1)[-1].replace(":", "_") + ".tar") for ref in wanted}
        if not all(p.exists() for p in archives.values()):
            made = set(self.maker().component_images())
            missing = sorted(set(wanted) - made)
            if missing:
                raise RuntimeError(f"the kind image builder did not make {', '.join(missing)}")
            for ref, archive in archives.items():
                if not archive.exists():
                    partial = archive.with_suffix(".partial")
                    self.docker.run("save", "-o", str(partial), ref, what=f"docker save {ref}")
                    partial.rename(archive)
        (offline / "lab-cni.yaml").write_text(cni.MANIFEST)
        self.say(f"  offline repository and images in {offline} ({time.monotonic() - t0:.0f}s)")
        return offline

    def ensure_py_scheduler(self, archive: Path) -> Path:
        """The Python scheduler's image, built from the Dockerfile on the offline Python base."""
        if archive.exists():
            return archive
        base = self.maker().python_base()
        self.docker.run("build", "-t", PY_SCHEDULER_IMAGE, "--build-arg", f"PYTHON_IMAGE={base}", "-f",
                        str(self.repo_root / "Dockerfile"), str(self.repo_root), what="docker build (py-scheduler)")
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".partial")
        # The archive names the image docker.io/scheduler-lab/py-scheduler:0.1.0, what the pods ask for.
        self.docker.run("save", "-o", str(partial), PY_SCHEDULER_IMAGE, what="docker save (py-scheduler)")
        partial.rename(archive)
        return archive
