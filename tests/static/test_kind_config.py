"""The kind config KindProvider writes, checked against kind v1alpha4's schema (kind v0.27.0) and
against the lab description, plus the commands `up` would run."""
from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab.providers.kind import KindProvider, containerd_ref, py_scheduler_build_image
from lab.providers.kindconfig import (
    KIND_API_VERSION,
    is_reserved_label,
    kind_config,
    kind_node_names,
    render_kind_config,
)
from lab.providers.plan import NAME_LABEL, PY_SCHEDULER_IMAGE
from tests.static.conftest import REPO

SCHEMA = json.loads(Path(__file__).with_name("kind-v1alpha4.schema.json").read_text())
DIGEST_PINNED = re.compile(r"^kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$")


@pytest.fixture
def config(spec) -> dict:
    return kind_config(spec)


def test_schema_is_itself_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_generated_config_matches_kind_v1alpha4_schema(spec) -> None:
    written = yaml.safe_load(render_kind_config(spec))
    jsonschema.Draft202012Validator(SCHEMA).validate(written)
    assert written == kind_config(spec)


@pytest.mark.parametrize("mutate, where", [
    (lambda c: c["nodes"][0].update(bogus=True), "bogus"),
    (lambda c: c["networking"].update(apiServerAdress="127.0.0.1"), "apiServerAdress"),
    (lambda c: c["nodes"][1].update(role="master"), "master"),
    (lambda c: c.update(name="Scheduler_Lab"), "Scheduler_Lab"),
    (lambda c: c.update(apiVersion="kind.x-k8s.io/v1alpha3"), "v1alpha3"),
])
def test_schema_is_strict(config: dict, mutate, where: str) -> None:
    """Guards the guard: a typo'd or unknown field must fail, as kind's strict decoder fails."""
    broken = copy.deepcopy(config)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_one_control_plane_and_three_workers(config: dict) -> None:
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    assert config["kind"] == "Cluster" and config["apiVersion"] == KIND_API_VERSION


def test_every_node_runs_the_same_digest_pinned_image(spec, config: dict) -> None:
    images = {n["image"] for n in config["nodes"]}
    assert images == {spec.versions.kind_node_image}
    assert DIGEST_PINNED.match(spec.versions.kind_node_image)


def test_no_kubernetes_io_labels_in_the_kind_config(config: dict) -> None:
    for node in config["nodes"]:
        for key in node.get("labels", {}):
            assert not is_reserved_label(key), f"{key} would break the kubelet join; label after creation"
            assert "kubernetes.io" not in key and "k8s.io" not in key


def test_reserved_label_detection() -> None:
    assert is_reserved_label("node-role.kubernetes.io/control-plane")
    assert is_reserved_label("kubernetes.io/hostname")
    assert is_reserved_label("node.kubernetes.io/exclude-from-external-load-balancers")
    assert is_reserved_label("topology.k8s.io/zone")
    assert not is_reserved_label("scheduler-lab.dev/name")
    assert not is_reserved_label("karpenter.sh/nodepool")
    assert not is_reserved_label("app")


def test_nodes_carry_their_lab_names(spec, config: dict) -> None:
    assert [n["labels"][NAME_LABEL] for n in config["nodes"]] == \
        [spec.control_plane.name, *[w.name for w in spec.workers]]


def test_networking_from_the_spec_on_loopback(spec, config: dict) -> None:
    net = config["networking"]
    assert net["apiServerAddress"] == "127.0.0.1"
    assert (net["podSubnet"], net["serviceSubnet"]) == (spec.pod_subnet, spec.service_subnet)
    pods, services = ipaddress.ip_network(net["podSubnet"]), ipaddress.ip_network(net["serviceSubnet"])
    assert pods.version == services.version == 4 and not pods.overlaps(services)


def test_kind_node_names_follow_kinds_namer(spec) -> None:
    names = kind_node_names(spec)
    c = spec.cluster_name
    assert names == {"master-node": f"{c}-control-plane", "worker-node01": f"{c}-worker",
                     "worker-node02": f"{c}-worker2", "worker-node03": f"{c}-worker3"}
    assert re.fullmatch(r"[a-z0-9.-]+", c), "kind cluster names must match ^[a-z0-9.-]+$"


def test_nodes_register_under_the_lab_names(spec, config: dict) -> None:
    for node, lab in zip(config["nodes"], [spec.control_plane, *spec.workers]):
        (patch,) = node["kubeadmConfigPatches"]
        doc = yaml.safe_load(patch)
        assert doc["kind"] == ("InitConfiguration" if lab.role == "control-plane" else "JoinConfiguration")
        assert doc["nodeRegistration"] == {"name": lab.name}


def test_plan_creates_labels_builds_loads_and_deploys(spec, tmp_path: Path) -> None:
    provider = KindProvider(spec, tmp_path, env={"PATH": str(tmp_path)})
    plan = provider.plan()
    cmds = plan.commands
    create = cmds[0]
    assert create[:3] == ["kind", "create", "cluster"]
    assert create[create.index("--name") + 1] == provider.cluster_name
    assert create[create.index("--config") + 1] == str(tmp_path / "kind-config.yaml")
    assert create[create.index("--kubeconfig") + 1] == str(tmp_path / "kubeconfig")
    assert create[create.index("--wait") + 1] == "240s"
    assert yaml.safe_load(plan.config_yaml) == kind_config(spec, name=provider.cluster_name)
    # The reserved labels and the control-plane taint are applied after creation, by kubectl.
    # Nodes are registered under the lab's names (kubeadm nodeRegistration.name), not kind's.
    labels = next(c for c in cmds if "label" in c and "master-node" in c[c.index("node") + 1:c.index("node") + 2])
    assert "node-role.kubernetes.io/control-plane=" in labels and f"{NAME_LABEL}=master-node" in labels
    assert any("taint" in c and "node-role.kubernetes.io/control-plane:NoSchedule" in c for c in cmds)
    build = next(c for c in cmds if c[1:2] == ["build"])
    built = py_scheduler_build_image(provider.cluster_name)
    assert build[build.index("-t") + 1] == built and not PY_SCHEDULER_IMAGE.endswith(":latest")
    load = ["kind", "load", "docker-image", built, "--name", provider.cluster_name]
    assert load in cmds
    # Every node then has the loaded image under the name the Deployment asks for.
    tags = [c for c in cmds if c[-4:-2] == ["tag", "--force"]]
    assert tags == [["docker", "exec", node, "ctr", "--namespace=k8s.io", "images", "tag", "--force",
                     containerd_ref(built), "docker.io/scheduler-lab/py-scheduler:0.1.0"]
                    for node in kind_node_names(spec, provider.cluster_name).values()]
    applies = [c[-1] for c in cmds if "apply" in c]
    assert applies == [str(REPO / "manifests/kube-scheduler"), str(REPO / "manifests/py-scheduler")]
    rollouts = [c for c in cmds if "rollout" in c]
    assert [r[r.index("status") + 1] for r in rollouts] == ["deployment/custom-k8s-scheduler",
                                                           "deployment/py-scheduler"]
    # Order: create, label, build, load, tag, apply, wait.
    order = [cmds.index(create), cmds.index(labels), cmds.index(build), cmds.index(load),
             min(cmds.index(c) for c in tags), max(cmds.index(c) for c in tags),
             min(cmds.index(c) for c in cmds if "apply" in c), cmds.index(rollouts[0])]
    assert order == sorted(order)


def test_two_checkouts_build_the_scheduler_image_under_tags_of_their_own(spec, tmp_path: Path) -> None:
    """On one (the machine's) Docker, two labs' `docker build` never write the same tag, and
    what each loads is what it built; the nodes (the lab's own) get the Deployment's name."""
    one, two = (KindProvider(spec, tmp_path / n / ".lab", env={"PATH": str(tmp_path)}) for n in ("one", "two"))
    built = []
    for p in (one, two):
        cmds = p.plan().commands
        build = next(c for c in cmds if c[1:2] == ["build"])
        tag = build[build.index("-t") + 1]
        assert ["kind", "load", "docker-image", tag, "--name", p.cluster_name] in cmds
        assert tag.startswith(f"{PY_SCHEDULER_IMAGE}-") and p.cluster_name in tag
        assert re.fullmatch(r"[\w][\w.-]{0,127}", tag.rpartition(":")[2]), "a valid Docker tag"
        built.append(tag)
    assert built[0] != built[1]


@pytest.mark.parametrize(("short", "full"), [
    ("scheduler-lab/py-scheduler:0.1.0", "docker.io/scheduler-lab/py-scheduler:0.1.0"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("localhost/x:1", "localhost/x:1"),
    ("localhost:5000/x:1", "localhost:5000/x:1"),
])
def test_containerd_ref_is_the_name_the_kubelet_resolves(short: str, full: str) -> None:
    assert containerd_ref(short) == full


def test_plan_for_an_existing_cluster_reuses_it(spec, tmp_path: Path) -> None:
    cmds = KindProvider(spec, tmp_path, env={"PATH": str(tmp_path)}).plan(reuse=True).commands
    assert cmds[0][:3] == ["kind", "export", "kubeconfig"]
    assert not any(c[1:3] == ["create", "cluster"] for c in cmds)


def test_manifest_image_is_the_one_the_provider_loads() -> None:
    deployment = yaml.safe_load((REPO / "manifests/py-scheduler/deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == PY_SCHEDULER_IMAGE
    assert container["imagePullPolicy"] in ("IfNotPresent", "Never")
