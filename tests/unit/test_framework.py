"""One scheduling cycle: host selection, percentageOfNodesToScore, FailedScheduling text, preemption, gates."""

import random
from collections import Counter

import pytest
from sched_builders import cluster, default_profile, node, pod, profile_from, schedule

from scheduler.core.framework import num_feasible_nodes_to_find
from scheduler.core.messages import fit_error_message

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def lab(worker_cpu="2"):
    return [node("master-node", taints=[CP_TAINT])] + [node(f"worker-node0{i}", cpu=worker_cpu) for i in (1, 2, 3)]


@pytest.mark.parametrize("n,expected", [(10, 10), (99, 99), (100, 100), (500, 230), (1000, 420), (5000, 500),
                                        (5625, 281), (10000, 500)])
def test_num_feasible_nodes_to_find(n, expected):
    assert num_feasible_nodes_to_find(0, n) == expected


def test_explicit_percentage_with_floor_of_100():
    assert num_feasible_nodes_to_find(10, 5000) == 500
    assert num_feasible_nodes_to_find(1, 5000) == 100
    assert num_feasible_nodes_to_find(100, 5000) == 5000


def test_one_feasible_node_is_chosen_without_scoring():
    state = cluster(lab())
    res = schedule(default_profile(), state, pod("p", node_selector={"kubernetes.io/hostname": "worker-node02"}))
    assert (res.node, res.scores, res.feasible_nodes, res.evaluated_nodes) == ("worker-node02", {}, 1, 4)


def test_totals_are_weighted_sums_and_the_best_node_wins():
    state = cluster(lab(), [pod("busy", {"cpu": "1", "memory": "1Gi"}, node_name="worker-node01")])
    res = schedule(default_profile(), state, pod("p", {"cpu": "100m", "memory": "100Mi"}))
    assert res.node in ("worker-node02", "worker-node03")
    assert set(res.scores) == {"worker-node01", "worker-node02", "worker-node03"}
    weights = res.weights
    for scores in res.scores.values():
        assert scores["total"] == sum(weights[p] * s for p, s in scores.items() if p != "total")
        assert "PodTopologySpread" not in scores and "InterPodAffinity" not in scores  # skipped in PreScore
        assert "VolumeBinding" not in scores
        assert scores["TaintToleration"] == 100 and scores["NodeAffinity"] == 0
    assert res.scores["worker-node01"]["total"] < res.scores["worker-node02"]["total"]


def test_ties_are_broken_uniformly_by_reservoir_sampling():
    state = cluster([node(f"n{i}") for i in range(4)])
    profile = default_profile()
    rng = random.Random(42)
    wins = Counter(profile.schedule(state, pod("p", {}), rng).node for _ in range(4000))
    assert set(wins) == {"n0", "n1", "n2", "n3"}
    assert all(850 < c < 1150 for c in wins.values()), wins


def test_seeded_rng_makes_choices_reproducible():
    state = cluster([node(f"n{i}") for i in range(5)])
    a = [schedule(default_profile(), state, pod("p", {}), seed=7).node for _ in range(3)]
    b = [schedule(default_profile(), state, pod("p", {}), seed=7).node for _ in range(3)]
    assert a == b


def test_random_only_profile_picks_uniformly():
    profile = profile_from('profiles:\n- schedulerName: random-scheduler\n  plugins:\n    score:\n      disabled:\n'
                           '      - name: "*"\n      enabled:\n      - name: Random\n', "random-scheduler")
    state = cluster([node("a", cpu="64"), node("b", cpu="1"), node("c", cpu="8")])
    rng = random.Random(3)
    wins = Counter(profile.schedule(state, pod("p", {"cpu": "100m"}, scheduler="random-scheduler"), rng).node
                   for _ in range(3000))
    assert all(850 < c < 1150 for c in wins.values()), wins
    res = profile.schedule(state, pod("p", scheduler="random-scheduler"), random.Random(1))
    assert all(set(s) == {"Random", "total"} and 0 <= s["Random"] <= 100 for s in res.scores.values())


def test_adaptive_percentage_and_rotating_start_index():
    nodes = [node(f"n{i:04d}") for i in range(1000)]
    state = cluster(nodes)
    profile = default_profile()
    res = schedule(profile, state, pod("p", {}))
    assert (res.feasible_nodes, res.evaluated_nodes, len(res.scores)) == (420, 420, 420)
    assert profile.next_start_node_index == 420
    res2 = schedule(profile, state, pod("q", {}))
    assert min(res2.scores) == "n0420" and profile.next_start_node_index == 840
    schedule(profile, state, pod("r", {}))
    assert profile.next_start_node_index == (840 + 420) % 1000


def test_profiles_of_one_scheduler_share_the_start_index():
    from scheduler.core.profiles import build_profiles, load_config_text
    from sched_builders import CONFIG_HEAD
    profiles = build_profiles(load_config_text(CONFIG_HEAD + "profiles:\n- schedulerName: a\n- schedulerName: b\n"))
    state = cluster([node(f"n{i:03d}") for i in range(200)])
    profiles["a"].schedule(state, pod("p", {}, scheduler="a"), random.Random(0))
    assert profiles["b"].next_start_node_index == 100


# --- FailedScheduling messages ----------------------------------------------------------------------
# The FailedScheduling texts below are hard-coded; the live check that confirms them against the lab's
# kube-scheduler v1.29.15 is e2e/test_upstream_parity.py (same message generator, real binary).
def test_reference_message_with_single_dot_preemption_suffix():
    state = cluster(lab(worker_cpu="1"))
    res = schedule(default_profile(), state, pod("big", {"cpu": "1500m"}))
    assert res.node is None and res.status == "unschedulable"
    assert res.message == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "3 Insufficient cpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod.")
    assert res.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}
    assert res.evaluated_nodes == 4 and res.feasible_nodes == 0


def test_histogram_is_sorted_as_strings_and_counts_every_reason():
    from scheduler.core.status import UNSCHEDULABLE, Status
    statuses = {f"n{i}": Status(UNSCHEDULABLE, "Insufficient cpu") for i in range(10)}
    statuses.update({f"m{i}": Status(UNSCHEDULABLE, "Insufficient cpu", "Insufficient memory") for i in range(2)})
    assert fit_error_message(12, statuses) == "0/12 nodes are available: 12 Insufficient cpu, 2 Insufficient memory."
    statuses = {f"n{i}": Status(UNSCHEDULABLE, "Insufficient memory") for i in range(2)}
    statuses.update({f"m{i}": Status(UNSCHEDULABLE, "Insufficient cpu") for i in range(10)})
    assert fit_error_message(12, statuses) == "0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory."
    statuses = {"a": Status(UNSCHEDULABLE, "Too many pods"), "b": Status(UNSCHEDULABLE, "Insufficient cpu")}
    statuses.update({f"c{i}": Status(UNSCHEDULABLE, "Insufficient cpu") for i in range(9)})
    # "10 Insufficient cpu" sorts before "1 Too many pods"? No: "1 " < "10" because ' ' < '0'.
    assert fit_error_message(11, statuses) == "0/11 nodes are available: 1 Too many pods, 10 Insufficient cpu."


def test_preemption_never_policy_message():
    state = cluster(lab(worker_cpu="1"))
    res = schedule(default_profile(), state, pod("big", {"cpu": "1500m"}, preemptionPolicy="Never"))
    assert res.message.endswith("3 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")


def test_preemption_that_would_help_nominates_a_node_and_has_no_suffix():
    low = [pod(f"low{i}", {"cpu": "800m"}, node_name=f"worker-node0{i}", priority=0) for i in (1, 2, 3)]
    state = cluster(lab(worker_cpu="1"), low)
    res = schedule(default_profile(), state, pod("vip", {"cpu": "500m"}, priority=1000))
    assert res.node is None
    assert res.message == ("0/4 nodes are available: 1 node(s) had untolerated taint "
                           "{node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu.")
    assert res.nominated_node in {"worker-node01", "worker-node02", "worker-node03"}
    assert res.victims == [f"default/low{res.nominated_node[-1]}"]


def test_preemption_reports_nodes_still_failing_after_removing_victims():
    low = [pod("low", {"cpu": "100m"}, node_name="worker-node01", priority=0)]
    high = [pod(f"high{i}", {"cpu": "900m"}, node_name=f"worker-node0{i}", priority=5000) for i in (2, 3)]
    state = cluster(lab(worker_cpu="1"), low + high)
    res = schedule(default_profile(), state, pod("p", {"cpu": "1500m"}, priority=1000))
    assert res.message.endswith(
        "preemption: 0/4 nodes are available: 1 Insufficient cpu, 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.")


def test_no_postfilter_plugins_means_no_preemption_text():
    profile = profile_from("profiles:\n- plugins:\n    postFilter:\n      disabled:\n      - name: DefaultPreemption\n")
    res = schedule(profile, cluster(lab(worker_cpu="1")), pod("big", {"cpu": "1500m"}))
    assert res.message.endswith("3 Insufficient cpu.")


def test_prefilter_rejection_message():
    conflict = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]},
                         {"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}
    res = schedule(default_profile(), cluster(lab()), pod("p", affinity=conflict))
    assert res.message == ("0/4 nodes are available: pod affinity terms conflict. preemption: 0/4 nodes are "
                           "available: 4 Preemption is not helpful for scheduling.")


def test_nodes_outside_the_prefilter_result():
    pinned = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["master-node"]}]}]}}}
    res = schedule(default_profile(), cluster(lab()), pod("p", affinity=pinned))
    assert res.message.startswith("0/4 nodes are available: 1 node(s) had untolerated taint "
                                  "{node-role.kubernetes.io/control-plane: }, 3 node is filtered out by the prefilter "
                                  "result.")


def test_no_nodes():
    res = schedule(default_profile(), cluster([]), pod("p"))
    assert (res.node, res.message, res.status) == (None, "no nodes available to schedule pods", "error")


def test_scheduling_gates_keep_the_pod_waiting():
    res = schedule(default_profile(), cluster(lab()), pod("p", schedulingGates=[{"name": "a"}, {"name": "b"}]))
    assert (res.node, res.status, res.message) == (None, "gated", "waiting for scheduling gates: [a b]")


def test_nominated_node_is_tried_first():
    state = cluster(lab())
    p = pod("p", {})
    p["status"]["nominatedNodeName"] = "worker-node03"
    res = schedule(default_profile(), state, p)
    assert (res.node, res.evaluated_nodes, res.scores) == ("worker-node03", 1, {})


def test_handles_uses_the_api_default_scheduler_name():
    profile = default_profile()
    assert profile.handles(pod("p")) and profile.handles(pod("q", scheduler="default-scheduler"))
    assert not profile.handles(pod("r", scheduler="my-scheduler"))
    p = pod("s")
    p["metadata"]["annotations"] = {"scheduler.alpha.kubernetes.io/name": "custom-scheduler"}
    assert profile.handles(p)  # the alpha annotation is ignored since v1.6


def test_schedule_does_not_modify_state():
    state = cluster(lab())
    before = state.get_node_info("worker-node01").generation
    schedule(default_profile(), state, pod("p", {"cpu": "1"}))
    assert state.get_node_info("worker-node01").generation == before
    assert state.get_node_info("worker-node01").requested.milli_cpu == 0
