"""The in-tree volume plugins of the default profile.

They are accepted by the configuration and run, but scheduler-lab does not track
PersistentVolumeClaims, PersistentVolumes or CSI drivers, so they pass every node (and
skip themselves in PreFilter/PreScore).  For pods without volumes this is exactly what
kube-scheduler does; VolumeBinding's score is skipped upstream too (its scorer only
exists with the alpha VolumeCapacityPriority gate).
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import SKIP, CycleState, Plugin, Status
from scheduler.core.plugins.volumebinding import VolumeBinding
from scheduler.core.state import NodeInfo


class _NoVolumeTracking(Plugin):
    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        return Status(SKIP)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return None


class VolumeRestrictions(_NoVolumeTracking):
    name = "VolumeRestrictions"


class EBSLimits(_NoVolumeTracking):
    name = "EBSLimits"


class GCEPDLimits(_NoVolumeTracking):
    name = "GCEPDLimits"


class NodeVolumeLimits(_NoVolumeTracking):
    name = "NodeVolumeLimits"


class AzureDiskLimits(_NoVolumeTracking):
    name = "AzureDiskLimits"


class VolumeZone(_NoVolumeTracking):
    name = "VolumeZone"


VOLUME_PLUGINS = (VolumeRestrictions, EBSLimits, GCEPDLimits, NodeVolumeLimits, AzureDiskLimits,
                  VolumeBinding, VolumeZone)
