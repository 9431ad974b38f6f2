"""The wiring: informer events -> cache/queue -> decision -> assume -> bind -> confirm or forget."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from io_fakes import FakeKube, conflict, derive_self
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from scheduler.runtime.app import SchedulerApp, ServingOptions
from scheduler.runtime.handlers import node_change_events
from scheduler.core.config import ClientConnectionConfig, LeaderElectionConfig
from scheduler.core.framework import ScheduleResult
from scheduler.runtime.kube import ApiError
from scheduler.runtime.queue import BACKOFF, UNSCHEDULABLE
from scheduler.core.state import ClusterState


def node(name: str, cpu: str = "4") -> dict:
    return {"kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                                         "resourceVersion": "1"},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, scheduler: str = "test-scheduler", node_name: str | None = None, rv: str = "1") -> dict:
    body = {"kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv,
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"schedulerName": scheduler,
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": "Pending"}}
    if node_name:
        body["spec"]["nodeName"] = node_name
    return body


class FixedProfile:
    """Always picks `target` (or fails with `message`), recording what the cache held at the time."""

    def __init__(self, name: str = "test-scheduler", target: str | None = "n1", scorers=("NodeResourcesFit",),
                 message: str = "0/1 nodes are available: 1 Insufficient cpu.") -> None:
        self.scheduler_name = name
        self.target = target
        self.message = message
        self.scorers = list(scorers)
        self.seen_requested: list[int] = []

    def plugin_names(self, point: str) -> list[str]:
        return self.scorers if point == "score" else []

    def schedule(self, state, p, rng=None) -> ScheduleResult:
        info = state.get_node_info("n1")
        self.seen_requested.append(info.requested.milli_cpu if info else -1)
        if self.target is None:
            return ScheduleResult(f"ns/{p['metadata']['name']}", None, message=self.message,
                                  unschedulable_plugins={"NodeResourcesFit"}, status="unschedulable")
        return ScheduleResult(f"ns/{p['metadata']['name']}", self.target, evaluated_nodes=1, feasible_nodes=1)


def wait_until(predicate, timeout: float = 10.0) -> None:
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.01),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            assert predicate()


def make_app(profile: FixedProfile, kube: FakeKube | None = None, leader_elect: bool = False) -> SchedulerApp:
    config = SimpleNamespace(  # the fields of SchedulerConfiguration the shell reads
        leader_election=LeaderElectionConfig(leader_elect=leader_elect),
        client_connection=ClientConnectionConfig(qps=0, burst=1),
        pod_initial_backoff_seconds=1, pod_max_backoff_seconds=10)
    kube = derive_self(kube or FakeKube())
    state = ClusterState()
    app = SchedulerApp(config, {profile.scheduler_name: profile}, kube=kube, state=state,
                       serving=ServingOptions(bind_address="127.0.0.1", port=0, secure_port=0))
    app.node_reflector.handler.on_add(node("n1"))
    return app


def watch(app: SchedulerApp, kind: str, obj: dict) -> None:
    """Deliver one watch event through the pod reflector, so its store (the informer's lister the
    scheduler re-reads) holds what the handlers were told."""
    app.pod_reflector._apply({"type": kind, "object": obj})


def requested_on(app: SchedulerApp, name: str = "n1") -> int:
    info = app.state.get_node_info(name)
    return info.requested.milli_cpu


def test_pod_is_assumed_bound_reported_and_confirmed() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    at_bind: list[int] = []
    # Record only the bind: the Scheduled event is posted by another thread and may come first.
    kube.responder = lambda m, path, body: (at_bind.append(requested_on(app)) if path.endswith("/binding")
                                            else None) or {"status": "Success"}
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: kube.calls("POST", "/pods/p/binding"))
    assert at_bind == [1000]  # counted on the node before the bind left
    assert app.events.flush(10)
    wait_until(lambda: kube.calls("POST", "/events"))
    event = kube.calls("POST", "/apis/events.k8s.io/v1/namespaces/ns/events")[0][2]
    assert event["reason"] == "Scheduled" and event["note"] == "Successfully assigned ns/p to n1"
    assert event["reportingController"] == "test-scheduler"
    assert "ns/p" in app.binding
    # The watch shows the pod bound: the assumption is confirmed, not counted twice.
    watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))
    assert "ns/p" not in app.binding
    assert requested_on(app) == 1000
    assert len(app.queue) == 0
    text = app.metrics.exposition(None)[0].decode()
    assert 'scheduler_schedule_attempts_total{profile="test-scheduler",result="scheduled"} 1.0' in text


def test_burst_of_pods_sees_earlier_assumptions() -> None:
    kube = FakeKube()
    profile = FixedProfile()
    app = make_app(profile, kube)
    for name in ("a", "b", "c"):
        watch(app, "ADDED", pod(name))
    for _ in range(3):
        app.schedule_one(app.queue.pop(timeout=0))
    assert profile.seen_requested == [0, 1000, 2000]


def test_conflict_forgets_the_assumption_and_requeues_with_backoff() -> None:
    kube = FakeKube()
    kube.answer("/binding", conflict())
    app = make_app(FixedProfile(), kube)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    # Read back: not bound to n1, so a failed bind; the informer shows it unbound: back after backoff.
    wait_until(lambda: app.binder.pending() == 0 and app.queue.where("ns/p") == BACKOFF)
    assert requested_on(app) == 0
    assert len(kube.calls("POST", "/binding")) == 1


def test_conflict_after_the_watch_confirmed_keeps_the_pod_counted() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)

    def bind(method, path, body):
        # The bind landed but its answer was lost; the watch saw it; reading the pod back settles it.
        if path.endswith("/binding"):
            watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))
            raise ApiError(0, "ProtocolError: connection reset")
        return pod("p", node_name="n1", rv="2")

    kube.responder = bind
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert len(kube.calls("POST", "/binding")) == 1  # never sent again blind
    assert requested_on(app) == 1000


def test_failed_bind_requeues_with_backoff_and_reports() -> None:
    kube = FakeKube()
    kube.answer("/binding", *[ApiError(403, "pods/binding is forbidden")])
    app = make_app(FixedProfile(), kube)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.queue.where("ns/p") == BACKOFF)
    assert requested_on(app) == 0
    assert app.events.flush(10)
    notes = [b["note"] for _, _, b in kube.calls("POST", "/events")]
    assert notes == ['running Bind plugin "DefaultBinder": pods/binding is forbidden']


def test_unschedulable_pod_gets_event_condition_and_waits() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(target=None), kube)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    assert app.queue.where("ns/p") == UNSCHEDULABLE
    wait_until(lambda: kube.calls("PATCH", "/pods/p/status"))
    patch = kube.calls("PATCH", "/pods/p/status")[0][2]
    cond = patch["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert cond["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    assert app.events.flush(10)
    event = kube.calls("POST", "/events")[0][2]
    assert (event["type"], event["reason"], event["note"]) == (
        "Warning", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.")
    # A new node may help: the pod is tried again.
    app.node_reflector.handler.on_add(node("n2"))
    assert app.queue.where("ns/p") in ("active", BACKOFF)


def test_node_heartbeats_do_not_requeue_unschedulable_pods() -> None:
    app = make_app(FixedProfile(target=None))
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    beat = node("n1")
    beat["metadata"]["resourceVersion"] = "2"
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-01-01T00:01:00Z"
    app.node_reflector.handler.on_update(node("n1"), beat)
    assert app.queue.where("ns/p") == UNSCHEDULABLE
    bigger = node("n1", cpu="8")
    app.node_reflector.handler.on_update(node("n1"), bigger)
    assert app.queue.where("ns/p") != UNSCHEDULABLE


def test_node_change_events() -> None:
    old = node("n")
    assert node_change_events(old, node("n")) == []
    tainted = node("n")
    tainted["spec"] = {"taints": [{"key": "k", "effect": "NoSchedule"}]}
    assert node_change_events(old, tainted) == ["NodeTaintChange"]
    cordoned = node("n")
    cordoned["spec"] = {"unschedulable": True}
    assert node_change_events(old, cordoned) == ["NodeSpecUnschedulableChange"]


def test_closed_fence_sends_no_bind_and_keeps_the_pod() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    app.can_act = lambda: False
    app.binder._can_act = app.can_act
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.queue.where("ns/p") == BACKOFF)
    assert kube.calls("POST", "/binding") == []
    assert requested_on(app) == 0


def test_updates_during_a_bind_do_not_queue_the_pod_again() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    release = __import__("threading").Event()
    kube.responder = lambda m, p, b: release.wait(10) and {"status": "Success"}
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    watch(app, "MODIFIED", pod("p", rv="2"))
    assert len(app.queue) == 0
    release.set()
    wait_until(lambda: app.binder.pending() == 0)


def test_pods_of_other_schedulers_are_ignored_unless_bound() -> None:
    app = make_app(FixedProfile())
    watch(app, "ADDED", pod("foreign", scheduler="default-scheduler"))
    assert len(app.queue) == 0
    watch(app, "ADDED", pod("foreign-bound", scheduler="default-scheduler", node_name="n1"))
    assert requested_on(app) == 1000
    watch(app, "DELETED", pod("foreign-bound", scheduler="default-scheduler", node_name="n1"))
    assert requested_on(app) == 0


def test_random_profile_logs_like_the_go_random_scheduler(caplog: pytest.LogCaptureFixture) -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(name="random-scheduler", scorers=("Random",)), kube)
    caplog.set_level(logging.INFO, logger="scheduler")
    watch(app, "ADDED", pod("sleep-1", scheduler="random-scheduler"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: "Placed pod [ns/sleep-1] on n1" in caplog.text)


def test_lease_nudger_wakes_the_standby_only_on_a_change_of_holder() -> None:
    from scheduler.runtime.handlers import LeaseNudger as _LeaseNudger

    nudges: list[int] = []
    nudger = _LeaseNudger(lambda: nudges.append(1))
    held = {"spec": {"holderIdentity": "a", "renewTime": "t1"}}
    renewed = {"spec": {"holderIdentity": "a", "renewTime": "t2"}}
    released = {"spec": {"holderIdentity": "", "renewTime": "t3"}}
    nudger.on_update(held, renewed)
    assert nudges == []
    nudger.on_update(renewed, released)
    assert nudges == [1]


def test_lost_lease_ends_the_process_with_1_and_requested_stop_with_0() -> None:
    lost = make_app(FixedProfile())
    lost.lifecycle.stopped_leading(False)
    assert lost.lifecycle.exit.code == 1
    assert lost.queue.pop(timeout=0) is None  # closed: nothing more is scheduled
    asked = make_app(FixedProfile())
    asked.lifecycle.stopping.set()
    asked.lifecycle.stopped_leading(True)
    assert asked.lifecycle.exit.code == 0


def test_a_recreated_namesake_is_queued_while_the_old_pods_bind_is_in_flight() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    release = __import__("threading").Event()
    kube.responder = lambda m, p, b: release.wait(10) and (_ for _ in ()).throw(ApiError(404, "gone"))
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    watch(app, "DELETED", pod("p"))
    reborn = pod("p")
    reborn["metadata"]["uid"] = "uid-p-2"
    watch(app, "ADDED", reborn)
    assert app.queue.where("ns/p") == "active"
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.queue.where("ns/p") == "active"  # the old bind's failure does not touch the new pod


def test_no_nodes_is_a_scheduler_error_retried_after_backoff() -> None:
    kube = FakeKube()
    profile = FixedProfile(target=None, message="no nodes available to schedule pods")
    app = make_app(profile, kube)
    original = profile.schedule

    def no_nodes(state, p, rng=None):
        result = original(state, p, rng)
        result.status, result.unschedulable_plugins = "error", set()
        return result

    profile.schedule = no_nodes
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    assert app.queue.where("ns/p") == BACKOFF
    wait_until(lambda: kube.calls("PATCH", "/pods/p/status"))
    cond = kube.calls("PATCH", "/pods/p/status")[0][2]["status"]["conditions"][0]
    assert (cond["reason"], cond["message"]) == ("SchedulerError", "no nodes available to schedule pods")
    text = app.metrics.exposition(None)[0].decode()
    assert 'scheduler_schedule_attempts_total{profile="test-scheduler",result="error"} 1.0' in text
