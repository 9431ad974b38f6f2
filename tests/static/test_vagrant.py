"""The Vagrant lab without VirtualBox: Ruby syntax, the Vagrantfile evaluated against a recording
stand-in for Vagrant's config API, its agreement with lab/lab.yaml, the provisioning scripts' pins,
and VagrantProvider driven by fake tools."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab.providers.base import ProviderError
from lab.providers.plan import NAME_LABEL
from lab.providers.vagrant import VagrantProvider, parse_machine_states
from tests.static.conftest import REPO, FakeRunner, tool_env, write_tool

RUBY = shutil.which("ruby")
needs_ruby = pytest.mark.skipif(RUBY is None, reason="ruby not installed")
SCRIPTS = REPO / "lab" / "vagrant"


def ruby(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUBY, *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def settings(env: dict[str, str] | None = None) -> dict:
    out = ruby("-r", "./lab/vagrant/settings.rb", "-e", "puts LabVagrant.to_json(Dir.pwd)", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def vagrantfile() -> dict:
    if RUBY is None:
        pytest.skip("ruby not installed: the Vagrantfile cannot be evaluated here (.ci/run installs it; apt-get install ruby)")
    out = ruby("lab/vagrant/vagrantfile_plan.rb", "Vagrantfile")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@needs_ruby
@pytest.mark.parametrize("path", ["Vagrantfile", "lab/vagrant/settings.rb", "lab/vagrant/vagrantfile_plan.rb"])
def test_ruby_syntax(path: str) -> None:
    out = ruby("-c", path)
    assert out.returncode == 0 and out.stdout.strip() == "Syntax OK", out.stderr


@needs_ruby
def test_settings_follow_the_lab_description(spec) -> None:
    s = settings()
    ordered = [spec.control_plane, *spec.workers]
    assert [n["name"] for n in s["nodes"]] == [n.name for n in ordered]
    assert [n["role"] for n in s["nodes"]] == [n.role for n in ordered]
    assert [n["ip"] for n in s["nodes"]] == [spec.node_address(i, "vagrant") for i in range(len(ordered))]
    assert s["control_plane_ip"] == "192.168.56.10"
    assert [n["cpus"] for n in s["nodes"]] == [int(n.capacity["cpu"]) for n in ordered]
    assert [n["memory_mb"] for n in s["nodes"]] == [4096] * 4  # 4Gi in lab.yaml
    assert "v" + s["kubernetes_version"] == spec.versions.kubernetes
    assert "v" + s["kubernetes_minor"] == spec.versions.kubernetes_minor
    assert s["kubernetes_package"] == spec.versions.kubernetes.lstrip("v") + "-1.1"
    assert (s["pod_subnet"], s["service_subnet"]) == (spec.pod_subnet, spec.service_subnet)
    assert s["cluster_name"] == spec.cluster_name


@needs_ruby
def test_vm_size_from_the_environment() -> None:
    s = settings({"LAB_VM_CPUS": "4", "LAB_VM_MEMORY_MB": "6144"})
    assert {(n["cpus"], n["memory_mb"]) for n in s["nodes"]} == {(4, 6144)}


@needs_ruby
def test_bad_vm_size_is_one_clear_line() -> None:
    out = ruby("-r", "./lab/vagrant/settings.rb", "-e", "LabVagrant.load(Dir.pwd)", env={"LAB_VM_CPUS": "two"})
    assert out.returncode != 0
    assert '"two" is not a positive whole number' in out.stderr and "LAB_VM_CPUS" in out.stderr


def test_settings_file_pins_box_and_versions() -> None:
    local = yaml.safe_load((SCRIPTS / "settings.yaml").read_text())
    assert local["box"] == "ubuntu/jammy64" and local["box_version"]
    assert local["calico_version"].startswith("3.27.")
    assert not {"nodes", "kubernetes", "ip", "ips"} & set(local), "those belong in lab/lab.yaml"


def test_vagrantfile_defines_the_lab_machines(vagrantfile: dict, spec) -> None:
    assert vagrantfile["box"] == "ubuntu/jammy64" and vagrantfile["box_version"] == "20241002.0.0"
    machines = vagrantfile["machines"]
    assert [m["name"] for m in machines] == [spec.control_plane.name, *[w.name for w in spec.workers]]
    assert [m["primary"] for m in machines] == [True, False, False, False]
    for i, m in enumerate(machines):
        assert m["hostname"] == m["name"]
        assert m["networks"] == [{"type": "private_network", "ip": spec.node_address(i, "vagrant")}]
        vb = m["providers"]["virtualbox"]
        assert (vb["cpus"], vb["memory"]) == (2, 4096)
    assert vagrantfile["synced_folders"][0]["target"] == "/vagrant"


def test_vagrantfile_provisioning(vagrantfile: dict) -> None:
    machines = {m["name"]: m for m in vagrantfile["machines"]}
    for name, m in machines.items():
        steps = [p["name"] for p in m["provisioners"]]
        assert steps[0] == "common"
        assert m["provisioners"][0]["env"]["NODE_IP"] == m["networks"][0]["ip"]
        assert m["provisioners"][0]["env"]["K8S_PACKAGE"] == "1.29.15-1.1"
        for p in m["provisioners"]:
            assert p["type"] == "shell" and (REPO / p["path"]).is_file(), p
    master = machines["master-node"]["provisioners"]
    assert [p["name"] for p in master] == ["common", "master", "join-command"]
    assert master[2]["run"] == "always", "a fresh join token on every vagrant up"
    assert master[1]["env"]["NODE_IP"] == "192.168.56.10"
    assert master[1]["env"]["POD_SUBNET"] == "10.244.0.0/16"
    for worker in ("worker-node01", "worker-node02", "worker-node03"):
        steps = machines[worker]["provisioners"]
        assert [p["name"] for p in steps] == ["common", "worker"]
        assert steps[1]["env"] == {"NODE_NAME": worker}


def test_common_script_pins_and_prepares_every_node() -> None:
    text = (SCRIPTS / "common.sh").read_text()
    assert 'https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/' in text
    assert '"kubelet=${K8S_PACKAGE}" "kubeadm=${K8S_PACKAGE}" "kubectl=${K8S_PACKAGE}"' in text
    assert "apt-mark hold kubelet kubeadm kubectl" in text
    assert "SystemdCgroup = true" in text and "swapoff -a" in text and "br_netfilter" in text
    assert "net.ipv4.ip_forward" in text
    assert "--node-ip=${NODE_IP}" in text


def test_master_script() -> None:
    text = (SCRIPTS / "master.sh").read_text()
    for flag in ('--apiserver-advertise-address "${NODE_IP}"', '--pod-network-cidr "${POD_SUBNET}"',
                 '--service-cidr "${SERVICE_SUBNET}"', '--kubernetes-version "v${K8S_VERSION}"'):
        assert flag in text
    assert "calico/v${CALICO_VERSION}/manifests/calico.yaml" in text
    assert "IP_AUTODETECTION_METHOD=cidr=${NODE_CIDR}" in text
    assert '"${SHARED}/kubeconfig"' in text and "SHARED=/vagrant/.lab" in text


def test_worker_script_handles_stale_tokens() -> None:
    text = (SCRIPTS / "worker.sh").read_text()
    assert "-mmin +" in text and "--provision-with join-command" in text
    assert "kubeadm join failed" in text
    join = (SCRIPTS / "join-command.sh").read_text()
    assert "kubeadm token create --ttl 2h --print-join-command" in join


# -- VagrantProvider ---------------------------------------------------------------------------
def provider(spec, tmp_path: Path, **tools: str) -> VagrantProvider:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, script in tools.items():
        write_tool(bin_dir, name, script)
    return VagrantProvider(spec, tmp_path / "lab", env=tool_env(bin_dir), say=lambda _: None)


def error_of(call) -> str:
    with pytest.raises(ProviderError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith("vagrant provider: ")
    return message


def test_prerequisites_without_vagrant(spec, tmp_path: Path) -> None:
    assert "vagrant not found on PATH" in error_of(provider(spec, tmp_path).check_prerequisites)


def test_prerequisites_old_virtualbox(spec, tmp_path: Path) -> None:
    p = provider(spec, tmp_path, vagrant='echo "Vagrant 2.4.1"\n', VBoxManage='echo "6.1.26r145957"\n')
    assert "VBoxManage 6.1.26 is older than 6.1.28" in error_of(p.check_prerequisites)


def test_prerequisites_no_kubectl(spec, tmp_path: Path) -> None:
    p = provider(spec, tmp_path, vagrant='echo "Vagrant 2.4.1"\n', VBoxManage='echo "7.0.18r162988"\n')
    assert "kubectl not found" in error_of(p.check_prerequisites)


def test_prerequisites_met(spec, tmp_path: Path) -> None:
    provider(spec, tmp_path, vagrant='echo "Vagrant 2.4.1"\n', VBoxManage='echo "7.0.18r162988"\n',
             kubectl="exit 0\n").check_prerequisites()


def test_plan(spec, tmp_path: Path) -> None:
    cmds = VagrantProvider(spec, tmp_path, env={"PATH": str(tmp_path)}).plan().commands
    assert cmds[0] == ["vagrant", "up"]
    assert cmds[1] == ["vagrant", "ssh", "master-node", "-c", "sudo bash /vagrant/lab/vagrant/build-image.sh"]
    imports = [c[2] for c in cmds if c[-1].endswith("images import /vagrant/.lab/vagrant/py-scheduler.tar")]
    assert imports == [n.name for n in spec.nodes]
    labelled = [c[c.index("node") + 1] for c in cmds if "label" in c]
    assert labelled == [n.name for n in spec.nodes], "Vagrant nodes keep the lab's own names"
    assert all(any(a == f"{NAME_LABEL}={c[c.index('node') + 1]}" for a in c) for c in cmds if "label" in c)
    assert [c[-1] for c in cmds if "apply" in c] == [str(REPO / "manifests/kube-scheduler"),
                                                     str(REPO / "manifests/py-scheduler")]


def test_up_copies_the_kubeconfig_the_master_wrote(spec, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".lab").mkdir(parents=True)
    (repo / ".lab" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    runner = FakeRunner({})
    p = VagrantProvider(spec, tmp_path / "work", repo_root=repo, env={"PATH": ""}, runner=runner,
                        say=lambda _: None)
    assert p.up() == tmp_path / "work" / "kubeconfig"
    assert (tmp_path / "work" / "kubeconfig").read_text() == "apiVersion: v1\nkind: Config\n"
    assert runner.calls == p.plan().commands


def test_up_without_a_kubeconfig_from_the_master(spec, tmp_path: Path) -> None:
    runner = FakeRunner({})
    p = VagrantProvider(spec, tmp_path / "work", repo_root=tmp_path / "repo", env={"PATH": ""}, runner=runner,
                        say=lambda _: None)
    assert "was not written by the master" in error_of(p.up)
    assert runner.calls == [["vagrant", "up"]], "nothing after vagrant up may run"


def test_down_halts_and_wipe_destroys(spec, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vagrant = str(write_tool(bin_dir, "vagrant", "exit 0\n"))
    runner = FakeRunner({})
    p = VagrantProvider(spec, tmp_path / "work", repo_root=tmp_path, env=tool_env(bin_dir), runner=runner,
                        say=lambda _: None)
    p.down()
    p.down(wipe=True)
    assert runner.calls == [[vagrant, "halt"], [vagrant, "destroy", "--force"]]


def test_machine_readable_status() -> None:
    text = ("1700000000,master-node,metadata,provider,virtualbox\n"
            "1700000000,master-node,state,running\n1700000000,worker-node01,state,poweroff\n"
            "1700000000,,ui,info,Current machine states:\n")
    assert parse_machine_states(text) == {"master-node": "running", "worker-node01": "poweroff"}
