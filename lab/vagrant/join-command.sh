#!/usr/bin/env bash
# Writes a fresh `kubeadm join` command for the workers to the shared folder. Runs on the master
# on every `vagrant up` / `vagrant provision` (run: always), because join tokens expire: the
# token made here lives 2 hours, long enough for the workers that boot right after the master.
set -euo pipefail

JOIN_FILE=/vagrant/.lab/vagrant/join.sh
mkdir -p "$(dirname "${JOIN_FILE}")"
umask 077
kubeadm token create --ttl 2h --print-join-command > "${JOIN_FILE}.tmp"
mv "${JOIN_FILE}.tmp" "${JOIN_FILE}"
echo "join-command: fresh token written to .lab/vagrant/join.sh (valid 2h)"
