"""The vagrant-containers provider's pieces that need no Docker: the Vagrantfile as it reads it
(machines, provisioners, the LAB_OFFLINE switch, the libvirt block), the offline apt repository
built with the real dpkg tools, and the scripts' offline guards."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.images.offline_apt import AptRepo, AptRepoError, kubernetes_packages
from lab.providers.base import ProviderError
from lab.providers.vagrant_machines import Machine, VagrantfilePlan, vm_size_dropin
from tests.static.conftest import REPO

needs_ruby = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby not installed")
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-dev not installed")


def read_plan(offline: str) -> VagrantfilePlan:
    return VagrantfilePlan.read(REPO, {"PATH": os.environ["PATH"], "LAB_OFFLINE": offline})


@needs_ruby
def test_plan_is_the_vagrantfiles_machines_and_provisioners(spec) -> None:
    plan = read_plan("1")
    assert [(m.name, m.hostname, m.ip) for m in plan.machines] == [
        (n.name, n.name, spec.node_address(i, "vagrant")) for i, n in enumerate([spec.control_plane, *spec.workers])]
    assert plan.synced_folder == "/vagrant"
    master, *workers = plan.machines
    assert [(p.name, p.path, p.run) for p in master.provisioners] == [
        ("common", "lab/vagrant/common.sh", "once"), ("master", "lab/vagrant/master.sh", "once"),
        ("join-command", "lab/vagrant/join-command.sh", "always")]
    assert master.provisioners[0].env["LAB_OFFLINE"] == "1" and master.provisioners[1].env["LAB_OFFLINE"] == "1"
    assert master.provisioners[1].env["NODE_IP"] == "192.168.56.10"
    for w in workers:
        assert [p.name for p in w.provisioners] == ["common", "worker"]
        assert w.provisioners[1].env == {"NODE_NAME": w.name}


@needs_ruby
def test_machines_carry_the_vms_size() -> None:
    for m in read_plan("1").machines:
        assert (m.cpus, m.memory_mib) == (2, 4096), m


def test_vm_size_dropin_reserves_what_the_host_has_beyond_the_vm() -> None:
    vm = Machine("worker-node01", "worker-node01", "192.168.56.11", (), cpus=2, memory_mib=4096)
    dropin = vm_size_dropin(vm, host_cpus=8, host_memory_bytes=24 * 2**30)
    assert dropin is not None
    # kubeadm's drop-in sets ExecStart; this one (sorted after it) must reset it before setting its own.
    lines = dropin.splitlines()
    assert lines[1:3] == ["[Service]", "ExecStart="]
    assert lines[3].endswith("$KUBELET_EXTRA_ARGS --system-reserved=cpu=6000m,memory=20480Mi")
    assert vm_size_dropin(vm, host_cpus=2, host_memory_bytes=4096 * 2**20) is None
    assert vm_size_dropin(vm, host_cpus=2, host_memory_bytes=5000 * 2**20).endswith("--system-reserved=memory=904Mi\n")


@needs_ruby
def test_offline_defaults_to_online() -> None:
    plan = VagrantfilePlan.read(REPO, {"PATH": os.environ["PATH"]})
    assert {m.provisioners[0].env["LAB_OFFLINE"] for m in plan.machines} == {"0"}


@needs_ruby
def test_bad_offline_value_is_one_clear_line() -> None:
    with pytest.raises(ProviderError) as info:
        read_plan("yes")
    assert "\n" not in str(info.value)
    assert 'LAB_OFFLINE: "yes" must be 0' in str(info.value)


@needs_ruby
def test_libvirt_block(vagrantfile: dict) -> None:
    for m in vagrantfile["machines"]:
        lv = m["providers"]["libvirt"]
        assert (lv["cpus"], lv["memory"]) == (2, 4096)
        assert lv["override"]["box"] == "generic/ubuntu2204" and lv["override"]["box_version"]
        # Two-way sharing: the workers read the join command the master writes there.
        assert lv["override"]["synced_folders"] == [
            {"source": ".", "target": "/vagrant", "options": {"type": "nfs", "nfs_version": 4, "nfs_udp": False}}]
        assert m["providers"]["virtualbox"]["override"] == {}


@pytest.fixture(scope="module")
def vagrantfile() -> dict:
    import json

    if shutil.which("ruby") is None:
        pytest.skip("ruby not installed: the Vagrantfile cannot be evaluated here (.ci/run installs it; apt-get install ruby)")
    out = subprocess.run(["ruby", "lab/vagrant/vagrantfile_plan.rb", "Vagrantfile"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- the offline apt repository ------------------------------------------------------------------
def fake_bins(tmp_path: Path) -> Path:
    bins = tmp_path / "bins"
    bins.mkdir()
    for name in ("kubelet", "kubeadm", "k8s", "crictl"):
        (bins / name).write_text(f"#!/bin/sh\necho {name}\n")
    return bins


@needs_dpkg
def test_apt_repository_has_the_upstream_names_and_versions(spec, tmp_path: Path) -> None:
    repo = AptRepo(tmp_path / "apt").build(kubernetes_packages(spec, fake_bins(tmp_path)))
    index = (repo / "Packages").read_text()
    stanzas = {s.split("\n")[0].split(": ")[1]: s for s in index.strip().split("\n\n")}
    assert set(stanzas) == {"kubelet", "kubeadm", "kubectl", "cri-tools", "kubernetes-cni"}
    for name in ("kubelet", "kubeadm", "kubectl"):
        assert "Version: 1.29.15-1.1\n" in stanzas[name]  # what common.sh pins (K8S_PACKAGE)
    assert "cri-tools (>= 1.28.0)" in stanzas["kubeadm"] and "kubernetes-cni" in stanzas["kubelet"]
    release = (repo / "Release").read_text()
    assert hashlib.sha256((repo / "Packages").read_bytes()).hexdigest() in release
    listing = subprocess.run(["dpkg-deb", "-c", str(repo / "kubelet_1.29.15-1.1_amd64.deb")], capture_output=True,
                             text=True, check=True).stdout
    assert "./usr/lib/systemd/system/kubelet.service" in listing
    assert "./usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf" in listing
    assert "-rwxr-xr-x root/root" in next(line for line in listing.splitlines() if line.endswith("./usr/bin/kubelet"))
    cni = subprocess.run(["dpkg-deb", "-c", str(next(repo.glob("kubernetes-cni_*.deb")))], capture_output=True,
                         text=True, check=True).stdout
    assert "./opt/cni/bin/bridge -> /usr/lib/cni/bridge" in cni


@needs_dpkg
def test_apt_repository_missing_binary_is_one_line(spec, tmp_path: Path) -> None:
    bins = fake_bins(tmp_path)
    (bins / "kubelet").unlink()
    with pytest.raises(AptRepoError) as info:
        AptRepo(tmp_path / "apt").build(kubernetes_packages(spec, bins))
    assert "\n" not in str(info.value) and str(info.value).endswith("bins/kubelet")


# -- the scripts' offline guards (they exit before touching the machine) -------------------------
def run_common(**env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "NODE_IP": "192.168.56.10", "HOSTS": "192.168.56.10 master-node",
            "K8S_MINOR": "1.29", "K8S_PACKAGE": "1.29.15-1.1"}
    return subprocess.run(["bash", str(REPO / "lab/vagrant/common.sh")], env={**base, **env}, capture_output=True,
                          text=True, timeout=30)


def test_common_rejects_a_bad_offline_value() -> None:
    out = run_common(LAB_OFFLINE="yes")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == "common: LAB_OFFLINE=yes must be 0 (pkgs.k8s.io) or 1 (/vagrant/.lab/vagrant/offline)"


def test_common_offline_without_the_repository_says_how_to_build_it() -> None:
    out = run_common(LAB_OFFLINE="1")
    assert out.returncode == 1 and out.stdout == ""
    assert "python -m lab build --vagrant-offline" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_scripts_switch_on_one_variable() -> None:
    common = (REPO / "lab/vagrant/common.sh").read_text()
    master = (REPO / "lab/vagrant/master.sh").read_text()
    assert 'echo "deb [trusted=yes] file:${OFFLINE_DIR}/apt ./"' in common
    assert "ctr -n k8s.io images import" in common
    assert 'kubectl apply -f "${OFFLINE_DIR}/lab-cni.yaml"' in master
    # Online stays as it was: pkgs.k8s.io, image pull, Calico, buildah.
    assert "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" in common
    assert 'kubeadm config images pull --kubernetes-version "v${K8S_VERSION}"' in master
    assert "apt-get install -y -qq buildah" in master


# -- the kube-proxy conntrack fix-up, against a stand-in docker ----------------------------------
def fake_docker(tmp_path: Path, script: str) -> dict[str, str]:
    from tests.static.conftest import write_tool

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    write_tool(bin_dir, "docker", script)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_conntrack_quirk_waits_for_the_configmap_then_patches(tmp_path: Path) -> None:
    from lab.providers.vagrant_machines import ConntrackQuirk, Docker

    calls = tmp_path / "calls"
    # Exit 3 ("no kube-proxy ConfigMap yet") twice, then 0 (patched).
    env = fake_docker(tmp_path, f'printf "%s\\n" "$*" >> {calls}\n[ $(wc -l < {calls}) -ge 3 ] && exit 0 || exit 3\n')
    quirk = ConntrackQuirk(Docker(env, tmp_path / "log"), "master-node", timeout=30)
    quirk.start()
    assert quirk.done.wait(20), quirk.error
    quirk.stop()
    lines = calls.read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("exec master-node sh -c") for line in lines)
    assert "maxPerCore: 0" in lines[0] and "k8s-app=kube-proxy" in lines[0]


def test_conntrack_quirk_reports_a_failing_patch(tmp_path: Path) -> None:
    from lab.providers.vagrant_machines import ConntrackQuirk, Docker

    env = fake_docker(tmp_path, 'echo "Error from server (Forbidden)" >&2; exit 1\n')
    quirk = ConntrackQuirk(Docker(env, tmp_path / "log"), "master-node", timeout=1)
    quirk.start()
    quirk.join(10)
    assert not quirk.done.is_set() and quirk.error == "Error from server (Forbidden)"


def test_plan_needs_one_private_address_per_machine() -> None:
    data = {"machines": [{"name": "m", "networks": [], "provisioners": []}], "synced_folders": []}
    with pytest.raises(ProviderError) as info:
        VagrantfilePlan.from_json(data)
    assert str(info.value) == "vagrant-containers: machine m needs exactly one private_network ip"
