"""VolumeZone as kube-scheduler v1.29.15 runs it (pkg/scheduler/framework/plugins/volumezone/volume_zone.go).

PreFilter collects, for every ``persistentVolumeClaim`` volume of the pod, the topology labels of
the claim's bound PV (``topology.kubernetes.io/zone|region`` and the deprecated
``failure-domain.beta.kubernetes.io/zone|region``; a value may list zones separated by ``__``,
k8s.io/cloud-provider/volume/helpers LabelZonesToSet). An unbound claim of a WaitForFirstConsumer
class is skipped (VolumeBinding places it); any other unbound claim, a missing PVC, PV or
StorageClass is UnschedulableAndUnresolvable with upstream's text (the listers' NotFound errors).
No labelled PV: Skip. Filter: a node with no topology label at all fits (single-zone clusters);
otherwise each PV label must be on the node (a beta key also matches the node's GA key) with a
value in the PV's set, else ``node(s) had no available volume zone`` (UnschedulableAndUnresolvable).

All objects are read as the informers (listers) hold them: ``ClusterState.volumes``' API versions.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.podutil import pod_namespace
from scheduler.core.state import NodeInfo
from scheduler.core.status import SKIP, UNSCHEDULABLE_AND_UNRESOLVABLE, Status
from scheduler.core.volumecache import VolumeCache, pvc_class

ERR_REASON_CONFLICT = "node(s) had no available volume zone"
PRE_FILTER_STATE_KEY = "PreFilterVolumeZone"

LABEL_FAILURE_DOMAIN_BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
LABEL_FAILURE_DOMAIN_BETA_REGION = "failure-domain.beta.kubernetes.io/region"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
LABEL_TOPOLOGY_REGION = "topology.kubernetes.io/region"
TOPOLOGY_LABELS = (LABEL_FAILURE_DOMAIN_BETA_ZONE, LABEL_FAILURE_DOMAIN_BETA_REGION,
                   LABEL_TOPOLOGY_ZONE, LABEL_TOPOLOGY_REGION)
LABEL_MULTI_ZONE_DELIMITER = "__"


def translate_to_ga_label(label: str) -> str:
    if label == LABEL_FAILURE_DOMAIN_BETA_REGION:
        return LABEL_TOPOLOGY_REGION
    if label == LABEL_FAILURE_DOMAIN_BETA_ZONE:
        return LABEL_TOPOLOGY_ZONE
    return label


def label_zones_to_set(value: str) -> frozenset[str] | None:
    """``LabelZonesToSet``: None where upstream errors (an empty element; the label is then ignored)."""
    zones = [z.strip() for z in value.split(LABEL_MULTI_ZONE_DELIMITER)]
    if any(z == "" for z in zones):
        return None
    return frozenset(zones)


class PVTopology:
    __slots__ = ("pv_name", "key", "values")

    def __init__(self, pv_name: str, key: str, values: frozenset[str]) -> None:
        self.pv_name, self.key, self.values = pv_name, key, values

    def __repr__(self) -> str:
        return f"PVTopology({self.pv_name!r}, {self.key!r}, {sorted(self.values)!r})"


def get_pv_topologies(volumes: VolumeCache, pod: Mapping[str, Any]) -> tuple[list[PVTopology], Status | None]:
    """``getPVbyPod``: the topologies, or the failing status."""
    namespace = pod_namespace(pod)
    out: list[PVTopology] = []
    for vol in (pod.get("spec") or {}).get("volumes") or ():
        claim = vol.get("persistentVolumeClaim")
        if claim is None:
            continue
        pvc_name = str(claim.get("claimName") or "")
        if not pvc_name:
            return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE, "PersistentVolumeClaim had no name")
        pvc = volumes.pvc(namespace, pvc_name)
        if pvc is None:
            return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE, f'persistentvolumeclaim "{pvc_name}" not found')
        pv_name = str((pvc.get("spec") or {}).get("volumeName") or "")
        if not pv_name:
            sc_name = pvc_class(pvc)
            if not sc_name:
                return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE,
                                  "PersistentVolumeClaim had no pv name and storageClass name")
            cls = volumes.storage_class(sc_name)
            if cls is None:
                return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE,
                                  f'storageclass.storage.k8s.io "{sc_name}" not found')
            mode = cls.get("volumeBindingMode")
            if mode is None:
                return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE,
                                  f'VolumeBindingMode not set for StorageClass "{sc_name}"')
            if mode == "WaitForFirstConsumer":
                continue  # unbound: VolumeBinding chooses its PV
            return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE, "PersistentVolume had no name")
        pv = volumes.pvs.get_api(pv_name)
        if pv is None:
            return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE, f'persistentvolume "{pv_name}" not found')
        labels = (pv.get("metadata") or {}).get("labels") or {}
        for key in TOPOLOGY_LABELS:
            if key in labels:
                values = label_zones_to_set(str(labels[key]))
                if values is None:  # upstream logs "Failed to parse label, ignoring the label"
                    continue
                out.append(PVTopology(pv_name, key, values))
    return out, None


class _ZoneState:
    __slots__ = ("topologies",)

    def __init__(self, topologies: list[PVTopology]) -> None:
        self.topologies = topologies

    def clone(self) -> "_ZoneState":
        return self


class VolumeZone(Plugin):
    name = "VolumeZone"

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        topologies, status = get_pv_topologies(cycle.state.volumes, pod)
        if status is not None:
            return status
        if not topologies:
            return Status(SKIP)
        cycle.data[PRE_FILTER_STATE_KEY] = _ZoneState(topologies)
        return None

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        if not (pod.get("spec") or {}).get("volumes"):
            return None
        data = cycle.data.get(PRE_FILTER_STATE_KEY)
        if data is None:  # upstream falls back to computing them here
            topologies, status = get_pv_topologies(cycle.state.volumes, pod)
            if status is not None:
                return status
        else:
            topologies = data.topologies
        labels = node.labels
        if not any(key in labels for key in TOPOLOGY_LABELS):
            return None  # a node without zone labels: a single-zone cluster
        for topology in topologies:
            value = labels.get(topology.key)
            if value is None:
                value = labels.get(translate_to_ga_label(topology.key))
            if value is None or value not in topology.values:
                return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_CONFLICT)
        return None
