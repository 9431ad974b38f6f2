"""Binding pods, and telling the cluster about it: the PodScheduled condition (events: ``eventrecorder``).

* `Binder` POSTs `pods/binding` (with the pod's UID, so a re-created pod of the same name is never
  bound by mistake) from a small worker pool, so the next scheduling decision does not wait for the
  API server. Every bind takes a token from the client's QPS bucket and then checks the leader
  fence *immediately before sending*: a process that is no longer sure it leads sends nothing.
* A bind is never sent twice blind (client-go retries no POST after it may have reached the
  server). Sent again, with jittered exponential backoff, at most `max_retries` times within
  `retry_budget`: a bind that never left (connect refused or timed out, name resolution) and one
  the server turned away with Retry-After (429, or 5xx while shutting down: client-go's
  ``checkWait``; the hint is waited in full). A bind that may have been acted on (its deadline
  passed after sending, the connection broke mid-answer, a 5xx without Retry-After) is settled
  by reading the pod: bound to the chosen node (same UID) is success, anything else a bind
  failure (the caller forgets the assumed pod and requeues it, as ``handleBindingCycleError``
  does). Any other answer is that failure as it stands, a 409 too, even when someone else bound
  the pod to the very node chosen: kube-scheduler v1.29.15 then writes FailedScheduling
  ``running Bind plugin "DefaultBinder": Operation cannot be fulfilled on pods/binding ...``
  and PodScheduled=False (checked live: the pod bound by kubectl while its PreBind waited).
  A 404 (the pod is gone) is classed FINAL; the caller reports it all the same, as upstream does.
* `fenced` is the one way to send a leader's write: binds, PreBind's volume writes and
  preemption's victim deletions all pass the same fence.
* Status patches keep their own retries (`classify` in ``scheduler.runtime.writeretry``: transport
  errors, 429 and 5xx). The events live in ``scheduler.runtime.eventrecorder`` (``EventRecorder``,
  ``truncate_note``), re-exported here for the callers that import them from this module.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from scheduler.core.podutil import pod_key
from scheduler.runtime.eventrecorder import NOTE_LENGTH_LIMIT, EventRecorder, truncate_note
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import JSON, STRATEGIC_MERGE_PATCH, UNSENDABLE, ApiError, KubeClient
from scheduler.runtime.writeretry import ErrorClass, classify, wait_for

__all__ = [
    "BindError",
    "BindJob",
    "Binder",
    "ErrorClass",
    "EventRecorder",
    "NotLeader",
    "PreBindError",
    "DEFAULT_BINDER",
    "bind_failure_message",
    "classify",
    "binding_body",
    "NOTE_LENGTH_LIMIT",
    "truncate_note",
]

log = logging.getLogger("scheduler.runtime.binder")


def _bind_retryable(exc: ApiError) -> bool:
    """Safe to send the bind again: it never left, or the server said when to come back."""
    if exc.status == 0:
        return not exc.sent and exc.reason != UNSENDABLE
    return (exc.status == 429 or exc.status >= 500) and exc.retry_after is not None


def _may_have_bound(exc: ApiError) -> bool:
    """The bind may have been acted on, its answer lost: read the pod to know."""
    return (exc.status == 0 and exc.sent) or exc.status >= 500


class NotLeader(Exception):
    """The leader fence closed before the request could be sent; nothing was sent."""


class PreBindError(Exception):
    """PreBind failed (a volume update refused, binding timed out, ...): the text is the FailedScheduling
    message, as kube-scheduler's ``running PreBind plugin "X": ...``. `rejected`: the plugin's status
    was Unschedulable (``Status.IsRejected``), not an error: the failure's reason is Unschedulable."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


# The only Bind plugin of a v1.29 profile (the Python scheduler has no other).
DEFAULT_BINDER = "DefaultBinder"


def bind_failure_message(cause: BaseException) -> str:
    """The FailedScheduling message (and PodScheduled condition message) of a failed binding cycle,
    as kube-scheduler v1.29 words it: a PreBind failure's own text; a bind error wrapped by
    RunBindPlugins as ``running Bind plugin "DefaultBinder": <err>``, where <err> is client-go's
    error string — for an answer with a Status body, the Status's ``message`` verbatim (a
    StatusError's Error()), e.g. ``Operation cannot be fulfilled on pods/binding "p": pod p is
    already assigned to node "n1"`` or ``pods "p" not found``."""
    if isinstance(cause, PreBindError):
        return str(cause)
    detail = cause.message if isinstance(cause, ApiError) else str(cause)
    return f"running Bind plugin {_go_quote(DEFAULT_BINDER)}: {detail}"


def _go_quote(text: str) -> str:
    """Go's %q for a plain ASCII name (plugin names are identifiers)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BindError(Exception):
    def __init__(self, cause: BaseException, error_class: ErrorClass) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.error_class = error_class


def binding_body(pod: Mapping[str, Any], node: str) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


@dataclass
class BindJob:
    pod: dict[str, Any]
    node: str
    scheduler_name: str
    started: float = field(default_factory=time.monotonic)  # scheduling cycle start
    context: dict[str, Any] = field(default_factory=dict)  # whatever the caller needs back
    # The binding cycle's PreBind (volume binding), run on the bind worker before the bind is sent;
    # raises PreBindError (or NotLeader).
    pre_bind: Callable[[], None] | None = None



class Binder:
    """Sends binds concurrently; reports each outcome through `on_done(job, error_or_None)`."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        can_act: Callable[[], bool],
        on_done: Callable[[BindJob, BindError | None], None],
        workers: int = 8,
        max_attempts: int = 8,
        max_retries: int = 10,
        retry_budget: float = 15.0,
        initial_wait: float = 0.2,
        max_wait: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self._kube = kube
        self._can_act = can_act
        self._on_done = on_done
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bind")
        self._max_attempts = max_attempts  # status patches (tenacity)
        self._max_retries = max_retries  # binds: client-go's default maxRetries for Retry-After
        self._retry_budget = retry_budget
        self._initial_wait = initial_wait
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        # The whole request, connect included, within request_timeout (the caller's bound on a
        # bind's time in flight, e.g. leaseDuration - renewDeadline), as a Go context deadline.
        self.request_timeout = float(request_timeout)
        self._timeout = self.request_timeout
        self._pending = 0
        self._sending = 0
        self._idle = threading.Condition()

    # -- the request -------------------------------------------------------------------------

    def fenced(self, method: str, path: str, body: Any = None, content_type: str = JSON) -> dict[str, Any]:
        """One write as the leader, sent once: a QPS token, then the fence *immediately before
        sending* (NotLeader, nothing sent, once it is closed), and counted as in flight so a
        stepping-down leader waits for it (`wait_until_nothing_in_flight`). Bounded by the
        bind timeout, so it is answered or abandoned before a standby can take the Lease."""
        return self._send_fenced(method, path, body, content_type)

    def _send_fenced(self, method: str, path: str, body: Any, content_type: str = JSON) -> dict[str, Any]:
        self._kube.bucket.acquire()  # may wait: check the fence only after the token is ours
        with self._idle:
            if not self._can_act():
                raise NotLeader()
            self._sending += 1
        try:
            return self._kube.request(method, path, body=body, content_type=content_type,
                                      timeout=self._timeout, rate_limited=False)
        finally:
            with self._idle:
                self._sending -= 1
                self._idle.notify_all()

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self._max_attempts) | stop_before_delay(self._retry_budget),
            wait=lambda state: wait_for(state, initial=self._initial_wait, maximum=self._max_wait),
            retry=retry_if_exception(lambda exc: classify(exc) is ErrorClass.RETRY),
            sleep=self._sleep,
            reraise=True,
        )

    def bind(self, pod: Mapping[str, Any], node: str) -> None:
        """Bind synchronously (see the module's docstring for what is sent again and what is
        settled by reading the pod). Returns when the pod is bound to `node`; raises BindError
        or NotLeader."""
        meta = pod.get("metadata") or {}
        path = f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}/binding"
        body = binding_body(pod, node)
        started = self._clock()
        retries = 0
        while True:
            try:
                self._send_fenced("POST", path, body)
                return
            except ApiError as exc:
                error = exc
            if _bind_retryable(error) and retries < self._max_retries:
                delay = self._retry_delay(retries, error.retry_after)
                if self._clock() - started + delay <= self._retry_budget:
                    retries += 1
                    log_s(log, V(2), "Retrying bind", pod=pod_key(pod), node=node, retry=retries,
                          wait=f"{delay:.3g}s", err=str(error))
                    self._sleep(delay)
                    continue
            if _may_have_bound(error) and self._bound_to(pod, node):
                log_s(log, V(2), "Bind answer lost or refused, but the pod is bound to the chosen node",
                      pod=pod_key(pod), node=node, err=str(error))
                return
            raise BindError(error, ErrorClass.FINAL if error.status == 404 else ErrorClass.FAIL)

    def _retry_delay(self, retries: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter on top (wait.Jitter(d, 1.0)); a Retry-After hint
        is waited in full when it is longer."""
        backoff = min(self._max_wait, self._initial_wait * 2 ** retries)
        return max(backoff * (1.0 + self._rng.random()), float(retry_after or 0.0))

    def _bound_to(self, pod: Mapping[str, Any], node: str) -> bool:
        """The pod as the API server has it now is this pod (its UID) bound to `node`. A read
        that fails answers False: the bind is then a failure and the pod is tried again."""
        meta = pod.get("metadata") or {}
        try:
            current = self._kube.request("GET", f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}",
                                         timeout=self._timeout)
        except ApiError as exc:
            log_s(log, V(2), "Could not read the pod back after its bind", pod=pod_key(pod), err=str(exc))
            return False
        return ((current.get("metadata") or {}).get("uid") == meta.get("uid")
                and (current.get("spec") or {}).get("nodeName") == node)

    def write(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """One fenced write (a PreBind update of a PV or PVC), not retried: upstream's client call is
        made once and a failure sends the pod back to the queue. Returns the server's object."""
        return self._send_fenced(method, path, body)

    # -- the pool ----------------------------------------------------------------------------

    def submit(self, job: BindJob) -> None:
        with self._idle:
            self._pending += 1
        self._pool.submit(self._run, job)

    def _run(self, job: BindJob) -> None:
        error: BindError | None = None
        try:
            if job.pre_bind is not None:
                job.pre_bind()
            log_s(log, V(3), "Attempting to bind pod to node", pod=pod_key(job.pod), node=job.node)
            self.bind(job.pod, job.node)
        except PreBindError as exc:
            error = BindError(exc, ErrorClass.FAIL)
        except NotLeader as exc:
            error = BindError(exc, ErrorClass.FAIL)
        except BindError as exc:
            error = exc
        except Exception as exc:  # never lose a job to a bug: report it as a failed attempt
            error = BindError(exc, ErrorClass.FAIL)
        try:
            self._on_done(job, error)
        except Exception:
            log.exception(kv("Bind callback failed", pod=pod_key(job.pod)))
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def pending(self) -> int:
        with self._idle:
            return self._pending

    def wait_until_nothing_in_flight(self, timeout: float) -> bool:
        """Wait until no bind request is on the wire (queued jobs will not pass the fence)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def patch_status(self, pod: Mapping[str, Any], patch: dict[str, Any]) -> None:
        """A pods/status strategic merge patch (PodScheduled=False), retried like binds."""
        meta = pod.get("metadata") or {}
        path = f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}/status"
        for attempt in self._retrying():
            with attempt:
                self._kube.request("PATCH", path, body=patch, content_type=STRATEGIC_MERGE_PATCH,
                                   timeout=self._timeout)

    def run_in_pool(self, fn: Callable[[], None]) -> None:
        """Run a small API write (a status patch) on the bind workers, off the scheduling thread."""

        def guarded() -> None:
            try:
                fn()
            except Exception as exc:
                log.warning(kv("Background API write failed", err=str(exc)))

        self._pool.submit(guarded)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def unschedulable_condition_patch(message: str, reason: str = "Unschedulable") -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }]
        }
    }


def condition_is_current(pod: Mapping[str, Any], message: str, reason: str = "Unschedulable") -> bool:
    """True when the pod already shows this PodScheduled=False condition (skip a needless patch)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled":
            return (condition.get("status") == "False" and condition.get("reason") == reason
                    and condition.get("message") == message)
    return False
