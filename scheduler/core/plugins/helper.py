"""Selectors, node affinity, tolerations and pod affinity terms (apimachinery semantics).

Everything here is pre-compiled once (per pod, per cycle) into small tuples so the
per-node checks in Filter/Score are cheap.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import attrgetter, is_
from typing import Any, Callable, Iterable, Mapping

from scheduler.core.podutil import pod_namespace

Labels = Mapping[str, str]
LabelMatcher = Callable[[Labels], bool]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0

TAINT_NO_SCHEDULE = "NoSchedule"
TAINT_NO_EXECUTE = "NoExecute"
TAINT_PREFER_NO_SCHEDULE = "PreferNoSchedule"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"


def _match_nothing(_labels: Labels) -> bool:
    return False


def _match_everything(_labels: Labels) -> bool:
    return True


def compile_label_selector(selector: Mapping[str, Any] | None) -> LabelMatcher:
    """``metav1.LabelSelectorAsSelector``: nil matches nothing, ``{}`` matches everything."""
    if selector is None:
        return _match_nothing
    reqs: list[tuple[str, str, frozenset[str]]] = []
    for key, val in (selector.get("matchLabels") or {}).items():
        reqs.append((key, "In", frozenset([str(val)])))
    for expr in selector.get("matchExpressions") or ():
        reqs.append((expr["key"], expr["operator"], frozenset(str(v) for v in expr.get("values") or ())))
    if not reqs:
        return _match_everything

    def match(labels: Labels) -> bool:
        for key, op, values in reqs:
            if op == "In":
                if key not in labels or labels[key] not in values:
                    return False
            elif op == "NotIn":
                if key in labels and labels[key] in values:
                    return False
            elif op == "Exists":
                if key not in labels:
                    return False
            elif op == "DoesNotExist":
                if key in labels:
                    return False
            else:
                return False
        return True

    return match


def is_everything(matcher: LabelMatcher) -> bool:
    """True for the selector of ``{}`` (``labels.Everything()``, whose ``Empty()`` is true)."""
    return matcher is _match_everything


def selector_from_set(labels: Mapping[str, str]) -> LabelMatcher:
    """``labels.SelectorFromSet``: every key must equal; an empty set matches everything."""
    items = tuple(labels.items())
    if not items:
        return _match_everything
    return lambda lbls: all(lbls.get(k) == v and k in lbls for k, v in items)


# ---------------------------------------------------------------- node selectors

def _node_requirement(expr: Mapping[str, Any], field: bool) -> Callable[[Mapping[str, Any]], bool] | None:
    """One NodeSelectorRequirement as a predicate over (labels or fields); None if invalid."""
    key = expr.get("key", "")
    op = expr.get("operator", "")
    values = [str(v) for v in expr.get("values") or ()]
    if field:
        # Only metadata.name is a supported field, with In / NotIn and exactly one value.
        if key != "metadata.name" or op not in ("In", "NotIn") or len(values) != 1:
            return None
    vset = frozenset(values)
    if op == "In":
        return lambda m: key in m and m[key] in vset
    if op == "NotIn":
        return lambda m: not (key in m and m[key] in vset)
    if op == "Exists":
        return lambda m: key in m
    if op == "DoesNotExist":
        return lambda m: key not in m
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            return None
        try:
            bound = int(values[0])
        except ValueError:
            return None

        def cmp(m: Mapping[str, Any]) -> bool:
            if key not in m:
                return False
            try:
                got = int(m[key])
            except ValueError:
                return False
            return got > bound if op == "Gt" else got < bound

        return cmp
    return None


def compile_node_selector_term(term: Mapping[str, Any]) -> Callable[[Labels, str], bool]:
    """A NodeSelectorTerm: all requirements ANDed; an empty or invalid term matches nothing."""
    label_reqs = []
    field_reqs = []
    exprs = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not exprs and not fields:
        return lambda labels, name: False
    for expr in exprs:
        pred = _node_requirement(expr, field=False)
        if pred is None:
            return lambda labels, name: False
        label_reqs.append(pred)
    for expr in fields:
        pred = _node_requirement(expr, field=True)
        if pred is None:
            return lambda labels, name: False
        field_reqs.append(pred)

    def match(labels: Labels, name: str) -> bool:
        for pred in label_reqs:
            if not pred(labels):
                return False
        if field_reqs:
            fields_map = {"metadata.name": name}
            for pred in field_reqs:
                if not pred(fields_map):
                    return False
        return True

    return match


class RequiredNodeAffinity:
    """``nodeaffinity.GetRequiredNodeAffinity``: nodeSelector AND (any required term)."""

    __slots__ = ("_selector", "_terms", "empty")

    def __init__(self, pod: Mapping[str, Any]) -> None:
        spec = pod.get("spec") or {}
        node_selector = spec.get("nodeSelector") or {}
        self._selector = tuple((k, str(v)) for k, v in node_selector.items())
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if required is not None:
            self._terms: tuple[Any, ...] | None = tuple(
                compile_node_selector_term(t) for t in required.get("nodeSelectorTerms") or ())
        else:
            self._terms = None
        self.empty = not self._selector and self._terms is None

    def selector_only(self) -> tuple[tuple[str, str], ...] | None:
        """The nodeSelector's (key, value) pairs when there are no required terms, else None."""
        return self._selector if self._terms is None else None

    def match(self, labels: Labels, name: str) -> bool:
        for key, val in self._selector:
            if labels.get(key) != val or key not in labels:
                return False
        if self._terms is not None:
            for term in self._terms:
                if term(labels, name):
                    return True
            return False
        return True


def preferred_node_terms(pod: Mapping[str, Any]) -> tuple[tuple[int, Callable[[Labels, str], bool]], ...]:
    prefs = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
             .get("preferredDuringSchedulingIgnoredDuringExecution")) or ()
    out = []
    for pref in prefs:
        weight = int(pref.get("weight", 0))
        if weight == 0:
            continue
        out.append((weight, compile_node_selector_term(pref.get("preference") or {})))
    return tuple(out)


# ---------------------------------------------------------------- taints

Taint = tuple[str, str, str]  # key, value, effect
Toleration = tuple[str, str, str, str]  # key, operator, value, effect


def parse_taints(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    return tuple((t.get("key", ""), t.get("value", ""), t.get("effect", ""))
                 for t in (node.get("spec") or {}).get("taints") or ())


def parse_tolerations(pod: Mapping[str, Any]) -> tuple[Toleration, ...]:
    return tuple((t.get("key", ""), t.get("operator", ""), t.get("value", ""), t.get("effect", ""))
                 for t in (pod.get("spec") or {}).get("tolerations") or ())


def tolerates(tol: Toleration, taint: Taint) -> bool:
    """``Toleration.ToleratesTaint``."""
    key, op, val, effect = tol
    if effect and effect != taint[2]:
        return False
    if key and key != taint[0]:
        return False
    if op in ("", "Equal"):
        return val == taint[1]
    return op == "Exists"


def tolerations_tolerate(tols: Iterable[Toleration], taint: Taint) -> bool:
    return any(tolerates(t, taint) for t in tols)


def find_untolerated_do_not_schedule(taints: Iterable[Taint], tols: tuple[Toleration, ...]) -> Taint | None:
    """First NoSchedule/NoExecute taint no toleration tolerates (``FindMatchingUntoleratedTaint``)."""
    for taint in taints:
        if taint[2] != TAINT_NO_SCHEDULE and taint[2] != TAINT_NO_EXECUTE:
            continue
        if not tolerations_tolerate(tols, taint):
            return taint
    return None


# ---------------------------------------------------------------- pod affinity terms

class AffinityTerm:
    """``framework.AffinityTerm``: namespaces + namespaceSelector + label selector + topology key."""

    __slots__ = ("namespaces", "ns_selector", "selector", "topology_key", "weight")

    def __init__(self, term: Mapping[str, Any], pod_namespace: str, weight: int = 0) -> None:
        namespaces = term.get("namespaces") or ()
        ns_sel = term.get("namespaceSelector")
        self.namespaces = frozenset(namespaces) if namespaces or ns_sel is not None else frozenset([pod_namespace])
        self.ns_selector = compile_label_selector(ns_sel) if ns_sel is not None else None
        self.selector = compile_label_selector(term.get("labelSelector"))
        self.topology_key = term.get("topologyKey", "")
        self.weight = weight

    def matches(self, pod_namespace: str, pod_labels: Labels, ns_labels: Labels | None) -> bool:
        """``AffinityTerm.Matches``; a nil namespaceSelector matches no namespace, ``{}`` all of them."""
        if pod_namespace in self.namespaces or (
                self.ns_selector is not None and self.ns_selector(ns_labels or {})):
            return self.selector(pod_labels)
        return False

    def merge_namespace_selector(self, namespace_labels: Mapping[str, Labels]) -> None:
        """``mergeAffinityTermNamespacesIfNotEmpty``: resolve a non-empty selector into namespaces."""
        if self.ns_selector is None or self.ns_selector is _match_everything:
            return
        self.namespaces = self.namespaces | frozenset(
            ns for ns, lbls in namespace_labels.items() if self.ns_selector(lbls))
        self.ns_selector = None


def affinity_terms(pod: Mapping[str, Any], kind: str, required: bool) -> tuple[AffinityTerm, ...]:
    """Parse podAffinity / podAntiAffinity terms (``kind`` is ``podAffinity`` or ``podAntiAffinity``)."""
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    ns = pod_namespace(pod)
    if required:
        return tuple(AffinityTerm(t, ns) for t in aff.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
    out = []
    for wt in aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ():
        out.append(AffinityTerm(wt.get("podAffinityTerm") or {}, ns, int(wt.get("weight", 0))))
    return tuple(out)


# ---------------------------------------------------------------- score helpers

def default_normalize_score(scores: list[int], reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """``helper.DefaultNormalizeScore`` (in place)."""
    max_count = max(scores) if scores else 0
    if max_count == 0:
        if reverse:
            for i in range(len(scores)):
                scores[i] = max_priority
        return
    for i, score in enumerate(scores):
        score = max_priority * score // max_count
        scores[i] = max_priority - score if reverse else score


def div_trunc(a: int, b: int) -> int:
    """Go integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def go_round(x: float) -> int:
    """Go ``math.Round``: half away from zero."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


# ---------------------------------------------------------------- per-node memo

class NodeMemo:
    """One plugin's per-node results, kept while neither the node nor the pod's inputs change.

    For plugins whose result depends only on a node's content and on a few pod-side inputs (the
    ``key``: requests, say), never on the node's name. A node's generation changes with every change
    to it and comes from one process-wide counter (``nodeinfo.next_generation``, like kube-scheduler's
    ``nextGeneration``), so an equal generation means equal content, whichever NodeInfo object (a
    preemption clone, a re-created node) carries it: results are memoised per key and generation.
    The pods of one workload share a key, so of a Deployment's consecutive pods only the node that
    took the last one is computed again; the lookups run in C (map over the generations).
    """

    __slots__ = ("_tables",)
    MAX_KEYS = 64  # pod shapes remembered; past it all start again (never wrong, only slower)
    MAX_ENTRIES = 100_000  # generations per shape; the same

    def __init__(self) -> None:
        self._tables: dict[Any, dict[int, Any]] = {}

    def results(self, key: Any, nodes: list[Any], compute: Callable[[list[Any]], list[Any]]) -> list[Any]:
        """``compute(nodes)`` for the nodes not memoised for ``key`` at their generation; in node order."""
        table = self._tables.get(key)
        if table is None:
            if len(self._tables) >= self.MAX_KEYS:
                self._tables.clear()
            table = self._tables[key] = {}
        elif len(table) > self.MAX_ENTRIES:
            table.clear()
        generations = list(map(_GENERATION, nodes))
        out = list(map(table.get, generations, repeat(_MISSING)))
        # The misses' indices in one C-level pass, by identity (`in` would compare with == too).
        missed = list(compress(range(len(out)), map(is_, out, repeat(_MISSING))))
        if missed:
            fresh = compute(nodes if len(missed) == len(nodes) else [nodes[i] for i in missed])
            for i, result in zip(missed, fresh):
                out[i] = table[generations[i]] = result
        return out


_GENERATION = attrgetter("generation")
_MISSING = object()
