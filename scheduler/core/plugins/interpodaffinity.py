"""InterPodAffinity (PreFilter, Filter, PreScore, Score, NormalizeScore).

Filter: the pod's required affinity must be satisfied in the node's topology domain
(or the pod is the first of a self-affine group), its required anti-affinity must not
match pods in the domain, and existing pods' required anti-affinity must not match it.
Score: weighted preferred (anti-)affinity terms of the incoming pod against existing
pods, plus existing pods' terms against the incoming pod (hard affinity terms count
with ``hardPodAffinityWeight``), summed per topology domain and min-max normalized.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.helper import MAX_NODE_SCORE, AffinityTerm
from scheduler.core.state import NodeInfo, PodInfo
from scheduler.core.status import SKIP, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, Status

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
_PREFILTER = "PreFilterInterPodAffinity"
_PRESCORE = "PreScoreInterPodAffinity"

Counts = dict[tuple[str, str], int]


def _update(counts: Counts, node: NodeInfo, key: str, value: int) -> None:
    if key in node.labels:
        pair = (key, node.labels[key])
        counts[pair] = counts.get(pair, 0) + value
        if counts[pair] == 0:
            del counts[pair]


def _matches_all(terms: Iterable[AffinityTerm], info: PodInfo) -> bool:
    terms = tuple(terms)
    if not terms:
        return False
    return all(t.matches(info.namespace, info.labels, None) for t in terms)


class _FilterState:
    def __init__(self, pod_info: PodInfo, ns_labels: Mapping[str, str]) -> None:
        self.pod_info = pod_info
        self.ns_labels = ns_labels
        self.existing_anti: Counts = {}
        self.affinity: Counts = {}
        self.anti_affinity: Counts = {}

    def clone(self) -> "_FilterState":
        other = _FilterState(self.pod_info, self.ns_labels)
        other.existing_anti = dict(self.existing_anti)
        other.affinity = dict(self.affinity)
        other.anti_affinity = dict(self.anti_affinity)
        return other

    def update_with_pod(self, info: PodInfo, node: NodeInfo, delta: int) -> None:
        pi = self.pod_info
        for t in info.required_anti_affinity:
            if t.matches(pi.namespace, pi.labels, self.ns_labels):
                _update(self.existing_anti, node, t.topology_key, delta)
        if _matches_all(pi.required_affinity, info):
            for t in pi.required_affinity:
                _update(self.affinity, node, t.topology_key, delta)
        for t in pi.required_anti_affinity:
            if t.matches(info.namespace, info.labels, None):
                _update(self.anti_affinity, node, t.topology_key, delta)


class InterPodAffinity(Plugin):
    name = "InterPodAffinity"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        args = args or {}
        self.hard_weight = int(args.get("hardPodAffinityWeight", 1))
        self.ignore_existing_preferred = bool(args.get("ignorePreferredTermsOfExistingPods", False))

    # ---------------------------------------------------------------- filter
    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        state = cycle.state
        pi = cycle.pod_info
        for t in (*pi.required_affinity, *pi.required_anti_affinity):
            t.merge_namespace_selector(state.namespace_labels)
        ns_labels = state.namespace_labels.get(pi.namespace) or {}
        fs = _FilterState(pi, ns_labels)
        for node in state.nodes_with_required_anti_affinity():
            for info in node.pods_with_required_anti_affinity.values():
                for t in info.required_anti_affinity:
                    if t.matches(pi.namespace, pi.labels, ns_labels):
                        _update(fs.existing_anti, node, t.topology_key, 1)
        if pi.required_affinity or pi.required_anti_affinity:
            for node in state.node_list():
                for info in node.pods.values():
                    if _matches_all(pi.required_affinity, info):
                        for t in pi.required_affinity:
                            _update(fs.affinity, node, t.topology_key, 1)
                    for t in pi.required_anti_affinity:
                        if t.matches(info.namespace, info.labels, None):
                            _update(fs.anti_affinity, node, t.topology_key, 1)
        if not fs.existing_anti and not pi.required_affinity and not pi.required_anti_affinity:
            return Status(SKIP)
        cycle.data[_PREFILTER] = fs
        return None

    def add_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        fs = cycle.data.get(_PREFILTER)
        if fs is not None:
            fs.update_with_pod(other, node, 1)

    def remove_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        fs = cycle.data.get(_PREFILTER)
        if fs is not None:
            fs.update_with_pod(other, node, -1)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        fs: _FilterState | None = cycle.data.get(_PREFILTER)
        if fs is None:
            return None
        pi = fs.pod_info
        labels = node.labels
        # satisfyPodAffinity
        pods_exist = True
        for t in pi.required_affinity:
            if t.topology_key not in labels:
                return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_AFFINITY)
            if fs.affinity.get((t.topology_key, labels[t.topology_key]), 0) <= 0:
                pods_exist = False
        if not pods_exist and not (not fs.affinity and _matches_all(pi.required_affinity, pi)):
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_AFFINITY)
        # satisfyPodAntiAffinity
        if fs.anti_affinity:
            for t in pi.required_anti_affinity:
                if t.topology_key in labels and fs.anti_affinity.get((t.topology_key, labels[t.topology_key]), 0) > 0:
                    return Status(UNSCHEDULABLE, ERR_REASON_ANTI_AFFINITY)
        # satisfyExistingPodsAntiAffinity
        if fs.existing_anti:
            for key, value in labels.items():
                if fs.existing_anti.get((key, value), 0) > 0:
                    return Status(UNSCHEDULABLE, ERR_REASON_EXISTING_ANTI_AFFINITY)
        return None

    # ---------------------------------------------------------------- score
    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        if not nodes:
            return None
        state = cycle.state
        pi = cycle.pod_info
        has_preferred = bool(pi.preferred_affinity or pi.preferred_anti_affinity)
        if self.ignore_existing_preferred and not has_preferred:
            return Status(SKIP)
        all_nodes = state.node_list() if has_preferred else state.nodes_with_affinity_pods()
        if not all_nodes:
            return Status(SKIP)
        for t in (*pi.preferred_affinity, *pi.preferred_anti_affinity):
            t.merge_namespace_selector(state.namespace_labels)
        ns_labels = state.namespace_labels.get(pi.namespace) or {}
        topo: dict[str, dict[str, int]] = {}

        def add(term: AffinityTerm, weight: int, node: NodeInfo) -> None:
            value = node.labels.get(term.topology_key)
            if value is not None:
                bucket = topo.setdefault(term.topology_key, {})
                bucket[value] = bucket.get(value, 0) + weight

        for node in all_nodes:
            if not node.labels:
                continue
            pods = node.pods.values() if has_preferred else node.pods_with_affinity.values()
            for ep in pods:
                for t in pi.preferred_affinity:
                    if t.matches(ep.namespace, ep.labels, None):
                        add(t, t.weight, node)
                for t in pi.preferred_anti_affinity:
                    if t.matches(ep.namespace, ep.labels, None):
                        add(t, -t.weight, node)
                if self.hard_weight > 0:
                    for t in ep.required_affinity:
                        if t.matches(pi.namespace, pi.labels, ns_labels):
                            add(t, self.hard_weight, node)
                for t in ep.preferred_affinity:
                    if t.matches(pi.namespace, pi.labels, ns_labels):
                        add(t, t.weight, node)
                for t in ep.preferred_anti_affinity:
                    if t.matches(pi.namespace, pi.labels, ns_labels):
                        add(t, -t.weight, node)
        if not topo:
            return Status(SKIP)
        cycle.data[_PRESCORE] = topo
        return None

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        topo = cycle.data.get(_PRESCORE) or {}
        out = []
        for node in nodes:
            score = 0
            for key, values in topo.items():
                value = node.labels.get(key)
                if value is not None:
                    score += values.get(value, 0)
            out.append(score)
        return out

    def normalize_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo],
                        scores: list[int]) -> None:
        lo, hi = min(scores), max(scores)
        diff = hi - lo
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * ((s - lo) / diff)) if diff > 0 else 0
