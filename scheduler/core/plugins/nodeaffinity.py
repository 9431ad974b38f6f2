"""NodeAffinity (PreFilter, Filter, PreScore, Score, NormalizeScore).

Filter: spec.nodeSelector AND required node affinity (plus the plugin's addedAffinity).
PreFilter narrows the nodes when every required term names nodes via matchFields
metadata.name In.  Score: sum of the weights of matching preferred terms, normalized
to 0..100 (v1.29 scores every node, even without preferred terms: all 0).
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import CycleState, Plugin, PreFilterResult
from scheduler.core.plugins.helper import (
    NodeMemo, RequiredNodeAffinity, compile_node_selector_term, default_normalize_score, preferred_node_terms,
)
from scheduler.core.state import NodeInfo
from scheduler.core.status import SKIP, UNSCHEDULABLE_AND_UNRESOLVABLE, Status

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
_REQUIRED = "PreFilterNodeAffinity"
_PREFERRED = "PreScoreNodeAffinity"


class NodeAffinity(Plugin):
    name = "NodeAffinity"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        added = (args or {}).get("addedAffinity") or {}
        required = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        self._added_required = (
            tuple(compile_node_selector_term(t) for t in required.get("nodeSelectorTerms") or ())
            if required is not None else None)
        self._selector_memo = NodeMemo()  # one-label nodeSelector -> Filter verdicts per node generation
        self._added_preferred = preferred_node_terms(
            {"spec": {"affinity": {"nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution":
                    added.get("preferredDuringSchedulingIgnoredDuringExecution")}}}})

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | PreFilterResult | None:
        spec = pod.get("spec") or {}
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if required is None and self._added_required is None and spec.get("nodeSelector") is None:
            return Status(SKIP)
        cycle.data[_REQUIRED] = RequiredNodeAffinity(pod)
        terms = (required or {}).get("nodeSelectorTerms") or ()
        if not terms:
            return None
        node_names: set[str] | None = None
        for term in terms:
            term_names: set[str] | None = None
            for req in term.get("matchFields") or ():
                if req.get("key") == "metadata.name" and req.get("operator") == "In":
                    values = set(req.get("values") or ())
                    term_names = values if term_names is None else term_names & values
            if term_names is None:
                return None  # this term does not pin node names, so every node is possible
            node_names = term_names if node_names is None else node_names | term_names
        if node_names is not None and not node_names:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_CONFLICT)
        return PreFilterResult(node_names) if node_names else None

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        return self.filter_nodes(cycle, pod, [node])[0]

    def filter_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[Status | None]:
        required = cycle.data.get(_REQUIRED)
        if required is None:
            required = cycle.data[_REQUIRED] = RequiredNodeAffinity(pod)
        added = self._added_required
        selector = required.selector_only()
        if added is None and selector is not None and len(selector) == 1:
            # The usual case, spec.nodeSelector with one label: match() for it, without a call per node
            # (the value is a string, so an equal get() means the key is there).
            # Labels are node content, so the verdicts are memoised per node generation.
            (key, val), = selector
            return self._selector_memo.results(selector, nodes, lambda todo: [
                None if n.labels.get(key) == val else Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_POD)
                for n in todo])
        match = required.match
        out: list[Status | None] = []
        for node in nodes:
            if added is not None and not any(t(node.labels, node.name) for t in added):
                out.append(Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_ENFORCED))
            elif not match(node.labels, node.name):
                out.append(Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_POD))
            else:
                out.append(None)
        return out

    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        cycle.data[_PREFERRED] = preferred_node_terms(pod)
        return None

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        terms = cycle.data.get(_PREFERRED)
        if terms is None:
            terms = preferred_node_terms(pod)
        terms = self._added_preferred + terms
        if not terms:
            return [0] * len(nodes)
        return [sum(w for w, term in terms if term(n.labels, n.name)) for n in nodes]

    def normalize_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo],
                        scores: list[int]) -> None:
        default_normalize_score(scores, reverse=False)
