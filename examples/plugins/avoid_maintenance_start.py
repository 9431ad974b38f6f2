"""AvoidMaintenance, to complete: a Filter plugin that keeps pods off nodes labelled ``maintenance=true``.

Fill in ``filter()`` below (examples/plugins/avoid_maintenance.py is one answer). A Filter plugin
answers one question per node: may this pod run here? Return ``None`` for yes; for no, return a
``Status`` with a code and a reason, which the pod's FailedScheduling event counts, e.g.
``0/4 nodes are available: ... 3 node(s) are under maintenance. preemption: ...``.

Try it with ``python -m scheduler simulate --config examples/configs/avoid-maintenance.yaml
--cluster STATE``, after pointing the configuration's importPath at this file.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status  # noqa: F401 - yours to use

MAINTENANCE_LABEL = "maintenance"
# The reason as it appears in the event, after the node count: "3 node(s) are under maintenance".
REASON = "node(s) are under maintenance"


class AvoidMaintenance(Plugin):
    name = "AvoidMaintenance"  # the name the configuration refers to

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        # Called once per node for every pod; node.labels are the Node's metadata.labels (a dict).
        # TODO: when the node's "maintenance" label is "true", reject it with
        #       Status(UNSCHEDULABLE_AND_UNRESOLVABLE, REASON). Why that code and not UNSCHEDULABLE?
        #       (Hint: which plugin runs after Filter when no node fits, and could it help here?)
        #       Otherwise return None: the node fits.
        raise NotImplementedError("AvoidMaintenance.filter() is yours to write")
