"""The scheduling cycle's shortcuts (issue 13) give exactly what the general code gives."""

from __future__ import annotations

import random

import pytest
from sched_builders import cluster, default_profile, node, pod

from scheduler.core.framework import CycleState
from scheduler.core.selecthost import _getrandbits_of
from scheduler.core.plugins.noderesourcesfit import (
    NodeResourcesFit, least_requested_score, most_requested_score, weighted_scorer,
)
from scheduler.core.plugins.nodename import NodeName
from scheduler.core.plugins.tainttoleration import TaintToleration


def reservoir_with_randrange(totals: list[int], rng: random.Random) -> int:
    """selectHost as written upstream: one randrange per tied node."""
    best, selected, count = max(totals), -1, 0
    for idx, total in enumerate(totals):
        if total == best:
            count += 1
            if count == 1 or rng.randrange(count) == 0:
                selected = idx
    return selected


@pytest.mark.parametrize("seed", range(5))
def test_select_host_draws_like_randrange(seed) -> None:
    """The cycle's inlined draws pick the node randrange picks and leave the rng where it leaves it."""
    shape = random.Random(seed)
    nodes = [node(f"n{i}") for i in range(300)]
    state = cluster(nodes, [pod(f"p{i}", {"cpu": "500m"}, node_name=f"n{shape.randrange(300)}") for i in range(40)])
    profile = default_profile()
    a, b = random.Random(seed), random.Random(seed)
    for i in range(20):
        result = profile.schedule(state, pod(f"x{i}", {"cpu": "100m"}), a)
        totals = [result.scores[n]["total"] for n in result.scores]
        assert list(result.scores)[reservoir_with_randrange(totals, b)] == result.node
        assert a.getstate() == b.getstate()


def test_overridden_randrange_is_honoured() -> None:
    class Fixed(random.Random):
        def randrange(self, *args, **kwargs):  # type: ignore[override]
            return 1

    assert _getrandbits_of(Fixed(1)) is None
    assert _getrandbits_of(random.Random(1)) is not None


@pytest.mark.parametrize("strategy,per_resource", [("LeastAllocated", least_requested_score),
                                                   ("MostAllocated", most_requested_score)])
@pytest.mark.parametrize("weights", [(1, 1), (3, 1), (1, 5)])
def test_inlined_cpu_memory_scores_equal_the_weighted_scorer(strategy, per_resource, weights) -> None:
    rng = random.Random(7)
    nodes = [node(f"n{i}", cpu=rng.choice(["0", "1", "2", "3500m", "64"]),
                  memory=rng.choice(["0", "1Gi", "3Gi", "129Mi"])) for i in range(60)]
    bound = [pod(f"p{i}", {"cpu": f"{rng.randint(0, 3000)}m", "memory": f"{rng.randint(0, 4000)}Mi"},
                 node_name=f"n{rng.randrange(60)}") for i in range(120)]
    state = cluster(nodes, bound)
    plugin = NodeResourcesFit({"scoringStrategy": {"type": strategy, "resources": [
        {"name": "cpu", "weight": weights[0]}, {"name": "memory", "weight": weights[1]}]}})
    scorer = weighted_scorer(per_resource, list(weights))
    for requests in ({"cpu": "250m", "memory": "1Gi"}, None, {"cpu": "5"}):
        p = pod("x", requests)
        pcpu, pmem = plugin._pod_requests(p)
        infos = state.node_list()
        expected = [scorer([n.non0_cpu + pcpu, n.non0_mem + pmem], [n.allocatable.milli_cpu, n.allocatable.memory])
                    for n in infos]
        assert plugin.score_nodes(CycleState(state, p, random.Random(1)), p, infos) == expected


def test_taint_verdicts_are_per_taint_list() -> None:
    taints = [{"key": "a", "value": "1", "effect": "NoSchedule"}]
    state = cluster([node("t1", taints=taints), node("t2", taints=taints),
                     node("t3", taints=[{"key": "b", "effect": "NoExecute"}]), node("free")])
    plugin = TaintToleration()
    p = pod("p", tolerations=[{"key": "a", "operator": "Exists"}])
    cycle = CycleState(state, p, random.Random(1))
    verdicts = {n.name: plugin.filter(cycle, p, n) for n in state.node_list()}
    assert verdicts["t1"] is None and verdicts["t2"] is None and verdicts["free"] is None
    assert verdicts["t3"].reasons == ["node(s) had untolerated taint {b: }"]
    # Decided once per taint list and cycle: nodes sharing a rejected list share its status
    # (statuses are read-only once a plugin returns them).
    again = plugin.filter(cycle, p, state.get_node_info("t3"))
    assert again.reasons == ["node(s) had untolerated taint {b: }"]
    # A new cycle (another pod) decides again.
    q = pod("q", tolerations=[{"key": "b", "operator": "Exists"}])
    assert plugin.filter(CycleState(state, q, random.Random(1)), q, state.get_node_info("t3")) is None


def test_node_name_filter_is_left_out_only_without_a_node_name() -> None:
    plugin = NodeName()
    state = cluster([node("a")])
    assert plugin.filter_passes_every_node(None, pod("p"))
    assert not plugin.filter_passes_every_node(None, pod("q", node_name="a"))
    assert plugin.filter(CycleState(state, pod("q", node_name="b"), random.Random(1)), pod("q", node_name="b"),
                         state.get_node_info("a")) is not None
