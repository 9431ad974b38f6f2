"""NodeUnschedulable (Filter): cordoned nodes, unless the pod tolerates the unschedulable taint."""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.helper import TAINT_NO_SCHEDULE, parse_tolerations, tolerations_tolerate
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = ("node.kubernetes.io/unschedulable", "", TAINT_NO_SCHEDULE)


_UNSCHEDULABLE = attrgetter("unschedulable")


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return self.filter_nodes(cycle, pod, [node])[0]

    def filter_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[Status | None]:
        out: list[Status | None] = [None] * len(nodes)
        if not any(map(_UNSCHEDULABLE, nodes)):
            return out  # the usual case, decided in C
        tolerated = None
        for i, node in enumerate(nodes):
            if not node.unschedulable:
                continue
            if tolerated is None:
                tolerated = tolerations_tolerate(parse_tolerations(pod), UNSCHEDULABLE_TAINT)
            if not tolerated:
                out[i] = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_UNSCHEDULABLE)
        return out
