"""Event series like client-go's events.k8s.io recorder; the preemptor's status patch."""

import threading

from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.events import FINISH_TIME, EventSeries
from scheduler.runtime.preemption import status_patch


def _event(note: str = "0/3 nodes are available: 3 Insufficient cpu.", rv: str = "1") -> dict:
    return {"metadata": {"name": "p.1", "namespace": "ns"}, "action": "Scheduling", "reason": "FailedScheduling",
            "reportingController": "s", "note": note, "regarding": {"kind": "Pod", "name": "p", "uid": "u",
                                                                   "resourceVersion": rv}}


def test_first_is_created_second_patches_a_series_later_ones_only_count():
    now = [0.0]
    series = EventSeries(clock=lambda: now[0])
    first = series.observe(_event())
    assert first is not None and first.method == "POST" and first.path == "/apis/events.k8s.io/v1/namespaces/ns/events"
    second = series.observe(_event())
    assert second is not None and second.method == "PATCH" and second.path.endswith("/events/p.1")
    assert second.body["series"]["count"] == 2
    assert series.observe(_event()) is None and series.observe(_event()) is None
    # A status patch changed the pod's resourceVersion: a new event (the regarding reference differs).
    newer = series.observe(_event(rv="2"))
    assert newer is not None and newer.method == "POST"
    other = series.observe(_event(note="0/3 nodes are available: 3 Insufficient memory."))
    assert other is not None and other.method == "POST"
    assert series.due() == []
    now[0] = FINISH_TIME + 1
    finals = series.due()
    assert [w.body["series"]["count"] for w in finals] == [4]  # the final count is written once
    assert len(series) == 0  # and every entry is forgotten


class _RecordingKube:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, dict]] = []
        self.done = threading.Condition()

    def request(self, method: str, path: str, body=None, **_: object) -> dict:
        with self.done:
            self.writes.append((method, path, body))
            self.done.notify_all()
        return {}


def test_a_series_final_count_is_written_by_the_ticker_without_a_new_event():
    # Upstream's finishSeries runs on its own 6-minute ticker: the last count reaches the API even
    # when the pod is never tried again (before, it waited for the next event of any pod).
    kube = _RecordingKube()
    recorder = EventRecorder(kube, hostname="h", workers=1)
    now = [0.0]
    recorder.series = EventSeries(clock=lambda: now[0])
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "1"}}
    for _ in range(3):
        recorder.failed_scheduling(pod, "0/3 nodes are available: 3 Insufficient cpu.", "s")
    with kube.done:
        assert kube.done.wait_for(lambda: len(kube.writes) == 2, timeout=10), kube.writes
    assert recorder.flush_due_series() == 0
    now[0] = FINISH_TIME + 1
    stopping = threading.Event()
    ticker = threading.Thread(target=recorder.run_series_ticker, args=(stopping, 0.01))
    ticker.start()
    try:
        with kube.done:
            assert kube.done.wait_for(lambda: len(kube.writes) == 3, timeout=10), kube.writes
    finally:
        stopping.set()
        ticker.join(10)
    method, path, body = kube.writes[2]
    assert (method, body["series"]["count"]) == ("PATCH", 3) and path.endswith(kube.writes[0][2]["metadata"]["name"])
    assert len(recorder.series) == 0 and not ticker.is_alive()


def test_a_series_whose_event_expired_is_created_again():
    series = EventSeries()
    series.observe(_event())
    patch = series.observe(_event())
    again = series.recreate(patch)
    assert again is not None and again.method == "POST" and again.body["series"]["count"] == 2


def test_status_patch_sets_clears_or_skips_the_nomination():
    pod = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                      "message": "m"}]}}
    assert status_patch(pod, "m", "Unschedulable", None, False) is None
    assert status_patch(pod, "m", "Unschedulable", "n1", False) == {"status": {"nominatedNodeName": "n1"}}
    nominated = {"status": {**pod["status"], "nominatedNodeName": "n1"}}
    assert status_patch(nominated, "m", "Unschedulable", None, True) == {"status": {"nominatedNodeName": None}}
    assert status_patch(nominated, "m", "Unschedulable", None, False) is None
    fresh = status_patch({}, "m2", "Unschedulable", None, False)
    assert fresh["status"]["conditions"][0]["message"] == "m2" and "nominatedNodeName" not in fresh["status"]


def test_nomination_tracker_follows_the_pod_informer():
    from scheduler.core.framework import Nominator
    from scheduler.runtime.preemption import NominationTracker

    calls = []

    class Inner:
        def on_add(self, pod):
            calls.append("add")

        def on_update(self, old, new):
            calls.append("update")

        def on_delete(self, pod):
            calls.append("delete")

    nominator = Nominator()
    tracker = NominationTracker(Inner(), nominator, lambda pod: pod["spec"].get("schedulerName") == "s")
    pending = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"schedulerName": "s"},
               "status": {"nominatedNodeName": "n1"}}
    tracker.on_add(pending)
    assert [i.name for i in nominator.for_node("n1")] == ["p"]
    bound = {**pending, "spec": {"schedulerName": "s", "nodeName": "n1"}}
    tracker.on_update(pending, bound)
    assert nominator.for_node("n1") == [] and nominator.nodes() == frozenset()
    other = {**pending, "spec": {"schedulerName": "someone-else"}}
    tracker.on_add(other)
    assert nominator.nodes() == frozenset()
    tracker.on_add(pending)
    tracker.on_delete(pending)
    assert nominator.nodes() == frozenset() and calls == ["add", "update", "add", "add", "delete"]


def _pod(i: int) -> dict:
    return {"metadata": {"name": f"p{i}", "namespace": "ns", "uid": f"u{i}", "resourceVersion": "1"}}


class _HeldKube:
    """Every write waits at a barrier: it passes only when `parties` writes are in flight at once."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.written = 0
        self.lock = threading.Lock()

    def request(self, method: str, path: str, body=None, **_: object) -> dict:
        self.barrier.wait()  # BrokenBarrierError (the write fails) when fewer are ever in flight
        with self.lock:
            self.written += 1
        return {}


def test_the_scheduler_keeps_as_many_event_writes_in_flight_as_binds():
    # client-go writes each event in its own goroutine. Under load an event waits on the API server
    # as long as a bind does, so a smaller pool falls behind the binds and overflows its backlog
    # (8 threads: 271 of 2,000 Scheduled events written by the last bind in the 500-node benchmark).
    from scheduler.runtime.tuning import BIND_WORKERS, EVENT_WORKERS

    kube = _HeldKube(parties=BIND_WORKERS)
    recorder = EventRecorder(kube, hostname="h", workers=EVENT_WORKERS)
    for i in range(BIND_WORKERS):
        recorder.scheduled(_pod(i), "n1", "s")
    assert recorder.flush(60)
    assert kube.written == BIND_WORKERS and not kube.barrier.broken
    recorder.shutdown()


def test_dropped_events_are_counted_and_logged_once_a_second(caplog):
    import logging

    release = threading.Event()

    class Blocked:
        def request(self, *args, **kwargs) -> dict:
            release.wait(30)
            return {}

    now = [0.0]
    recorder = EventRecorder(Blocked(), hostname="h", workers=1, max_backlog=2, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="scheduler.runtime.binder")
    for i in range(5):
        recorder.scheduled(_pod(i), "n1", "s")
    now[0] = 1.5
    recorder.scheduled(_pod(5), "n1", "s")
    release.set()
    assert recorder.flush(30)
    lines = [r.getMessage() for r in caplog.records if "Events dropped" in r.getMessage()]
    assert recorder.dropped == 4
    assert len(lines) == 2, lines
    assert "dropped=1 total=1" in lines[0] and "dropped=3 total=4" in lines[1], lines
    recorder.shutdown()
