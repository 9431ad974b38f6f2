"""The in-tree volume plugins of the default profile.

VolumeRestrictions lives here; VolumeBinding in volumebinding.py, VolumeZone in volumezone.py,
NodeVolumeLimits and the in-tree EBSLimits / GCEPDLimits / AzureDiskLimits in nodevolumelimits.py,
all as upstream v1.29.15 (each module says what it leaves out).
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.nodevolumelimits import AzureDiskLimits, EBSLimits, GCEPDLimits, NodeVolumeLimits
from scheduler.core.plugins.volumebinding import VolumeBinding
from scheduler.core.plugins.volumezone import VolumeZone
from scheduler.core.podutil import pod_namespace
from scheduler.core.state import NodeInfo, PodInfo
from scheduler.core.status import ERROR, SKIP, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, Status


ERR_REASON_DISK_CONFLICT = "node(s) had no available disk"
ERR_REASON_RWOP_CONFLICT = ("node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod "
                            "access mode")
_RESTRICTIONS_KEY = "PreFilterVolumeRestrictions"
_INLINE_DISKS = ("gcePersistentDisk", "awsElasticBlockStore", "rbd", "iscsi")


def _is_volume_conflict(volume: Mapping[str, Any], other_pod: Mapping[str, Any]) -> bool:
    """``isVolumeConflict``: the same inline disk, unless both mount it read-only (EBS: always)."""
    for existing in (other_pod.get("spec") or {}).get("volumes") or ():
        gce, egce = volume.get("gcePersistentDisk"), existing.get("gcePersistentDisk")
        if gce is not None and egce is not None and gce.get("pdName") == egce.get("pdName") and not (
                gce.get("readOnly") and egce.get("readOnly")):
            return True
        ebs, eebs = volume.get("awsElasticBlockStore"), existing.get("awsElasticBlockStore")
        if ebs is not None and eebs is not None and ebs.get("volumeID") == eebs.get("volumeID"):
            return True
        isc, eisc = volume.get("iscsi"), existing.get("iscsi")
        if isc is not None and eisc is not None and isc.get("iqn") == eisc.get("iqn") and not (
                isc.get("readOnly") and eisc.get("readOnly")):
            return True
        rbd, erbd = volume.get("rbd"), existing.get("rbd")
        if (rbd is not None and erbd is not None
                and set(rbd.get("monitors") or ()) & set(erbd.get("monitors") or ())
                and (rbd.get("pool") or "rbd") == (erbd.get("pool") or "rbd")
                and rbd.get("image") == erbd.get("image") and not (rbd.get("readOnly") and erbd.get("readOnly"))):
            return True
    return False


class _RestrictionsState:
    __slots__ = ("rwop", "conflicts")

    def __init__(self, rwop: frozenset[str], conflicts: int) -> None:
        self.rwop, self.conflicts = rwop, conflicts

    def clone(self) -> "_RestrictionsState":
        return _RestrictionsState(self.rwop, self.conflicts)

    def conflicts_of(self, info: PodInfo) -> int:
        """``conflictingPVCRefCountForPod``: by claim name alone, as upstream (namespace not compared)."""
        return sum(1 for key in info.pvc_keys if key.split("/", 1)[1] in self.rwop)


class VolumeRestrictions(Plugin):
    """VolumeRestrictions of v1.29.15 (volumerestrictions/volume_restrictions.go).

    PreFilter: every ``persistentVolumeClaim`` volume's claim must exist (the PVC lister's NotFound,
    UnschedulableAndUnresolvable, before VolumeBinding sees it); counts the ReadWriteOncePod claims
    of the pod that any bound or assumed pod already uses. Filter: that count > 0 rejects every node
    (Unschedulable, so preemption may evict the user); an inline GCE PD / EBS / iSCSI / RBD disk
    already mounted by a pod on the node rejects that node.
    """

    name = "VolumeRestrictions"

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        volumes = (pod.get("spec") or {}).get("volumes") or ()
        needs_check = any(any(v.get(k) is not None for k in _INLINE_DISKS) for v in volumes)
        namespace = pod_namespace(pod)
        rwop: set[str] = set()
        for vol in volumes:
            claim = vol.get("persistentVolumeClaim")
            if claim is None:
                continue
            name = str(claim.get("claimName") or "")
            pvc = cycle.state.volumes.pvc(namespace, name)
            if pvc is None:
                return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, f'persistentvolumeclaim "{name}" not found')
            if "ReadWriteOncePod" in ((pvc.get("spec") or {}).get("accessModes") or ()):
                rwop.add(name)
        conflicts = sum(1 for name in rwop if cycle.state.is_pvc_used_by_pods(f"{namespace}/{name}"))
        if not needs_check and conflicts == 0:
            return Status(SKIP)
        cycle.data[_RESTRICTIONS_KEY] = _RestrictionsState(frozenset(rwop), conflicts)
        return None

    def add_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        data = cycle.data.get(_RESTRICTIONS_KEY)
        if data is not None:
            data.conflicts += data.conflicts_of(other)

    def remove_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        data = cycle.data.get(_RESTRICTIONS_KEY)
        if data is not None:
            data.conflicts -= data.conflicts_of(other)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            if not any(vol.get(k) is not None for k in _INLINE_DISKS):
                continue
            for other in node.pods.values():
                if _is_volume_conflict(vol, other.pod):
                    return Status(UNSCHEDULABLE, ERR_REASON_DISK_CONFLICT)
        data = cycle.data.get(_RESTRICTIONS_KEY)
        if data is None:
            return Status(ERROR, f'cannot read "{_RESTRICTIONS_KEY}" from cycleState')
        if data.conflicts > 0:
            return Status(UNSCHEDULABLE, ERR_REASON_RWOP_CONFLICT)
        return None


VOLUME_PLUGINS = (VolumeRestrictions, EBSLimits, GCEPDLimits, NodeVolumeLimits, AzureDiskLimits,
                  VolumeBinding, VolumeZone)
