"""The one lab description (lab/lab.yaml) that every provider reads.

Providers never hard-code node names, sizes, labels, taints or versions: they take them
from a :class:`LabSpec`, so a test sees the same cluster shape on local, kind and vagrant.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).with_name("lab.yaml")


class SpecError(ValueError):
    """A lab description problem; str() is one line naming the file and field."""


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str = ""

    def to_api(self) -> dict[str, str]:
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str  # "control-plane" | "worker"
    capacity: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    kwok: str
    go_toolchain: str
    kind: str
    kind_node_image: str

    @property
    def kubernetes_minor(self) -> str:
        """"v1.29.15" -> "v1.29"."""
        return ".".join(self.kubernetes.split(".")[:2])


@dataclass(frozen=True)
class LabSpec:
    cluster_name: str
    versions: Versions
    pod_subnet: str
    service_subnet: str
    local_node_address_base: str
    local_pod_subnet: str
    local_service_subnet: str
    vagrant_node_address_base: str
    nodes: tuple[NodeSpec, ...]
    source: str = str(SPEC_PATH)

    @property
    def control_plane(self) -> NodeSpec:
        return next(n for n in self.nodes if n.is_control_plane)

    @property
    def workers(self) -> list[NodeSpec]:
        return [n for n in self.nodes if not n.is_control_plane]

    def node_address(self, index: int, provider: str) -> str:
        """Address of the index-th node (0 = control plane) for local or vagrant."""
        base = self.local_node_address_base if provider == "local" else self.vagrant_node_address_base
        return str(ipaddress.ip_address(base) + index)


def _req(doc: dict[str, Any], key: str, path: str, source: str) -> Any:
    if key not in doc:
        raise SpecError(f"{source}: {path}{key}: required field is missing")
    return doc[key]


def load_spec(path: str | Path = SPEC_PATH) -> LabSpec:
    source = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "LabSpec":
        raise SpecError(f"{source}: kind: expected LabSpec")
    v = _req(doc, "versions", "", source)
    versions = Versions(
        kubernetes=_req(v, "kubernetes", "versions.", source),
        kwok=_req(v, "kwok", "versions.", source),
        go_toolchain=str(_req(v, "goToolchain", "versions.", source)),
        kind=_req(v, "kind", "versions.", source),
        kind_node_image=_req(v, "kindNodeImage", "versions.", source),
    )
    net = _req(doc, "networking", "", source)
    local = _req(net, "local", "networking.", source)
    vagrant = _req(net, "vagrant", "networking.", source)
    nodes = []
    for i, n in enumerate(_req(doc, "nodes", "", source)):
        where = f"nodes[{i}]."
        role = _req(n, "role", where, source)
        if role not in ("control-plane", "worker"):
            raise SpecError(f"{source}: {where}role: {role!r} is not one of control-plane, worker")
        taints = tuple(
            Taint(key=t["key"], effect=t["effect"], value=t.get("value", "")) for t in n.get("taints", [])
        )
        nodes.append(
            NodeSpec(
                name=_req(n, "name", where, source),
                role=role,
                capacity={k: str(q) for k, q in _req(n, "capacity", where, source).items()},
                labels={k: str(val) for k, val in (n.get("labels") or {}).items()},
                taints=taints,
            )
        )
    if sum(1 for n in nodes if n.is_control_plane) != 1:
        raise SpecError(f"{source}: nodes: exactly one control-plane node is required")
    spec = LabSpec(
        cluster_name=_req(doc, "clusterName", "", source),
        versions=versions,
        pod_subnet=_req(net, "podSubnet", "networking.", source),
        service_subnet=_req(net, "serviceSubnet", "networking.", source),
        local_node_address_base=_req(local, "nodeAddressBase", "networking.local.", source),
        local_pod_subnet=_req(local, "podSubnet", "networking.local.", source),
        local_service_subnet=_req(local, "serviceSubnet", "networking.local.", source),
        vagrant_node_address_base=_req(vagrant, "nodeAddressBase", "networking.vagrant.", source),
        nodes=tuple(nodes),
        source=source,
    )
    loopback = ipaddress.ip_network("127.0.0.0/8")
    for i in range(len(spec.nodes)):
        if ipaddress.ip_address(spec.node_address(i, "local")) not in loopback:
            raise SpecError(f"{source}: networking.local.nodeAddressBase: local node addresses must be in 127.0.0.0/8")
    if not ipaddress.ip_network(spec.local_pod_subnet).subnet_of(loopback):
        raise SpecError(f"{source}: networking.local.podSubnet: must be inside 127.0.0.0/8")
    return spec
