"""NodeResourcesFit (PreFilter, Filter, PreScore, Score).

Filter (``fitsRequest``): pod count, then cpu, memory, ephemeral-storage and scalar
resources against allocatable minus the *real* requests already on the node; every
shortage is reported ("Insufficient cpu", ...).

Score: one of the v1.29 strategies over ``scoringStrategy.resources``, using the
*non-zero* requests (100m cpu / 200Mi memory for containers that set none):

* LeastAllocated: ``(alloc - req) * 100 // alloc`` (0 when over-committed)
* MostAllocated: ``min(req, alloc) * 100 // alloc``
* RequestedToCapacityRatio: broken-linear shape over ``req * 100 // alloc``

combined as a weighted mean over resources with allocatable > 0.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.helper import MAX_NODE_SCORE, NodeMemo, div_trunc, go_round
from scheduler.core.resources import (
    CPU, EPHEMERAL_STORAGE, MEMORY, NON_ZERO_DEFAULTS, is_scalar_resource, pod_requests,
)
from scheduler.core.state import NodeInfo
from scheduler.core.status import UNSCHEDULABLE, Status

_PREFILTER = "PreFilterNodeResourcesFit"
_PRESCORE = "PreScoreNodeResourcesFit"
MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10
Scorer = Callable[[list[int], list[int]], int]  # (requested, allocatable) per resource -> node score


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    if requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    if requested > capacity:
        requested = capacity
    return requested * MAX_NODE_SCORE // capacity


def broken_linear_function(shape: list[tuple[int, int]]) -> Callable[[int], int]:
    """``helper.BuildBrokenLinearFunction`` with Go's truncating integer division."""
    def fn(p: int) -> int:
        for i, (util, score) in enumerate(shape):
            if p <= util:
                if i == 0:
                    return shape[0][1]
                pu, ps = shape[i - 1]
                return ps + div_trunc((score - ps) * (p - pu), util - pu)
        return shape[-1][1]
    return fn


def weighted_scorer(per_resource: Callable[[int, int], int], weights: list[int]) -> Scorer:
    def scorer(requested: list[int], allocatable: list[int]) -> int:
        node_score = weight_sum = 0
        for i, alloc in enumerate(allocatable):
            if alloc == 0:
                continue
            node_score += per_resource(requested[i], alloc) * weights[i]
            weight_sum += weights[i]
        return 0 if weight_sum == 0 else node_score // weight_sum
    return scorer


def rtcr_scorer(shape_points: list[Mapping[str, int]], weights: list[int]) -> Scorer:
    shape = [(int(p.get("utilization", 0)), int(p.get("score", 0)) * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE))
             for p in shape_points]
    raw = broken_linear_function(shape)

    def resource_score(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def scorer(requested: list[int], allocatable: list[int]) -> int:
        node_score = weight_sum = 0
        for i, alloc in enumerate(allocatable):
            if alloc == 0:
                continue
            score = resource_score(requested[i], alloc)
            if score > 0:
                node_score += score * weights[i]
                weight_sum += weights[i]
        return 0 if weight_sum == 0 else go_round(node_score / weight_sum)
    return scorer


def allocatable_and_requested(node: NodeInfo, name: str, pod_request: int, use_requested: bool) -> tuple[int, int]:
    """``calculateResourceAllocatableRequest``."""
    if pod_request == 0 and is_scalar_resource(name):
        return 0, 0
    if name == CPU:
        base = node.requested.milli_cpu if use_requested else node.non0_cpu
        return node.allocatable.milli_cpu, base + pod_request
    if name == MEMORY:
        base = node.requested.memory if use_requested else node.non0_mem
        return node.allocatable.memory, base + pod_request
    if name == EPHEMERAL_STORAGE:
        return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request
    if name in node.allocatable.scalars:
        return node.allocatable.scalars[name], node.requested.scalars.get(name, 0) + pod_request
    return 0, 0


class NodeResourcesFit(Plugin):
    name = "NodeResourcesFit"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        args = args or {}
        strategy = args.get("scoringStrategy") or {
            "type": "LeastAllocated", "resources": [{"name": CPU, "weight": 1}, {"name": MEMORY, "weight": 1}]}
        self.strategy = strategy.get("type") or "LeastAllocated"
        self.resources = [(r["name"], int(r.get("weight") or 1)) for r in strategy.get("resources") or ()]
        weights = [w for _, w in self.resources]
        if self.strategy == "MostAllocated":
            self._scorer = weighted_scorer(most_requested_score, weights)
        elif self.strategy == "RequestedToCapacityRatio":
            shape = (strategy.get("requestedToCapacityRatio") or {}).get("shape") or []
            self._scorer = rtcr_scorer(shape, weights)
        else:
            self._scorer = weighted_scorer(least_requested_score, weights)
        self.ignored_resources = frozenset(args.get("ignoredResources") or ())
        self.ignored_groups = frozenset(args.get("ignoredResourceGroups") or ())
        # The common case (cpu + memory, no extended resources) gets an inlined fast path.
        self._cpu_mem_only = [n for n, _ in self.resources] == [CPU, MEMORY]
        self._fits_memo = NodeMemo()  # Filter verdicts per pod requests (PreFilter state) and node generation
        self._score_memo = NodeMemo()

    # ---------------------------------------------------------------- filter
    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> None:
        req = cycle.pod_info.requested
        scalars = tuple((name, q) for name, q in req.scalars.items() if q and not self._ignored(name))
        cycle.data[_PREFILTER] = (req.milli_cpu, req.memory, req.ephemeral_storage, scalars,
                                  req.is_zero())
        return None

    def _ignored(self, name: str) -> bool:
        if "/" not in name or name.startswith("kubernetes.io/") or "kubernetes.io/" in name:
            return False  # only extended resources can be ignored
        return name in self.ignored_resources or name.split("/", 1)[0] in self.ignored_groups

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return self.filter_nodes(cycle, pod, [node])[0]

    def filter_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[Status | None]:
        """``fitsRequest`` for each node (the framework's batch form of Filter)."""
        pre = cycle.data.get(_PREFILTER)
        if pre is None:
            self.pre_filter(cycle, pod)
            pre = cycle.data[_PREFILTER]
        return self._fits_memo.results(pre, nodes, lambda todo: self._fits(pre, todo))

    @staticmethod
    def _fits(pre: tuple[Any, ...], nodes: list[NodeInfo]) -> list[Status | None]:
        cpu, mem, eph, scalars, zero = pre
        out: list[Status | None] = []
        for node in nodes:
            reasons = None
            if len(node.pods) + 1 > node.allowed_pods:
                reasons = ["Too many pods"]
            if zero:
                out.append(Status(UNSCHEDULABLE, *reasons) if reasons else None)
                continue
            alloc = node.allocatable
            used = node.requested
            if cpu > 0 and cpu > alloc.milli_cpu - used.milli_cpu:
                reasons = (reasons or []) + ["Insufficient cpu"]
            if mem > 0 and mem > alloc.memory - used.memory:
                reasons = (reasons or []) + ["Insufficient memory"]
            if eph > 0 and eph > alloc.ephemeral_storage - used.ephemeral_storage:
                reasons = (reasons or []) + ["Insufficient ephemeral-storage"]
            for name, qty in scalars:
                if qty > alloc.scalars.get(name, 0) - used.scalars.get(name, 0):
                    reasons = (reasons or []) + [f"Insufficient {name}"]
            out.append(Status(UNSCHEDULABLE, *reasons) if reasons else None)
        return out

    # ---------------------------------------------------------------- score
    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> None:
        cycle.data[_PRESCORE] = self._pod_requests(pod)
        return None

    def _pod_requests(self, pod: Mapping[str, Any]) -> list[int]:
        reqs = pod_requests(pod, NON_ZERO_DEFAULTS)
        return [reqs.get(name, 0) for name, _ in self.resources]

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        pod_reqs = cycle.data.get(_PRESCORE)
        if pod_reqs is None:
            pod_reqs = self._pod_requests(pod)
        # A node's score depends on the node (its generation) and the pod's requests only.
        return self._score_memo.results(tuple(pod_reqs), nodes, lambda todo: self._score(pod_reqs, todo))

    def _score(self, pod_reqs: list[int], nodes: list[NodeInfo]) -> list[int]:
        scorer = self._scorer
        if self._cpu_mem_only and self.strategy in ("LeastAllocated", "MostAllocated"):
            return self._score_cpu_mem(pod_reqs, nodes)
        if self._cpu_mem_only:
            pcpu, pmem = pod_reqs
            return [scorer([n.non0_cpu + pcpu, n.non0_mem + pmem], [n.allocatable.milli_cpu, n.allocatable.memory])
                    for n in nodes]
        names = [name for name, _ in self.resources]
        out = []
        for node in nodes:
            requested, allocatable = [], []
            for name, preq in zip(names, pod_reqs):
                alloc, req = allocatable_and_requested(node, name, preq, use_requested=False)
                allocatable.append(alloc)
                requested.append(req if alloc else 0)
            out.append(scorer(requested, allocatable))
        return out

    def _score_cpu_mem(self, pod_reqs: list[int], nodes: list[NodeInfo]) -> list[int]:
        """weighted_scorer(least/most_requested_score) over cpu and memory, inlined: the same integer
        operations in the same order, without two calls and two lists per node."""
        pcpu, pmem = pod_reqs
        wcpu, wmem = (w for _, w in self.resources)
        least = self.strategy == "LeastAllocated"
        out = []
        for n in nodes:
            acpu, amem = n.allocatable.milli_cpu, n.allocatable.memory
            node_score = weight_sum = 0
            if acpu != 0:
                req = n.non0_cpu + pcpu
                if least:
                    node_score += (0 if req > acpu else (acpu - req) * MAX_NODE_SCORE // acpu) * wcpu
                else:
                    node_score += (acpu if req > acpu else req) * MAX_NODE_SCORE // acpu * wcpu
                weight_sum += wcpu
            if amem != 0:
                req = n.non0_mem + pmem
                if least:
                    node_score += (0 if req > amem else (amem - req) * MAX_NODE_SCORE // amem) * wmem
                else:
                    node_score += (amem if req > amem else req) * MAX_NODE_SCORE // amem * wmem
                weight_sum += wmem
            out.append(0 if weight_sum == 0 else node_score // weight_sum)
        return out

    def score(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> int:
        return self.score_nodes(cycle, pod, [node])[0]
