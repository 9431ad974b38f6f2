"""The one lab description (lab/lab.yaml) that every provider reads.

Providers never hard-code node names, sizes, labels, taints or versions: they take them
from a :class:`LabSpec`, so a test sees the same cluster shape on local, kind and vagrant.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.core.validation.text import describe, quote, safe_text, truncate
from scheduler.core.validation.yamlload import YAMLLimits, YAMLLoadError, load_yaml_documents

SPEC_PATH = Path(__file__).with_name("lab.yaml")


SPEC_LIMITS = YAMLLimits(max_bytes=1 << 20, max_depth=32, max_alias_nodes=10_000)


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


def _where(path: str, key: str) -> str:
    return f"{path}{key}"


def _req(doc: Any, key: str, path: str, source: str, kind: type | tuple[type, ...] = str) -> Any:
    """``doc[key]``, which must exist and be of ``kind`` (one-line SpecError otherwise)."""
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: {path.rstrip('.') or '(top level)'}: expected a mapping, got "
                        f"{describe(doc)}")
    if doc.get(key) is None:
        raise SpecError(f"{source}: {path}{key}: required field is missing")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = {str: "a string", dict: "a mapping", list: "a list"}
        want = names.get(kind, getattr(kind, "__name__", str(kind))) if isinstance(kind, type) else \
            " or ".join(names.get(k, k.__name__) for k in kind)
        raise SpecError(f"{source}: {path}{key}: expected {want}, got {describe(value)}")
    return value


def _opt(doc: dict[str, Any], key: str, path: str, source: str, kind: type) -> Any:
    return None if doc.get(key) is None else _req(doc, key, path, source, kind)


def _scalar_map(doc: dict[str, Any], key: str, path: str, source: str) -> dict[str, str]:
    raw = _opt(doc, key, path, source, dict) or {}
    out = {}
    for k, v in raw.items():
        if not isinstance(k, str) or isinstance(v, (dict, list)) or v is None and key == "capacity":
            raise SpecError(f"{source}: {path}{key}: expected a mapping of names to values, got "
                            f"{describe(k) if not isinstance(k, str) else describe(v)} for {quote(str(k))}")
        out[k] = "" if v is None else str(v)
    return out


def load_spec(path: str | Path = SPEC_PATH) -> LabSpec:
    source = safe_text(str(path))
    try:
        docs = [d for d in load_yaml_documents(Path(path).read_bytes(), SPEC_LIMITS) if d is not None]
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{source}: is a directory, expected a LabSpec file") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except YAMLLoadError as exc:
        raise SpecError(f"{source}: not valid YAML ({exc})") from None
    doc = docs[0] if len(docs) == 1 else None
    if not isinstance(doc, dict) or doc.get("kind") != "LabSpec":
        raise SpecError(f"{source}: kind: expected one LabSpec document")
    v = _req(doc, "versions", "", source, dict)
    versions = Versions(
        kubernetes=_req(v, "kubernetes", "versions.", source),
        kwok=_req(v, "kwok", "versions.", source),
        go_toolchain=str(_req(v, "goToolchain", "versions.", source, (str, int, float))),
        kind=_req(v, "kind", "versions.", source),
        kind_node_image=_req(v, "kindNodeImage", "versions.", source),
    )
    net = _req(doc, "networking", "", source, dict)
    local = _req(net, "local", "networking.", source, dict)
    vagrant = _req(net, "vagrant", "networking.", source, dict)
    nodes = []
    for i, n in enumerate(_req(doc, "nodes", "", source, list)):
        where = f"nodes[{i}]."
        if not isinstance(n, dict):
            raise SpecError(f"{source}: nodes[{i}]: expected a mapping, got {describe(n)}")
        role = _req(n, "role", where, source)
        if role not in ("control-plane", "worker"):
            raise SpecError(f"{source}: {where}role: {quote(role)} is not one of control-plane, worker")
        taints = []
        for j, t in enumerate(_opt(n, "taints", where, source, list) or []):
            twhere = f"{where}taints[{j}]."
            taints.append(Taint(key=_req(t, "key", twhere, source), effect=_req(t, "effect", twhere, source),
                                value=_opt(t, "value", twhere, source, str) or ""))
            if taints[-1].effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                raise SpecError(f"{source}: {twhere}effect: Unsupported value: {quote(taints[-1].effect)}: supported "
                                "values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"")
        nodes.append(
            NodeSpec(
                name=_req(n, "name", where, source),
                role=role,
                capacity=_scalar_map(n, "capacity", where, source) or _req(n, "capacity", where, source, dict),
                labels=_scalar_map(n, "labels", where, source),
                taints=tuple(taints),
            )
        )
    if sum(1 for n in nodes if n.is_control_plane) != 1:
        raise SpecError(f"{source}: nodes: exactly one control-plane node is required")
    names = [n.name for n in nodes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError(f"{source}: nodes[{i}].name: Duplicate value: {quote(name)}")
    try:
        return _build(doc, source, versions, net, local, vagrant, nodes)
    except ValueError as exc:  # ipaddress: a malformed address or subnet
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"{source}: networking: {truncate(str(exc), 160)}") from None


def _build(doc: dict[str, Any], source: str, versions: Versions, net: dict[str, Any], local: dict[str, Any],
           vagrant: dict[str, Any], nodes: list[NodeSpec]) -> LabSpec:
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
