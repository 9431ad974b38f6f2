"""NodeResourcesBalancedAllocation (PreScore, Score): prefer nodes whose resource fractions are even.

Uses the *real* requests (no non-zero defaults) on both sides:
``score = int((1 - std(fractions)) * 100)`` with fractions capped at 1 and computed
over resources with allocatable > 0 (for two resources std = |f1 - f2| / 2).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from scheduler.core.framework import MAX_NODE_SCORE, CycleState, Plugin
from scheduler.core.plugins.helper import NodeMemo
from scheduler.core.plugins.noderesourcesfit import allocatable_and_requested
from scheduler.core.resources import CPU, MEMORY, pod_requests
from scheduler.core.state import NodeInfo

_PRESCORE = "PreScoreNodeResourcesBalancedAllocation"


def balanced_resource_score(requested: list[int], allocatable: list[int]) -> int:
    fractions = []
    total = 0.0
    for req, alloc in zip(requested, allocatable):
        if alloc == 0:
            continue
        fraction = req / alloc
        if fraction > 1:
            fraction = 1.0
        total += fraction
        fractions.append(fraction)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class NodeResourcesBalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        resources = (args or {}).get("resources") or [{"name": CPU}, {"name": MEMORY}]
        self.resources = [r["name"] for r in resources]
        self._cpu_mem_only = self.resources == [CPU, MEMORY]
        self._memo = NodeMemo()

    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> None:
        cycle.data[_PRESCORE] = self._pod_requests(pod)
        return None

    def _pod_requests(self, pod: Mapping[str, Any]) -> list[int]:
        reqs = pod_requests(pod)
        return [reqs.get(name, 0) for name in self.resources]

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        pod_reqs = cycle.data.get(_PRESCORE)
        if pod_reqs is None:
            pod_reqs = self._pod_requests(pod)
        # A node's score depends on the node (its generation) and the pod's requests only.
        return self._memo.results(tuple(pod_reqs), nodes, lambda todo: self._score(pod_reqs, todo))

    def _score(self, pod_reqs: list[int], nodes: list[NodeInfo]) -> list[int]:
        if self._cpu_mem_only:
            pcpu, pmem = pod_reqs
            out = []
            for n in nodes:
                acpu, amem = n.allocatable.milli_cpu, n.allocatable.memory
                if acpu and amem:
                    fc = (n.requested.milli_cpu + pcpu) / acpu
                    fm = (n.requested.memory + pmem) / amem
                    fc = 1.0 if fc > 1 else fc
                    fm = 1.0 if fm > 1 else fm
                    out.append(int((1 - abs((fc - fm) / 2)) * MAX_NODE_SCORE))
                else:
                    out.append(balanced_resource_score([n.requested.milli_cpu + pcpu, n.requested.memory + pmem],
                                                       [acpu, amem]))
            return out
        out = []
        for node in nodes:
            requested, allocatable = [], []
            for name, preq in zip(self.resources, pod_reqs):
                alloc, req = allocatable_and_requested(node, name, preq, use_requested=True)
                allocatable.append(alloc)
                requested.append(req)
            out.append(balanced_resource_score(requested, allocatable))
        return out

    def score(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> int:
        return self.score_nodes(cycle, pod, [node])[0]
