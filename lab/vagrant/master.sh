#!/usr/bin/env bash
# The control plane: kubeadm init, Calico, the kubeconfig for the host, and buildah (to build the
# Python scheduler's image on the VM). Run by Vagrant as root after common.sh with NODE_IP,
# NODE_NAME, K8S_VERSION, POD_SUBNET, SERVICE_SUBNET, NODE_CIDR and CALICO_VERSION.
set -euo pipefail

: "${NODE_IP:?}" "${NODE_NAME:?}" "${K8S_VERSION:?}" "${POD_SUBNET:?}" "${SERVICE_SUBNET:?}"
: "${NODE_CIDR:?}" "${CALICO_VERSION:?}"
export DEBIAN_FRONTEND=noninteractive
export KUBECONFIG=/etc/kubernetes/admin.conf
SHARED=/vagrant/.lab

if [[ -f /etc/kubernetes/admin.conf ]]; then
  echo "master: kubeadm init already done on ${NODE_NAME}"
else
  kubeadm config images pull --kubernetes-version "v${K8S_VERSION}"
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

# CNI: Calico from its release manifest. calico-node must pick the host-only address (the first
# NIC's NAT address is the same on every VM), and its IP pool must be the kubeadm pod subnet.
if ! kubectl -n kube-system get daemonset calico-node >/dev/null 2>&1; then
  kubectl apply -f "https://raw.githubusercontent.com/projectcalico/calico/v${CALICO_VERSION}/manifests/calico.yaml"
fi
kubectl -n kube-system set env daemonset/calico-node \
  "IP_AUTODETECTION_METHOD=cidr=${NODE_CIDR}" "CALICO_IPV4POOL_CIDR=${POD_SUBNET}"

# buildah builds the Python scheduler's image here (lab/vagrant/build-image.sh): no Docker
# needed on the host or on the nodes.
apt-get install -y -qq buildah >/dev/null

kubectl wait --for=condition=Ready "node/${NODE_NAME}" --timeout=300s
echo "master: ${NODE_NAME} is Ready; kubeconfig in .lab/kubeconfig"
