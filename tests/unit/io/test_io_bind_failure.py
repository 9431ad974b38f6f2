"""A failed binding cycle, handled as kube-scheduler v1.29.15 handles it (schedule_one.go:
handleBindingCycleError, then the default FailureHandler handleSchedulingFailure and updatePod):

* ForgetPod frees what the pod held: the unschedulable pods get an AssignedPodDelete move, at once
  for a bind error, after the FailureHandler and never the pod itself for a rejection;
* the FailedScheduling event's note is the status message, ``running Bind plugin "DefaultBinder":``
  and client-go's error string (the API server's Status message verbatim), truncated to 1024;
* every failure gets the PodScheduled=False condition (SchedulerError for an error, Unschedulable
  for a rejection) with the full message and the nomination cleared, about the pod as the attempt
  saw it, re-queued or not.

The API server's answers below were captured from the local lab's kube-apiserver v1.29.15
(POST pods/binding with kubectl create --raw -v=8).
"""

from __future__ import annotations

import json
import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from io_fakes import FakeKube
from test_io_app import FixedProfile, make_app, pod, requested_on, wait_until, watch

from scheduler.core.framework import ScheduleResult
from scheduler.core.status import UNSCHEDULABLE as REJECTED_CODE
from scheduler.core.status import Status
from scheduler.runtime.binder import bind_failure_message
from scheduler.runtime.eventrecorder import truncate_note
from scheduler.runtime.kube import ApiError
from scheduler.runtime.queue import ACTIVE, BACKOFF, UNSCHEDULABLE, SchedulingQueue

# Bodies as the live API server answered (pod and node names adapted to the fakes'): a second
# bind of a bound pod, and a bind of a pod that does not exist.
CONFLICT_BODY = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                 '"Operation cannot be fulfilled on pods/binding \\"p\\": pod p is already assigned to node '
                 '\\"n2\\"","reason":"Conflict","details":{"name":"p","kind":"pods/binding"},"code":409}')
NOT_FOUND_BODY = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                  '"pods \\"p\\" not found","reason":"NotFound","details":{"name":"p","kind":"pods"},"code":404}')
BOUND_ELSEWHERE_NOTE = ('running Bind plugin "DefaultBinder": Operation cannot be fulfilled on pods/binding "p": '
                        'pod p is already assigned to node "n2"')
NOT_FOUND_NOTE = 'running Bind plugin "DefaultBinder": pods "p" not found'


def answered(status: int, reason: str, body: str) -> ApiError:
    return ApiError.from_response(status, reason, body.encode(), {})


class WaitingPodProfile(FixedProfile):
    """Puts `p` (and any other pod) on n1, but finds no node for `w`: the pod waiting for room."""

    def schedule(self, state, p, rng=None) -> ScheduleResult:
        if p["metadata"]["name"] == "w":
            return ScheduleResult("ns/w", None, message="0/1 nodes are available: 1 Insufficient cpu.",
                                  unschedulable_plugins={"NodeResourcesFit"}, status="unschedulable")
        return super().schedule(state, p, rng)


def held_bind(app, kube: FakeKube, outcome: Exception, api_node: str = "n2") -> threading.Event:
    """The bind of `p` waits for the returned event, then fails with `outcome`; reads of the pod
    (the binder settles a 409 by one) answer the informer's object."""
    release = threading.Event()

    def respond(method: str, path: str, body):
        if path.endswith("/binding"):
            release.wait(10)
            raise outcome
        if method == "GET" and path.endswith("/pods/p"):
            return pod("p", node_name=api_node, rv="9")
        return {}

    kube.responder = respond
    return release


def p_in_flight_and_w_unschedulable(outcome: Exception, api_node: str = "n2"):
    kube = FakeKube()
    app = make_app(WaitingPodProfile(), kube)
    release = held_bind(app, kube, outcome, api_node)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))  # p assumed on n1, its bind held
    watch(app, "ADDED", pod("w"))
    app.schedule_one(app.queue.pop(timeout=0))
    assert app.queue.where("ns/w") == UNSCHEDULABLE and requested_on(app) == 1000
    return app, kube, release


def failed_events(kube: FakeKube) -> list[dict]:
    return [b for _, _, b in kube.calls("POST", "/events") if b.get("reason") == "FailedScheduling"]


def status_patches(kube: FakeKube, name: str = "p") -> list[dict]:
    return [b for _, _, b in kube.calls("PATCH", f"/pods/{name}/status")]


# -- 1. ForgetPod is an AssignedPodDelete for the unschedulable pods -------------------------------

def test_a_failed_bind_frees_its_node_for_the_pod_waiting_on_it() -> None:
    app, kube, release = p_in_flight_and_w_unschedulable(ApiError(403, "pods/binding is forbidden"))
    moves: list[tuple[str, str]] = []
    app.queue._on_incoming = lambda queue, event: moves.append((queue, event))
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert requested_on(app) == 0
    # Not left waiting for the next cluster event (or the 5-minute flush).
    assert app.queue.where("ns/w") in (ACTIVE, BACKOFF)
    assert (app.queue.where("ns/w"), "AssignedPodDelete") in moves
    assert app.queue.where("ns/p") == BACKOFF  # the failed pod itself: backoff, as before


def test_no_move_when_the_watch_confirmed_the_pod_before_its_bind_failed() -> None:
    # ForgetPod fails for a pod no longer assumed (cacheImpl.ForgetPod): nothing was freed.
    app, kube, release = p_in_flight_and_w_unschedulable(answered(409, "Conflict", CONFLICT_BODY))
    watch(app, "MODIFIED", pod("p", node_name="n2", rv="2"))  # another scheduler bound it first
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert "ns/p" not in app.binding
    assert app.queue.where("ns/w") == UNSCHEDULABLE


class RejectingPreBindProfile(WaitingPodProfile):
    """Its PreBind rejects `p` (Unschedulable, not an error)."""

    pre_bind_plugins = ["VolumeBinding"]

    def schedule(self, state, p, rng=None) -> ScheduleResult:
        result = super().schedule(state, p, rng)
        if result.node:
            result.cycle = object()
        return result

    def run_pre_bind(self, cycle, p, node):
        return [], Status(REJECTED_CODE, "node(s) had volume node affinity conflict", plugin="VolumeBinding")


def test_a_rejection_moves_the_others_after_the_failure_handler_and_reports_unschedulable() -> None:
    kube = FakeKube()
    app = make_app(RejectingPreBindProfile(), kube)
    watch(app, "ADDED", pod("w"))
    app.schedule_one(app.queue.pop(timeout=0))
    assert app.queue.where("ns/w") == UNSCHEDULABLE
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert app.queue.where("ns/w") in (ACTIVE, BACKOFF)
    assert app.queue.where("ns/p") == BACKOFF
    wait_until(lambda: len(status_patches(kube)) == 1)
    condition = status_patches(kube)[0]["status"]["conditions"][0]
    assert (condition["reason"], condition["message"]) == ("Unschedulable", "node(s) had volume node affinity conflict")
    assert app.events.flush(10)
    assert [e["note"] for e in failed_events(kube) if e["regarding"]["name"] == "p"] == [
        "node(s) had volume node affinity conflict"]


def test_the_pre_check_keeps_a_pod_out_of_the_move() -> None:
    now = [100.0]
    queue = SchedulingQueue(clock=lambda: now[0])
    for name in ("a", "b"):
        queue.add(pod(name))
        info = queue.pop(timeout=0)
        queue.add_unschedulable(info, ["NodeResourcesFit"])
    moved = queue.move_all_to_active_or_backoff("AssignedPodDelete",
                                                pre_check=lambda p: p["metadata"]["uid"] != "uid-a")
    assert moved == 1
    assert queue.where("ns/a") == UNSCHEDULABLE and queue.where("ns/b") in (ACTIVE, BACKOFF)


# -- 2. the FailedScheduling message is upstream's --------------------------------------------------

def test_a_bind_refused_as_bound_elsewhere_is_reported_in_kube_schedulers_words() -> None:
    app, kube, release = p_in_flight_and_w_unschedulable(answered(409, "Conflict", CONFLICT_BODY))
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert [e["note"] for e in failed_events(kube) if e["regarding"]["name"] == "p"] == [BOUND_ELSEWHERE_NOTE]


def test_a_bind_of_a_pod_gone_from_the_api_is_reported_too() -> None:
    app, kube, release = p_in_flight_and_w_unschedulable(answered(404, "Not Found", NOT_FOUND_BODY))
    watch(app, "DELETED", pod("p", rv="2"))
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert [e["note"] for e in failed_events(kube) if e["regarding"]["name"] == "p"] == [NOT_FOUND_NOTE]
    assert app.queue.where("ns/p") is None  # gone: not re-queued
    text = app.metrics.exposition(None)[0].decode()
    assert 'scheduler_schedule_attempts_total{profile="test-scheduler",result="error"} 1.0' in text


def test_the_message_is_client_gos_error_string_and_the_note_is_truncated_like_upstream() -> None:
    assert bind_failure_message(answered(409, "Conflict", CONFLICT_BODY)) == BOUND_ELSEWHERE_NOTE
    assert bind_failure_message(answered(404, "Not Found", NOT_FOUND_BODY)) == NOT_FOUND_NOTE
    long_reason = "x" * 2000
    body = json.dumps({"kind": "Status", "status": "Failure", "message": long_reason, "code": 500})
    app, kube, release = p_in_flight_and_w_unschedulable(answered(500, "Internal Server Error", body))
    kube.answer("/pods/p", pod("p", rv="1"))  # the read-back finds it unbound: a failed bind
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    full = 'running Bind plugin "DefaultBinder": ' + long_reason
    note = [e["note"] for e in failed_events(kube) if e["regarding"]["name"] == "p"][0]
    assert note == full[:1020] + " ..."  # truncateMessage: NoteLengthLimit 1024
    wait_until(lambda: len(status_patches(kube)) == 1)
    assert status_patches(kube)[0]["status"]["conditions"][0]["message"] == full  # the condition is not


# -- 3. PodScheduled=False for every failure ------------------------------------------------------

def test_a_bind_error_sets_pod_scheduled_false_with_reason_scheduler_error() -> None:
    app, kube, release = p_in_flight_and_w_unschedulable(answered(409, "Conflict", CONFLICT_BODY))
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    wait_until(lambda: len(status_patches(kube)) == 1)
    condition = status_patches(kube)[0]["status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"], condition["message"]) == (
        "PodScheduled", "False", "SchedulerError", BOUND_ELSEWHERE_NOTE)


def test_the_condition_and_event_are_about_the_pod_the_attempt_saw_and_clear_its_nomination() -> None:
    kube = FakeKube()
    app = make_app(WaitingPodProfile(), kube)
    release = held_bind(app, kube, ApiError(403, "pods/binding is forbidden"))
    nominated = pod("p")
    nominated["status"]["nominatedNodeName"] = "n1"
    watch(app, "ADDED", nominated)
    app.schedule_one(app.queue.pop(timeout=0))
    relabelled = pod("p", rv="2")
    relabelled["metadata"]["labels"] = {"a": "b"}
    watch(app, "MODIFIED", relabelled)  # skipped while assumed; the retry schedules it
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    wait_until(lambda: len(status_patches(kube)) == 1)
    patch = status_patches(kube)[0]["status"]
    assert patch["nominatedNodeName"] is None and patch["conditions"][0]["reason"] == "SchedulerError"
    assert app.events.flush(10)
    assert [e["regarding"]["resourceVersion"] for e in failed_events(kube)] == ["1"]
    assert app.queue.where("ns/p") == BACKOFF
    assert app.queue.dump() == {BACKOFF: ["ns/p"]}


def test_a_pod_already_bound_elsewhere_in_the_informer_still_gets_the_condition() -> None:
    app, kube, release = p_in_flight_and_w_unschedulable(answered(409, "Conflict", CONFLICT_BODY))
    watch(app, "MODIFIED", pod("p", node_name="n2", rv="2"))  # another scheduler won
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.queue.where("ns/p") is None  # assigned: not re-queued
    wait_until(lambda: len(status_patches(kube)) == 1)
    assert status_patches(kube)[0]["status"]["conditions"][0]["reason"] == "SchedulerError"


def test_an_assume_failure_is_reported_with_the_caches_words_and_the_condition() -> None:
    # schedulingCycle's assume error reaches the FailureHandler as an error status too.
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    watch(app, "ADDED", pod("p", node_name="n1"))
    app.queue.add(pod("p"))  # a stale pending copy of the bound pod
    app.schedule_one(app.queue.pop(timeout=0))
    message = "pod uid-p(ns/p) is in the cache, so can't be assumed"  # cacheImpl.AssumePod's text
    assert app.events.flush(10)
    assert [e["note"] for e in failed_events(kube)] == [message]
    wait_until(lambda: len(status_patches(kube)) == 1)
    condition = status_patches(kube)[0]["status"]["conditions"][0]
    assert (condition["reason"], condition["message"]) == ("SchedulerError", message)
    assert app.queue.where("ns/p") is None and kube.calls("POST", "/binding") == []


def test_a_pod_bound_to_the_chosen_node_by_someone_else_is_a_failure_as_upstream() -> None:
    # Live oracle (custom-k8s-scheduler = kube-scheduler v1.29.15, the pod bound by kubectl to the
    # node its PreBind was waiting on): FailedScheduling with the 409's text, no Scheduled event.
    same_node = CONFLICT_BODY.replace('node \\"n2\\"', 'node \\"n1\\"')
    assert same_node != CONFLICT_BODY
    app, kube, release = p_in_flight_and_w_unschedulable(answered(409, "Conflict", same_node), api_node="n1")
    release.set()
    wait_until(lambda: app.binder.pending() == 0)
    assert app.events.flush(10)
    assert [b["reason"] for _, _, b in kube.calls("POST", "/events") if b["regarding"]["name"] == "p"] == [
        "FailedScheduling"]
    assert [e["note"] for e in failed_events(kube) if e["regarding"]["name"] == "p"] == [
        BOUND_ELSEWHERE_NOTE.replace('"n2"', '"n1"')]
    assert kube.calls("GET", "/pods/p") == []
    text = app.metrics.exposition(None)[0].decode()
    assert 'result="scheduled"' not in text
    watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))  # the watch shows it bound: counted once
    assert requested_on(app) == 1000 and app.queue.where("ns/p") is None


# -- the note's length is counted in bytes, as Go and the API server's validation count it ---------

@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=1500))
def test_a_note_never_passes_1024_bytes_and_is_cut_where_go_cuts(text: str) -> None:
    raw = text.encode()
    note = truncate_note(text)
    if len(raw) <= 1024:
        assert note == text
        return
    assert len(note.encode()) <= 1024 and note.endswith(" ...")
    kept = note[:-4].encode()
    assert raw.startswith(kept) and 1017 <= len(kept) <= 1020  # at most a partial character dropped
    if text.isascii():
        assert note == text[:1020] + " ..."  # byte for byte truncateMessage's


def test_a_multibyte_note_is_cut_by_bytes() -> None:
    # 2,000 bytes in 1,000 characters: under 1024 characters, still over the API server's limit.
    note = truncate_note("é" * 1000)
    assert note == "é" * 510 + " ..." and len(note.encode()) == 1024
