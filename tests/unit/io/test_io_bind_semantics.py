"""What a bind does when its answer is not a plain success, like kube-scheduler over client-go:
a bind that may have reached the server is never sent again blind but settled by reading the pod
(bound to the chosen node = success, once); only a bind that never left, or one turned away with
Retry-After, is sent again, with jittered exponential backoff, bounded. Then the same through the
app: the Scheduled event and the metric exactly once, and the cache keeps (or forgets) the pod.
Victim deletions pass the very fence binds pass."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from io_fakes import FakeKube, conflict
from test_io_app import FixedProfile, make_app, pod, requested_on, wait_until, watch

from scheduler.runtime.binder import Binder, BindError, ErrorClass, NotLeader
from scheduler.runtime.kube import UNSENDABLE, ApiError
from scheduler.runtime.preemption import Preemptor
from scheduler.runtime.queue import BACKOFF

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {}}
BOUND_HERE = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {"nodeName": "n1"}}
TIMED_OUT = ApiError(0, "RequestTimeout: POST not answered within 5s", sent=True, timed_out=True)
REFUSED = ApiError(0, "ConnectError: connecting to 127.0.0.1:6443: [Errno 111] Connection refused", sent=False)


def make_binder(kube: FakeKube, *, can_act=lambda: True, **kwargs) -> Binder:
    sleeps: list[float] = []
    b = Binder(kube, can_act=can_act, on_done=lambda job, err: None, sleep=sleeps.append,
               rng=random.Random(7), **kwargs)
    b.sleeps = sleeps  # type: ignore[attr-defined]
    return b


def methods(kube: FakeKube) -> list[str]:
    return [f"{m} {path.rsplit('/', 1)[-1]}" for m, path, _ in kube.requests]


# -- the binder ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lost", [TIMED_OUT, ApiError(0, "HttpProtocolError: connection closed", sent=True),
                                  ApiError(500, "Internal error"), ApiError(504, "Timeout")])
def test_a_lost_answer_for_a_bind_that_landed_is_success_without_a_second_post(lost: ApiError) -> None:
    kube = FakeKube()
    kube.answer("/binding", lost)
    kube.answer("/pods/p", BOUND_HERE)
    b = make_binder(kube)
    b.bind(POD, "n1")
    assert methods(kube) == ["POST binding", "GET p"]
    assert b.sleeps == []


def test_a_lost_answer_for_a_bind_that_did_not_land_fails_without_a_second_post() -> None:
    kube = FakeKube()
    kube.answer("/binding", TIMED_OUT)
    kube.answer("/pods/p", {"metadata": {"uid": "u-1"}, "spec": {}})
    with pytest.raises(BindError) as err:
        make_binder(kube).bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FAIL and err.value.cause is TIMED_OUT
    assert methods(kube) == ["POST binding", "GET p"]


@pytest.mark.parametrize("bound_to", ["n2", "n1"])
def test_a_conflict_is_a_bind_failure_without_a_read_back(bound_to: str) -> None:
    # kube-scheduler v1.29.15 reports a 409 as it stands, even for a pod someone else bound to the
    # very node it chose (checked live against the local lab: FailedScheduling, PodScheduled=False).
    kube = FakeKube()
    refused = ApiError(409, f'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "{bound_to}"')
    kube.answer("/binding", refused)
    kube.answer("/pods/p", {"metadata": {"uid": "u-1"}, "spec": {"nodeName": bound_to}})
    b = make_binder(kube)
    with pytest.raises(BindError) as err:
        b.bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FAIL and err.value.cause is refused
    assert methods(kube) == ["POST binding"] and b.sleeps == []


def test_a_bind_that_never_left_is_sent_again_with_jittered_backoff() -> None:
    kube = FakeKube()
    kube.answer("/binding", REFUSED, ApiError(0, "ConnectError: timed out", sent=False, timed_out=True),
                {"status": "Success"})
    b = make_binder(kube, initial_wait=0.1, max_wait=2.0)
    b.bind(POD, "n1")
    assert methods(kube) == ["POST binding"] * 3
    assert 0.1 <= b.sleeps[0] <= 0.2 and 0.2 <= b.sleeps[1] <= 0.4  # base * [1, 2)
    assert len(set(b.sleeps)) == 2


def test_an_unsendable_request_is_not_retried() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(0, "ValueError: bad target", reason=UNSENDABLE, sent=False))
    b = make_binder(kube)
    with pytest.raises(BindError):
        b.bind(POD, "n1")
    assert methods(kube) == ["POST binding"] and b.sleeps == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_in_full(status: int) -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(status, "slow down", retry_after=3), ApiError(status, "slow down", retry_after=1),
                {"status": "Success"})
    b = make_binder(kube, initial_wait=0.1, max_wait=2.0)
    b.bind(POD, "n1")
    assert methods(kube) == ["POST binding"] * 3
    assert b.sleeps[0] == 3 and 1 <= b.sleeps[1] <= 1.0 + 0.4


def test_retry_after_retries_are_bounded_then_settled_by_reading_the_pod() -> None:
    kube = FakeKube()
    kube.answer("/binding", *[ApiError(429, "slow down", retry_after=0.01)] * 50)
    b = make_binder(kube, max_retries=10, retry_budget=1000)
    with pytest.raises(BindError) as err:
        b.bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FAIL
    assert methods(kube) == ["POST binding"] * 11  # the first try and client-go's 10 retries
    assert len(b.sleeps) == 10


def test_a_retry_after_longer_than_the_budget_is_not_waited() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(503, "shutting down", retry_after=60))
    kube.answer("/pods/p", {"metadata": {"uid": "u-1"}, "spec": {}})
    b = make_binder(kube, retry_budget=15)
    with pytest.raises(BindError):
        b.bind(POD, "n1")
    assert b.sleeps == [] and methods(kube) == ["POST binding", "GET p"]


def test_a_5xx_without_retry_after_is_never_sent_again() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(503, "unavailable"), {"status": "Success"})
    kube.answer("/pods/p", {"metadata": {"uid": "u-1"}, "spec": {}})
    with pytest.raises(BindError):
        make_binder(kube).bind(POD, "n1")
    assert methods(kube) == ["POST binding", "GET p"]


@settings(max_examples=100, deadline=None)
@given(retries=st.integers(0, 12), hint=st.one_of(st.none(), st.floats(0, 30)), seed=st.integers(0, 2**32))
def test_a_retry_waits_the_jittered_backoff_or_the_hint_whichever_is_longer(retries, hint, seed) -> None:
    b = Binder(FakeKube(), can_act=lambda: True, on_done=lambda job, err: None, rng=random.Random(seed),
               initial_wait=0.2, max_wait=2.0)
    base = min(2.0, 0.2 * 2 ** retries)
    delay = b._retry_delay(retries, hint)
    assert delay >= (hint or 0)
    assert base <= delay < max(2 * base, hint or 0) or delay == hint


# -- through the app ------------------------------------------------------------------------------

def _scheduled_events(kube: FakeKube) -> list[dict]:
    return [body for _, path, body in kube.calls("POST", "/events") if body.get("reason") == "Scheduled"]


def _metric(app, result: str) -> str:
    text = app.metrics.exposition(None)[0].decode()
    return next((line for line in text.splitlines()
                 if line.startswith("scheduler_schedule_attempts_total{") and f'result="{result}"' in line), "")


def test_a_bind_that_timed_out_after_landing_is_reported_once_and_kept_in_the_cache() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    kube.answer("/binding", TIMED_OUT)
    kube.answer("/pods/p", {**pod("p", node_name="n1", rv="2")})
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert len(kube.calls("POST", "/binding")) == 1
    assert [e["note"] for e in _scheduled_events(kube)] == ["Successfully assigned ns/p to n1"]
    assert _metric(app, "scheduled").endswith(" 1.0") and _metric(app, "error") == ""
    assert requested_on(app) == 1000  # still counted: no overcommit window
    assert len(app.queue) == 0 and "ns/p" in app.binding
    watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))  # the watch confirms: counted once
    assert requested_on(app) == 1000 and "ns/p" not in app.binding


def test_a_conflict_for_a_pod_bound_elsewhere_is_a_failure_handled_like_kube_scheduler() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    kube.answer("/binding", conflict())
    kube.answer("/pods/p", pod("p", node_name="n2", rv="2"))
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert requested_on(app) == 0  # forgotten
    assert _scheduled_events(kube) == []
    assert _metric(app, "error").endswith(" 1.0") and _metric(app, "scheduled") == ""
    failed = [b for _, _, b in kube.calls("POST", "/events") if b.get("reason") == "FailedScheduling"]
    assert len(failed) == 1 and "already assigned" in failed[0]["note"]
    # The informer still shows it unbound: back to the queue, after backoff.
    assert app.queue.where("ns/p") == BACKOFF


def test_a_conflict_after_the_watch_showed_it_bound_elsewhere_is_not_requeued_but_reported() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)

    def bind(method, path, body):
        if path.endswith("/binding"):
            watch(app, "MODIFIED", pod("p", node_name="n2", rv="2"))  # another scheduler won
            raise conflict()
        return pod("p", node_name="n2", rv="2")

    kube.responder = bind
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert app.queue.where("ns/p") is None
    assert [b["reason"] for _, _, b in kube.calls("POST", "/events")] == ["FailedScheduling"]


def test_429_with_retry_after_is_waited_then_bound_once() -> None:
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    sleeps: list[float] = []
    app.binder._sleep = sleeps.append
    kube.answer("/binding", ApiError(429, "Too many requests", retry_after=2), {"status": "Success"})
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert sleeps == [2] and len(kube.calls("POST", "/binding")) == 2
    assert len(_scheduled_events(kube)) == 1 and _metric(app, "scheduled").endswith(" 1.0")
    assert requested_on(app) == 1000


# -- preemption's fence ---------------------------------------------------------------------------

VICTIM = {"metadata": {"name": "v", "namespace": "ns", "uid": "u-v"}, "status": {}}


class _Events:
    def __init__(self) -> None:
        self.submitted: list = []

    def event_for_pod(self, pod, **kwargs) -> dict:
        return dict(kwargs)

    def _submit(self, path, body) -> None:
        self.submitted.append(body)


def test_victims_are_deleted_through_the_binds_fence() -> None:
    kube = FakeKube()
    open_ = [True]
    b = make_binder(kube, can_act=lambda: open_[0])
    events = _Events()
    preemptor = Preemptor(b.fenced, events)
    assert preemptor.evict(POD, "n1", [VICTIM], "s")
    assert methods(kube) == ["PATCH status", "DELETE v"] and len(events.submitted) == 1
    open_[0] = False  # deposed
    kube.requests.clear()
    assert not preemptor.evict(POD, "n1", [VICTIM, {**VICTIM, "metadata": {**VICTIM["metadata"], "name": "w"}}], "s")
    assert kube.requests == [] and len(events.submitted) == 1  # nothing sent, no Preempted event


def test_the_fence_closing_between_a_victims_patch_and_its_delete_stops_the_delete() -> None:
    kube = FakeKube()
    verdicts = iter([True, False])
    preemptor = Preemptor(make_binder(kube, can_act=lambda: next(verdicts)).fenced, _Events())
    assert not preemptor.evict(POD, "n1", [VICTIM], "s")
    assert methods(kube) == ["PATCH status"]


def test_a_victim_deletion_counts_as_a_write_in_flight() -> None:
    kube = FakeKube()
    seen: list[bool] = []
    b = make_binder(kube)
    kube.responder = lambda m, path, body: seen.append(b.wait_until_nothing_in_flight(0)) or {}
    Preemptor(b.fenced, _Events()).evict(POD, "n1", [VICTIM], "s")
    assert seen == [False, False]  # a stepping-down leader waits for both


def test_a_deposed_leader_sends_no_bind_either() -> None:
    kube = FakeKube()
    with pytest.raises(NotLeader):
        make_binder(kube, can_act=lambda: False).bind(POD, "n1")
    assert kube.requests == []
