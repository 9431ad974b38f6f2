"""AvoidMaintenance: a Filter plugin that keeps pods off nodes labelled ``maintenance=true``.

A Filter plugin answers one question per node: may this pod run here? ``None`` means yes;
a ``Status`` with a reason means no, and the reason is counted in the pod's FailedScheduling
event, e.g. ``0/4 nodes are available: ... 3 node(s) are under maintenance. preemption: ...``.

Enable it from a KubeSchedulerConfiguration (examples/configs/avoid-maintenance.yaml) or with
``--plugin examples/plugins/avoid_maintenance.py:AvoidMaintenance``.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status

MAINTENANCE_LABEL = "maintenance"
# The reason as it appears in the event, after the node count: "3 node(s) are under maintenance".
REASON = "node(s) are under maintenance"


class AvoidMaintenance(Plugin):
    name = "AvoidMaintenance"  # the name the configuration refers to

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        # Called once per node for every pod; node.labels are the Node's metadata.labels.
        if node.labels.get(MAINTENANCE_LABEL) == "true":
            # UnschedulableAndUnresolvable, not Unschedulable: evicting pods from a node under
            # maintenance would not make the pod fit there (the label stays), so preemption
            # (DefaultPreemption, the PostFilter) skips this node instead of evicting for nothing.
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, REASON)
        return None  # the node fits, as far as this plugin is concerned
