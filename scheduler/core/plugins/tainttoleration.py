"""TaintToleration (Filter, PreScore, Score, NormalizeScore).

Filter: the first NoSchedule/NoExecute taint the pod does not tolerate rejects the node.
Score: number of PreferNoSchedule taints not tolerated (by tolerations with effect
PreferNoSchedule or empty), normalized in reverse (fewest -> 100).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.helper import (
    TAINT_PREFER_NO_SCHEDULE, default_normalize_score, find_untolerated_do_not_schedule, parse_tolerations,
    tolerations_tolerate,
)
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE_AND_UNRESOLVABLE, Status

_TOLERATIONS = "TaintToleration/tolerations"
_PREFER = "PreScoreTaintToleration"
_VERDICTS = "TaintToleration/verdicts"  # id(node taints) -> the Filter status (None: all tolerated)
_TAINTS = attrgetter("taints")


class TaintToleration(Plugin):
    name = "TaintToleration"

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return self.filter_nodes(cycle, pod, [node])[0]

    def filter_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[Status | None]:
        # Nodes of a pool share one taint tuple (interned by NodeInfo.set_node): the verdict for the
        # pod's tolerations is decided once per taint tuple in a cycle, keyed by the tuple's id (the
        # nodes keep the tuples alive meanwhile), and handed out per node by C-level maps.
        memo = cycle.data.get(_VERDICTS)
        if memo is None:
            memo = cycle.data[_VERDICTS] = {id(()): None}
        taint_lists = list(map(_TAINTS, nodes))
        ids = list(map(id, taint_lists))
        if not memo.keys() >= set(ids):
            tols = cycle.data.get(_TOLERATIONS)
            if tols is None:
                tols = cycle.data[_TOLERATIONS] = parse_tolerations(pod)
            for key, taints in dict(zip(ids, taint_lists)).items():
                if key not in memo:
                    taint = find_untolerated_do_not_schedule(taints, tols)
                    memo[key] = None if taint is None else Status(
                        UNSCHEDULABLE_AND_UNRESOLVABLE,
                        f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}")
        return list(map(memo.__getitem__, ids))

    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        cycle.data[_PREFER] = tuple(t for t in parse_tolerations(pod) if t[3] in ("", TAINT_PREFER_NO_SCHEDULE))
        return None

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        tols = cycle.data.get(_PREFER)
        if tols is None:
            tols = tuple(t for t in parse_tolerations(pod) if t[3] in ("", TAINT_PREFER_NO_SCHEDULE))
        # PreferNoSchedule taints not tolerated, once per distinct taint tuple (see filter_nodes).
        taint_lists = list(map(_TAINTS, nodes))
        ids = list(map(id, taint_lists))
        counts = {key: sum(1 for taint in taints
                           if taint[2] == TAINT_PREFER_NO_SCHEDULE and not tolerations_tolerate(tols, taint))
                  for key, taints in dict(zip(ids, taint_lists)).items()}
        return list(map(counts.__getitem__, ids))

    def normalize_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo],
                        scores: list[int]) -> None:
        default_normalize_score(scores, reverse=True)
