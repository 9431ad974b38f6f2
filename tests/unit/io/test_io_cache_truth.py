"""Issue 10: the cache and the queue stay true when binds time out, watches miss events and pods
change or vanish meanwhile. One regression test (or a few) per item of the issue; each failed on
the code before the fix."""

from __future__ import annotations

import threading
import time

from io_fakes import FakeKube, conflict
from test_io_app import FixedProfile, make_app, node, pod, requested_on, wait_until, watch
from test_io_leader import FakeStore, LeaseServer
from test_io_queue import Clock

from scheduler.core.cachecompare import compare_cache
from scheduler.core.state import AlreadyInCache, ClusterState
from scheduler.runtime.app import SchedulerApp
from scheduler.runtime.kube import ApiError
from scheduler.runtime.leader import LeaderElector
from scheduler.runtime.queue import ACTIVE, UNSCHEDULABLE, SchedulingQueue

TOLERATION = {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}


def listing(*pods: dict, rv: str = "100") -> dict:
    return {"items": [dict(p) for p in pods], "metadata": {"resourceVersion": rv}}


def relist(app: SchedulerApp, kube: FakeKube, *pods: dict) -> None:
    """A re-list after a watch gap (410 Gone): the API now holds exactly `pods`."""
    kube.answer("/api/v1/pods", listing(*pods))
    app.pod_reflector.relist()


def recreated(name: str, uid: str, **kwargs) -> dict:
    body = pod(name, **kwargs)
    body["metadata"]["uid"] = uid
    return body


# -- item 1: a bound pod is re-queued, then dropped from the cache ------------------------------


def test_item1_a_pod_bound_by_a_timed_out_bind_is_neither_requeued_nor_dropped() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)

    def bind(method: str, path: str, body) -> dict:
        if not path.endswith("/binding"):
            return {}
        if len(kube.calls("POST", "/binding")) == 1:
            # The POST reached the server and bound the pod; the watch shows it; the answer is lost.
            watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))
            raise ApiError(0, "ReadTimeoutError: read timed out")
        raise conflict()

    kube.responder = bind
    fence = iter([True])  # the first send passes the fence; then the lease fence closes
    app.binder._can_act = lambda: next(fence, False)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert len(app.queue) == 0, "a bound pod went back to the queue"
    assert requested_on(app) == 1000
    assert app.binding == {}


def test_item1_assume_refuses_a_pod_already_in_the_cache() -> None:
    state = ClusterState()
    state.add_node(node("n1"))
    bound = pod("p", node_name="n1")
    state.add_pod(bound)
    try:
        state.assume_pod(pod("p"), "n1")
    except AlreadyInCache:
        pass
    else:
        raise AssertionError("assume_pod accepted a pod the cache already holds")
    assert not state.forget_pod(pod("p")), "forgetting a bound pod must not drop it"
    assert state.get_node_info("n1").requested.milli_cpu == 1000


def test_item1_a_stale_queued_copy_of_a_bound_pod_never_unbinds_it_from_the_cache() -> None:
    kube = FakeKube()
    kube.answer("/binding", conflict())
    app = make_app(FixedProfile(), kube)
    watch(app, "ADDED", pod("p", node_name="n1"))
    app.queue.add(pod("p"))  # a stale pending copy, however it got there
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert requested_on(app) == 1000
    assert kube.calls("POST", "/binding") == []


# -- item 2: a re-list matched pods by namespace/name only --------------------------------------


def test_item2_relist_showing_a_pending_namesake_removes_the_old_bound_pod() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    relist(app, kube, pod("web-0", node_name="n1"))
    assert requested_on(app) == 1000
    # Deleted and re-created (new uid, pending) during a watch gap.
    relist(app, kube, recreated("web-0", "uid-web-0-b", rv="7"))
    assert requested_on(app) == 0, "the old uid stayed counted"
    assert app.queue.where("ns/web-0") == ACTIVE


def test_item2_relist_showing_a_rebound_namesake_replaces_the_pod() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    relist(app, kube, pod("web-0", node_name="n1"))
    # Re-created already bound, identical spec, new uid: the cache must hold the new uid...
    reborn = recreated("web-0", "uid-web-0-b", node_name="n1", rv="7")
    relist(app, kube, reborn)
    assert requested_on(app) == 1000
    # ...so that its delete finds it.
    watch(app, "DELETED", reborn)
    assert requested_on(app) == 0


def test_item2_assigned_to_unassigned_is_a_delete_of_the_old_object() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    watch(app, "ADDED", pod("p", node_name="n1"))
    watch(app, "MODIFIED", recreated("p", "uid-p-b", rv="3"))
    assert requested_on(app) == 0
    assert compare_cache(app.state, [node("n1")], [recreated("p", "uid-p-b", rv="3")]) == []


# -- item 3: a pod deleted during a watch gap after being assumed leaked -----------------------


def test_item3_an_assumed_pod_deleted_during_a_watch_gap_is_cleaned_up_by_the_relist() -> None:
    kube = FakeKube()
    release = threading.Event()
    kube.responder = lambda m, path, b: (release.wait(10) and {}) if path.endswith("/binding") else {}
    app = make_app(FixedProfile(), kube)
    relist(app, kube, pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    assert len(app.binding) == 1
    # Bound, run and deleted while the watch was down: the re-list no longer has it.
    relist(app, kube)
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.binding == {}
    assert requested_on(app) == 0
    text = app.metrics.exposition(None)[0].decode()
    assert 'scheduler_scheduler_cache_size{type="assumed_pods"} 0.0' in text


# -- item 4: after a failed bind the stale object was re-queued --------------------------------


def _failing_bind_app() -> tuple[SchedulerApp, FakeKube, threading.Event]:
    kube = FakeKube()
    release = threading.Event()

    def bind(method: str, path: str, body) -> dict:
        if path.endswith("/binding"):
            release.wait(10)
            raise ApiError(403, "pods/binding is forbidden")
        return {}

    kube.responder = bind
    return make_app(FixedProfile(), kube), kube, release


def test_item4_a_pod_deleted_during_a_failing_bind_is_not_requeued() -> None:
    app, kube, release = _failing_bind_app()
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    watch(app, "DELETED", pod("p", rv="2"))
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert len(app.queue) == 0, "a deleted pod became a ghost in the queue"
    assert requested_on(app) == 0
    # handleSchedulingFailure (v1.29.15) still records the event and calls updatePod for a pod the
    # informer no longer has (the write then fails with 404 and is logged): not re-queued is all.
    wait_until(lambda: len(kube.calls("PATCH", "/pods/p/status")) == 1)


def test_item4_a_toleration_added_during_a_failing_bind_is_used_on_the_retry() -> None:
    app, kube, release = _failing_bind_app()
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    tolerant = pod("p", rv="2")
    tolerant["spec"]["tolerations"] = [TOLERATION]
    watch(app, "MODIFIED", tolerant)
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    queued = app.queue._info["ns/p"].pod
    assert queued["spec"].get("tolerations") == [TOLERATION], "the retry schedules the stale object"


# -- item 5: an update during a scheduling attempt parked the pod as unschedulable --------------


def test_item5_an_update_during_the_attempt_sends_the_pod_to_active() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("p"))
    info = q.pop(timeout=0)
    tolerant = pod("p", rv="2")
    tolerant["spec"]["tolerations"] = [TOLERATION]
    q.update(tolerant)
    assert q.add_unschedulable(info, {"TaintToleration"}) == ACTIVE
    again = q.pop(timeout=0)
    assert again is not None and again.pod["spec"]["tolerations"] == [TOLERATION]


def test_item5_without_an_update_the_pod_is_parked() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("p"))
    info = q.pop(timeout=0)
    q.update(pod("p"))  # the same resourceVersion: a re-list echo, not an update
    assert q.add_unschedulable(info, {"TaintToleration"}) == UNSCHEDULABLE


# -- item 6: a renewal round was not cut off at renewDeadline ----------------------------------


class HangingStore(FakeStore):
    """Renewals hang (a black-holed connection) once `hang` is set."""

    def __init__(self, server: LeaseServer) -> None:
        super().__init__(server)
        self.hang = threading.Event()
        self.unblock = threading.Event()

    def update(self, record) -> None:
        if self.hang.is_set():
            self.unblock.wait(60)
        super().update(record)

    def get(self):
        if self.hang.is_set():
            self.unblock.wait(60)
        return super().get()


def test_item6_a_hanging_renewal_ends_leadership_at_renew_deadline() -> None:
    store = HangingStore(LeaseServer())
    started, status, stopped = threading.Event(), [], []
    elector = LeaderElector(store, identity="a", lease_duration=3.0, renew_deadline=2.0, retry_period=0.2,
                            on_started_leading=started.set, on_leader_status=status.append,
                            on_stopped_leading=stopped.append)
    thread = threading.Thread(target=elector.run, daemon=True)
    thread.start()
    try:
        assert started.wait(10)
        store.hang.set()
        hung_at = time.monotonic()
        # Each request would hang 60 s; the round must end at renewDeadline (2 s) regardless.
        wait_until(lambda: stopped == [False], timeout=20)
        assert status == [True, False]
        assert time.monotonic() - hung_at < 20
        assert not elector.can_act()
    finally:
        store.unblock.set()
        thread.join(10)


# -- item 7: bind time bound, QueueSort plugin, event-filtered re-queue -------------------------


def test_item7_a_bind_is_bounded_in_total_by_the_lease_gap() -> None:
    from types import SimpleNamespace

    from io_fakes import derive_self

    from scheduler.core.config import ClientConnectionConfig, LeaderElectionConfig
    from scheduler.runtime.app import ServingOptions

    kube = derive_self(FakeKube())
    seen: list = []
    original = kube.request

    def request(method, path, **kwargs):
        if path.endswith("/binding"):
            seen.append(kwargs.get("timeout"))
        return original(method, path, **kwargs)

    kube.request = request
    config = SimpleNamespace(
        leader_election=LeaderElectionConfig(leader_elect=True, lease_duration=15.0, renew_deadline=14.5,
                                             retry_period=2.0),
        client_connection=ClientConnectionConfig(qps=0, burst=1),
        pod_initial_backoff_seconds=1, pod_max_backoff_seconds=10)
    profile = FixedProfile()
    app = SchedulerApp(config, {profile.scheduler_name: profile}, kube=kube, state=ClusterState(),
                       serving=ServingOptions(bind_address="127.0.0.1", port=0, secure_port=0), lease_watch=False)
    app.binder._can_act = lambda: True
    app.binder.bind(pod("p"), "n1")
    (timeout,) = seen
    # kube.request bounds the whole request by its timeout, connect included (one deadline).
    assert timeout <= 0.5, f"a bind may stay in flight {timeout}s, past the 0.5s lease gap"


def test_item7_the_profiles_queue_sort_plugin_orders_the_scheduler_queue() -> None:
    profile = FixedProfile()

    class ByNameDescending:
        name = "ByNameDescending"

        @staticmethod
        def less(a, b) -> bool:
            return a.pod["metadata"]["name"] > b.pod["metadata"]["name"]

    profile.queue_sort_plugins = [ByNameDescending()]
    profile.less = ByNameDescending.less
    app = make_app(profile)
    for name in ("b", "a", "c"):
        watch(app, "ADDED", pod(name))
    order = [app.queue.pop(timeout=0).pod["metadata"]["name"] for _ in range(3)]
    assert order == ["c", "b", "a"]


def test_item7_priority_ties_go_by_queue_time_not_creation_time() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    young = pod("young")
    young["metadata"]["creationTimestamp"] = "2024-01-01T00:00:09Z"
    old = pod("old")
    old["metadata"]["creationTimestamp"] = "2024-01-01T00:00:01Z"
    q.add(young)
    clock.now += 1
    q.add(old)
    assert [q.pop(timeout=0).key, q.pop(timeout=0).key] == ["ns/young", "ns/old"]


def test_item7_unschedulable_pods_move_only_on_events_their_rejecting_plugin_registered() -> None:
    q = SchedulingQueue(clock=Clock())
    for name, plugin in (("affinity", "NodeAffinity"), ("fit", "NodeResourcesFit")):
        q.add(pod(name))
        assert q.add_unschedulable(q.pop(timeout=0), {plugin}) == UNSCHEDULABLE
    # A pod leaving a node frees resources: only the pod NodeResourcesFit rejected may fit now.
    assert q.move_all_to_active_or_backoff("AssignedPodDelete") == 1
    assert q.where("ns/affinity") == UNSCHEDULABLE and q.where("ns/fit") != UNSCHEDULABLE
    # A node label change may satisfy node affinity.
    assert q.move_all_to_active_or_backoff("NodeLabelChange") == 1
    assert q.where("ns/affinity") != UNSCHEDULABLE


# -- the cache debugger --------------------------------------------------------------------------


def test_compare_cache_reports_every_kind_of_difference() -> None:
    state = ClusterState()
    state.add_node(node("n1"))
    state.add_node(node("gone"))
    state.add_pod(pod("phantom", node_name="n1"))
    state.assume_pod(pod("assumed"), "n1")
    truth_nodes = [node("n1"), node("n2")]
    truth_pods = [pod("missing", node_name="n2"), pod("assumed")]
    diffs = compare_cache(state, truth_nodes, truth_pods)
    text = "\n".join(diffs)
    assert "node n2: in the API, missing from the cache" in text
    assert "node gone: in the cache, gone from the API" in text
    assert "pod ns/assumed (uid-assumed): still assumed on n1" in text
    assert "pod ns/missing (uid-missing): bound to n2 in the API, missing from the cache" in text
    assert "pod ns/phantom (uid-phantom): cached on n1, not bound in the API" in text
    assert any(d.startswith("node n1: cache requests") for d in diffs)
    exact = ClusterState()
    for n in truth_nodes:
        exact.add_node(n)
    exact.add_pod(pod("missing", node_name="n2"))
    assert compare_cache(exact, truth_nodes, truth_pods) == []


def test_sigusr2_debugger_compares_with_the_api_and_dumps_the_queue(caplog) -> None:
    import logging

    kube = FakeKube()
    app = make_app(FixedProfile(target=None), kube)
    watch(app, "ADDED", pod("waiting"))
    app.schedule_one(app.queue.pop(timeout=0))
    watch(app, "ADDED", pod("bound", node_name="n1"))

    def api(method: str, path: str, body) -> dict:
        if path == "/api/v1/nodes":
            return listing(node("n1"))
        if path == "/api/v1/pods":
            return listing(pod("bound", node_name="n1"), pod("waiting"), pod("other", node_name="n1"))
        return {}

    kube.responder = api
    caplog.set_level(logging.INFO, logger="scheduler")
    diffs = app.debug_cache()
    assert diffs == ["pod ns/other (uid-other): bound to n1 in the API, missing from the cache",
                     "node n1: cache requests (milliCPU, memory, non-zero milliCPU, non-zero memory) "
                     "(1000, 0, 1000, 209715200), API (2000, 0, 2000, 419430400)"]
    assert "Cache mismatch" in caplog.text
    assert 'queue="unschedulable" pods="ns/waiting"' in caplog.text

def test_the_cache_debugger_lists_in_pages_and_starts_over_when_its_continue_token_expires() -> None:
    """compare_cache pages with limit/continue like the informers (the HTTP client caps one answer's
    body); a 410 for an expired continue token lists again from the start."""
    app = make_app(FixedProfile())
    app.state.add_pod(pod("a", node_name="n1"))
    app.state.add_pod(pod("b", node_name="n1"))
    queries: list[tuple[str, dict]] = []
    pages = {  # (path, continue token) -> the answer
        ("/api/v1/nodes", None): {"items": [node("n1")], "metadata": {}},
        ("/api/v1/pods", None): {"items": [pod("a", node_name="n1")], "metadata": {"continue": "t1"}},
        ("/api/v1/pods", "t1"): {"items": [pod("b", node_name="n1")], "metadata": {}},
    }
    expire_once = [ApiError(410, "The provided continue parameter is too old")]

    def request(method: str, path: str, *, query=None, **kwargs) -> dict:
        queries.append((path, dict(query or {})))
        token = (query or {}).get("continue")
        if token == "t1" and expire_once:
            raise expire_once.pop()
        return pages[(path, token)]

    app.kube.request = request  # type: ignore[method-assign]
    assert app.compare_cache() == []  # both pods, each once: the expired listing was started over
    assert all(q.get("limit") == 500 for _, q in queries)
    assert [(path, q.get("continue")) for path, q in queries] == [
        ("/api/v1/nodes", None), ("/api/v1/pods", None), ("/api/v1/pods", "t1"),
        ("/api/v1/pods", None), ("/api/v1/pods", "t1")]
    assert all(q["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"
               for path, q in queries if path == "/api/v1/pods")
