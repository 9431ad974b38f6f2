"""A small scheduling framework in kube-scheduler's spirit, and one scheduling cycle.

Plugins are plain classes (see ``Plugin``) that implement any of these methods, each
one an extension point (``Status`` and its codes live in ``scheduler.core.status``):

    pre_enqueue(pod) -> Status | None
    less(queued_a, queued_b) -> bool                              (queueSort)
    pre_filter(cycle, pod) -> None | Status | PreFilterResult     (Status(SKIP) skips its filter)
    filter(cycle, pod, node_info) -> None | Status                (None means the node fits)
    post_filter(cycle, pod, statuses) -> (PostFilterResult | None, Status)
    pre_score(cycle, pod, nodes) -> None | Status                 (Status(SKIP) skips its score)
    score(cycle, pod, node_info) -> int                           (or score_nodes(cycle, pod, nodes))
    normalize_score(cycle, pod, nodes, scores) -> None            (in place)
    bind(...)                                                     (marker; the I/O shell binds)

``Profile.schedule`` runs PreEnqueue (gates), PreFilter, Filter over the nodes
starting at the rotating ``next_start_node_index`` until ``numFeasibleNodesToFind``
nodes fit, PostFilter (preemption) on failure, PreScore/Score/NormalizeScore with
weights, and selectHost's uniform reservoir sampling among the top total scores, as
``pkg/scheduler/schedule_one.go`` of v1.29 does. ``scheduler.core.profiles.build_profiles``
builds the profiles of a configuration. The pieces the cycle uses have their own modules: the
nominator (``scheduler.core.nominator``), the result and the start index (``scheduler.core.scheduleresult``),
PostFilter (``scheduler.core.postfilter``) and selectHost (``scheduler.core.selecthost``); this module
re-exports the names plugins import.
"""

from __future__ import annotations

import random
from itertools import repeat
from operator import add, mul
from typing import Any, Mapping, Sequence, cast

from scheduler.core.extensionpoints import (
    BatchFilter,
    BatchScore,
    CycleState,
    FilterPlugin,
    FilterShortcut,
    Named,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreEnqueuePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScoreExtensions,
    ScorePlugin,
)
from scheduler.core.messages import NO_NODES_AVAILABLE, fit_error_message
from scheduler.core.nominator import Nominator
from scheduler.core.podutil import pod_key, scheduler_name
from scheduler.core.postfilter import run_post_filter
from scheduler.core.scheduleresult import ScheduleResult, StartIndex, num_feasible_nodes_to_find
from scheduler.core.selecthost import select_host
from scheduler.core.state import ClusterState, NodeInfo, PodInfo
from scheduler.core.status import ERROR, SKIP, SUCCESS, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE, Status

__all__ = [
    "MAX_NODE_SCORE", "MIN_NODE_SCORE", "CycleState", "PreFilterResult", "PostFilterResult", "Nominator", "Handle",
    "Plugin", "ScheduleResult", "StartIndex", "Profile", "num_feasible_nodes_to_find",
]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
# The fewest nodes the filter loop evaluates at a time (see Profile._filter_in_order).
CHUNK_MIN = 16


class Handle:
    """What plugins may call back into (``framework.Handle``)."""

    def __init__(self, scheduler_name: str, parallelism: int = 16, nominator: Nominator | None = None) -> None:
        self.scheduler_name = scheduler_name
        self.parallelism = parallelism
        self.profile: Profile | None = None
        self.nominator = nominator or Nominator()

    def run_filter_plugins(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        """``RunFilterPluginsWithNominatedPods`` (what SelectVictimsOnNode calls)."""
        assert self.profile is not None
        return self.profile.run_filter_plugins_with_nominated_pods(cycle, pod, node)

    def run_prefilter_remove_pod(self, cycle: CycleState, pod: Mapping[str, Any], victim: PodInfo,
                                 node: NodeInfo) -> None:
        assert self.profile is not None
        self.profile.run_prefilter_extension(cycle, pod, victim, node, add=False)

    def run_prefilter_add_pod(self, cycle: CycleState, pod: Mapping[str, Any], victim: PodInfo,
                              node: NodeInfo) -> None:
        assert self.profile is not None
        self.profile.run_prefilter_extension(cycle, pod, victim, node, add=True)


class Plugin:
    """Base class for plugins. Subclasses set ``name`` and define extension-point methods."""

    name: str = ""

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Handle | None = None) -> None:
        self.args: Mapping[str, Any] = args or {}
        self.handle = handle


def _passes_every_node(plugin: FilterPlugin, cycle: CycleState, pod: Mapping[str, Any]) -> bool:
    """A plugin's ``filter_passes_every_node(cycle, pod)`` says its Filter cannot reject any node for
    this pod (NodeName without spec.nodeName): the loop then leaves it out, like a PreFilter Skip.
    An internal shortcut, never a different verdict: the plugin would return success everywhere."""
    if not hasattr(plugin, "filter_passes_every_node"):
        return False
    return bool(cast(FilterShortcut, plugin).filter_passes_every_node(cycle, pod))


class Profile:
    """One scheduling profile (one ``schedulerName``) with its instantiated plugins."""

    def __init__(self, scheduler_name: str, plugins: Mapping[str, list[Plugin]], weights: Mapping[str, int],
                 percentage_of_nodes_to_score: int | None, start_index: StartIndex | None = None,
                 handle: Handle | None = None) -> None:
        self.scheduler_name = scheduler_name
        # The registry checked, when the profile was built, that each plugin has its points' methods.
        self.pre_enqueue_plugins = cast("list[PreEnqueuePlugin]", list(plugins.get("preEnqueue", ())))
        self.queue_sort_plugins = cast("list[QueueSortPlugin]", list(plugins.get("queueSort", ())))
        self.pre_filter_plugins = cast("list[PreFilterPlugin]", list(plugins.get("preFilter", ())))
        self.filter_plugins = cast("list[FilterPlugin]", list(plugins.get("filter", ())))
        self.post_filter_plugins = cast("list[PostFilterPlugin]", list(plugins.get("postFilter", ())))
        self.pre_score_plugins = cast("list[PreScorePlugin]", list(plugins.get("preScore", ())))
        self.score_plugins = cast("list[ScorePlugin]", list(plugins.get("score", ())))
        self.reserve_plugins = cast("list[ReservePlugin]", list(plugins.get("reserve", ())))
        self.pre_bind_plugins = cast("list[PreBindPlugin]", list(plugins.get("preBind", ())))
        self.bind_plugins = list(plugins.get("bind", ()))
        self.weights = {pl.name: int(weights.get(pl.name, 1) or 1) for pl in self.score_plugins}
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self._start = start_index or StartIndex()
        self.handle = handle or Handle(scheduler_name)
        self.handle.profile = self

    # --------------------------------------------------------------- properties
    @property
    def next_start_node_index(self) -> int:
        return self._start.value

    @next_start_node_index.setter
    def next_start_node_index(self, value: int) -> None:
        self._start.value = value

    def handles(self, pod: Mapping[str, Any]) -> bool:
        """``responsibleForPod``: the pod's spec.schedulerName (API default: default-scheduler)."""
        return scheduler_name(pod) == self.scheduler_name

    def plugin_names(self, point: str) -> list[str]:
        by_point: dict[str, Sequence[Named]] = {
            "preEnqueue": self.pre_enqueue_plugins, "queueSort": self.queue_sort_plugins,
            "preFilter": self.pre_filter_plugins, "filter": self.filter_plugins,
            "postFilter": self.post_filter_plugins, "preScore": self.pre_score_plugins,
            "score": self.score_plugins, "reserve": self.reserve_plugins, "preBind": self.pre_bind_plugins,
            "bind": self.bind_plugins,
        }
        return [pl.name for pl in by_point[point]]

    def less(self, a: Any, b: Any) -> bool:
        """QueueSort order (PrioritySort when enabled) of two queued pods (``.pod``, ``.timestamp``)."""
        if self.queue_sort_plugins:
            return bool(self.queue_sort_plugins[0].less(a, b))
        return False

    # --------------------------------------------------------------- helpers for plugins
    def run_filter_plugins(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        for pl in self.filter_plugins:
            if pl.name in cycle.skip_filter:
                continue
            st = pl.filter(cycle, pod, node)
            if st is not None and st.code != SUCCESS:
                st.plugin = pl.name
                return st
        return None

    def run_filter_plugins_with_nominated_pods(self, cycle: CycleState, pod: Mapping[str, Any],
                                              node: NodeInfo) -> Status | None:
        """``RunFilterPluginsWithNominatedPods`` (framework/runtime/framework.go, v1.29.15).

        Pods nominated to the node with at least this pod's priority are added first; only if the
        pod fits with them is it filtered again without them (they may never arrive).
        """
        prio = cycle.pod_info.priority
        uid = cycle.pod_info.uid
        nominated = [p for p in self.handle.nominator.for_node(node.name) if p.priority >= prio and p.uid != uid]
        if not nominated:
            return self.run_filter_plugins(cycle, pod, node)
        with_nominated = node.clone()
        cyc = cycle.clone()
        for info in nominated:  # addNominatedPods
            with_nominated.add_pod(info)
            self.run_prefilter_extension(cyc, pod, info, with_nominated, add=True)
        status = self.run_filter_plugins(cyc, pod, with_nominated)
        if status is not None:
            return status
        return self.run_filter_plugins(cycle, pod, node)

    def run_prefilter_extension(self, cycle: CycleState, pod: Mapping[str, Any], other: PodInfo,
                                node: NodeInfo, add: bool) -> None:
        for pl in self.pre_filter_plugins:
            if pl.name in cycle.skip_filter:
                continue
            extensions = cast(PreFilterExtensions, pl)
            method = getattr(extensions, "add_pod" if add else "remove_pod", None)
            if method is not None:
                method(cycle, pod, other, node)

    # --------------------------------------------------------------- reserve and pre-bind
    def run_reserve(self, cycle: CycleState, pod: Mapping[str, Any], node: str) -> Status | None:
        """``RunReservePluginsReserve``: the first failure stops; an error is wrapped with the plugin."""
        for pl in self.reserve_plugins:
            st = pl.reserve(cycle, pod, node)
            if st is None or st.code == SUCCESS:
                continue
            if st.is_unschedulable():
                st.plugin = pl.name
                return st
            return Status(ERROR, f'running Reserve plugin "{pl.name}": {st.message}', plugin=pl.name)
        return None

    def run_unreserve(self, cycle: CycleState, pod: Mapping[str, Any], node: str) -> None:
        """``RunReservePluginsUnreserve``: every reserve plugin, in reverse order."""
        for pl in reversed(self.reserve_plugins):
            unreserve = getattr(pl, "unreserve", None)
            if unreserve is not None:
                unreserve(cycle, pod, node)

    def run_pre_bind(self, cycle: CycleState, pod: Mapping[str, Any], node: str) -> tuple[list[tuple[str, Any]],
                                                                                          Status | None]:
        """PreBind, decided here and carried out by the I/O shell: each plugin returns None (nothing to
        do), a Status (failure), or a plan the shell executes in order. Returns (plugin, plan) pairs, or
        the first failure (an error wrapped as ``running PreBind plugin "X": ...``)."""
        plans: list[tuple[str, Any]] = []
        for pl in self.pre_bind_plugins:
            out = pl.pre_bind(cycle, pod, node)
            if out is None:
                continue
            if isinstance(out, Status):
                if out.code == SUCCESS:
                    continue
                if out.is_unschedulable():
                    out.plugin = pl.name
                    return plans, out
                return plans, Status(ERROR, f'running PreBind plugin "{pl.name}": {out.message}', plugin=pl.name)
            plans.append((pl.name, out))
        return plans, None

    # --------------------------------------------------------------- the cycle
    def schedule(self, state: ClusterState, pod: Mapping[str, Any], rng: random.Random | None = None,
                 *, detail: bool = True) -> ScheduleResult:
        """Decide where ``pod`` goes. Does not modify ``state`` (the caller assumes/binds)."""
        chosen = rng or random.Random()
        return state.atomically(lambda: self._schedule(state, pod, chosen, detail))

    def _schedule(self, state: ClusterState, pod: Mapping[str, Any], rng: random.Random,
                  detail: bool) -> ScheduleResult:
        key = pod_key(pod)
        for gate in self.pre_enqueue_plugins:
            st = gate.pre_enqueue(pod)
            if st is not None and st.code != SUCCESS:
                return ScheduleResult(key, None, message=st.message, status="gated",
                                      unschedulable_plugins={gate.name})
        all_nodes = state.node_list()
        num_all = len(all_nodes)
        if num_all == 0:
            return ScheduleResult(key, None, message=NO_NODES_AVAILABLE, status="error")

        cycle = CycleState(state, pod, rng)
        statuses: dict[str, Status] = {}
        unschedulable_plugins: set[str] = set()

        # ---- PreFilter
        pre_result: PreFilterResult | None = None
        with_nodes: list[str] = []
        for pf in self.pre_filter_plugins:
            out = pf.pre_filter(cycle, pod)
            if out is None:
                continue
            if isinstance(out, PreFilterResult):
                if out.node_names is not None:
                    with_nodes.append(pf.name)
                pre_result = out if pre_result is None else pre_result.merge(out)
                if pre_result.node_names is not None and not pre_result.node_names:
                    msg = (f"node(s) didn't satisfy plugin {with_nodes[0]}" if len(with_nodes) == 1 else
                           f"node(s) didn't satisfy plugin(s) [{' '.join(with_nodes)}] simultaneously")
                    return self._prefilter_failure(cycle, pod, key, all_nodes,
                                                   Status(UNSCHEDULABLE, msg, plugin=pf.name))
                continue
            if out.code == SKIP:
                cycle.skip_filter.add(pf.name)
                continue
            if out.code != SUCCESS:
                out.plugin = pf.name
                if out.is_unschedulable():
                    return self._prefilter_failure(cycle, pod, key, all_nodes, out)
                return ScheduleResult(key, None, message=f'running PreFilter plugin "{pf.name}": {out.message}',
                                      status="error", unschedulable_plugins={pf.name})

        # ---- nominated node first (a previous preemption chose it)
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            ni = state.get_node_info(nominated)
            if ni is not None and (pre_result is None or pre_result.node_names is None
                                   or nominated in pre_result.node_names):
                if self.run_filter_plugins_with_nominated_pods(cycle, pod, ni) is None:
                    return ScheduleResult(key, nominated, evaluated_nodes=1, feasible_nodes=1,
                                          weights=dict(self.weights), cycle=cycle)

        nodes = all_nodes
        if pre_result is not None and pre_result.node_names is not None:
            allowed = pre_result.node_names
            nodes = []
            for ni in all_nodes:
                if ni.name in allowed:
                    nodes.append(ni)
                else:
                    statuses[ni.name] = Status(UNSCHEDULABLE_AND_UNRESOLVABLE,
                                               "node is filtered out by the prefilter result")

        # ---- Filter, from the rotating start index, until enough feasible nodes are found
        feasible: list[NodeInfo] = []
        total = len(nodes)
        to_find = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, total)
        start = self._start.value
        filters = [(pl.name, pl) for pl in self.filter_plugins
                   if pl.name not in cycle.skip_filter and not _passes_every_node(pl, cycle, pod)]
        if not filters:
            feasible = [nodes[(start + i) % total] for i in range(min(to_find, total))] if total else []
        else:
            failed = self._filter_in_order(cycle, pod, nodes, start, to_find, filters, feasible, statuses,
                                           unschedulable_plugins)
            if failed is not None:  # not a rejection: the whole cycle fails (RunFilterPlugins)
                return ScheduleResult(key, None, status="error",
                                      message=f'running "{failed.plugin}" filter plugin: {failed.message}')
        processed = len(feasible) + len(statuses)
        self._start.value = (start + processed) % num_all

        if not feasible:
            return self._fit_error(cycle, pod, key, num_all, statuses, unschedulable_plugins)
        if len(feasible) == 1:
            return ScheduleResult(key, feasible[0].name, evaluated_nodes=1 + len(statuses), feasible_nodes=1,
                                  unschedulable_plugins=unschedulable_plugins, weights=dict(self.weights),
                                  cycle=cycle)

        # ---- PreScore / Score / NormalizeScore / weights
        for ps in self.pre_score_plugins:
            st = ps.pre_score(cycle, pod, feasible)
            if st is None:
                continue
            if st.code == SKIP:
                cycle.skip_score.add(ps.name)
            elif st.code != SUCCESS:
                return ScheduleResult(key, None, message=f'running PreScore plugin "{ps.name}": {st.message}',
                                      status="error")
        m = len(feasible)
        per_plugin: list[tuple[str, list[int]]] = []
        totals = [0] * m
        ran_any = False
        for pl in self.score_plugins:
            if pl.name in cycle.skip_score:
                continue
            ran_any = True
            scores: list[int]
            if hasattr(pl, "score_nodes"):
                scores = cast(BatchScore, pl).score_nodes(cycle, pod, feasible)
            else:
                score = pl.score
                scores = [int(score(cycle, pod, ni)) for ni in feasible]
            if hasattr(pl, "normalize_score"):
                cast(ScoreExtensions, pl).normalize_score(cycle, pod, feasible, scores)
            lo, hi = min(scores), max(scores)
            if lo < MIN_NODE_SCORE or hi > MAX_NODE_SCORE:
                bad = lo if lo < MIN_NODE_SCORE else hi
                return ScheduleResult(
                    key, None, status="error",
                    message=f"plugin {pl.name!r} returns an invalid score {bad}, it should in the range of "
                            f"[{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing")
            weight = self.weights[pl.name]
            if hi == 0:
                pass  # all zero (no preferred terms, no images): the totals stay as they are
            elif weight == 1:
                totals = list(map(add, totals, scores))
            else:
                totals = list(map(add, totals, map(mul, scores, repeat(weight))))
            per_plugin.append((pl.name, scores))
        if not ran_any:
            totals = [1] * m  # prioritizeNodes: no score plugins -> every node scores 1

        # ---- selectHost: uniform reservoir sampling among the maximum total score
        host = feasible[select_host(totals, rng)].name

        score_map: dict[str, dict[str, int]] = {}
        if detail:
            for idx, ni in enumerate(feasible):
                entry = {name: scores[idx] for name, scores in per_plugin}
                entry["total"] = totals[idx]
                score_map[ni.name] = entry
        return ScheduleResult(key, host, score_map, None, evaluated_nodes=len(feasible) + len(statuses),
                              feasible_nodes=len(feasible), unschedulable_plugins=unschedulable_plugins,
                              weights=dict(self.weights), cycle=cycle)

    def _filter_in_order(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo], start: int,
                         to_find: int, filters: list[tuple[str, FilterPlugin]], feasible: list[NodeInfo],
                         statuses: dict[str, Status], unschedulable_plugins: set[str]) -> Status | None:
        """Nodes from ``start`` on, in order, until ``to_find`` fit: a node's status is its first failing
        filter's, in plugin order (findNodesThatPassFilters, sequentially). Returns the first
        ``Error`` status in node order (the cycle fails), None otherwise.

        The nodes go through the filters a chunk at a time, each plugin seeing the chunk's nodes that
        passed the plugins before it, through its ``filter_nodes`` when it has one (one call per chunk
        instead of one per node). A chunk holds the nodes still needed (at least CHUNK_MIN); verdicts
        are then taken in node order and those past the node that completes ``to_find`` are dropped,
        so the nodes evaluated, the feasible list, the statuses and their order are what the
        node-by-node loop gives. Filters are pure: evaluating a few nodes too many changes nothing
        (kube-scheduler's parallel filtering does the same).
        """
        total = len(nodes)
        with_nominated = self.handle.nominator.nodes()
        batch_of = [(name, cast(BatchFilter, pl).filter_nodes if hasattr(pl, "filter_nodes") else None, pl.filter)
                    for name, pl in filters]
        i = 0
        while i < total and len(feasible) < to_find:
            size = min(total - i, max(to_find - len(feasible), CHUNK_MIN))
            first = (start + i) % total  # nodes from `first` on, wrapping around once at most
            chunk = nodes[first:first + size]
            if len(chunk) < size:
                chunk += nodes[:size - len(chunk)]
            verdicts: list[Status | None] = [None] * size
            pending = list(range(size))
            if with_nominated:
                pending = []
                for k, ni in enumerate(chunk):
                    if ni.name in with_nominated:  # rare: a preemptor waits for this node
                        verdicts[k] = self.run_filter_plugins_with_nominated_pods(cycle, pod, ni)
                    else:
                        pending.append(k)
            for name, batch, flt in batch_of:
                if not pending:
                    break
                subset = [chunk[k] for k in pending] if len(pending) < size else chunk
                results = batch(cycle, pod, subset) if batch is not None else [flt(cycle, pod, ni) for ni in subset]
                if results.count(None) == len(results):
                    continue  # the usual case: every node passed this plugin
                passed = []
                for k, st in zip(pending, results):
                    if st is not None and st.code != SUCCESS:
                        st.plugin = name
                        verdicts[k] = st
                    else:
                        passed.append(k)
                pending = passed
            if len(pending) == size and len(feasible) + size <= to_find:
                feasible.extend(chunk)  # all fit, none past to_find
                i += size
                continue
            for k, ni in enumerate(chunk):
                i += 1
                st = verdicts[k]
                if st is None:
                    feasible.append(ni)
                    if len(feasible) == to_find:
                        break
                elif st.code == ERROR:
                    return st
                else:
                    statuses[ni.name] = st
                    unschedulable_plugins.add(st.plugin)
        return None

    # --------------------------------------------------------------- failures
    def _prefilter_failure(self, cycle: CycleState, pod: Mapping[str, Any], key: str,
                           all_nodes: list[NodeInfo], status: Status) -> ScheduleResult:
        statuses = {ni.name: status for ni in all_nodes}
        return self._fit_error(cycle, pod, key, len(all_nodes), statuses, {status.plugin},
                               prefilter_msg=status.message)

    def _fit_error(self, cycle: CycleState, pod: Mapping[str, Any], key: str, num_all: int,
                   statuses: dict[str, Status], plugins: set[str], prefilter_msg: str = "") -> ScheduleResult:
        post = run_post_filter(self.post_filter_plugins, cycle, pod, statuses)
        nominated, victims, tie, clear, post_msg = post.nominated, post.victims, post.tie, post.clear, post.message
        message = fit_error_message(num_all, statuses, prefilter_msg, post_msg)
        return ScheduleResult(key, None, message=message, evaluated_nodes=len(statuses), feasible_nodes=0,
                              unschedulable_plugins=plugins, status="unschedulable",
                              nominated_node=nominated, victims=victims, weights=dict(self.weights),
                              nominated_tie=tie, clear_nomination=clear and not nominated)
