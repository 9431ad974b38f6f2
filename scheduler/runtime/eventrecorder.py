"""``EventRecorder``: the events kube-scheduler writes (Scheduled, FailedScheduling, LeaderElection).

* It writes events.k8s.io/v1 events the way kube-scheduler's recorder does
  (reportingController = the profile's schedulerName, reportingInstance = schedulerName-hostname).
  That is what `kubectl describe pod` shows as "From" and `kubectl get events -o wide` as SOURCE
  (the API server rejects `deprecatedSource` on events.k8s.io/v1 writes: "needs to be unset").
* Events are best effort, but written as they come, not trickled: client-go writes each one in
  its own goroutine, so under load the recorder needs about as many writes in flight as binds
  (8 threads had written 300 of a 2,000-pod burst's events by its last bind). Past `max_backlog`
  (client-go's 1000-event queue) an event is dropped, counted and logged.
* Writes keep their own retries (`classify`: transport errors, 429 and 5xx).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from scheduler.runtime.events import FINISH_TIME, EventSeries, Write
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import STRATEGIC_MERGE_PATCH, ApiError, KubeClient
from scheduler.runtime.leader import micro_time
from scheduler.runtime.writeretry import ErrorClass, classify, wait_for

# The logger keeps the name it had in binder.py, so log lines read as before the split.
log = logging.getLogger("scheduler.runtime.binder")

NOTE_LENGTH_LIMIT = 1024  # events.k8s.io note limit; kube-scheduler truncates with " ..."


def truncate_note(note: str) -> str:
    """kube-scheduler's truncateMessage: at most NOTE_LENGTH_LIMIT *bytes* (Go's len, and what the
    API server's event validation counts), cut to 1020 and " ..." appended. Go may cut inside a
    multi-byte character (its JSON encoder then writes U+FFFD, which can push the note past the
    limit and get the event refused); here the partial character is dropped instead."""
    raw = note.encode("utf-8", "surrogatepass")
    if len(raw) <= NOTE_LENGTH_LIMIT:
        return note
    return raw[: NOTE_LENGTH_LIMIT - 4].decode("utf-8", "ignore") + " ..."


class EventRecorder:
    """Best-effort events, written by a pool of `workers` threads with their own QPS bucket (a
    Scheduled event's first attempt: by the bind worker that bound the pod, see `scheduled`)."""

    def __init__(self, kube: KubeClient, *, hostname: str | None = None, max_backlog: int = 1000,
                 workers: int = 4, retry_budget: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._retry_budget = retry_budget
        self._sleep = sleep
        self._clock = clock
        self.hostname = hostname or socket.gethostname()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="events")
        self._backlog = 0
        self._max_backlog = max_backlog
        self._lock = threading.Lock()
        self.dropped = 0
        self._drops_logged = 0  # `dropped` when the last drop line was written
        self._drop_logged_at = float("-inf")
        self.series = EventSeries()  # events.k8s.io series aggregation (scheduler/runtime/events.py)

    def _submit(self, path: str, body: dict[str, Any], method: str = "POST", *, here: bool = False) -> None:
        """Queue a write for the pool; or, `here` and with a QPS token free at once, make its first
        attempt on the calling thread (which then never waits for a token or a retry)."""
        with self._lock:
            if self._backlog >= self._max_backlog:
                self.dropped += 1
                self._log_drops()
                return
            self._backlog += 1
        if here and self._kube.bucket.try_take():
            self._write(path, body, method, first_attempt_only=True)
        else:
            self._pool.submit(self._write, path, body, method)

    def _log_drops(self) -> None:
        """One line a second at most while events are being dropped (under self._lock)."""
        now = self._clock()
        if now - self._drop_logged_at < 1.0:
            return
        log.warning(kv("Events dropped: too many queued", dropped=self.dropped - self._drops_logged,
                       total=self.dropped, queued=self._backlog))
        self._drops_logged, self._drop_logged_at = self.dropped, now

    def _write(self, path: str, body: dict[str, Any], method: str = "POST", first_attempt_only: bool = False) -> None:
        # Like client-go's broadcaster, ride out an API server restart; give up on anything else.
        # The first attempt alone (on a bind worker): what is worth retrying goes to the pool, so
        # a bind worker never sits out a restart for an event.
        retrying = Retrying(
            stop=stop_after_attempt(1) if first_attempt_only else stop_before_delay(self._retry_budget),
            wait=lambda state: wait_for(state, initial=0.5, maximum=5.0),
            retry=retry_if_exception(lambda exc: classify(exc) is ErrorClass.RETRY),
            sleep=self._sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    self._kube.request(method, path, body=body, rate_limited=not first_attempt_only,
                                       content_type=STRATEGIC_MERGE_PATCH if method == "PATCH" else "application/json")
        except ApiError as exc:
            again = self.series.recreate(Write(method, path, body)) if method == "PATCH" and exc.status == 404 else None
            # Both go through _submit, which counts them in the backlog this write leaves below.
            if first_attempt_only and classify(exc) is ErrorClass.RETRY:
                self._submit(path, body, method)  # the pool retries it
            elif again is not None:
                self._submit(again.path, again.body, again.method)
            else:
                log_s(log, V(2), "Event not written", reason=body.get("reason"), err=str(exc))
        finally:
            with self._lock:
                self._backlog -= 1

    def event_for_pod(self, pod: Mapping[str, Any], *, scheduler_name: str, type_: str, reason: str,
                      action: str, note: str) -> dict[str, Any]:
        meta = pod.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            # kube-scheduler's recorder names events <object>.<hex unix nanos>.
            "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
            "eventTime": micro_time(),
            "reportingController": scheduler_name,
            "reportingInstance": f"{scheduler_name}-{self.hostname}"[:128],
            "action": action,
            "reason": reason,
            "type": type_,
            "note": truncate_note(note),
            "regarding": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": name,
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }

    def pod_event(self, pod: Mapping[str, Any], *, here: bool = False, **kwargs: str) -> None:
        body = self.event_for_pod(pod, **kwargs)
        write = self.series.observe(body)
        if write is not None:
            self._submit(write.path, write.body, write.method, here=here)

    def flush_due_series(self) -> int:
        """``finishSeries`` / ``refreshExistingEventSeries``: write the series updates due now."""
        due = self.series.due()
        for write in due:
            self._submit(write.path, write.body, write.method)
        return len(due)

    def run_series_ticker(self, stopping: threading.Event, period: float = FINISH_TIME) -> None:
        """client-go's broadcaster runs ``finishSeries`` every 6 minutes whether or not new events
        come: a series' final count is written even when the pod is never tried again."""
        while not stopping.wait(period):
            self.flush_due_series()

    def scheduled(self, pod: Mapping[str, Any], node: str, scheduler_name: str, *, here: bool = False) -> None:
        """The Scheduled event; `here`: its first attempt on this thread (a bind worker that just
        bound the pod: one hand-over between threads less per pod, the hottest path)."""
        meta = pod.get("metadata") or {}
        self.pod_event(pod, here=here, scheduler_name=scheduler_name, type_="Normal", reason="Scheduled",
                       action="Binding",
                       note=f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {node}")

    def failed_scheduling(self, pod: Mapping[str, Any], message: str, scheduler_name: str) -> None:
        self.pod_event(pod, scheduler_name=scheduler_name, type_="Warning", reason="FailedScheduling",
                       action="Scheduling", note=message)

    def lease_event(self, lease: Mapping[str, Any] | None, *, namespace: str, name: str, note: str,
                    component: str) -> None:
        """client-go's resourcelock event (core/v1, reason LeaderElection) on the Lease."""
        meta = (lease or {}).get("metadata") or {}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "name": name,
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": "LeaderElection",
            "message": note,
            "type": "Normal",
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": self.hostname,
        }
        self._submit(f"/api/v1/namespaces/{namespace}/events", body)

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._backlog == 0:
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
