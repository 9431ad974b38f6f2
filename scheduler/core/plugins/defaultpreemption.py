"""DefaultPreemption (PostFilter): can evicting lower-priority pods make the pod fit?

It reproduces the decision and the message of kube-scheduler v1.29.15's preemption
(``pkg/scheduler/framework/preemption/preemption.go`` ``Evaluator.Preempt`` and
``framework/plugins/defaultpreemption/default_preemption.go``):

* ``PodEligibleToPreemptOthers``: ``preemptionPolicy: Never`` and a terminating victim on the
  nominated node make the pod ineligible;
* ``nodesWherePreemptionMightHelp``: only nodes whose filter status is ``Unschedulable`` are tried;
  the others are "Preemption is not helpful for scheduling";
* ``SelectVictimsOnNode``: remove every lower-priority pod, re-filter, then reprieve pods most
  important first — PodDisruptionBudget-violating ones before the others — and count the victims
  that violate a budget;
* ``DryRunPreemption`` from a random offset until enough candidates are found;
* ``pickOneNodeForPreemption``: fewest PDB violations, lowest highest-priority victim, smallest
  priority sum, fewest victims, latest start time of the highest-priority victims.  Upstream's last
  tie-break is the order of its parallel dry run (effectively random), so the result also carries
  the whole tie set (``PostFilterResult.tied``).

The decision is pure: the I/O shell (``scheduler.runtime.preemption``) sets nominatedNodeName and
deletes the victims.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from scheduler.core.framework import CycleState, Plugin, PostFilterResult
from scheduler.core.messages import (
    NO_PREEMPTION_VICTIMS, NOT_ELIGIBLE_NEVER, NOT_ELIGIBLE_TERMINATING, PREEMPTION_NOT_HELPFUL,
    fit_error_message,
)
from scheduler.core.plugins.helper import compile_label_selector, is_everything
from scheduler.core.state import NodeInfo, PodInfo
from scheduler.core.status import ERROR, SUCCESS, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, Status

MAX_INT32 = 2**31 - 1
# GetPodStartTime: a pod without status.startTime counts as started "now", i.e. after every real one.
_NOW = "9999-12-31T23:59:59Z"


def _terminating_by_preemption(info: PodInfo) -> bool:
    """``podTerminatingByPreemption`` with the PodDisruptionConditions gate on (default in 1.29)."""
    if not info.terminating:
        return False
    for cond in (info.pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget":
            return bool(cond.get("status") == "True" and cond.get("reason") == "PreemptionByScheduler")
    return False


def start_time(info: PodInfo) -> str:
    """``util.GetPodStartTime`` as a sortable RFC 3339 string."""
    return (info.pod.get("status") or {}).get("startTime") or _NOW


def more_important(a: PodInfo, b: PodInfo) -> bool:
    """``util.MoreImportantPod``: higher priority, then earlier start time."""
    if a.priority != b.priority:
        return a.priority > b.priority
    return start_time(a) < start_time(b)


def _importance_key(info: PodInfo) -> tuple[int, str]:
    return (-info.priority, start_time(info))


def filter_pods_with_pdb_violation(infos: list[PodInfo], pdbs: Iterable[Mapping[str, Any]]
                                   ) -> tuple[list[PodInfo], list[PodInfo]]:
    """``filterPodsWithPDBViolation``: (violating, non-violating), each in the given order."""
    pdb_list = list(pdbs)
    allowed = [int(((p.get("status") or {}).get("disruptionsAllowed")) or 0) for p in pdb_list]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for info in infos:
        violated = False
        if info.labels:
            for i, pdb in enumerate(pdb_list):
                meta = pdb.get("metadata") or {}
                if (meta.get("namespace") or "default") != info.namespace:
                    continue
                matcher = compile_label_selector((pdb.get("spec") or {}).get("selector"))
                # A nil or empty selector matches nothing (selector.Empty()).
                if is_everything(matcher) or not matcher(info.labels):
                    continue
                if info.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else non_violating).append(info)
    return violating, non_violating


class Candidate:
    """A node where preemption would make the pod fit, with its victims (most important first)."""

    __slots__ = ("node", "victims", "num_pdb_violations")

    def __init__(self, node: str, victims: list[PodInfo], num_pdb_violations: int) -> None:
        self.node = node
        self.victims = victims
        self.num_pdb_violations = num_pdb_violations


def _earliest_start_of_highest(victims: list[PodInfo]) -> str:
    """``util.GetEarliestPodStartTime``."""
    best_prio = victims[0].priority
    earliest = start_time(victims[0])
    for v in victims:
        if v.priority == best_prio:
            earliest = min(earliest, start_time(v))
        elif v.priority > best_prio:
            best_prio, earliest = v.priority, start_time(v)
    return earliest


# pickOneNodeForPreemption's score functions, in precedence order (higher is better).
SCORE_FUNCS: tuple[Callable[[Candidate], Any], ...] = (
    lambda c: -c.num_pdb_violations,
    lambda c: -c.victims[0].priority,
    lambda c: -sum(v.priority + MAX_INT32 + 1 for v in c.victims),
    lambda c: -len(c.victims),
    lambda c: _earliest_start_of_highest(c.victims),
)


def pick_candidates(candidates: list[Candidate]) -> list[Candidate]:
    """``pickOneNodeForPreemption`` without its final "first in the list": every candidate left tied."""
    remaining = list(candidates)
    for f in SCORE_FUNCS:
        if len(remaining) <= 1:
            break
        best = max(f(c) for c in remaining)
        remaining = [c for c in remaining if f(c) == best]
    return remaining


class DefaultPreemption(Plugin):
    name = "DefaultPreemption"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        args = args or {}
        self.min_pct = int(args.get("minCandidateNodesPercentage", 10))
        self.min_abs = int(args.get("minCandidateNodesAbsolute", 100))

    def _eligible(self, cycle: CycleState, pod: Mapping[str, Any], statuses: Mapping[str, Status]) -> str:
        """``PodEligibleToPreemptOthers``: "" when eligible, else the reason."""
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
        """``GetOffsetAndNumCandidates`` (the count; the offset is drawn in post_filter)."""
        n = num_nodes * self.min_pct // 100
        if n < self.min_abs:
            n = self.min_abs
        return min(n, num_nodes)

    def select_victims(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo,
                       pdbs: list[Mapping[str, Any]] | None = None
                       ) -> tuple[list[PodInfo], int, Status | None]:
        """``SelectVictimsOnNode``: (victims most important first, PDB-violating victims, failure)."""
        assert self.handle is not None
        prio = cycle.pod_info.priority
        potential = [p for p in node.pods.values() if p.priority < prio]
        if not potential:
            return [], 0, Status(UNSCHEDULABLE_AND_UNRESOLVABLE, NO_PREEMPTION_VICTIMS)
        clone = node.clone()
        cyc = cycle.clone()
        for victim in potential:
            clone.remove_pod(victim.uid)
            self.handle.run_prefilter_remove_pod(cyc, pod, victim, clone)
        status = self.handle.run_filter_plugins(cyc, pod, clone)
        if status is not None:
            return [], 0, status
        potential.sort(key=_importance_key)
        violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs or ())
        victims: list[PodInfo] = []
        num_violating = 0
        handle = self.handle
        assert handle is not None  # profiles give every plugin their Handle

        def reprieve(info: PodInfo) -> bool:
            clone.add_pod(info)
            handle.run_prefilter_add_pod(cyc, pod, info, clone)
            if handle.run_filter_plugins(cyc, pod, clone) is None:
                return True
            clone.remove_pod(info.uid)
            handle.run_prefilter_remove_pod(cyc, pod, info, clone)
            victims.append(info)
            return False

        for info in violating:
            if not reprieve(info):
                num_violating += 1
        for info in non_violating:
            reprieve(info)
        if violating and non_violating:
            victims.sort(key=_importance_key)
        return victims, num_violating, None

    def find_candidates(self, cycle: CycleState, pod: Mapping[str, Any], statuses: Mapping[str, Status]
                        ) -> tuple[list[Candidate], dict[str, Status]]:
        """``findCandidates`` + ``nodesWherePreemptionMightHelp`` + ``DryRunPreemption``."""
        node_statuses: dict[str, Status] = {}
        potential: list[NodeInfo] = []
        for node in cycle.state.node_list():
            st = statuses.get(node.name)
            if st is not None and st.code == UNSCHEDULABLE:
                potential.append(node)
            elif st is None or st.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
                node_statuses[node.name] = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, PREEMPTION_NOT_HELPFUL)
        if not potential:
            return [], node_statuses
        pdbs = list(getattr(cycle.state, "pdbs", {}).values())
        offset = cycle.rng.randrange(len(potential))
        wanted = self.num_candidates(len(potential))
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)]
            victims, num_violating, st = self.select_victims(cycle, pod, node, pdbs)
            if st is None and victims:
                (violating if num_violating else non_violating).append(Candidate(node.name, victims, num_violating))
                if non_violating and len(non_violating) + len(violating) >= wanted:
                    break
                continue
            if st is None:
                st = Status(ERROR, f'expected at least one victim pod on node "{node.name}"')
            node_statuses[node.name] = st
        return non_violating + violating, node_statuses

    def post_filter(self, cycle: CycleState, pod: Mapping[str, Any],
                    statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status]:
        """``DefaultPreemption.PostFilter`` → ``Evaluator.Preempt`` (without the API calls)."""
        not_eligible = self._eligible(cycle, pod, statuses)
        if not_eligible:
            return None, Status(UNSCHEDULABLE, "preemption: " + not_eligible)
        candidates, node_statuses = self.find_candidates(cycle, pod, statuses)
        if not candidates:
            inner = fit_error_message(len(node_statuses), node_statuses)
            # NewPostFilterResultWithNominatedNode(""): clears a previous nomination.
            return PostFilterResult(None, []), Status(UNSCHEDULABLE, "preemption: " + inner)
        tied = pick_candidates(candidates)
        best = tied[0]
        return (PostFilterResult(best.node, [v.key for v in best.victims],
                                 tied={c.node: [v.key for v in c.victims] for c in tied},
                                 num_pdb_violations=best.num_pdb_violations),
                Status(SUCCESS))
