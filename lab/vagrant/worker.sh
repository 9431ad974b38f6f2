#!/usr/bin/env bash
# A worker joins the cluster with the command the master wrote to the shared folder.
# Run by Vagrant as root after common.sh with NODE_NAME.
set -euo pipefail

: "${NODE_NAME:?NODE_NAME is required}"
JOIN_FILE=/vagrant/.lab/vagrant/join.sh
# The token in JOIN_FILE lives 120 minutes (join-command.sh); leave a margin.
MAX_AGE_MINUTES=110
REFRESH="vagrant provision master-node --provision-with join-command && vagrant provision ${NODE_NAME}"

if [[ -f /etc/kubernetes/kubelet.conf ]]; then
  echo "worker: ${NODE_NAME} has already joined"
  exit 0
fi
if [[ ! -f "${JOIN_FILE}" ]]; then
  echo "worker: ${JOIN_FILE} does not exist (is master-node up?) — run: ${REFRESH}" >&2
  exit 1
fi
if [[ -n "$(find "${JOIN_FILE}" -mmin +"${MAX_AGE_MINUTES}")" ]]; then
  echo "worker: the join token in ${JOIN_FILE} has expired — run: ${REFRESH}" >&2
  exit 1
fi

# The file holds one line: kubeadm join <endpoint> --token <t> --discovery-token-ca-cert-hash <h>
read -r -a join_command < "${JOIN_FILE}"
if [[ "${join_command[0]:-}" != "kubeadm" || "${join_command[1]:-}" != "join" ]]; then
  echo "worker: ${JOIN_FILE} does not contain a kubeadm join command — run: ${REFRESH}" >&2
  exit 1
fi
if ! "${join_command[@]}" --node-name "${NODE_NAME}"; then
  echo "worker: kubeadm join failed (an expired or deleted token?) — run: ${REFRESH}" >&2
  exit 1
fi
echo "worker: ${NODE_NAME} joined"
