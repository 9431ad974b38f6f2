"""DefaultPreemption v1.29.15: victim choice, PodDisruptionBudgets, candidate ranking, tie set.

The live check of the same rules is e2e/test_upstream_parity.py (generated preemption states,
PDB states included) and e2e/test_preemption.py (the running scheduler evicts like kube-scheduler).
"""

from sched_builders import cluster, default_profile, node, pod, schedule

from scheduler.core.plugins.defaultpreemption import filter_pods_with_pdb_violation
from scheduler.core.state import PodInfo


def _nodes():
    return [node(f"n{i}", cpu="2") for i in range(3)]


def _pdb(app: str, allowed: int, disrupted: dict | None = None) -> dict:
    return {"kind": "PodDisruptionBudget", "metadata": {"name": f"pdb-{app}", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}},
            "status": {"disruptionsAllowed": allowed, "disruptedPods": disrupted or {}}}


def test_lowest_priority_victim_on_the_node_violating_no_budget():
    fill = [pod("low", {"cpu": "1500m"}, node_name="n0", priority=10, labels={"app": "low"}),
            pod("mid", {"cpu": "1500m"}, node_name="n1", priority=100, labels={"app": "mid"}),
            pod("kept", {"cpu": "1500m"}, node_name="n2", priority=10, labels={"app": "kept"})]
    state = cluster(_nodes(), fill)
    state.add_object(_pdb("kept", 0))
    res = schedule(default_profile(), state, pod("vip", {"cpu": "1"}, priority=1000))
    assert res.node is None and res.nominated_node == "n0" and res.victims == ["default/low"]
    assert res.nominated_tie == {"n0": ["default/low"]}
    assert res.message == "0/3 nodes are available: 3 Insufficient cpu."


def test_budget_violating_node_is_chosen_only_when_nothing_else_helps():
    fill = [pod("kept", {"cpu": "1500m"}, node_name="n0", priority=10, labels={"app": "kept"}),
            pod("big", {"cpu": "1500m"}, node_name="n1", priority=5000)]
    state = cluster(_nodes()[:2], fill)
    state.add_object(_pdb("kept", 0))
    res = schedule(default_profile(), state, pod("vip", {"cpu": "1"}, priority=1000))
    assert res.nominated_node == "n0" and res.victims == ["default/kept"]


def test_budget_violating_pods_are_reprieved_first():
    # Either pod is enough to free room; the one under a budget is reprieved first and kept.
    fill = [pod("a", {"cpu": "800m"}, node_name="n0", priority=10, labels={"app": "a"}),
            pod("b", {"cpu": "800m"}, node_name="n0", priority=10, labels={"app": "b"})]
    state = cluster(_nodes()[:1], fill)
    state.add_object(_pdb("b", 0))
    res = schedule(default_profile(), state, pod("vip", {"cpu": "1"}, priority=1000))
    assert res.victims == ["default/a"]


def test_ties_on_every_criterion_are_all_reported():
    fill = [pod(f"low{i}", {"cpu": "1500m"}, node_name=f"n{i}", priority=10) for i in range(3)]
    res = schedule(default_profile(), cluster(_nodes(), fill), pod("vip", {"cpu": "1"}, priority=1000))
    assert set(res.nominated_tie) == {"n0", "n1", "n2"}
    assert res.victims == res.nominated_tie[res.nominated_node]


def test_fewer_and_lower_victims_win():
    fill = [pod("x1", {"cpu": "700m"}, node_name="n0", priority=10),
            pod("x2", {"cpu": "700m"}, node_name="n0", priority=10),
            pod("y", {"cpu": "1500m"}, node_name="n1", priority=10),
            pod("z", {"cpu": "1500m"}, node_name="n2", priority=50)]
    res = schedule(default_profile(), cluster(_nodes(), fill), pod("vip", {"cpu": "1500m"}, priority=1000))
    assert res.nominated_node == "n1" and res.victims == ["default/y"]


def test_pdb_counting_skips_disrupted_pods_and_other_namespaces():
    infos = [PodInfo(pod(f"p{i}", labels={"app": "w"})) for i in range(3)]
    other = PodInfo(pod("o", labels={"app": "w"}, namespace="other"))
    violating, ok = filter_pods_with_pdb_violation(infos + [other], [_pdb("w", 1, {"p0": "2026-01-01T00:00:00Z"})])
    assert [i.name for i in violating] == ["p2"] and [i.name for i in ok] == ["p0", "p1", "o"]
    empty = {"metadata": {"namespace": "default"}, "spec": {"selector": {}}, "status": {"disruptionsAllowed": 0}}
    assert filter_pods_with_pdb_violation(infos, [empty]) == ([], infos)


def test_a_nominated_pod_keeps_its_room_from_lower_priority_pods():
    state = cluster(_nodes()[:2], [pod("busy", {"cpu": "1500m"}, node_name="n1", priority=0)])
    profile = default_profile()
    vip = pod("vip", {"cpu": "1500m"}, priority=1000)
    profile.handle.nominator.add(vip, "n0")
    res = schedule(profile, state, pod("small", {"cpu": "1"}, priority=10))
    assert res.node is None and res.message.startswith("0/2 nodes are available: 2 Insufficient cpu.")
    # Equal or higher priority pods are filtered with the nominated pod too; the nominee itself is not.
    assert schedule(profile, state, pod("peer", {"cpu": "1"}, priority=1000)).node is None
    assert schedule(profile, state, vip).node == "n0"
    # Small enough to fit next to the nominated pod: fine.
    assert schedule(profile, state, pod("tiny", {"cpu": "400m"}, priority=10)).node == "n0"
    profile.handle.nominator.delete(vip)
    assert schedule(profile, state, pod("small2", {"cpu": "1"}, priority=10)).node == "n0"


def test_the_preemptor_returns_to_its_nominated_node_first():
    state = cluster(_nodes(), [])
    p = pod("vip", {"cpu": "1"}, priority=1000)
    p["status"] = {"nominatedNodeName": "n2"}
    res = schedule(default_profile(), state, p)
    assert (res.node, res.evaluated_nodes, res.scores) == ("n2", 1, {})
