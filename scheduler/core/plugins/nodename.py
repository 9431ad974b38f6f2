"""NodeName (Filter): a pod that names a node only fits that node."""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(Plugin):
    name = "NodeName"

    def filter_passes_every_node(self, cycle: CycleState, pod: Mapping[str, Any]) -> bool:
        return not (pod.get("spec") or {}).get("nodeName")

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        wanted = (pod.get("spec") or {}).get("nodeName")
        if not wanted or wanted == node.name:
            return None
        return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)
