"""DefaultPreemption (PostFilter): can evicting lower-priority pods make the pod fit?

It reproduces the decision and the message of kube-scheduler v1.29's preemption
(``preemption.Evaluator.Preempt``): nodes rejected as UnschedulableAndUnresolvable are
"not helpful", nodes without lower-priority pods have "No preemption victims", other
nodes are re-filtered with every lower-priority pod removed.  When a node would fit,
the result nominates the best candidate and lists the victims (the I/O shell decides
whether to evict them; scheduler-lab does not delete pods by itself).  PodDisruptionBudgets
are not considered.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import (
    SUCCESS, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, CycleState, Plugin, PostFilterResult, Status,
)
from scheduler.core.messages import (
    NO_PREEMPTION_VICTIMS, NOT_ELIGIBLE_NEVER, NOT_ELIGIBLE_TERMINATING, PREEMPTION_NOT_HELPFUL,
    fit_error_message,
)
from scheduler.core.state import NodeInfo, PodInfo

MAX_INT32 = 2**31 - 1


def _terminating_by_preemption(info: PodInfo) -> bool:
    """``podTerminatingByPreemption`` with the PodDisruptionConditions gate on (default in 1.29)."""
    if not info.terminating:
        return False
    for cond in (info.pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget":
            return cond.get("status") == "True" and cond.get("reason") == "PreemptionByScheduler"
    return False


def _start_time(info: PodInfo) -> str:
    return (info.pod.get("status") or {}).get("startTime") or "9999"


class DefaultPreemption(Plugin):
    name = "DefaultPreemption"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        args = args or {}
        self.min_pct = int(args.get("minCandidateNodesPercentage", 10))
        self.min_abs = int(args.get("minCandidateNodesAbsolute", 100))

    def _eligible(self, cycle: CycleState, pod: Mapping[str, Any], statuses: Mapping[str, Status]) -> str:
        if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return NOT_ELIGIBLE_NEVER
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            st = statuses.get(nominated)
            if st is not None and st.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
                return ""
            node = cycle.state.get_node_info(nominated)
            if node is not None:
                prio = cycle.pod_info.priority
                if any(p.priority < prio and _terminating_by_preemption(p) for p in node.pods.values()):
                    return NOT_ELIGIBLE_TERMINATING
        return ""

    def num_candidates(self, num_nodes: int) -> int:
        n = num_nodes * self.min_pct // 100
        if n < self.min_abs:
            n = self.min_abs
        return min(n, num_nodes)

    def select_victims(self, cycle: CycleState, pod: Mapping[str, Any],
                       node: NodeInfo) -> tuple[list[PodInfo], Status | None]:
        """``SelectVictimsOnNode`` (without PodDisruptionBudgets)."""
        assert self.handle is not None
        prio = cycle.pod_info.priority
        potential = [p for p in node.pods.values() if p.priority < prio]
        if not potential:
            return [], Status(UNSCHEDULABLE_AND_UNRESOLVABLE, NO_PREEMPTION_VICTIMS)
        clone = node.clone()
        cyc = cycle.clone()
        for victim in potential:
            clone.remove_pod(victim.uid)
            self.handle.run_prefilter_remove_pod(cyc, pod, victim, clone)
        status = self.handle.run_filter_plugins(cyc, pod, clone)
        if status is not None:
            return [], status
        # Reprieve as many pods as possible, most important first.
        potential.sort(key=lambda p: (-p.priority, _start_time(p)))
        victims: list[PodInfo] = []
        for info in potential:
            clone.add_pod(info)
            self.handle.run_prefilter_add_pod(cyc, pod, info, clone)
            if self.handle.run_filter_plugins(cyc, pod, clone) is not None:
                clone.remove_pod(info.uid)
                self.handle.run_prefilter_remove_pod(cyc, pod, info, clone)
                victims.append(info)
        return victims, None

    def post_filter(self, cycle: CycleState, pod: Mapping[str, Any],
                    statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status]:
        not_eligible = self._eligible(cycle, pod, statuses)
        if not_eligible:
            return None, Status(UNSCHEDULABLE, "preemption: " + not_eligible)
        node_statuses: dict[str, Status] = {}
        potential: list[NodeInfo] = []
        for node in cycle.state.node_list():
            st = statuses.get(node.name)
            if st is not None and st.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
                node_statuses[node.name] = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, PREEMPTION_NOT_HELPFUL)
            else:
                potential.append(node)
        candidates: list[tuple[NodeInfo, list[PodInfo]]] = []
        if potential:
            offset = cycle.rng.randrange(len(potential))
            wanted = self.num_candidates(len(potential))
            for i in range(len(potential)):
                node = potential[(offset + i) % len(potential)]
                victims, st = self.select_victims(cycle, pod, node)
                if st is None and victims:
                    candidates.append((node, victims))
                    if len(candidates) >= wanted:
                        break
                    continue
                if st is None:
                    st = Status("Error", f'expected at least one victim pod on node "{node.name}"')
                node_statuses[node.name] = st
        if not candidates:
            inner = fit_error_message(len(node_statuses), node_statuses)
            return None, Status(UNSCHEDULABLE, "preemption: " + inner)
        best_node, victims = min(candidates, key=self._candidate_rank)
        return PostFilterResult(best_node.name, [v.key for v in victims]), Status(SUCCESS)

    @staticmethod
    def _candidate_rank(candidate: tuple[NodeInfo, list[PodInfo]]) -> tuple:
        """``pickOneNodeForPreemption`` criteria (no PDB violations are tracked)."""
        _, victims = candidate
        highest = max(v.priority for v in victims)
        total = sum(v.priority + MAX_INT32 + 1 for v in victims)
        return (highest, total, len(victims))
