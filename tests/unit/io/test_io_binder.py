"""Binder: error classification, bounded retries, the leader fence, events and status patches."""

from __future__ import annotations

import pytest

from scheduler.runtime.binder import (
    NOTE_LENGTH_LIMIT,
    Binder,
    BindError,
    ErrorClass,
    EventRecorder,
    NotLeader,
    binding_body,
    classify,
    condition_is_current,
    truncate_note,
    unschedulable_condition_patch,
)
from scheduler.runtime.kube import ApiError
from io_fakes import FakeKube, conflict

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"}, "spec": {}}


def binder(kube: FakeKube, can_act=lambda: True, **kwargs) -> Binder:
    sleeps: list[float] = []
    b = Binder(kube, can_act=can_act, on_done=lambda job, err: None, sleep=sleeps.append, **kwargs)
    b.sleeps = sleeps  # type: ignore[attr-defined]
    return b


@pytest.mark.parametrize(("status", "expected"), [
    (409, ErrorClass.FAIL), (404, ErrorClass.FINAL),
    (0, ErrorClass.RETRY), (429, ErrorClass.RETRY), (500, ErrorClass.RETRY), (503, ErrorClass.RETRY),
    (504, ErrorClass.RETRY), (403, ErrorClass.FAIL), (422, ErrorClass.FAIL), (400, ErrorClass.FAIL),
])
def test_classify(status: int, expected: ErrorClass) -> None:
    assert classify(ApiError(status, "x")) is expected


def test_classify_non_api_errors_fail() -> None:
    assert classify(RuntimeError("bug")) is ErrorClass.FAIL


def test_binding_body_carries_uid_and_node_target() -> None:
    assert binding_body(POD, "worker-node02") == {
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "worker-node02"},
    }


def test_successful_bind_posts_once_to_the_binding_subresource() -> None:
    kube = FakeKube()
    kube.answer("/binding", {"kind": "Status", "status": "Success", "code": 201})
    binder(kube).bind(POD, "n1")
    calls = kube.calls("POST", "/api/v1/namespaces/ns/pods/p/binding")
    assert len(calls) == 1 and calls[0][2]["target"]["name"] == "n1"


def test_a_vanished_pod_is_final_and_never_retried() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(404, "pods \"p\" not found"))
    b = binder(kube)
    with pytest.raises(BindError) as err:
        b.bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FINAL
    assert [r[0] for r in kube.requests] == ["POST"]
    assert b.sleeps == []


def test_refused_requests_fail_without_retry() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(403, "forbidden"))
    with pytest.raises(BindError) as err:
        binder(kube).bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FAIL
    assert [r[0] for r in kube.requests] == ["POST"]  # a 403 cannot have bound: no read-back


def test_closed_fence_sends_nothing() -> None:
    kube = FakeKube()
    with pytest.raises(NotLeader):
        binder(kube, can_act=lambda: False).bind(POD, "n1")
    assert kube.requests == []


def test_fence_is_checked_before_every_retry() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(503, "unavailable", retry_after=1), {"status": "Success"})
    verdicts = iter([True, False])
    with pytest.raises(NotLeader):
        binder(kube, can_act=lambda: next(verdicts)).bind(POD, "n1")
    assert len(kube.calls("POST", "/binding")) == 1


def test_pool_reports_outcomes_and_waits_for_requests_on_the_wire() -> None:
    kube = FakeKube()
    kube.answer("/binding", {"status": "Success"}, conflict())
    done: list = []
    b = Binder(kube, can_act=lambda: True, on_done=lambda job, err: done.append((job.node, err)), workers=1)
    from scheduler.runtime.binder import BindJob

    b.submit(BindJob(pod=POD, node="a", scheduler_name="s"))
    b.submit(BindJob(pod=POD, node="b", scheduler_name="s"))
    b._pool.shutdown(wait=True)
    assert b.pending() == 0
    assert b.wait_until_nothing_in_flight(1)
    assert done[0] == ("a", None)
    assert done[1][0] == "b" and done[1][1].error_class is ErrorClass.FAIL  # 409, and not bound to "b"


def test_unschedulable_condition_patch_and_change_detection() -> None:
    patch = unschedulable_condition_patch("0/4 nodes are available: 4 Insufficient cpu.")
    cond = patch["status"]["conditions"][0]
    assert cond["type"] == "PodScheduled" and cond["status"] == "False" and cond["reason"] == "Unschedulable"
    pod = {"status": {"conditions": [cond]}}
    assert condition_is_current(pod, "0/4 nodes are available: 4 Insufficient cpu.")
    assert not condition_is_current(pod, "0/5 nodes are available: 5 Insufficient cpu.")
    assert not condition_is_current({"status": {}}, "x")


def test_patch_status_uses_strategic_merge_on_the_status_subresource() -> None:
    kube = FakeKube()
    binder(kube).patch_status(POD, unschedulable_condition_patch("m"))
    assert len(kube.calls("PATCH", "/api/v1/namespaces/ns/pods/p/status")) == 1


def test_scheduled_event_names_the_scheduler() -> None:
    recorder = EventRecorder(FakeKube(), hostname="host-1")
    event = recorder.event_for_pod(POD, scheduler_name="py-scheduler", type_="Normal", reason="Scheduled",
                                   action="Binding", note="Successfully assigned ns/p to n1")
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["reportingController"] == "py-scheduler"
    assert event["reportingInstance"] == "py-scheduler-host-1"
    assert "deprecatedSource" not in event  # events.k8s.io/v1 rejects it ("needs to be unset")
    assert event["regarding"]["uid"] == "u-1" and event["regarding"]["kind"] == "Pod"
    assert event["metadata"]["name"].startswith("p.") and event["metadata"]["namespace"] == "ns"
    assert event["eventTime"].endswith("Z")


def test_recorder_writes_events_in_the_background() -> None:
    kube = FakeKube()
    recorder = EventRecorder(kube, hostname="h")
    recorder.scheduled(POD, "n1", "py-scheduler")
    recorder.failed_scheduling(POD, "0/3 nodes are available: 3 Insufficient memory.", "py-scheduler")
    assert recorder.flush(10)
    bodies = [b for m, p, b in kube.calls("POST", "/apis/events.k8s.io/v1/namespaces/ns/events")]
    assert {(b["reason"], b["type"], b["action"], b["note"]) for b in bodies} == {
        ("Scheduled", "Normal", "Binding", "Successfully assigned ns/p to n1"),
        ("FailedScheduling", "Warning", "Scheduling", "0/3 nodes are available: 3 Insufficient memory."),
    }


def test_long_notes_are_truncated_like_kube_scheduler() -> None:
    note = truncate_note("x" * 2000)
    assert len(note) == NOTE_LENGTH_LIMIT and note.endswith(" ...")
    assert truncate_note("short") == "short"


def test_events_ride_out_an_api_server_restart() -> None:
    kube = FakeKube()
    kube.answer("/events", ApiError(0, "NewConnectionError: connection refused"), ApiError(503, "starting"),
                {"kind": "Event"})
    slept: list[float] = []
    recorder = EventRecorder(kube, hostname="h", sleep=slept.append)
    recorder.scheduled(POD, "n1", "py-scheduler")
    assert recorder.flush(10)
    assert len(kube.calls("POST", "/events")) == 3
    assert slept == [0.5, 1.0]


def test_refused_events_are_not_retried() -> None:
    kube = FakeKube()
    kube.answer("/events", ApiError(422, "invalid"))
    recorder = EventRecorder(kube, hostname="h", sleep=lambda s: None)
    recorder.scheduled(POD, "n1", "py-scheduler")
    assert recorder.flush(10)
    assert len(kube.calls("POST", "/events")) == 1


def test_a_bind_worker_makes_the_scheduled_events_first_attempt_and_leaves_retries_to_the_pool() -> None:
    import threading

    threads: list[str] = []
    answers = [ApiError(503, "starting"), {"kind": "Event"}]

    def responder(method: str, path: str, body: object) -> object:
        threads.append(threading.current_thread().name)
        return answers.pop(0)

    slept_on: list[str] = []
    recorder = EventRecorder(FakeKube(responder), hostname="h",
                             sleep=lambda s: slept_on.append(threading.current_thread().name))
    recorder.scheduled(POD, "n1", "py-scheduler", here=True)
    assert threads[0] == threading.current_thread().name  # the first attempt: on this thread, already made
    assert recorder.flush(10)
    assert len(threads) == 2 and threads[1].startswith("events")  # the retry: on the recorder's pool
    assert all(name.startswith("events") for name in slept_on)  # this thread never waited on a backoff
    recorder.shutdown()


def test_a_bind_worker_never_waits_for_an_event_token() -> None:
    import threading

    from scheduler.runtime.kube import TokenBucket

    threads: list[str] = []
    kube = FakeKube(lambda method, path, body: threads.append(threading.current_thread().name) or {})
    kube.bucket = TokenBucket(0.001, 1)  # one token now, the next in 1,000 s
    recorder = EventRecorder(kube, hostname="h")
    recorder.scheduled(POD, "n1", "py-scheduler", here=True)
    recorder.scheduled({**POD, "metadata": {**POD["metadata"], "name": "q"}}, "n1", "py-scheduler", here=True)
    assert recorder.flush(10)
    assert threads[0] == threading.current_thread().name  # the free token: used here
    assert threads[1].startswith("events")  # no token free: the pool's thread waits for it, not this one
    recorder.shutdown()


def test_an_expired_series_is_created_again_and_the_backlog_balances() -> None:
    kube = FakeKube()
    kube.answer("/events/p.1", ApiError(404, "not found"))
    recorder = EventRecorder(kube, hostname="h")
    recorder.series.recreate = lambda write: type(write)("POST", "/apis/events.k8s.io/v1/namespaces/ns/events",
                                                         {"metadata": {"name": "p.2"}})
    recorder._submit("/apis/events.k8s.io/v1/namespaces/ns/events/p.1",
                     {"metadata": {"name": "p.1", "namespace": "ns"}, "series": {"count": 2}}, "PATCH")
    assert recorder.flush(5)
    assert len(kube.calls("POST", "/namespaces/ns/events")) == 1 and recorder._backlog == 0
    recorder.shutdown()
