"""Cluster events and the events each plugin registers for (kube-scheduler v1.29's EnqueueExtensions).

An unschedulable pod is retried on a cluster event only when one of the plugins that rejected it
registered for that event (scheduling_queue.go isPodWorthRequeuing): a pod NodeAffinity rejected
does not move when another pod is deleted, one NodeResourcesFit rejected does. A pod no plugin
rejected, and the wildcard event (the 5-minute flush), always move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ADD", "DELETE", "UPDATE_NODE_ALLOCATABLE", "UPDATE_NODE_LABEL", "UPDATE_NODE_TAINT",
    "UPDATE_NODE_CONDITION", "ALL", "UPDATE", "NODE", "POD", "WILDCARD", "ClusterEvent", "EVENTS",
    "EVENTS_TO_REGISTER", "worth_requeuing",
]

# framework/types.go ActionType bits.
ADD = 1
DELETE = 1 << 1
UPDATE_NODE_ALLOCATABLE = 1 << 2
UPDATE_NODE_LABEL = 1 << 3
UPDATE_NODE_TAINT = 1 << 4
UPDATE_NODE_CONDITION = 1 << 5
ALL = (1 << 6) - 1
UPDATE = UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT | UPDATE_NODE_CONDITION

NODE, POD, WILDCARD = "Node", "Pod", "*"
# The volume objects (informers feed ClusterState.volumes and move pods on their changes).
PVC, PV, STORAGE_CLASS, CSI_NODE = "PersistentVolumeClaim", "PersistentVolume", "StorageClass", "CSINode"


@dataclass(frozen=True)
class ClusterEvent:
    resource: str
    action: int
    label: str = ""

    @property
    def wildcard(self) -> bool:
        return self.resource == WILDCARD and self.action == ALL


# internal/queue/events.go, by label (the names kube-scheduler logs and counts).
EVENTS: dict[str, ClusterEvent] = {e.label: e for e in (
    ClusterEvent(POD, ADD, "AssignedPodAdd"),
    ClusterEvent(POD, UPDATE, "AssignedPodUpdate"),
    ClusterEvent(POD, DELETE, "AssignedPodDelete"),
    ClusterEvent(NODE, ADD, "NodeAdd"),
    ClusterEvent(NODE, UPDATE_NODE_TAINT, "NodeSpecUnschedulableChange"),
    ClusterEvent(NODE, UPDATE_NODE_ALLOCATABLE, "NodeAllocatableChange"),
    ClusterEvent(NODE, UPDATE_NODE_LABEL, "NodeLabelChange"),
    ClusterEvent(NODE, UPDATE_NODE_TAINT, "NodeTaintChange"),
    ClusterEvent(NODE, UPDATE_NODE_CONDITION, "NodeConditionChange"),
    ClusterEvent(WILDCARD, ALL, "UnschedulableTimeout"),
    # Volume objects (eventhandlers.go buildEvtResHandler: "<short kind>Add" / "<short kind>Update").
    ClusterEvent(PV, ADD, "PvAdd"),
    ClusterEvent(PV, UPDATE, "PvUpdate"),
    ClusterEvent(PVC, ADD, "PvcAdd"),
    ClusterEvent(PVC, UPDATE, "PvcUpdate"),
    ClusterEvent(STORAGE_CLASS, ADD, "StorageClassAdd"),
    ClusterEvent(STORAGE_CLASS, UPDATE, "StorageClassUpdate"),
    ClusterEvent(CSI_NODE, ADD, "CSINodeAdd"),
    ClusterEvent(CSI_NODE, UPDATE, "CSINodeUpdate"),
)}

# Each in-tree plugin's EventsToRegister() in v1.29.15 (InPlacePodVerticalScaling and
# DynamicResourceAllocation off, as by default). A plugin not listed registers for everything
# (framework.UnrollWildCardResource), as upstream does for plugins without EnqueueExtensions.
EVENTS_TO_REGISTER: dict[str, tuple[tuple[str, int], ...]] = {
    "NodeResourcesFit": ((POD, DELETE), (NODE, ADD | UPDATE)),
    "SchedulingGates": (),
    "NodeVolumeLimits": ((CSI_NODE, ADD), (POD, DELETE)),
    "EBSLimits": ((NODE, ADD), (POD, DELETE)),
    "GCEPDLimits": ((NODE, ADD), (POD, DELETE)),
    "AzureDiskLimits": ((NODE, ADD), (POD, DELETE)),
    "VolumeBinding": ((STORAGE_CLASS, ADD | UPDATE), (PVC, ADD | UPDATE), (PV, ADD | UPDATE),
                      (NODE, ADD | UPDATE_NODE_LABEL), (CSI_NODE, ADD | UPDATE)),
    "VolumeZone": ((STORAGE_CLASS, ADD), (NODE, ADD | UPDATE_NODE_LABEL), (PVC, ADD), (PV, ADD | UPDATE)),
    "TaintToleration": ((NODE, ADD | UPDATE),),
    "InterPodAffinity": ((POD, ALL), (NODE, ADD | UPDATE_NODE_LABEL)),
    "VolumeRestrictions": ((POD, DELETE), (NODE, ADD), (PVC, ADD | UPDATE)),
    "NodePorts": ((POD, DELETE), (NODE, ADD | UPDATE)),
    "PodTopologySpread": ((POD, ALL), (NODE, ADD | DELETE | UPDATE_NODE_LABEL)),
    "NodeAffinity": ((NODE, ADD | UPDATE),),
    "NodeName": ((NODE, ADD | UPDATE),),
    "NodeUnschedulable": ((NODE, ADD | UPDATE_NODE_TAINT),),
}


def _registered(plugin: str, registry: Mapping[str, tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    return registry.get(plugin, ((WILDCARD, ALL),))


def worth_requeuing(rejectors: Iterable[str], event: ClusterEvent,
                    registry: Mapping[str, tuple[tuple[str, int], ...]] = EVENTS_TO_REGISTER) -> bool:
    """scheduling_queue.go isPodWorthRequeuing with the default hints (queueing hints off in v1.29)."""
    plugins = frozenset(rejectors)
    if not plugins or event.wildcard:
        return True
    for plugin in plugins:
        for resource, action in _registered(plugin, registry):
            if (resource == WILDCARD or resource == event.resource) and action & event.action:
                return True
    return False
