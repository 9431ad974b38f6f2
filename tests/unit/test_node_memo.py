"""Per-node memos (issue 13) never change a verdict or a score.

A long-lived plugin instance (which memoises per node generation and pod shape) must answer exactly
what a fresh instance (which has seen nothing) answers, after any sequence of the changes a live
cache goes through: pods bound, assumed, forgotten and deleted, nodes updated (allocatable, labels,
taints, cordon), removed and re-created under the same name, and preemption's clones with victims
taken off.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_builders import cluster, node, pod

from scheduler.core.framework import CycleState
from scheduler.core.plugins.balancedallocation import NodeResourcesBalancedAllocation
from scheduler.core.plugins.helper import NodeMemo
from scheduler.core.plugins.nodeaffinity import NodeAffinity
from scheduler.core.plugins.noderesourcesfit import NodeResourcesFit
from scheduler.core.plugins.nodeunschedulable import NodeUnschedulable
from scheduler.core.plugins.tainttoleration import TaintToleration
from scheduler.core.state import NodeInfo

NODES = 12
SHAPES = [{"cpu": "100m", "memory": "128Mi"}, {"cpu": "1", "memory": "1Gi"}, None, {"memory": "3Gi"}]
TAINTS = [None, [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
          [{"key": "soft", "effect": "PreferNoSchedule"}]]
STRATEGIES = ["LeastAllocated", "MostAllocated"]


def plugins() -> list:
    return [NodeResourcesFit({"scoringStrategy": {"type": s, "resources": [
        {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 2}]}}) for s in STRATEGIES] + [
        NodeResourcesBalancedAllocation(), NodeAffinity(), TaintToleration(), NodeUnschedulable()]


def answers(plugin, state, p: dict, nodes: list[NodeInfo]) -> tuple:
    """Filter verdicts (message or None) and, where the plugin scores, the scores."""
    cycle = CycleState(state, p, random.Random(0))
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(cycle, p)
    verdicts = None
    if hasattr(plugin, "filter_nodes"):
        verdicts = [None if v is None else (v.code, tuple(v.reasons)) for v in plugin.filter_nodes(cycle, p, nodes)]
    scores = None
    if hasattr(plugin, "score_nodes"):
        if hasattr(plugin, "pre_score"):
            plugin.pre_score(cycle, p, nodes)
        scores = plugin.score_nodes(cycle, p, nodes)
    return verdicts, scores


def random_node(rng: random.Random, name: str) -> dict:
    return node(name, cpu=rng.choice(["2", "4", "500m"]), memory=rng.choice(["2Gi", "4Gi", "8Gi"]),
                pods=rng.choice([3, 110]), labels={"pool": rng.choice(["a", "b"])},
                taints=rng.choice(TAINTS), unschedulable=rng.random() < 0.1)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_memoised_answers_equal_fresh_ones(seed: int) -> None:
    rng = random.Random(seed)
    state = cluster([random_node(rng, f"n{i}") for i in range(NODES)])
    kept = plugins()
    bound: list[dict] = []
    assumed: list[dict] = []
    for step in range(60):
        op = rng.random()
        name = f"n{rng.randrange(NODES)}"
        if op < 0.35:
            p = pod(f"b{step}", rng.choice(SHAPES), node_name=name)
            state.add_pod(p)
            bound.append(p)
        elif op < 0.5:
            p = pod(f"a{step}", rng.choice(SHAPES))
            state.assume_pod(p, name)
            assumed.append(p)
        elif op < 0.6 and assumed:
            state.forget_pod(assumed.pop(rng.randrange(len(assumed))))
        elif op < 0.7 and bound:
            state.remove_pod(bound.pop(rng.randrange(len(bound))))
        elif op < 0.8:
            state.update_node(random_node(rng, name))
        elif op < 0.85:
            state.remove_node(name)
            if rng.random() < 0.7:
                state.add_node(random_node(rng, name))
        nodes = state.node_list()
        if rng.random() < 0.3 and nodes:
            # Preemption's dry run: a clone with a victim taken off, next to its origin.
            origin = rng.choice(nodes)
            clone = origin.clone()
            if clone.pods:
                clone.remove_pod(rng.choice(list(clone.pods)))
            nodes = nodes + [clone, origin]
        p = pod(f"q{step}", rng.choice(SHAPES), tolerations=rng.choice(
            [None, [{"key": "dedicated", "operator": "Exists"}]]),
            node_selector=rng.choice([None, {"pool": "a"}]))
        for memoised, fresh in zip(kept, plugins()):
            assert answers(memoised, state, p, nodes) == answers(fresh, state, p, nodes), (
                f"{type(memoised).__name__} after step {step}")


def test_memo_computes_only_what_changed() -> None:
    state = cluster([node(f"n{i}") for i in range(5)])
    seen: list[str] = []

    def compute(todo: list[NodeInfo]) -> list[int]:
        seen.extend(n.name for n in todo)
        return [n.num_pods for n in todo]

    memo = NodeMemo()
    nodes = state.node_list()
    assert memo.results("shape", nodes, compute) == [0] * 5 and len(seen) == 5
    seen.clear()
    state.add_pod(pod("x", {"cpu": "1"}, node_name="n3"))
    assert memo.results("shape", state.node_list(), compute) == [0, 0, 0, 1, 0]
    assert seen == ["n3"]  # only the node whose generation moved
    seen.clear()
    assert memo.results("other shape", state.node_list(), compute) == [0, 0, 0, 1, 0] and len(seen) == 5


def test_generations_are_unique_across_node_infos() -> None:
    """Fresh NodeInfos and clones after a change never share a generation with another content."""
    a, b = NodeInfo("a"), NodeInfo("b")
    assert a.generation != b.generation
    state = cluster([node("n")], [pod("p", {"cpu": "1"}, node_name="n")])
    origin = state.get_node_info("n")
    clone = origin.clone()
    assert clone.generation == origin.generation  # same content
    clone.remove_pod(next(iter(clone.pods)))
    state.add_pod(pod("q", {"cpu": "1"}, node_name="n"))
    assert clone.generation != origin.generation
