"""NodePorts (PreFilter, Filter): requested host ports must be free on the node."""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.state import NodeInfo
from scheduler.core.status import SKIP, UNSCHEDULABLE, Status

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts(Plugin):
    name = "NodePorts"

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        if not cycle.pod_info.ports:
            return Status(SKIP)
        return None

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        if not node.used_ports:
            return None
        for ip, protocol, port in cycle.pod_info.ports:
            if node.port_conflict(ip, protocol, port):
                return Status(UNSCHEDULABLE, ERR_REASON)
        return None
