"""Builds the kind node image for Kubernetes v1.29.15 with no registry, as kind v0.27.0's
pkg/build/nodeimage does (buildcontext.go), step for step:

1. run a build container from the node base (``--entrypoint=sleep ... infinity``);
2. ``docker cp`` kubelet, kubeadm, kubectl into /usr/bin; write /kind/version;
3. ask the node's kubeadm which images it needs (``kubeadm config images list``) and containerd's
   config which sandbox image; add the CNI and storage manifests' images; every one of them must
   be among the images built here (kind would pull the rest: here that is an error);
4. write /kind/manifests/default-cni.yaml (lab-cni, see cni.py) and default-storage.yaml (kind's
   own, read from its source in the module cache);
5. start containerd in the container and ``docker save | ctr -n k8s.io images import
   --all-platforms --no-unpack --digests`` (kind's importer, same flags);
6. ``docker commit`` with kind's ENTRYPOINT.

The result is also saved as a ``docker save`` archive in the cache, so a fresh Docker data root
(or ``lab down --wipe``) loads it in a minute instead of rebuilding.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from lab.build import BuildError, cache_root
from lab.images.kindimage import cni
from lab.images.kindimage import versions as V
from lab.images.kindimage.docker import DockerCLI
from lab.images.kindimage.images import ImageMaker, kind_source

# Default name of the build container; ensure_kind_images names it after the lab (lab_id).
BUILD_CONTAINER = "scheduler-lab-kind-node-build"
# On a cgroup v1 host the kubelet refuses to start when its cgroup root (kubelet.slice) is missing
# in a controller systemd does not manage (seen: hugetlb): "cgroup ["kubelet"] has some missing
# paths". Create it where it is missing, and only on cgroup v1 (a no-op on v2 hosts).
CGROUP_V1_DROPIN = "/etc/systemd/system/kubelet.service.d/12-scheduler-lab-cgroup-v1.conf"
CGROUP_V1_UNIT = r"""# scheduler-lab (lab/images/kindimage/nodeimage.py): kubelet.slice in every cgroup v1 controller
[Service]
ExecStartPre=/bin/sh -c 'if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then for d in /sys/fs/cgroup/*/; do [ -d "$${d}kubelet.slice" ] || mkdir -p "$${d}kubelet.slice" 2>/dev/null || true; done; fi'
"""


def archive_path(restrict_oom_score_adj: bool) -> Path:
    flavour = "oomr" if restrict_oom_score_adj else "std"
    return cache_root() / "kind-node" / f"kind-node-{V.KUBERNETES}-{flavour}.tar"


def storage_manifest() -> str:
    """kind v0.27.0's default storage manifest, taken from its Go source (const_storage.go)."""
    src = (kind_source() / "pkg/build/nodeimage/const_storage.go").read_text()
    m = re.search(r"const defaultStorageManifest = `(.*?\n)`", src, re.S)  # ends at a line-start backtick
    if m is None:
        raise BuildError("could not find defaultStorageManifest in kind's const_storage.go")
    text = m.group(1)
    for name, value in (("storageProvisionerImage", V.LOCAL_PATH_PROVISIONER_IMAGE),
                        ("storageHelperImage", V.LOCAL_PATH_HELPER_IMAGE)):
        text = text.replace(f"` + {name} + `", value)
    if "` +" in text:
        raise BuildError("kind's storage manifest has a substitution this builder does not know")
    return text


def build_node_image(docker: DockerCLI, maker: ImageMaker, restrict_oom_score_adj: bool,
                     say: Callable[[str], None] = print, container: str = BUILD_CONTAINER) -> str:
    """Build (or load from the cached archive) ``scheduler-lab/kind-node:v1.29.15``; ``container``
    names the build container (two labs on one Docker must not share it)."""
    image = V.IMAGE
    if docker.image_exists(image):
        return image
    archive = archive_path(restrict_oom_score_adj)
    if archive.exists():
        t0 = time.monotonic()
        docker.run("load", "-i", str(archive), what="docker load (cached kind node image)")
        say(f"  loaded {image} from {archive} in {time.monotonic() - t0:.0f}s")
        return image
    base = maker.node_base(restrict_oom_score_adj)
    images = maker.component_images()
    t0 = time.monotonic()
    docker.run("rm", "-f", "-v", container, what="removing an old build container")
    docker.run("run", "-d", "--name", container, "--entrypoint=sleep", "--security-opt=seccomp=unconfined",
               base, "infinity", what="starting the build container")
    try:
        def sh(script: str, what: str, input_bytes: bytes | None = None) -> str:
            return docker.run("exec", "-i", container, "sh", "-c", script, what=what, input_bytes=input_bytes)

        for name, src in (("kubelet", "kubelet"), ("kubeadm", "kubeadm"), ("kubectl", "k8s")):
            docker.run("cp", str(maker.bins / src), f"{container}:/usr/bin/{name}", what=f"docker cp {name}")
        # kind's base image has crictl in /usr/local/bin (kubeadm's preflight and `crictl ps` use it).
        docker.run("cp", str(maker.bins / "crictl"), f"{container}:/usr/local/bin/crictl", what="docker cp crictl")
        sh("mkdir -p /etc/systemd/system/kubelet.service.d && cat > " + CGROUP_V1_DROPIN, "kubelet drop-in",
           CGROUP_V1_UNIT.encode())
        sh("chmod +x /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl && "
           "chown root:root /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl", "chmod")
        sh("cat > /kind/version", "writing /kind/version", V.KUBERNETES.encode())
        sh("ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + "
           "{\"path\": \"/kind/bin/mount-product-files.sh\"}' | jq 'del(.process.rlimits)' "
           "> /etc/containerd/cri-base.json", "writing cri-base.json")
        required = sh(f"kubeadm config images list --kubernetes-version {V.KUBERNETES}",
                      "kubeadm config images list").split()
        config = sh("cat /etc/containerd/config.toml", "reading containerd's config")
        m = re.search(r'sandbox_image\s*=\s*"([^"]+)"', config)
        required = [r for r in required if "pause" not in r] + ([m.group(1)] if m else [])
        required += [V.LAB_CNI_IMAGE, V.LOCAL_PATH_PROVISIONER_IMAGE, V.LOCAL_PATH_HELPER_IMAGE]
        missing = sorted(set(required) - set(images))
        if missing:
            raise BuildError(f"the node needs images this builder does not make: {', '.join(missing)}")
        sh("mkdir -p /kind/manifests && cat > /kind/manifests/default-cni.yaml", "writing default-cni.yaml",
           cni.MANIFEST.encode())
        sh("cat > /kind/manifests/default-storage.yaml", "writing default-storage.yaml",
           storage_manifest().encode())
        sh("nohup containerd > /var/log/containerd-build.log 2>&1 &", "starting containerd")
        sh("for i in $(seq 1 60); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 "
           "&& exit 0; sleep 0.5; done; exit 1", "waiting for containerd in the build container")
        docker.pipe(["save", *images],
                    ["exec", "-i", container, "ctr", "--namespace=k8s.io", "images", "import",
                     "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-"],
                    "importing the images into the node's containerd")
        listed = set(sh("ctr --namespace=k8s.io images list -q", "ctr images list").split())
        absent = sorted(set(required) - listed)
        if absent:
            raise BuildError(f"after the import the node's containerd lacks: {', '.join(absent)}")
        sh("pkill containerd; for i in $(seq 1 40); do pgrep containerd >/dev/null || exit 0; sleep 0.25; done",
           "stopping containerd")
        docker.run("commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
                   "--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""', container, image,
                   what="docker commit (node image)")
    finally:
        docker.run("rm", "-f", "-v", container, what="removing the build container")
    say(f"  assembled {image} in {time.monotonic() - t0:.0f}s")
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    docker.run("save", "-o", str(partial), image, what="docker save (node image cache)")
    partial.rename(archive)
    return image
