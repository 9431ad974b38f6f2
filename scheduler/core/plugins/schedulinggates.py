"""SchedulingGates (PreEnqueue): pods with spec.schedulingGates wait and are not scheduled."""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import Plugin
from scheduler.core.podutil import scheduling_gates
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status


class SchedulingGates(Plugin):
    name = "SchedulingGates"

    def pre_enqueue(self, pod: Mapping[str, Any]) -> Status | None:
        gates = scheduling_gates(pod)
        if not gates:
            return None
        # Go prints the []string with %v: "[gate-a gate-b]".
        return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, f"waiting for scheduling gates: [{' '.join(gates)}]")
