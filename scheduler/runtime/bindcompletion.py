"""The binding cycle's end, on the bind worker that ran it: success is counted, logged and reported
(Scheduled event); failure runs handleBindingCycleError (Unreserve, ForgetPod, the moves it
causes) and handleSchedulingFailure (re-queue what the informer holds now, report)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from scheduler.core.cycle import unreserve
from scheduler.core.podutil import is_assigned, pod_uid
from scheduler.core.state import ClusterState
from scheduler.runtime.binder import BindError, BindJob, NotLeader, PreBindError, bind_failure_message
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.failures import FailureReporter
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import ApiError
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.queue import QueuedPodInfo, SchedulingQueue

log = logging.getLogger("scheduler.runtime.app")  # the name the log lines have always had


class BindCompletion:
    """The Binder's ``on_done``: called once per bind job, with the error or None."""

    def __init__(self, *, state: ClusterState, queue: SchedulingQueue, metrics: SchedulerMetrics,
                 events: EventRecorder, failures: FailureReporter,
                 informer_pod: Callable[[str], dict[str, Any] | None], random_profiles: Collection[str]) -> None:
        self.state = state
        self.queue = queue
        self.metrics = metrics
        self.events = events
        self.failures = failures
        self.informer_pod = informer_pod
        self.random_profiles = random_profiles

    def __call__(self, job: BindJob, error: BindError | None) -> None:
        info: QueuedPodInfo = job.context["info"]
        result = job.context["result"]
        key = info.key
        if error is None:
            now = time.perf_counter()
            self.metrics.attempt("scheduled", job.scheduler_name, now - job.started)
            if info.initial_attempt_timestamp is not None:
                self.metrics.scheduled(info.attempts, max(0.0, time.monotonic() - info.initial_attempt_timestamp))
            log_s(log, V(2), "Successfully bound pod to node", pod=key, node=job.node,
                  evaluatedNodes=int(getattr(result, "evaluated_nodes", 0) or 0),
                  feasibleNodes=int(getattr(result, "feasible_nodes", 0) or 0))
            if job.scheduler_name in self.random_profiles:
                log.info(f"Placed pod [{key}] on {job.node}")
            self.events.scheduled(job.pod, job.node, job.scheduler_name, here=True)  # on this bind worker
            return
        self._binding_cycle_failed(job, info, error)

    def _binding_cycle_failed(self, job: BindJob, info: QueuedPodInfo, error: BindError) -> None:
        """handleBindingCycleError: Unreserve (VolumeBinding restores the PVs/PVCs it assumed), then
        ForgetPod: only what the watch has not confirmed meanwhile. (A bind whose answer was lost
        but that did bind the pod to job.node never gets here: the binder reads the pod back and
        reports success.) The forgotten pod freed what it held, which upstream treats as an
        AssignedPodDelete event for the unschedulable pods; then the FailureHandler."""
        forgotten = unreserve(job.context.get("profile"), self.state, job.context["result"], job.pod, job.node)
        cause = error.cause
        if isinstance(cause, NotLeader):
            # Not upstream's path (its binding goroutines end with the process): nothing was sent,
            # so nothing to report; a deposed leader schedules nothing more, so moves nothing.
            log_s(log, V(2), "Bind not sent: not leading", pod=info.key)
            fresh = self.informer_pod(info.key)
            if fresh is not None and pod_uid(fresh) == pod_uid(job.pod) and not is_assigned(fresh):
                self.queue.readd_after_bind_failure(info, fresh)
            return
        rejected = isinstance(cause, PreBindError) and cause.rejected
        if forgotten and not rejected:
            self.queue.move_all_to_active_or_backoff("AssignedPodDelete")
        self._binding_failure(job, info, cause, rejected)
        if forgotten and rejected:
            # Deferred upstream, and never the pod itself: it was just rejected.
            uid = pod_uid(job.pod)
            self.queue.move_all_to_active_or_backoff("AssignedPodDelete", pre_check=lambda p: pod_uid(p) != uid)

    def _binding_failure(self, job: BindJob, info: QueuedPodInfo, cause: BaseException, rejected: bool) -> None:
        """handleSchedulingFailure for a failed binding cycle: metric, log, re-queue what the
        informer holds now, FailedScheduling event and the PodScheduled=False condition (with the
        nomination cleared), both about the pod as this attempt saw it, whether or not it is
        re-queued (a pod already gone gets both too; their writes then fail and are logged)."""
        key = info.key
        reason = "Unschedulable" if rejected else "SchedulerError"
        self.metrics.attempt("unschedulable" if rejected else "error", job.scheduler_name,
                             time.perf_counter() - job.started)
        message = bind_failure_message(cause)
        if isinstance(cause, ApiError) and cause.status == 404:
            log_s(log, V(2), "Unable to schedule pod, possibly due to node not found; waiting", pod=key, err=message)
        else:
            log.error(kv("Error scheduling pod; retrying", pod=key, err=message))
        # The informer's current object: gone, re-created under its name, or already bound means
        # nothing to retry; otherwise retry what the pod is *now* (updates were skipped while it
        # was assumed).
        fresh = self.informer_pod(key)
        if fresh is None or pod_uid(fresh) != pod_uid(job.pod):
            log.info(kv("Pod doesn't exist in informer cache", pod=key))
        elif is_assigned(fresh):
            log.info(kv("Pod has been assigned to node. Abort adding it back to queue.", pod=key,
                        node=(fresh.get("spec") or {}).get("nodeName")))
        else:
            self.queue.readd_after_bind_failure(info, fresh)
        self.failures.report(job.pod, message, reason, job.scheduler_name)
