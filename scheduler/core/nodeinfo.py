"""``PodInfo`` and ``NodeInfo``: a pod, and a node with the pods on it, with what the scheduler derives from
them once (requests, host ports, affinity terms, taints) and the per-node aggregates plugins read."""

from __future__ import annotations

import itertools
from typing import Any, Mapping

from scheduler.core.plugins.helper import AffinityTerm, Taint, affinity_terms, parse_taints
from scheduler.core.podutil import pod_key, pod_priority, pod_uid
from scheduler.core.resources import Resource, node_allocatable, non_zero_requests, pod_resource

DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"


# NodeInfo generations come from one process-wide counter, like kube-scheduler's nextGeneration():
# two NodeInfo objects with the same generation hold the same content (a clone keeps its origin's
# until it is changed), so per-node results memoised by generation (plugins' NodeMemo) stay true
# across clones, re-created nodes and states. next() on itertools.count is atomic under the GIL.
next_generation = itertools.count(1).__next__

# Equal taint lists share one tuple, so TaintToleration decides once per list and cycle (by id).
_INTERNED_TAINTS: dict[tuple[Taint, ...], tuple[Taint, ...]] = {}
_INTERNED_TAINTS_MAX = 10_000  # distinct lists; past it the table starts again (only sharing is lost)


def _interned_taints(taints: tuple[Taint, ...]) -> tuple[Taint, ...]:
    if not taints:
        return ()
    shared = _INTERNED_TAINTS.get(taints)
    if shared is None:
        if len(_INTERNED_TAINTS) >= _INTERNED_TAINTS_MAX:
            _INTERNED_TAINTS.clear()
        shared = _INTERNED_TAINTS[taints] = taints
    return shared



def host_ports(pod: Mapping[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """(hostIP, protocol, hostPort) of every container port with a hostPort (``getContainerPorts``)."""
    out = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            hp = int(port.get("hostPort") or 0)
            if hp <= 0:
                continue
            out.append((port.get("hostIP") or DEFAULT_BIND_ALL_HOST_IP, port.get("protocol") or "TCP", hp))
    return tuple(out)


class PodInfo:
    """A pod plus everything the scheduler derives from it once (``framework.PodInfo``)."""

    __slots__ = (
        "pod", "key", "uid", "namespace", "name", "labels", "priority", "requested", "non0_cpu",
        "non0_mem", "ports", "required_affinity", "required_anti_affinity", "preferred_affinity",
        "preferred_anti_affinity", "terminating", "node_name", "pvc_keys",
    )

    def __init__(self, pod: Mapping[str, Any], node_name: str | None = None) -> None:
        meta = pod.get("metadata") or {}
        self.pod = pod
        self.key = pod_key(pod)
        self.uid = pod_uid(pod)
        self.namespace = meta.get("namespace") or "default"
        self.name = meta.get("name", "")
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.priority = pod_priority(pod)
        self.requested: Resource = pod_resource(pod)
        self.non0_cpu, self.non0_mem = non_zero_requests(pod)
        self.ports = host_ports(pod)
        self.required_affinity: tuple[AffinityTerm, ...] = affinity_terms(pod, "podAffinity", True)
        self.required_anti_affinity = affinity_terms(pod, "podAntiAffinity", True)
        self.preferred_affinity = affinity_terms(pod, "podAffinity", False)
        self.preferred_anti_affinity = affinity_terms(pod, "podAntiAffinity", False)
        self.terminating = meta.get("deletionTimestamp") is not None
        self.node_name = node_name or (pod.get("spec") or {}).get("nodeName")
        # namespace/claimName of each persistentVolumeClaim volume (NodeInfo.PVCRefCounts' keys;
        # generic ephemeral volumes are not counted there upstream either).
        self.pvc_keys = tuple(f"{self.namespace}/{v['persistentVolumeClaim'].get('claimName', '')}"
                              for v in (pod.get("spec") or {}).get("volumes") or ()
                              if isinstance(v, Mapping) and v.get("persistentVolumeClaim") is not None)

    @property
    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity
                    or self.preferred_anti_affinity)


class NodeInfo:
    """One node with cached aggregates over the pods on it (``framework.NodeInfo``)."""

    __slots__ = (
        "name", "node", "labels", "taints", "unschedulable", "allocatable", "allowed_pods",
        "requested", "non0_cpu", "non0_mem", "pods", "used_ports", "images",
        "pods_with_affinity", "pods_with_required_anti_affinity", "generation",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.node: Mapping[str, Any] | None = None
        self.labels: dict[str, str] = {}
        self.taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        self.allocatable = Resource()
        self.allowed_pods = 0
        self.requested = Resource()
        self.non0_cpu = 0
        self.non0_mem = 0
        self.pods: dict[str, PodInfo] = {}
        self.used_ports: dict[tuple[str, str, int], int] = {}
        self.images: dict[str, int] = {}  # image name -> size in bytes (from node.status.images)
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.generation = next_generation()

    # -- node object
    def set_node(self, node: Mapping[str, Any]) -> None:
        self.node = node
        self.labels = (node.get("metadata") or {}).get("labels") or {}
        self.taints = _interned_taints(parse_taints(node))
        self.unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        self.allocatable, self.allowed_pods = node_allocatable(node)
        images: dict[str, int] = {}
        for image in (node.get("status") or {}).get("images") or ():
            size = int(image.get("sizeBytes") or 0)
            for name in image.get("names") or ():
                images.setdefault(name, size)
        self.images = images
        self.generation = next_generation()

    # -- pods
    def add_pod(self, info: PodInfo) -> None:
        self.pods[info.uid] = info
        self.requested.add(info.requested)
        self.non0_cpu += info.non0_cpu
        self.non0_mem += info.non0_mem
        for port in info.ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        if info.has_affinity:
            self.pods_with_affinity[info.uid] = info
        if info.required_anti_affinity:
            self.pods_with_required_anti_affinity[info.uid] = info
        self.generation = next_generation()

    def remove_pod(self, uid: str) -> PodInfo | None:
        info = self.pods.pop(uid, None)
        if info is None:
            return None
        self.requested.add(info.requested, -1)
        self.non0_cpu -= info.non0_cpu
        self.non0_mem -= info.non0_mem
        for port in info.ports:
            left = self.used_ports.get(port, 0) - 1
            if left > 0:
                self.used_ports[port] = left
            else:
                self.used_ports.pop(port, None)
        self.pods_with_affinity.pop(uid, None)
        self.pods_with_required_anti_affinity.pop(uid, None)
        self.generation = next_generation()
        return info

    def clone(self) -> "NodeInfo":
        """A copy whose pod set can be changed without touching the state (preemption dry runs)."""
        other = NodeInfo(self.name)
        other.node, other.labels, other.taints = self.node, self.labels, self.taints
        other.unschedulable, other.allocatable, other.allowed_pods = (
            self.unschedulable, self.allocatable, self.allowed_pods)
        other.requested = self.requested.clone()
        other.non0_cpu, other.non0_mem = self.non0_cpu, self.non0_mem
        other.pods = dict(self.pods)
        other.used_ports = dict(self.used_ports)
        other.images = self.images
        other.pods_with_affinity = dict(self.pods_with_affinity)
        other.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        other.generation = self.generation
        return other

    @property
    def num_pods(self) -> int:
        return len(self.pods)

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """``HostPortInfo.CheckConflict``."""
        used = self.used_ports
        if not used:
            return False
        if ip == DEFAULT_BIND_ALL_HOST_IP:
            return any(p[1] == protocol and p[2] == port for p in used)
        return ((DEFAULT_BIND_ALL_HOST_IP, protocol, port) in used) or ((ip, protocol, port) in used)

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"
