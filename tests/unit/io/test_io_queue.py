"""Scheduling queue: order, backoff, unschedulable handling, deletes and updates (fake clock)."""

from __future__ import annotations

import threading

import pytest

from scheduler.runtime.queue import ACTIVE, BACKOFF, GATED, UNSCHEDULABLE, SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, priority: int | None = None, created: str = "2024-01-01T00:00:00Z", **spec) -> dict:
    body: dict = {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": created,
                               "resourceVersion": "1"},
                  "spec": {"schedulerName": "py-scheduler", **spec}}
    if priority is not None:
        body["spec"]["priority"] = priority
    return body


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def incoming() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def q(clock: Clock, incoming: list) -> SchedulingQueue:
    return SchedulingQueue(initial_backoff=1, max_backoff=10, clock=clock,
                           on_incoming=lambda queue, event: incoming.append((queue, event)))


def drain(q: SchedulingQueue) -> list[str]:
    names = []
    while (info := q.pop(timeout=0)) is not None:
        names.append(info.pod["metadata"]["name"])
    return names


def test_priority_then_queue_time_then_arrival(q: SchedulingQueue, clock: Clock) -> None:
    # PrioritySort.Less compares the time a pod entered the queue, not its creationTimestamp
    # (a pod created long ago but queued just now waits behind those queued before it).
    q.add(pod("late-low", 0, "2024-01-01T00:00:09Z"))
    clock.now += 1
    q.add(pod("early-low", 0, "2024-01-01T00:00:01Z"))
    q.add(pod("high", 1000, "2024-01-01T00:00:30Z"))
    q.add(pod("same-second-a", 0, "2024-01-01T00:00:05Z"))
    q.add(pod("same-second-b", 0, "2024-01-01T00:00:05Z"))
    q.add(pod("negative", -5, "2024-01-01T00:00:00Z"))
    assert drain(q) == ["high", "late-low", "early-low", "same-second-a", "same-second-b", "negative"]


def test_the_configured_queue_sort_plugin_orders_the_queue(clock: Clock) -> None:
    # A QueueSort plugin that orders by name, descending: the queue must ask it, not hard-code its own.
    calls: list[tuple[str, str]] = []

    def by_name_desc(a, b) -> bool:
        calls.append((a.pod["metadata"]["name"], b.pod["metadata"]["name"]))
        return a.pod["metadata"]["name"] > b.pod["metadata"]["name"]

    q = SchedulingQueue(clock=clock, less=by_name_desc)
    for name in ("b", "a", "c"):
        q.add(pod(name, 1000 if name == "a" else 0))
    assert drain(q) == ["c", "b", "a"] and calls


def test_backoff_doubles_and_caps(q: SchedulingQueue, clock: Clock) -> None:
    q.add(pod("p"))
    durations = []
    for _ in range(7):
        info = q.pop(timeout=0)
        durations.append(q.backoff_duration(info))
        q.requeue_backoff(info)
        clock.now += 100
        assert q.flush_backoff_completed() == 1
    assert durations == [1, 2, 4, 8, 10, 10, 10]


def test_backoff_waits_for_the_clock(q: SchedulingQueue, clock: Clock, incoming: list) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    assert q.requeue_backoff(info) == BACKOFF
    assert q.pop(timeout=0) is None
    clock.now += 0.99
    assert q.flush_backoff_completed() == 0
    clock.now += 0.02
    assert q.flush_backoff_completed() == 1
    assert q.where("ns/p") == ACTIVE
    assert ("active", "BackoffComplete") in incoming
    second = q.pop(timeout=0)
    assert second.attempts == 2
    q.requeue_backoff(second)
    clock.now += 1.5
    assert q.flush_backoff_completed() == 0  # second backoff is 2 s
    clock.now += 0.6
    assert q.flush_backoff_completed() == 1


def test_unschedulable_waits_for_a_cluster_event(q: SchedulingQueue, clock: Clock, incoming: list) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    assert q.add_unschedulable(info, ["NodeResourcesFit"]) == UNSCHEDULABLE
    clock.now += 60
    assert q.flush_backoff_completed() == 0
    assert q.pop(timeout=0) is None
    assert q.move_all_to_active_or_backoff("NodeAdd") == 1
    assert q.where("ns/p") == ACTIVE  # its 1 s backoff is long over
    assert ("active", "NodeAdd") in incoming


def test_unschedulable_moved_while_backing_off_goes_to_backoff(q: SchedulingQueue, clock: Clock) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    q.add_unschedulable(info, ["NodeResourcesFit"])
    clock.now += 0.5
    q.move_all_to_active_or_backoff("NodeAdd")
    assert q.where("ns/p") == BACKOFF


def test_event_during_attempt_sends_failure_to_backoff(q: SchedulingQueue) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    q.move_all_to_active_or_backoff("NodeAdd")  # arrives while p is being scheduled
    assert q.add_unschedulable(info, ["NodeResourcesFit"]) == BACKOFF


def test_only_interested_plugins_move_on_assigned_pod_add(q: SchedulingQueue) -> None:
    q.add(pod("fit"))
    q.add(pod("affinity"))
    a, b = q.pop(timeout=0), q.pop(timeout=0)
    q.add_unschedulable(a, ["NodeResourcesFit"])
    q.add_unschedulable(b, ["InterPodAffinity"])
    assert q.assigned_pod_added() == 1
    assert q.where("ns/fit") == UNSCHEDULABLE
    assert q.where("ns/affinity") in (ACTIVE, BACKOFF)


def test_unschedulable_flushed_after_five_minutes(q: SchedulingQueue, clock: Clock, incoming: list) -> None:
    q.add(pod("p"))
    q.add_unschedulable(q.pop(timeout=0), ["NodeResourcesFit"])
    clock.now += 299
    assert q.flush_unschedulable_left_over() == 0
    clock.now += 2
    assert q.flush_unschedulable_left_over() == 1
    assert q.where("ns/p") == ACTIVE
    assert ("active", "UnschedulableTimeout") in incoming


def test_deleted_pods_are_dropped_everywhere(q: SchedulingQueue) -> None:
    for name in ("a", "b", "c", "d"):
        q.add(pod(name))
    a, b, c = q.pop(timeout=0), q.pop(timeout=0), q.pop(timeout=0)
    q.requeue_backoff(a)
    q.add_unschedulable(b, ["NodeResourcesFit"])
    for p in ("a", "b", "d"):
        q.delete(pod(p))
    q.delete(pod("c"))  # in flight
    assert q.add_unschedulable(c, ["X"]) is None
    assert q.pending_counts() == {"active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}
    assert q.pop(timeout=0) is None
    assert len(q) == 0


def test_update_in_place_and_resort_on_priority_change(q: SchedulingQueue) -> None:
    q.add(pod("a", 0, "2024-01-01T00:00:01Z"))
    q.add(pod("b", 0, "2024-01-01T00:00:02Z"))
    updated = pod("b", 100, "2024-01-01T00:00:02Z")
    q.update(updated)
    first = q.pop(timeout=0)
    assert first.pod["metadata"]["name"] == "b" and first.pod is updated
    assert len(q) == 2  # b in flight, a active: no duplicate entry
    assert drain(q) == ["a"]


def test_update_of_unschedulable_pod_moves_it_only_on_real_change(q: SchedulingQueue, clock: Clock) -> None:
    q.add(pod("p"))
    q.add_unschedulable(q.pop(timeout=0), ["NodeResourcesFit"])
    clock.now += 30
    status_only = pod("p")
    status_only["metadata"]["resourceVersion"] = "2"
    status_only["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    q.update(status_only)
    assert q.where("ns/p") == UNSCHEDULABLE
    relabelled = pod("p")
    relabelled["metadata"]["labels"] = {"x": "y"}
    q.update(relabelled)
    assert q.where("ns/p") == ACTIVE


def test_update_of_in_flight_pod_is_kept_for_the_requeue(q: SchedulingQueue) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    newer = pod("p")
    newer["metadata"]["labels"] = {"new": "1"}
    q.update(newer)
    assert q.pop(timeout=0) is None  # no duplicate while in flight
    q.requeue_backoff(info)
    assert info.pod is newer


def test_gated_pods_wait_for_their_gates(q: SchedulingQueue) -> None:
    q.add(pod("g", schedulingGates=[{"name": "example.com/wait"}]))
    assert q.pending_counts()["gated"] == 1
    assert q.pop(timeout=0) is None
    q.update(pod("g"))
    assert q.where("ns/g") == ACTIVE
    assert q.pending_counts() == {"active": 1, "backoff": 0, "unschedulable": 0, "gated": 0}
    assert q.where("ns/g") != GATED


def test_pop_blocks_until_a_pod_arrives(q: SchedulingQueue) -> None:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(q.pop(timeout=30)))
    thread.start()
    q.add(pod("p"))
    thread.join(10)
    assert not thread.is_alive()
    assert got[0].pod["metadata"]["name"] == "p"


def test_close_wakes_a_blocked_pop(q: SchedulingQueue) -> None:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(q.pop(timeout=30)))
    thread.start()
    q.close()
    thread.join(10)
    assert not thread.is_alive()
    assert got == [None]


def test_bind_failure_readds_with_backoff(q: SchedulingQueue, clock: Clock) -> None:
    q.add(pod("p"))
    info = q.pop(timeout=0)
    q.done(info)
    assert len(q) == 0
    assert q.readd_after_bind_failure(info) == BACKOFF
    clock.now += 1.1
    q.flush_backoff_completed()
    assert q.pop(timeout=0).key == "ns/p"


def test_unschedulable_by_plugin_counts(q: SchedulingQueue) -> None:
    q.add(pod("a"))
    q.add(pod("b"))
    q.add_unschedulable(q.pop(timeout=0), ["NodeResourcesFit", "TaintToleration"])
    q.add_unschedulable(q.pop(timeout=0), ["NodeResourcesFit"])
    assert q.unschedulable_by_plugin() == {("NodeResourcesFit", "py-scheduler"): 2,
                                          ("TaintToleration", "py-scheduler"): 1}
