"""Filter plugins: reasons, status codes and the v1.29 edge cases."""

import random

import pytest
from sched_builders import cluster, container, node, pod

from scheduler.core.framework import CycleState
from scheduler.core.plugins.interpodaffinity import InterPodAffinity
from scheduler.core.plugins.nodeaffinity import NodeAffinity
from scheduler.core.plugins.nodename import NodeName
from scheduler.core.plugins.nodeports import NodePorts
from scheduler.core.plugins.noderesourcesfit import NodeResourcesFit
from scheduler.core.plugins.nodeunschedulable import NodeUnschedulable
from scheduler.core.plugins.podtopologyspread import PodTopologySpread
from scheduler.core.plugins.tainttoleration import TaintToleration
from scheduler.core.status import SKIP, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE


def run_filter(plugin, state, p):
    """node name -> None (fits) or (code, reasons); 'skip' when PreFilter skips the plugin."""
    cycle = CycleState(state, p, random.Random(0))
    if hasattr(plugin, "pre_filter"):
        out = plugin.pre_filter(cycle, p)
        if out is not None and getattr(out, "code", None) == SKIP:
            return "skip"
    result = {}
    for ni in state.node_list():
        st = plugin.filter(cycle, p, ni)
        result[ni.name] = None if st is None else (st.code, st.reasons)
    return result


# --- NodeResourcesFit --------------------------------------------------------------------------
def test_fit_reports_every_shortage_in_order():
    state = cluster([node("n", "1", "1Gi", ephemeral="1Gi", extra={"example.com/gpu": "1"})],
                    [pod("e", {"cpu": "800m", "memory": "800Mi"}, node_name="n")])
    p = pod("p", {"cpu": "300m", "memory": "300Mi", "ephemeral-storage": "2Gi", "example.com/gpu": "2"})
    assert run_filter(NodeResourcesFit(), state, p) == {"n": (UNSCHEDULABLE, [
        "Insufficient cpu", "Insufficient memory", "Insufficient ephemeral-storage", "Insufficient example.com/gpu"])}


def test_fit_uses_real_requests_not_non_zero_defaults():
    # 20 bare pods would be 2000m with the 100m scoring default, but the filter counts 0
    state = cluster([node("n", "1", "1Gi")], [pod(f"b{i}", {}, node_name="n") for i in range(20)])
    assert run_filter(NodeResourcesFit(), state, pod("p", {"cpu": "1"})) == {"n": None}


def test_fit_too_many_pods_applies_even_to_pods_requesting_nothing():
    state = cluster([node("n", pods=2)], [pod("a", node_name="n"), pod("b", node_name="n")])
    assert run_filter(NodeResourcesFit(), state, pod("p")) == {"n": (UNSCHEDULABLE, ["Too many pods"])}
    no_pods_field = cluster([node("m", pods=0)])
    assert run_filter(NodeResourcesFit(), no_pods_field, pod("p"))["m"] == (UNSCHEDULABLE, ["Too many pods"])


def test_fit_init_containers_and_overhead_count():
    state = cluster([node("n", "1", "1Gi")])
    big_init = pod("p", {"cpu": "100m"}, init=[container("i", {"cpu": "1500m"})])
    assert run_filter(NodeResourcesFit(), state, big_init)["n"] == (UNSCHEDULABLE, ["Insufficient cpu"])
    overhead = pod("q", {"cpu": "900m"}, overhead={"cpu": "200m"})
    assert run_filter(NodeResourcesFit(), state, overhead)["n"] == (UNSCHEDULABLE, ["Insufficient cpu"])
    fits = pod("r", {"cpu": "800m"}, overhead={"cpu": "200m"})
    assert run_filter(NodeResourcesFit(), state, fits)["n"] is None


def test_fit_ignored_extended_resources():
    state = cluster([node("n")])
    p = pod("p", {"example.com/foo": "1", "other.io/bar": "1"})
    args = {"ignoredResources": ["example.com/foo"], "ignoredResourceGroups": ["other.io"]}
    assert run_filter(NodeResourcesFit(args), state, p) == {"n": None}
    assert run_filter(NodeResourcesFit(), state, p)["n"][1] == ["Insufficient example.com/foo",
                                                                "Insufficient other.io/bar"]


# --- TaintToleration ---------------------------------------------------------------------------
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def test_untolerated_taint_message_has_empty_value():
    state = cluster([node("master", taints=[CP_TAINT]), node("w")])
    assert run_filter(TaintToleration(), state, pod("p")) == {
        "master": (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]),
        "w": None}


@pytest.mark.parametrize("toleration,tolerated", [
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}, True),  # Equal with ""
    ({"operator": "Exists"}, True),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "x"}, False),
])
def test_toleration_matching(toleration, tolerated):
    state = cluster([node("master", taints=[CP_TAINT])])
    assert (run_filter(TaintToleration(), state, pod("p", tolerations=[toleration]))["master"] is None) is tolerated


def test_prefer_no_schedule_taints_never_filter():
    state = cluster([node("n", taints=[{"key": "a", "value": "b", "effect": "PreferNoSchedule"}])])
    assert run_filter(TaintToleration(), state, pod("p")) == {"n": None}


# --- NodeUnschedulable / NodeName / NodePorts ---------------------------------------------------
def test_cordoned_node():
    state = cluster([node("n", unschedulable=True)])
    assert run_filter(NodeUnschedulable(), state, pod("p")) == {
        "n": (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) were unschedulable"])}
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert run_filter(NodeUnschedulable(), state, pod("p", tolerations=tol)) == {"n": None}


def test_node_name():
    state = cluster([node("a"), node("b")])
    assert run_filter(NodeName(), state, pod("p", nodeName="b")) == {
        "a": (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) didn't match the requested node name"]), "b": None}


def test_host_ports():
    web = container("web", ports=[{"containerPort": 80, "hostPort": 8080}])
    state = cluster([node("a"), node("b")], [pod("e", node_name="a", containers=[web])])
    assert run_filter(NodePorts(), state, pod("p", containers=[web])) == {
        "a": (UNSCHEDULABLE, ["node(s) didn't have free ports for the requested pod ports"]), "b": None}
    udp = container("dns", ports=[{"containerPort": 53, "hostPort": 8080, "protocol": "UDP"}])
    assert run_filter(NodePorts(), state, pod("q", containers=[udp])) == {"a": None, "b": None}
    specific_ip = container("w", ports=[{"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1"}])
    assert run_filter(NodePorts(), state, pod("r", containers=[specific_ip]))["a"] is not None  # 0.0.0.0 is taken
    assert run_filter(NodePorts(), state, pod("s")) == "skip"


# --- NodeAffinity -----------------------------------------------------------------------------
def required(*exprs, fields=None):
    term = {}
    if exprs:
        term["matchExpressions"] = list(exprs)
    if fields:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


NODES = [node("n1", labels={"disk": "ssd", "gen": "5"}), node("n2", labels={"disk": "hdd", "gen": "3"}), node("n3")]
NA_REASON = (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) didn't match Pod's node affinity/selector"])


@pytest.mark.parametrize("affinity,fits", [
    (required({"key": "disk", "operator": "In", "values": ["ssd"]}), {"n1"}),
    (required({"key": "disk", "operator": "NotIn", "values": ["ssd"]}), {"n2", "n3"}),
    (required({"key": "disk", "operator": "Exists"}), {"n1", "n2"}),
    (required({"key": "disk", "operator": "DoesNotExist"}), {"n3"}),
    (required({"key": "gen", "operator": "Gt", "values": ["4"]}), {"n1"}),
    (required({"key": "gen", "operator": "Lt", "values": ["4"]}), {"n2"}),
    (required(fields=[{"key": "metadata.name", "operator": "In", "values": ["n3"]}]), {"n3"}),
])
def test_node_affinity_operators(affinity, fits):
    out = run_filter(NodeAffinity(), cluster(NODES), pod("p", affinity=affinity))
    if fits == {"n3"} and "matchFields" in str(affinity):
        assert out["n3"] is None  # the PreFilterResult narrows to n3; the filter agrees
    else:
        assert {n for n, st in out.items() if st is None} == fits
        assert all(st == NA_REASON for st in out.values() if st is not None)


def test_node_selector_and_skip():
    out = run_filter(NodeAffinity(), cluster(NODES), pod("p", node_selector={"disk": "hdd"}))
    assert {n for n, st in out.items() if st is None} == {"n2"}
    assert run_filter(NodeAffinity(), cluster(NODES), pod("q")) == "skip"


def test_node_affinity_prefilter_result_and_conflict():
    state = cluster(NODES)
    cycle = CycleState(state, {}, random.Random(0))
    p = pod("p", affinity=required(fields=[{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]))
    assert NodeAffinity().pre_filter(cycle, p).node_names == {"n1", "n2"}
    conflict = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]},
                         {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    st = NodeAffinity().pre_filter(cycle, pod("q", affinity=conflict))
    assert (st.code, st.reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, ["pod affinity terms conflict"])


def test_added_affinity_is_enforced():
    plugin = NodeAffinity({"addedAffinity": required({"key": "disk", "operator": "Exists"})["nodeAffinity"]})
    out = run_filter(plugin, cluster(NODES), pod("p", node_selector={}))
    assert out["n3"] == (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) didn't match scheduler-enforced node affinity"])


# --- PodTopologySpread (hard constraints) -------------------------------------------------------
def zone_nodes():
    return [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}), node("b1", labels={"zone": "b"}),
            node("nolabel")]


def test_spread_filter_max_skew():
    existing = [pod("x1", node_name="a1", labels={"app": "web"}), pod("x2", node_name="a2", labels={"app": "web"})]
    state = cluster(zone_nodes(), existing)
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    out = run_filter(PodTopologySpread(), state, pod("p", labels={"app": "web"}, spread=spread))
    assert out == {
        "a1": (UNSCHEDULABLE, ["node(s) didn't match pod topology spread constraints"]),
        "a2": (UNSCHEDULABLE, ["node(s) didn't match pod topology spread constraints"]),
        "b1": None,
        "nolabel": (UNSCHEDULABLE_AND_UNRESOLVABLE,
                    ["node(s) didn't match pod topology spread constraints (missing required label)"]),
    }


def test_spread_filter_min_domains_treats_global_min_as_zero():
    existing = [pod("x1", node_name="a1", labels={"app": "web"}), pod("x2", node_name="b1", labels={"app": "web"})]
    state = cluster(zone_nodes()[:3], existing)
    spread = [{"maxSkew": 1, "minDomains": 3, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    out = run_filter(PodTopologySpread(), state, pod("p", labels={"app": "web"}, spread=spread))
    assert all(st is not None for st in out.values())  # 1 + 1 - 0 > 1 everywhere


def test_spread_without_hard_constraints_skips():
    assert run_filter(PodTopologySpread(), cluster(zone_nodes()), pod("p")) == "skip"


# --- InterPodAffinity ---------------------------------------------------------------------------
def term(labels, key="kubernetes.io/hostname"):
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def test_required_anti_affinity_of_incoming_pod():
    state = cluster([node("a"), node("b")], [pod("db", node_name="a", labels={"app": "db"})])
    p = pod("p", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term({"app": "db"})]}})
    assert run_filter(InterPodAffinity(), state, p) == {
        "a": (UNSCHEDULABLE, ["node(s) didn't match pod anti-affinity rules"]), "b": None}


def test_required_affinity_and_first_pod_of_a_group():
    state = cluster([node("a"), node("b")], [pod("db", node_name="a", labels={"app": "db"})])
    p = pod("p", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term({"app": "db"})]}})
    assert run_filter(InterPodAffinity(), state, p) == {
        "a": None, "b": (UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) didn't match pod affinity rules"])}
    # no pod matches anywhere, but the pod matches its own term: allowed everywhere
    self_affine = pod("s", labels={"grp": "x"},
                      affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term({"grp": "x"})]}})
    assert run_filter(InterPodAffinity(), state, self_affine) == {"a": None, "b": None}


def test_existing_pods_anti_affinity():
    guard = pod("guard", node_name="a",
                affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term({"app": "web"})]}})
    state = cluster([node("a"), node("b")], [guard])
    assert run_filter(InterPodAffinity(), state, pod("p", labels={"app": "web"})) == {
        "a": (UNSCHEDULABLE, ["node(s) didn't satisfy existing pods anti-affinity rules"]), "b": None}
    other_ns = pod("q", labels={"app": "web"}, namespace="other")
    assert run_filter(InterPodAffinity(), state, other_ns) == "skip"
