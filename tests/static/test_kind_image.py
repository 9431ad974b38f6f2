"""The offline kind image build and its helpers, checked without Docker: image names against
kubeadm's own constants, lab-cni's script run against fake kubectl/ip, the runc wrapper against a
fake runc, quirk detection, the project netns wrapping, and the host-address reader."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e.hostnet import private_addresses
from lab.host.docker_netns import RUNC_WRAPPER, DockerEngine, quirks
from lab.images.kindimage import cni
from lab.images.kindimage import versions as V
from lab.images.kindimage.gobins import module_dir
from lab.images.kindimage.nodeimage import storage_manifest
from tests.static.conftest import write_tool


@pytest.fixture(scope="module")
def kubeadm_constants() -> str:
    src = module_dir("k8s.io/kubernetes", V.KUBERNETES) / "cmd/kubeadm/app/constants/constants.go"
    return src.read_text()


def test_image_tags_are_the_ones_kubeadm_v1_29_15_asks_for(kubeadm_constants: str) -> None:
    def const(name: str) -> str:
        m = re.search(rf'\b{name}\s*=\s*"([^"]+)"', kubeadm_constants)
        assert m, name
        return m.group(1)

    images = V.component_images()
    assert f"registry.k8s.io/etcd:{const('DefaultEtcdVersion')}" in images
    assert f"registry.k8s.io/coredns/coredns:{const('CoreDNSVersion')}" in images
    assert f"registry.k8s.io/pause:{const('PauseVersion')}" in images
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert images[f"registry.k8s.io/{name}:{V.KUBERNETES}"] == name


def test_storage_manifest_is_kinds_own_with_its_image_names() -> None:
    text = storage_manifest()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "StorageClass", "ConfigMap"}
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == V.LOCAL_PATH_PROVISIONER_IMAGE
    assert V.LOCAL_PATH_HELPER_IMAGE in container["command"]
    assert "` +" not in text


def test_cni_manifest_is_a_host_network_daemonset_on_every_node() -> None:
    docs = [d for d in yaml.safe_load_all(cni.MANIFEST) if d]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["containers"][0]["image"] == V.LAB_CNI_IMAGE
    assert pod["containers"][0]["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "get"]}]


def test_cni_script_writes_its_own_config_and_routes_the_others(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "ip.calls"
    write_tool(bin_dir, "kubectl", 'printf "master-node 10.244.0.0/24 172.18.0.3\\n'
                                   'worker-node01 10.244.1.0/24 172.18.0.2\\nworker-node02  \\n"\n')
    write_tool(bin_dir, "ip", f'echo "$@" >> {calls}\n')
    write_tool(bin_dir, "sleep", 'kill -TERM "$PPID"\n')  # end the resync loop after one pass
    script = tmp_path / "lab-cni.sh"
    script.write_text(cni.SCRIPT)
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "NODE_NAME": "worker-node01", "CNI_CONF_DIR": str(conf_dir)}
    proc = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == -signal.SIGTERM or proc.returncode == 128 + signal.SIGTERM, proc.stderr
    conf = json.loads((conf_dir / "10-lab-ptp.conflist").read_text())
    assert conf["plugins"][0]["type"] == "ptp"
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    assert conf["plugins"][1]["type"] == "portmap"
    assert calls.read_text().splitlines() == ["route replace 10.244.0.0/24 via 172.18.0.3"]
    assert "worker-node01 pods on 10.244.1.0/24" in proc.stdout


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_runc_wrapper_drops_cap_sys_resource_only(tmp_path: Path) -> None:
    seen = tmp_path / "runc.args"
    fake_runc = write_tool(tmp_path, "runc", f'echo "$@" > {seen}\n')
    wrapper = tmp_path / "runc-nosr"
    wrapper.write_text(RUNC_WRAPPER.replace("{runc}", str(fake_runc)))
    wrapper.chmod(0o755)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": {"bounding": caps,
                                                                                  "effective": caps}}}))
    subprocess.run([str(wrapper), "--log", "x", "create", "--bundle", str(bundle), "id1"], check=True, timeout=30)
    got = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert got == {"bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"], "effective": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}
    assert seen.read_text().split() == ["--log", "x", "create", "--bundle", str(bundle), "id1"]


def test_quirks_are_detected_not_assumed(tmp_path: Path) -> None:
    status = tmp_path / "status"
    modules = tmp_path / "modules"
    status.write_text("Name:\tx\nCapBnd:\t000001ffffffffff\n")
    modules.mkdir()
    assert quirks(status, modules) == quirks(status, modules).__class__(no_sys_resource=False,
                                                                        no_lib_modules=False)
    status.write_text("Name:\tx\nCapBnd:\t000001fffeffffff\n")  # bit 24 (CAP_SYS_RESOURCE) cleared
    modules.rmdir()
    q = quirks(status, modules)
    assert q.no_sys_resource and q.no_lib_modules


def test_engine_wraps_only_when_the_project_started_dockerd(tmp_path: Path) -> None:
    engine = DockerEngine(tmp_path / "docker", tmp_path / "data", netns="scheduler-lab-test")
    assert engine.wrap(["kind", "get", "clusters"]) == ["kind", "get", "clusters"]
    assert "DOCKER_HOST" not in engine.env({"PATH": "/usr/bin"})
    (tmp_path / "docker").mkdir()
    engine.record.write_text("{}\n")
    assert engine.wrap(["kind", "get", "clusters"]) == [
        "nsenter", "--net=/run/netns/scheduler-lab-test", "kind", "get", "clusters"]
    env = engine.env({"PATH": "/usr/bin"})
    assert env["DOCKER_HOST"] == f"unix://{engine.socket}"
    assert env["LAB_HOST_NETNS_REF"] == "/run/netns/scheduler-lab-test-host"
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / "docker" / "bin")


def test_private_addresses_of_ip_br_addr() -> None:
    text = ("lo UNKNOWN 127.0.0.1/8 ::1/128\n"
            "eth0 UP 192.0.2.2/24 fd00::2/64 fe80::1/64\n"
            "docker0 DOWN 172.17.0.1/16\n"
            "br-1 UP 10.96.0.1/12 192.168.56.1/24 172.32.0.1/16\n")
    assert private_addresses(text) == {"docker0 172.17.0.1/16", "br-1 10.96.0.1/12", "br-1 192.168.56.1/24"}


def test_kind_nodes_reserve_what_exceeds_the_lab_capacity(spec) -> None:
    from lab.providers.kindconfig import capacity_reservation, kind_config

    gi = 1024 ** 3
    assert capacity_reservation(spec, 2, 24 * gi) == {"memory": f"{20 * 1024 * 1024}Ki"}
    assert capacity_reservation(spec, 8, 4 * gi) == {"cpu": "6000m"}
    assert capacity_reservation(spec, 2, 4 * gi) == {}
    (patch,) = kind_config(spec, reserved={"memory": "1Ki"})["kubeadmConfigPatches"]
    assert yaml.safe_load(patch) == {"kind": "KubeletConfiguration", "systemReserved": {"memory": "1Ki"}}
    assert "kubeadmConfigPatches" not in kind_config(spec)
