"""ClusterState: incremental aggregates, assume/forget/confirm, terminal pods, node order."""

from sched_builders import cluster, container, node, pod

from scheduler.core.state import ClusterState


def test_aggregates_follow_add_update_remove():
    state = cluster([node("n")])
    p = pod("p", {"cpu": "250m", "memory": "1Gi"}, node_name="n")
    state.add_pod(p)
    info = state.get_node_info("n")
    assert (info.requested.milli_cpu, info.requested.memory, info.num_pods) == (250, 2**30, 1)
    assert (info.non0_cpu, info.non0_mem) == (250, 2**30)
    bigger = dict(p, spec=dict(p["spec"], containers=[container("c", {"cpu": "500m"})]))
    state.update_pod(p, bigger)
    assert (info.requested.milli_cpu, info.requested.memory, info.non0_mem, info.num_pods) == (500, 0, 209715200, 1)
    state.remove_pod(bigger)
    assert (info.requested.milli_cpu, info.non0_cpu, info.num_pods) == (0, 0, 0)


def test_pending_and_terminal_pods_are_not_counted():
    state = cluster([node("n")])
    state.add_pod(pod("pending", {"cpu": "1"}))
    done = pod("done", {"cpu": "1"}, node_name="n")
    done["status"]["phase"] = "Succeeded"
    state.add_pod(done)
    assert state.get_node_info("n").num_pods == 0
    running = pod("run", {"cpu": "1"}, node_name="n")
    state.add_pod(running)
    finished = dict(running, status={"phase": "Failed"})
    state.update_pod(running, finished)
    assert state.get_node_info("n").num_pods == 0


def test_assume_then_confirm_does_not_double_count():
    state = cluster([node("n")])
    p = pod("p", {"cpu": "300m"})
    state.assume_pod(p, "n")
    assert state.get_node_info("n").requested.milli_cpu == 300 and state.is_assumed(p)
    bound = dict(p, spec=dict(p["spec"], nodeName="n"))
    state.add_pod(bound)  # the informer sees the binding
    assert state.get_node_info("n").requested.milli_cpu == 300 and not state.is_assumed(p)
    assert state.get_node_info("n").num_pods == 1


def test_forget_undoes_an_assume():
    state = cluster([node("n")])
    p = pod("p", {"cpu": "300m"})
    state.assume_pod(p, "n")
    state.forget_pod(p)
    assert state.get_node_info("n").requested.milli_cpu == 0
    state.forget_pod(p)  # idempotent
    assert state.get_node_info("n").num_pods == 0


def test_pods_arriving_before_their_node_and_node_removal():
    state = ClusterState()
    state.add_pod(pod("early", {"cpu": "1"}, node_name="late"))
    assert state.num_nodes == 0 and state.node_names() == []
    state.add_node(node("late"))
    assert state.get_node_info("late").requested.milli_cpu == 1000
    state.remove_node("late")
    assert state.get_node_info("late") is None and state.num_nodes == 0


def test_host_ports_and_images_are_tracked():
    web = container("w", ports=[{"containerPort": 80, "hostPort": 80}])
    state = cluster([node("a", images=[(["nginx:1.25"], 10)]), node("b", images=[(["nginx:1.25"], 10)])])
    assert state.image_num_nodes("nginx:1.25") == 2
    state.add_pod(pod("p", node_name="a", containers=[web]))
    assert state.get_node_info("a").port_conflict("0.0.0.0", "TCP", 80)
    state.remove_node("b")
    assert state.image_num_nodes("nginx:1.25") == 1


def test_node_list_is_stable_and_zone_round_robin():
    zoned = [node("a1", labels={"topology.kubernetes.io/zone": "a"}), node("a2", labels={"topology.kubernetes.io/zone": "a"}),
             node("b1", labels={"topology.kubernetes.io/zone": "b"}), node("a3", labels={"topology.kubernetes.io/zone": "a"})]
    state = cluster(zoned)
    assert state.node_names() == ["a1", "b1", "a2", "a3"]
    assert cluster([node("x"), node("y"), node("z")]).node_names() == ["x", "y", "z"]
    state.remove_node("a1")  # the rest of zone a moves up, in order
    assert state.node_names() == ["a2", "b1", "a3"]


def test_update_node_changes_allocatable_without_touching_pods():
    state = cluster([node("n", cpu="1")], [pod("p", {"cpu": "500m"}, node_name="n")])
    state.update_node(node("n", cpu="4"))
    info = state.get_node_info("n")
    assert (info.allocatable.milli_cpu, info.requested.milli_cpu, state.num_nodes) == (4000, 500, 1)


def test_operations_inside_atomically_may_change_the_state():
    state = ClusterState()
    state.atomically(lambda: state.add_node(node("n")))  # re-entrant: add_node locks too
    assert state.num_nodes == 1


def test_updates_of_an_assumed_pod_before_its_binding_keep_the_assumption():
    state = cluster([node("n")])
    p = pod("p", {"cpu": "300m"})
    state.assume_pod(p, "n")
    state.update_pod(p, dict(p, status={"phase": "Pending", "conditions": []}))  # still no nodeName
    assert state.get_node_info("n").requested.milli_cpu == 300 and state.is_assumed(p)


def test_node_list_cache_survives_pod_changes():
    state = cluster([node("a"), node("b")])
    first = state.node_list()
    state.assume_pod(pod("p", {"cpu": "1"}), "a")
    assert state.node_list() is first
    state.add_node(node("c"))
    assert [n.name for n in state.node_list()] == ["a", "b", "c"]
