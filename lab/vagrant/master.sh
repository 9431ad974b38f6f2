#!/usr/bin/env bash
# The control plane: kubeadm init, Calico, the kubeconfig for the host, and buildah (to build the
# Python scheduler's image on the VM). Run by Vagrant as root after common.sh with NODE_IP,
# NODE_NAME, K8S_VERSION, POD_SUBNET, SERVICE_SUBNET, NODE_CIDR, CALICO_VERSION and LAB_OFFLINE
# (1: images already imported by common.sh, lab-cni instead of Calico, no buildah).
set -euo pipefail

: "${NODE_IP:?}" "${NODE_NAME:?}" "${K8S_VERSION:?}" "${POD_SUBNET:?}" "${SERVICE_SUBNET:?}"
: "${NODE_CIDR:?}" "${CALICO_VERSION:?}"
LAB_OFFLINE="${LAB_OFFLINE:-0}"
OFFLINE_DIR=/vagrant/.lab/vagrant/offline
export DEBIAN_FRONTEND=noninteractive
export KUBECONFIG=/etc/kubernetes/admin.conf
SHARED=/vagrant/.lab

if [[ -f /etc/kubernetes/admin.conf ]]; then
  echo "master: kubeadm init already done on ${NODE_NAME}"
else
  if [[ "${LAB_OFFLINE}" != 1 ]]; then
    kubeadm config images pull --kubernetes-version "v${K8S_VERSION}"
  fi
  # Advertise (and sign the API server certificate for) the host-only address, not the NAT one.
  kubeadm init \
    --kubernetes-version "v${K8S_VERSION}" \
    --node-name "${NODE_NAME}" \
    --apiserver-advertise-address "${NODE_IP}" \
    --apiserver-cert-extra-sans "${NODE_IP}" \
    --pod-network-cidr "${POD_SUBNET}" \
    --service-cidr "${SERVICE_SUBNET}"
fi

# kubectl for the vagrant user on the master ...
install -d -o vagrant -g vagrant /home/vagrant/.kube
install -m 600 -o vagrant -g vagrant /etc/kubernetes/admin.conf /home/vagrant/.kube/config
# ... and for the host, through the shared folder (its server is https://${NODE_IP}:6443).
mkdir -p "${SHARED}/vagrant"
install -m 600 /etc/kubernetes/admin.conf "${SHARED}/kubeconfig"

if [[ "${LAB_OFFLINE}" == 1 ]]; then
  # Offline: Calico's images cannot be built here, so lab-cni (ptp + host-local from
  # containernetworking-plugins on each node's podCIDR, and a route to every other node's
  # podCIDR via its host-only address — kindnetd's scheme; lab/images/kindimage/cni.py).
  kubectl apply -f "${OFFLINE_DIR}/lab-cni.yaml"
else
  # CNI: Calico from its release manifest. calico-node must pick the host-only address (the first
  # NIC's NAT address is the same on every VM), and its IP pool must be the kubeadm pod subnet.
  if ! kubectl -n kube-system get daemonset calico-node >/dev/null 2>&1; then
    kubectl apply -f "https://raw.githubusercontent.com/projectcalico/calico/v${CALICO_VERSION}/manifests/calico.yaml"
  fi
  kubectl -n kube-system set env daemonset/calico-node \
    "IP_AUTODETECTION_METHOD=cidr=${NODE_CIDR}" "CALICO_IPV4POOL_CIDR=${POD_SUBNET}"

  # buildah builds the Python scheduler's image here (lab/vagrant/build-image.sh): no Docker
  # needed on the host or on the nodes. (Offline, the lab builds it on the host instead: the
  # Dockerfile's Python base image needs a registry.)
  apt-get install -y -qq buildah >/dev/null
fi

kubectl wait --for=condition=Ready "node/${NODE_NAME}" --timeout=300s
echo "master: ${NODE_NAME} is Ready; kubeconfig in .lab/kubeconfig"
