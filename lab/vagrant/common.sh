#!/usr/bin/env bash
# Every node: kernel settings, containerd, and kubeadm/kubelet/kubectl pinned to one v1.29 patch.
# Run by Vagrant as root with NODE_IP, HOSTS, K8S_MINOR (1.29), K8S_PACKAGE (1.29.15-1.1) and
# LAB_OFFLINE (0: pkgs.k8s.io, as on a laptop; 1: the local repository in OFFLINE_DIR, built by
# the lab on the host — see lab/vagrant/README.md).
# Safe to run again (vagrant provision): every step checks or overwrites its own state.
set -euo pipefail

: "${NODE_IP:?NODE_IP is required (the node address on the host-only network)}"
: "${HOSTS:?HOSTS is required (comma-separated \"ip name\" pairs)}"
: "${K8S_MINOR:?K8S_MINOR is required (e.g. 1.29)}"
: "${K8S_PACKAGE:?K8S_PACKAGE is required (e.g. 1.29.15-1.1)}"
LAB_OFFLINE="${LAB_OFFLINE:-0}"
OFFLINE_DIR=/vagrant/.lab/vagrant/offline
if [[ "${LAB_OFFLINE}" != 0 && "${LAB_OFFLINE}" != 1 ]]; then
  echo "common: LAB_OFFLINE=${LAB_OFFLINE} must be 0 (pkgs.k8s.io) or 1 (${OFFLINE_DIR})" >&2
  exit 1
fi
if [[ "${LAB_OFFLINE}" == 1 && ! -f "${OFFLINE_DIR}/apt/Packages" ]]; then
  echo "common: LAB_OFFLINE=1 but ${OFFLINE_DIR}/apt/Packages does not exist — run: python -m lab build --vagrant-offline" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

echo "common: $(hostname) at ${NODE_IP}, Kubernetes packages ${K8S_PACKAGE}"

# Every node can resolve every other node by name.
IFS=',' read -r -a host_entries <<< "${HOSTS}"
for entry in "${host_entries[@]}"; do
  name="${entry#* }"
  sed -i "/[[:space:]]${name}\$/d" /etc/hosts
  echo "${entry}" >> /etc/hosts
done

# The kubelet refuses to start with swap on.
swapoff -a
sed -i '/[[:space:]]swap[[:space:]]/ s/^\([^#]\)/#\1/' /etc/fstab

# Bridged pod traffic must pass through iptables, and nodes must forward packets.
cat > /etc/modules-load.d/k8s.conf <<'MODULES'
overlay
br_netfilter
MODULES
modprobe overlay
modprobe br_netfilter
cat > /etc/sysctl.d/k8s.conf <<'SYSCTL'
net.bridge.bridge-nf-call-iptables  = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward                 = 1
SYSCTL
sysctl --system >/dev/null

# containerd from Ubuntu's archive (1.7.x on 22.04), driven by systemd cgroups like the kubelet.
apt-get update -qq
apt-get install -y -qq apt-transport-https ca-certificates curl gpg jq containerd >/dev/null
mkdir -p /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
# The pause image kubeadm v1.29 expects (avoids a mismatch warning and a second pull).
sed -i 's#sandbox_image = ".*"#sandbox_image = "registry.k8s.io/pause:3.9"#' /etc/containerd/config.toml
systemctl restart containerd
systemctl enable containerd >/dev/null
cat > /etc/crictl.yaml <<'CRICTL'
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
CRICTL

# kubeadm, kubelet and kubectl from the community repository for this minor only, pinned to
# one patch and held so that an apt upgrade never moves the cluster.
if [[ "${LAB_OFFLINE}" == 1 ]]; then
  # The same package names and versions, built by the lab from its own v1.29.15 binaries; a
  # local file repository, trusted because it never leaves this machine's shared folder.
  echo "deb [trusted=yes] file:${OFFLINE_DIR}/apt ./" > /etc/apt/sources.list.d/kubernetes.list
  # The control-plane, kube-proxy, CoreDNS, pause and CNI images kubeadm would pull.
  for archive in "${OFFLINE_DIR}"/images/*.tar; do
    ctr -n k8s.io images import "${archive}" >/dev/null
  done
  # Pinned, so the kubelet's image garbage collection never removes what cannot be pulled again.
  ctr -n k8s.io images list -q | while read -r ref; do
    ctr -n k8s.io images label "${ref}" io.cri-containerd.pinned=pinned >/dev/null
  done
else
  mkdir -p /etc/apt/keyrings
  curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" \
    | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" \
    > /etc/apt/sources.list.d/kubernetes.list
fi
apt-get update -qq
apt-mark unhold kubelet kubeadm kubectl >/dev/null 2>&1 || true
apt-get install -y -qq --allow-downgrades \
  "kubelet=${K8S_PACKAGE}" "kubeadm=${K8S_PACKAGE}" "kubectl=${K8S_PACKAGE}" >/dev/null
apt-mark hold kubelet kubeadm kubectl >/dev/null

# VirtualBox gives every VM the same NAT address (10.0.2.15) on its first NIC; without
# --node-ip the kubelet would advertise that one and nodes could not reach each other.
echo "KUBELET_EXTRA_ARGS=--node-ip=${NODE_IP}" > /etc/default/kubelet
systemctl daemon-reload
systemctl enable kubelet >/dev/null
systemctl restart kubelet

echo "common: done ($(kubeadm version -o short))"
