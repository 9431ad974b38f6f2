#!/usr/bin/env bash
# Builds the Python scheduler's image on the master with buildah (from the repository shared at
# /vagrant) and saves it as a docker-archive in the shared folder, for `ctr images import` on
# every node (lab/providers/vagrant.py). Run as root.
set -euo pipefail

IMAGE="${IMAGE:-docker.io/scheduler-lab/py-scheduler:0.1.0}"
ARCHIVE="${ARCHIVE:-/vagrant/.lab/vagrant/py-scheduler.tar}"

mkdir -p "$(dirname "${ARCHIVE}")"
buildah bud --layers --tag "${IMAGE}" --file /vagrant/Dockerfile /vagrant
rm -f "${ARCHIVE}"
# The archive records IMAGE as its name, which is what the kubelet looks for when a pod asks
# for scheduler-lab/py-scheduler:0.1.0 (short names are docker.io names).
buildah push "${IMAGE}" "docker-archive:${ARCHIVE}:${IMAGE}"
echo "build-image: ${IMAGE} saved to ${ARCHIVE}"
