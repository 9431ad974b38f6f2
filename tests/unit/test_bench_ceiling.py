"""bench/ceiling.py's handlers: round-robin over the labelled nodes, each pending pod of its
scheduler name bound once, a Scheduled event after each bind, a failed bind forgotten."""

from __future__ import annotations

from typing import Any

from bench.ceiling import NodeRing, PendingPodBinder
from bench.throughput import BENCH_LABEL, bench_nodes, bench_pod
from scheduler.runtime.binder import BindError, BindJob, ErrorClass


class FakeBinder:
    def __init__(self, done) -> None:
        self.done = done
        self.jobs: list[BindJob] = []

    def submit(self, job: BindJob) -> None:
        self.jobs.append(job)


class Events:
    def __init__(self) -> None:
        self.written: list[tuple[str, str, str]] = []

    def scheduled(self, pod: dict[str, Any], node: str, scheduler_name: str, *, here: bool = False) -> None:
        self.written.append((pod["metadata"]["name"], node, scheduler_name))


def _pod(i: int, scheduler: str = "ceiling") -> dict[str, Any]:
    pod = bench_pod(f"p{i}", scheduler)
    pod["metadata"].update(namespace="ns", uid=f"uid-{i}")
    return pod


def _setup(nodes: int = 3):
    ring = NodeRing(BENCH_LABEL)
    for node in bench_nodes(nodes):
        ring.on_add(node)
    ring.on_add({"metadata": {"name": "control-plane", "labels": {}}})  # not a bench node
    events = Events()
    handler = PendingPodBinder("ceiling", ring, FakeBinder, events)  # type: ignore[arg-type]
    return ring, handler, events


def test_pods_go_round_robin_over_the_labelled_nodes_only() -> None:
    _, handler, _ = _setup(3)
    for i in range(7):
        handler.on_add(_pod(i))
    assert [job.node for job in handler.binder.jobs] == [
        "bench-node-0000", "bench-node-0001", "bench-node-0002"] * 2 + ["bench-node-0000"]


def test_each_pending_pod_of_its_name_is_bound_once() -> None:
    _, handler, _ = _setup()
    pod = _pod(1)
    handler.on_add(pod)
    handler.on_update(pod, pod)  # a status update of the same pod
    handler.on_add(_pod(2, scheduler="someone-else"))
    bound = _pod(3)
    bound["spec"]["nodeName"] = "bench-node-0000"
    handler.on_add(bound)
    assert [job.pod["metadata"]["name"] for job in handler.binder.jobs] == ["p1"]


def test_a_bind_is_followed_by_its_scheduled_event_and_a_failed_one_is_forgotten() -> None:
    _, handler, events = _setup()
    handler.on_add(_pod(1))
    job = handler.binder.jobs[0]
    handler.binder.done(job, None)
    assert events.written == [("p1", "bench-node-0000", "ceiling")]
    handler.on_add(_pod(2))
    failed = handler.binder.jobs[1]
    handler.binder.done(failed, BindError(RuntimeError("refused"), ErrorClass.FAIL))
    assert handler.failures == 1 and len(events.written) == 1
    handler.on_update(failed.pod, failed.pod)  # its next update tries again
    assert len(handler.binder.jobs) == 3


def test_no_node_yet_means_no_bind_and_the_pod_is_taken_later() -> None:
    ring = NodeRing(BENCH_LABEL)
    handler = PendingPodBinder("ceiling", ring, FakeBinder, Events())  # type: ignore[arg-type]
    handler.on_add(_pod(1))
    assert handler.binder.jobs == []
    ring.on_add(bench_nodes(1)[0])
    handler.on_update(_pod(1), _pod(1))
    assert [job.node for job in handler.binder.jobs] == ["bench-node-0000"]


def test_a_deleted_or_unlabelled_node_leaves_the_ring() -> None:
    ring = NodeRing(BENCH_LABEL)
    first, second = bench_nodes(2)
    ring.on_add(first)
    ring.on_add(second)
    ring.on_delete(first)
    unlabelled = {"metadata": {"name": second["metadata"]["name"], "labels": {}}}
    assert ring.next() == "bench-node-0001"
    ring.on_update(second, unlabelled)
    assert ring.next() is None
