"""TaintToleration (Filter, PreScore, Score, NormalizeScore).

Filter: the first NoSchedule/NoExecute taint the pod does not tolerate rejects the node.
Score: number of PreferNoSchedule taints not tolerated (by tolerations with effect
PreferNoSchedule or empty), normalized in reverse (fewest -> 100).
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import UNSCHEDULABLE_AND_UNRESOLVABLE, CycleState, Plugin, Status
from scheduler.core.plugins.helper import (
    TAINT_PREFER_NO_SCHEDULE, default_normalize_score, find_untolerated_do_not_schedule, parse_tolerations,
    tolerations_tolerate,
)
from scheduler.core.state import NodeInfo

_TOLERATIONS = "TaintToleration/tolerations"
_PREFER = "PreScoreTaintToleration"
_VERDICTS = "TaintToleration/verdicts"  # taints -> the first untolerated one, or None


class TaintToleration(Plugin):
    name = "TaintToleration"

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return self.filter_nodes(cycle, pod, [node])[0]

    def filter_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[Status | None]:
        # Nodes of a pool carry equal taints: the verdict for the pod's tolerations is computed
        # once per distinct taint list in a cycle (a tuple of tuples of strings: hashable).
        memo = cycle.data.get(_VERDICTS)
        if memo is None:
            memo = cycle.data[_VERDICTS] = {}
        out: list[Status | None] = []
        for node in nodes:
            taints = node.taints
            if not taints:
                out.append(None)
                continue
            if taints in memo:
                taint = memo[taints]
            else:
                tols = cycle.data.get(_TOLERATIONS)
                if tols is None:
                    tols = cycle.data[_TOLERATIONS] = parse_tolerations(pod)
                taint = memo[taints] = find_untolerated_do_not_schedule(taints, tols)
            out.append(None if taint is None else Status(
                UNSCHEDULABLE_AND_UNRESOLVABLE, f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}"))
        return out

    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        cycle.data[_PREFER] = tuple(t for t in parse_tolerations(pod) if t[3] in ("", TAINT_PREFER_NO_SCHEDULE))
        return None

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        tols = cycle.data.get(_PREFER)
        if tols is None:
            tols = tuple(t for t in parse_tolerations(pod) if t[3] in ("", TAINT_PREFER_NO_SCHEDULE))
        out = []
        for node in nodes:
            count = 0
            for taint in node.taints:
                if taint[2] == TAINT_PREFER_NO_SCHEDULE and not tolerations_tolerate(tols, taint):
                    count += 1
            out.append(count)
        return out

    def normalize_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo],
                        scores: list[int]) -> None:
        default_normalize_score(scores, reverse=True)
