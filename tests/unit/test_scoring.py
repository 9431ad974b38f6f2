"""Score plugins against upstream's own table tests (ported as facts) and hand-checked formulas."""

import math
import random

import pytest
from sched_builders import cluster, container, node, pod

from scheduler.core.framework import CycleState
from scheduler.core.plugins.balancedallocation import NodeResourcesBalancedAllocation
from scheduler.core.plugins.helper import default_normalize_score
from scheduler.core.plugins.imagelocality import ImageLocality, calculate_priority, normalized_image_name
from scheduler.core.plugins.interpodaffinity import InterPodAffinity
from scheduler.core.plugins.nodeaffinity import NodeAffinity
from scheduler.core.plugins.noderesourcesfit import NodeResourcesFit, broken_linear_function
from scheduler.core.plugins.podtopologyspread import PodTopologySpread
from scheduler.core.plugins.tainttoleration import TaintToleration
from scheduler.core.status import SKIP

DEFAULT_RES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
EXT = "intel.com/foo"


def run_score(plugin, state, p, names=None):
    cycle = CycleState(state, p, random.Random(0))
    nodes = [state.get_node_info(n) for n in (names or state.node_names())]
    if hasattr(plugin, "pre_score"):
        st = plugin.pre_score(cycle, p, nodes)
        if st is not None and st.code == SKIP:
            return "skip"
    scores = plugin.score_nodes(cycle, p, nodes)
    if hasattr(plugin, "normalize_score"):
        plugin.normalize_score(cycle, p, nodes, scores)
    return dict(zip([n.name for n in nodes], scores))


def fit(strategy, resources=None, shape=None):
    s = {"type": strategy, "resources": resources or DEFAULT_RES}
    if shape is not None:
        s["requestedToCapacityRatio"] = {"shape": shape}
    return NodeResourcesFit({"scoringStrategy": s})


def bound(name, node_name, *reqs):
    return pod(name, *reqs, node_name=node_name)


# --- most_allocated_test.go (cases ported as facts) -------------------------------------------
MOST_CASES = [
    ("nothing scheduled, nothing requested", pod("p", containers=[]),
     [node("node1", "4000", "10000"), node("node2", "4000", "10000")], [], DEFAULT_RES, {"node1": 0, "node2": 0}),
    ("nothing scheduled, resources requested, differently sized nodes",
     pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}),
     [node("node1", "4000", "10000"), node("node2", "6000", "10000")], [], DEFAULT_RES, {"node1": 62, "node2": 50}),
    ("no resources requested, pods scheduled with resources", pod("p", containers=[]),
     [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
     [bound("a", "node1", {"cpu": "3000", "memory": "0"}), bound("b", "node1", {"cpu": "3000", "memory": "0"}),
      bound("c", "node2", {"cpu": "3000", "memory": "0"}), bound("d", "node2", {"cpu": "3000", "memory": "5000"})],
     DEFAULT_RES, {"node1": 30, "node2": 42}),
    ("resources requested, pods scheduled with resources",
     pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}),
     [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
     [bound("a", "node1", {"cpu": "3000", "memory": "0"}), bound("b", "node2", {"cpu": "3000", "memory": "5000"})],
     DEFAULT_RES, {"node1": 42, "node2": 55}),
    ("resources requested equal node capacity",
     pod("p", {"cpu": "2000", "memory": "4000"}, {"cpu": "3000", "memory": "5000"}),
     [node("node1", "5000", "10000"), node("node2", "10000", "9000")], [], DEFAULT_RES, {"node1": 95, "node2": 75}),
    ("weighted resources", pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}),
     [node("node1", "4000", "10000"), node("node2", "6000", "10000")], [],
     [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}], {"node1": 58, "node2": 50}),
    ("no resources requested, pods scheduled, nonzero request for resource", pod("p", {}),
     [node("node1", "250m", "1000Mi"), node("node2", "250m", "1000Mi")],
     [bound("a", "node1", {}), bound("b", "node1", {})], DEFAULT_RES, {"node1": 80, "node2": 30}),
    ("bypass extended resource if the pod does not request",
     pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}),
     [node("node1", "6000", "10000"), node("node2", "6000", "10000", extra={EXT: "4"})], [],
     [*DEFAULT_RES, {"name": EXT, "weight": 1}], {"node1": 50, "node2": 50}),
    ("honor extended resource if the pod requests", pod("p", {"cpu": "3000", "memory": "5000", EXT: "2"}),
     [node("node1", "6000", "10000", extra={EXT: "4"}), node("node2", "6000", "10000", extra={EXT: "10"})], [],
     [*DEFAULT_RES, {"name": EXT, "weight": 1}], {"node1": 50, "node2": 40}),
    ("if the node doesn't have a resource", pod("p", {"cpu": "3000", "memory": "4000"}),
     [node("node1", "6000", "10000"), node("node2", "6000", "10000", extra={EXT: "4"})], [],
     [{"name": EXT, "weight": 2}, *DEFAULT_RES], {"node1": 45, "node2": 45}),
]


@pytest.mark.parametrize("name,p,nodes,existing,resources,expected", MOST_CASES, ids=[c[0] for c in MOST_CASES])
def test_most_allocated_upstream_table(name, p, nodes, existing, resources, expected):
    assert run_score(fit("MostAllocated", resources), cluster(nodes, existing), p) == expected


# --- least_allocated (same shapes; (alloc - req) * 100 // alloc, 0 when over capacity) ----------
LEAST_CASES = [
    ("nothing scheduled, resources requested, differently sized nodes",
     pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}),
     [node("node1", "4000", "10000"), node("node2", "6000", "10000")], [], DEFAULT_RES, {"node1": 37, "node2": 50}),
    ("no resources requested, pods scheduled with resources", pod("p", containers=[]),
     [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
     [bound("a", "node1", {"cpu": "3000", "memory": "0"}), bound("b", "node1", {"cpu": "3000", "memory": "0"}),
      bound("c", "node2", {"cpu": "3000", "memory": "0"}), bound("d", "node2", {"cpu": "3000", "memory": "5000"})],
     DEFAULT_RES, {"node1": 70, "node2": 57}),
    ("requested exceeds capacity scores 0 for that resource",
     pod("p", {"cpu": "5000", "memory": "1000"}), [node("node1", "4000", "10000")], [], DEFAULT_RES, {"node1": 45}),
    ("a bare pod counts 100m and 200Mi", pod("p", {}), [node("node1", "1", "1000Mi")], [], DEFAULT_RES,
     {"node1": (90 + 80) // 2}),
]


@pytest.mark.parametrize("name,p,nodes,existing,resources,expected", LEAST_CASES, ids=[c[0] for c in LEAST_CASES])
def test_least_allocated(name, p, nodes, existing, resources, expected):
    assert run_score(fit("LeastAllocated", resources), cluster(nodes, existing), p) == expected


# --- requested_to_capacity_ratio ---------------------------------------------------------------
def test_broken_linear_function_truncates_like_go():
    fn = broken_linear_function([(0, 100), (100, 0)])  # shape scores already x10
    assert [fn(p) for p in (-5, 0, 33, 50, 100, 120)] == [100, 100, 67, 50, 0, 0]
    up = broken_linear_function([(10, 0), (30, 50), (100, 100)])
    assert [up(p) for p in (0, 10, 20, 29, 31, 100, 101)] == [0, 0, 25, 47, 50, 100, 100]


def test_requested_to_capacity_ratio_default_shape_prefers_least_requested():
    shape = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]
    p = pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"})
    state = cluster([node("node1", "4000", "10000"), node("node2", "6000", "10000")])
    # node1: cpu 75% -> 25, mem 50% -> 50 => round(75/2) = 38; node2: 50, 50 => 50
    assert run_score(fit("RequestedToCapacityRatio", shape=shape), state, p) == {"node1": 38, "node2": 50}


def test_requested_to_capacity_ratio_ignores_zero_resource_scores():
    shape = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
    p = pod("p", {"cpu": "3000", "memory": "0"})
    state = cluster([node("node1", "4000", "10000")])
    # memory score is 0 and is left out of the weighted mean: cpu 75 -> 75
    assert run_score(fit("RequestedToCapacityRatio", shape=shape), state, p) == {"node1": 75}


# --- balanced_allocation_test.go ---------------------------------------------------------------
def test_balanced_allocation_upstream_cases():
    plugin = NodeResourcesBalancedAllocation({"resources": DEFAULT_RES})
    p = pod("p", {"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"})
    state = cluster([node("node1", "4000", "10000"), node("node2", "6000", "10000")])
    # node1: 0.75 vs 0.5 -> std 0.125 -> 87; node2: 0.5 vs 0.5 -> 100
    assert run_score(plugin, state, p) == {"node1": 87, "node2": 100}
    # real requests only: a bare pod on empty nodes is perfectly balanced
    assert run_score(plugin, cluster([node("n", "4", "8Gi")]), pod("q", {})) == {"n": 100}
    # fractions are capped at 1
    over = pod("o", {"cpu": "8000", "memory": "5000"})
    assert run_score(plugin, cluster([node("n", "4000", "10000")]), over) == {"n": 75}


def test_balanced_allocation_three_resources_uses_population_std():
    plugin = NodeResourcesBalancedAllocation({"resources": [*DEFAULT_RES, {"name": EXT, "weight": 1}]})
    p = pod("p", {"cpu": "1000", "memory": "5000", EXT: "1"})
    state = cluster([node("n", "4000", "10000", extra={EXT: "4"})])
    fractions = [0.25, 0.5, 0.25]
    mean = sum(fractions) / 3
    std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / 3)
    assert run_score(plugin, state, p) == {"n": int((1 - std) * 100)}


# --- taint_toleration_test.go -------------------------------------------------------------------
def prefer(key, value):
    return {"key": key, "value": value, "effect": "PreferNoSchedule"}


def test_taint_toleration_score_upstream_cases():
    tol = [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]
    state = cluster([node("nodeA", taints=[prefer("foo", "bar")]), node("nodeB", taints=[prefer("foo", "blah")])])
    assert run_score(TaintToleration(), state, pod("p", tolerations=tol)) == {"nodeA": 100, "nodeB": 0}
    # the more intolerable taints, the lower the score
    state = cluster([node("nodeA"), node("nodeB", taints=[prefer("cpu-type", "arm64")]),
                     node("nodeC", taints=[prefer("cpu-type", "arm64"), prefer("disk-type", "ssd")])])
    assert run_score(TaintToleration(), state, pod("p")) == {"nodeA": 100, "nodeB": 50, "nodeC": 0}
    # NoSchedule taints do not count; no intolerable PreferNoSchedule anywhere -> all 100
    state = cluster([node("nodeA", taints=[{"key": "a", "value": "b", "effect": "NoSchedule"}]), node("nodeB")])
    assert run_score(TaintToleration(), state, pod("p")) == {"nodeA": 100, "nodeB": 100}


def test_taint_toleration_tolerations_without_effect_count():
    tol = [{"key": "cpu-type", "operator": "Exists"}]
    state = cluster([node("nodeA", taints=[prefer("cpu-type", "arm64")]), node("nodeB", taints=[prefer("x", "y")])])
    assert run_score(TaintToleration(), state, pod("p", tolerations=tol)) == {"nodeA": 100, "nodeB": 0}


def test_default_normalize_score():
    s = [1, 2, 4]
    default_normalize_score(s, reverse=False)
    assert s == [25, 50, 100]
    s = [1, 2, 4]
    default_normalize_score(s, reverse=True)
    assert s == [75, 50, 0]
    s = [0, 0]
    default_normalize_score(s, reverse=False)
    assert s == [0, 0]


# --- node affinity preferred terms ---------------------------------------------------------------
def test_node_affinity_preferred_terms_sum_weights_and_normalize():
    aff = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
        {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
        {"weight": 5, "preference": {"matchExpressions": [
            {"key": "foo", "operator": "In", "values": ["bar"]},
            {"key": "key", "operator": "In", "values": ["value"]},
            {"key": "az", "operator": "In", "values": ["az1"]}]}},
    ]}}
    state = cluster([node("node1", labels={"foo": "bar"}), node("node2", labels={"key": "value"}),
                     node("node5", labels={"foo": "bar", "key": "value", "az": "az1"})])
    # raw 2, 4, 11 -> 100*x//11 (upstream: 18, 36, 100)
    assert run_score(NodeAffinity(), state, pod("p", affinity=aff)) == {"node1": 18, "node2": 36, "node5": 100}


def test_node_affinity_without_preferences_scores_zero_in_1_29():
    state = cluster([node("a"), node("b")])
    assert run_score(NodeAffinity(), state, pod("p")) == {"a": 0, "b": 0}


# --- image locality -------------------------------------------------------------------------------
MB = 1024 * 1024


def test_image_name_normalization():
    assert normalized_image_name("nginx") == "nginx:latest"
    assert normalized_image_name("gcr.io/x/nginx:1.2") == "gcr.io/x/nginx:1.2"
    assert normalized_image_name("localhost:5000/nginx") == "localhost:5000/nginx:latest"


def test_image_locality_spread_scaling_and_thresholds():
    images = [(["gcr.io/40:latest"], 40 * MB), (["gcr.io/300:latest"], 300 * MB)]
    state = cluster([node("node1", images=images), node("node2", images=[(["gcr.io/300:latest"], 300 * MB)]),
                     node("node3")])
    p = pod("p", containers=[container("a", image="gcr.io/40"), container("b", image="gcr.io/300")])
    # node1: 40MB*1/3 + 300MB*2/3 ; node2: 300MB*2/3 ; node3: nothing; thresholds 23MB .. 2000MB
    s1 = int(40 * MB * (1 / 3)) + int(300 * MB * (2 / 3))
    s2 = int(300 * MB * (2 / 3))
    expected = {"node1": calculate_priority(s1, 2), "node2": calculate_priority(s2, 2), "node3": 0}
    assert run_score(ImageLocality(), state, p) == expected
    assert expected["node1"] == 100 * (s1 - 23 * MB) // (2000 * MB - 23 * MB)


def test_image_locality_counts_init_containers():
    state = cluster([node("node1", images=[(["busybox:1.36"], 500 * MB)]), node("node2")])
    p = pod("p", containers=[container("a", image="nginx")], init=[container("i", image="busybox:1.36")])
    score = calculate_priority(int(500 * MB * 0.5), 2)
    assert run_score(ImageLocality(), state, p) == {"node1": score, "node2": 0}
    assert score > 0


# --- pod topology spread (system defaults) ----------------------------------------------------------
RS_OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9", "uid": "rs", "controller": True}


def test_spread_defaults_skip_a_bare_pod():
    state = cluster([node("a"), node("b")])
    assert run_score(PodTopologySpread(), state, pod("p", labels={"app": "web"})) == "skip"


def test_spread_defaults_apply_to_replicaset_pods():
    existing = [pod(f"w{i}", node_name="a", labels={"app": "web"}) for i in range(2)]
    existing.append(pod("other", node_name="b", labels={"app": "db"}))
    state = cluster([node("a"), node("b"), node("c")], existing)
    # without the ReplicaSet object there is no default selector
    p = pod("p", labels={"app": "web"}, owner=RS_OWNER)
    assert run_score(PodTopologySpread(), state, p) == "skip"
    state.add_object({"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "web-5d9", "namespace": "default"},
                      "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    # hostname constraint: raw = round(cnt * ln(3 + 2) + 2); zone label missing -> not scored
    raw_a = round(2 * math.log(5) + 2)
    assert run_score(PodTopologySpread(), state, p) == {
        "a": 100 * (raw_a + 2 - raw_a) // raw_a, "b": 100 * (raw_a + 2 - 2) // raw_a, "c": 100 * (raw_a + 2 - 2) // raw_a}


def test_spread_service_selector_gives_default_constraints():
    state = cluster([node("a"), node("b")], [pod("x", node_name="a", labels={"app": "web"})])
    state.add_object({"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                      "spec": {"selector": {"app": "web"}}})
    scores = run_score(PodTopologySpread(), state, pod("p", labels={"app": "web"}))
    assert scores["b"] == 100 and scores["a"] < 100


# --- inter-pod affinity scoring ------------------------------------------------------------------
def test_inter_pod_affinity_preferred_terms():
    aff = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"security": "S1"}},
                                          "topologyKey": "region"}}]}}
    existing = [pod("s1", node_name="m1", labels={"security": "S1"}), pod("s2", node_name="m2", labels={"security": "S2"})]
    state = cluster([node("m1", labels={"region": "China"}), node("m2", labels={"region": "India"}),
                     node("m3", labels={"region": "China"})], existing)
    assert run_score(InterPodAffinity(), state, pod("p", affinity=aff)) == {"m1": 100, "m2": 0, "m3": 100}


def test_inter_pod_affinity_skips_without_any_affinity():
    state = cluster([node("a"), node("b")], [pod("x", node_name="a")])
    assert run_score(InterPodAffinity(), state, pod("p")) == "skip"


def test_existing_pods_hard_affinity_counts_with_hard_weight():
    term = {"labelSelector": {"matchLabels": {"app": "p"}}, "topologyKey": "kubernetes.io/hostname"}
    existing = pod("e", node_name="a", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    state = cluster([node("a"), node("b")], [existing])
    assert run_score(InterPodAffinity({"hardPodAffinityWeight": 1}), state, pod("p", labels={"app": "p"})) == {
        "a": 100, "b": 0}
    assert run_score(InterPodAffinity({"hardPodAffinityWeight": 0}), state, pod("p", labels={"app": "p"})) == "skip"


def test_spread_defaults_with_zones_count_whole_domains():
    zone = "topology.kubernetes.io/zone"
    nodes = [node("a1", labels={zone: "a"}), node("a2", labels={zone: "a"}), node("b1", labels={zone: "b"})]
    existing = [pod("w1", node_name="a1", labels={"app": "web"}), pod("w2", node_name="a1", labels={"app": "web"}),
                pod("w3", node_name="b1", labels={"app": "web"}),
                pod("elsewhere", node_name="a2", labels={"app": "web"}, namespace="other")]
    dying = pod("dying", node_name="a2", labels={"app": "web"})
    dying["metadata"]["deletionTimestamp"] = "2024-11-23T10:00:00Z"
    state = cluster(nodes, existing + [dying])
    state.add_object({"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "web-5d9", "namespace": "default"},
                      "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    p = pod("p", labels={"app": "web"}, owner=RS_OWNER)
    # raw: a1 = round(2 ln5 + 2 + 2 ln4 + 4) = 12; a2 = round(0 + 2 + 2 ln4 + 4) = 9; b1 = round(ln5 + 2 + ln4 + 4) = 9
    assert [round(2 * math.log(5) + 2 + 2 * math.log(4) + 4), round(2 + 2 * math.log(4) + 4),
            round(math.log(5) + 2 + math.log(4) + 4)] == [12, 9, 9]
    assert run_score(PodTopologySpread(), state, p) == {"a1": 100 * (12 + 9 - 12) // 12, "a2": 100, "b1": 100}
