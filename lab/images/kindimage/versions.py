"""What the offline kind node image contains, and under which image names.

The names and tags are the ones the tools inside the node ask for, so nothing is ever pulled:
kubeadm v1.29.15 (``kubeadm config images list``: constants.go DefaultEtcdVersion, CoreDNSVersion,
PauseVersion), kind v0.27.0's containerd config (``sandbox_image``) and its default manifests
(pkg/build/nodeimage/const_storage.go).
"""
from __future__ import annotations

KUBERNETES = "v1.29.15"
KIND = "v0.27.0"
# One tag for every checkout, also on a machine's own Docker: unlike the per-lab Python
# scheduler image (lab/providers/kind.py py_scheduler_build_image), the node image is content-
# identical across checkouts (the same pinned inputs, built under the cache lock "kind-images"
# by one checkout at a time), so whichever checkout built or loaded it, each gets the same image.
IMAGE = f"scheduler-lab/kind-node:{KUBERNETES}"
ETCD_TAG = "3.5.16-0"          # kubeadm v1.29.15 DefaultEtcdVersion
COREDNS = "v1.11.1"            # kubeadm v1.29.15 CoreDNSVersion
PAUSE_TAGS = ("3.9", "3.10")   # kubeadm's PauseVersion; kind's containerd sandbox_image
# cri-tools v1.29.0 .. v1.32.0 are refused by the Go module proxy; crictl speaks CRI v1 either way.
CRICTL = "v1.34.0"
LOCAL_PATH_PROVISIONER = "v0.0.30"
LOCAL_PATH_PROVISIONER_IMAGE = "docker.io/kindest/local-path-provisioner:v20250214-acbabc1a"
LOCAL_PATH_HELPER_IMAGE = "docker.io/kindest/local-path-helper:v20241212-8ac705d0"
# The CNI that replaces kindnetd (which no module proxy serves): see lab/images/kindimage/cni.py.
LAB_CNI_IMAGE = "docker.io/scheduler-lab/lab-cni:v1"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
REGISTRY = "registry.k8s.io"


def component_images() -> dict[str, str]:
    """image reference -> the binary it runs (what `kubeadm config images list` asks for, + kube-proxy)."""
    images = {f"{REGISTRY}/{name}:{KUBERNETES}": name for name in (*CONTROL_PLANE, "kube-proxy")}
    images[f"{REGISTRY}/etcd:{ETCD_TAG}"] = "etcd"
    images[f"{REGISTRY}/coredns/coredns:{COREDNS}"] = "coredns"
    for tag in PAUSE_TAGS:
        images[f"{REGISTRY}/pause:{tag}"] = "pause"
    return images
