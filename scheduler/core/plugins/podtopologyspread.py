"""PodTopologySpread (PreFilter, Filter, PreScore, Score, NormalizeScore).

Hard constraints (DoNotSchedule) filter: ``matching + self - globalMin > maxSkew``
rejects a node.  Soft constraints (ScheduleAnyway) score: per node
``Σ count * ln(domains + 2) + (maxSkew - 1)``, normalized so that fewer matching pods
win.  Pods without constraints get the system defaults (hostname maxSkew 3, zone
maxSkew 5, ScheduleAnyway) *only* when ``helper.DefaultSelector`` finds a selector,
i.e. the pod is selected by a Service or owned by a ReplicationController,
ReplicaSet or StatefulSet known to the state; otherwise PreScore skips the plugin.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.helper import (
    LABEL_HOSTNAME, LABEL_ZONE, MAX_NODE_SCORE, LabelMatcher, RequiredNodeAffinity, Toleration, compile_label_selector,
    find_untolerated_do_not_schedule, go_round, is_everything, parse_tolerations,
)
from scheduler.core.state import NodeInfo, PodInfo
from scheduler.core.status import SKIP, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, Status

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
SYSTEM_DEFAULT_CONSTRAINTS = (
    {"maxSkew": 3, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY},
    {"maxSkew": 5, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY},
)
_PREFILTER = "PreFilterPodTopologySpread"
_PRESCORE = "PreScorePodTopologySpread"
MAX_INT32 = 2**31 - 1


class Constraint:
    __slots__ = ("max_skew", "key", "selector", "min_domains", "honor_affinity", "honor_taints")

    def __init__(self, raw: Mapping[str, Any], selector: LabelMatcher) -> None:
        self.max_skew = int(raw.get("maxSkew", 1))
        self.key = raw.get("topologyKey", "")
        self.selector = selector
        self.min_domains = int(raw.get("minDomains") or 1)
        self.honor_affinity = (raw.get("nodeAffinityPolicy") or "Honor") == "Honor"
        self.honor_taints = (raw.get("nodeTaintsPolicy") or "Ignore") == "Honor"

    def includes(self, pod: Mapping[str, Any], node: NodeInfo, required: RequiredNodeAffinity,
                 tolerations: tuple[Toleration, ...]) -> bool:
        """``matchNodeInclusionPolicies``."""
        if self.honor_affinity and not required.match(node.labels, node.name):
            return False
        if self.honor_taints and find_untolerated_do_not_schedule(node.taints, tolerations) is not None:
            return False
        return True


def count_pods_matching(node: NodeInfo, selector: LabelMatcher | None, namespace: str) -> int:
    """``countPodsMatchSelector``: same namespace, not terminating; an empty selector counts 0."""
    if selector is None or is_everything(selector):
        return 0
    count = 0
    for info in node.pods.values():
        if info.terminating or info.namespace != namespace:
            continue
        if selector(info.labels):
            count += 1
    return count


class _FilterState:
    """Pre-computed matching counts per topology pair (cloned for preemption dry runs)."""

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.pair_count: dict[tuple[str, str], int] = {}
        self.domains: dict[str, int] = {}
        self._min: dict[str, int] = {}

    def clone(self) -> "_FilterState":
        other = _FilterState(self.constraints)
        other.pair_count = dict(self.pair_count)
        other.domains = dict(self.domains)
        return other

    def min_match(self, key: str) -> int:
        if key not in self._min:
            values = [n for (k, _), n in self.pair_count.items() if k == key]
            self._min[key] = min(values) if values else MAX_INT32
        return self._min[key]

    def update(self, info: PodInfo, pod_ns: str, node: NodeInfo, delta: int) -> None:
        if info.namespace != pod_ns:
            return
        if not all(c.key in node.labels for c in self.constraints):
            return
        for c in self.constraints:
            if not c.selector(info.labels):
                continue
            pair = (c.key, node.labels[c.key])
            self.pair_count[pair] = self.pair_count.get(pair, 0) + delta
            self._min.pop(c.key, None)


class PodTopologySpread(Plugin):
    name = "PodTopologySpread"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        args = args or {}
        self.system_defaulted = (args.get("defaultingType") or "System") == "System"
        self.default_constraints = (list(SYSTEM_DEFAULT_CONSTRAINTS) if self.system_defaulted
                                    else list(args.get("defaultConstraints") or ()))

    # ---------------------------------------------------------------- constraints
    def _constraints(self, cycle: CycleState, pod: Mapping[str, Any], action: str) -> list[Constraint]:
        spec = pod.get("spec") or {}
        pod_labels = cycle.pod_info.labels
        explicit = spec.get("topologySpreadConstraints") or ()
        out: list[Constraint] = []
        if explicit:
            for raw in explicit:
                if raw.get("whenUnsatisfiable") != action:
                    continue
                sel = dict(raw.get("labelSelector") or {}) if raw.get("labelSelector") is not None else None
                keys = raw.get("matchLabelKeys") or ()
                if sel is not None and keys:
                    extra = [{"key": k, "operator": "In", "values": [pod_labels[k]]} for k in keys if k in pod_labels]
                    sel["matchExpressions"] = list(sel.get("matchExpressions") or ()) + extra
                out.append(Constraint(raw, compile_label_selector(sel)))
            return out
        defaults = [c for c in self.default_constraints if c.get("whenUnsatisfiable") == action]
        if not defaults:
            return []
        selector = cycle.state.default_selector(pod)
        if selector is None:
            return []
        return [Constraint(c, selector) for c in defaults]

    # ---------------------------------------------------------------- filter
    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        constraints = self._constraints(cycle, pod, DO_NOT_SCHEDULE)
        if not constraints:
            return Status(SKIP)
        state = _FilterState(constraints)
        required = RequiredNodeAffinity(pod)
        tolerations = parse_tolerations(pod)
        ns = cycle.pod_info.namespace
        for node in cycle.state.node_list():
            if not all(c.key in node.labels for c in constraints):
                continue
            for c in constraints:
                if not c.includes(pod, node, required, tolerations):
                    continue
                pair = (c.key, node.labels[c.key])
                if pair not in state.pair_count:
                    state.domains[c.key] = state.domains.get(c.key, 0) + 1
                    state.pair_count[pair] = 0
                state.pair_count[pair] += count_pods_matching(node, c.selector, ns)
        cycle.data[_PREFILTER] = state
        return None

    def add_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        state = cycle.data.get(_PREFILTER)
        if state is not None:
            state.update(other, cycle.pod_info.namespace, node, 1)

    def remove_pod(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo, node: NodeInfo) -> None:
        state = cycle.data.get(_PREFILTER)
        if state is not None:
            state.update(other, cycle.pod_info.namespace, node, -1)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        state: _FilterState | None = cycle.data.get(_PREFILTER)
        if state is None or not state.constraints:
            return None
        pod_labels = cycle.pod_info.labels
        for c in state.constraints:
            value = node.labels.get(c.key)
            if value is None:
                return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_NODE_LABEL_NOT_MATCH)
            self_match = 1 if c.selector(pod_labels) else 0
            min_match = state.min_match(c.key)
            if state.domains.get(c.key, 0) < c.min_domains:
                min_match = 0
            match_num = state.pair_count.get((c.key, value), 0)
            if match_num + self_match - min_match > c.max_skew:
                return Status(UNSCHEDULABLE, ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    # ---------------------------------------------------------------- score
    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        all_nodes = cycle.state.node_list()
        if not nodes or not all_nodes:
            return Status(SKIP)
        constraints = self._constraints(cycle, pod, SCHEDULE_ANYWAY)
        if not constraints:
            return Status(SKIP)
        explicit = bool((pod.get("spec") or {}).get("topologySpreadConstraints"))
        require_all = explicit or not self.system_defaulted
        ignored: set[str] = set()
        pair_count: dict[tuple[str, str], int] = {}
        topo_size = [0] * len(constraints)
        for node in nodes:
            if require_all and not all(c.key in node.labels for c in constraints):
                ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.key == LABEL_HOSTNAME:
                    continue
                pair = (c.key, node.labels.get(c.key, ""))
                if pair not in pair_count:
                    pair_count[pair] = 0
                    topo_size[i] += 1
        weights = []
        for i, c in enumerate(constraints):
            size = len(nodes) - len(ignored) if c.key == LABEL_HOSTNAME else topo_size[i]
            weights.append(math.log(size + 2))
        # Only pairs a scored node can read matter: Score skips nodes without the topology label, so a
        # pair created for nodes lacking it (value "") is never read and need not be counted.
        readable = {(c.key, n.labels[c.key]) for n in nodes if n.name not in ignored
                    for c in constraints if c.key != LABEL_HOSTNAME and c.key in n.labels}
        if readable:
            self._count_pairs(cycle, pod, constraints, readable, pair_count, require_all)
        cycle.data[_PRESCORE] = (constraints, weights, pair_count, ignored)
        return None

    def _count_pairs(self, cycle: CycleState, pod: Mapping[str, Any], constraints: list[Constraint],
                     readable: set[tuple[str, str]], pair_count: dict[tuple[str, str], int],
                     require_all: bool) -> None:
        """Add the matching pods of every included node to its (key, value) pairs.

        Walks the pods of the incoming pod's namespace (an index kept by the state) instead
        of every node, then applies the node checks once per node that hosts a match.
        """
        state = cycle.state
        required = RequiredNodeAffinity(pod)
        tolerations = parse_tolerations(pod)
        ns = cycle.pod_info.namespace
        zoned = [c for c in constraints if c.key != LABEL_HOSTNAME]
        node_ok: dict[str, list[Constraint]] = {}
        for info in state.pods_in_namespace(ns):
            if info.terminating:
                continue
            node = state.get_node_info(info.node_name or "")
            if node is None:
                continue
            usable = node_ok.get(node.name)
            if usable is None:
                if require_all and not all(c.key in node.labels for c in constraints):
                    usable = []
                else:
                    usable = [c for c in zoned if (c.key, node.labels.get(c.key, "")) in readable
                              and c.includes(pod, node, required, tolerations)]
                node_ok[node.name] = usable
            for c in usable:
                if not is_everything(c.selector) and c.selector(info.labels):
                    pair = (c.key, node.labels.get(c.key, ""))
                    pair_count[pair] += 1

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        constraints, weights, pair_count, ignored = cycle.data[_PRESCORE]
        ns = cycle.pod_info.namespace
        out = []
        for node in nodes:
            if node.name in ignored:
                out.append(0)
                continue
            score = 0.0
            for c, weight in zip(constraints, weights):
                value = node.labels.get(c.key)
                if value is None:
                    continue
                if c.key == LABEL_HOSTNAME:
                    cnt = count_pods_matching(node, c.selector, ns)
                else:
                    cnt = pair_count[(c.key, value)]
                score += cnt * weight + (c.max_skew - 1)
            out.append(go_round(score))
        return out

    def normalize_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo],
                        scores: list[int]) -> None:
        ignored = cycle.data[_PRESCORE][3]
        valid = [s for n, s in zip(nodes, scores) if n.name not in ignored]
        if not valid:
            for i in range(len(scores)):
                scores[i] = 0
            return
        lo, hi = min(valid), max(valid)
        for i, node in enumerate(nodes):
            if node.name in ignored:
                scores[i] = 0
            elif hi == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (hi + lo - scores[i]) // hi
