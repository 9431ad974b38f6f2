"""The scheduling loop (scheduleOne): pop a pod, run the core's scheduling cycle on it, then hand
a placed pod to the Binder, or report why it fits nowhere, evicting the victims preemption chose.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from scheduler.core.cycle import schedule_pod
from scheduler.core.framework import Nominator, ScheduleResult
from scheduler.core.podutil import is_assigned, is_terminating, pod_uid, scheduler_name
from scheduler.core.state import AlreadyInCache, ClusterState
from scheduler.runtime.binder import Binder, BindJob, PreBindError
from scheduler.runtime.failures import FailureReporter
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.preemption import Preemptor
from scheduler.runtime.queue import QueuedPodInfo, SchedulingQueue
from scheduler.runtime.volumes import VolumePreBinder

log = logging.getLogger("scheduler.runtime.app")  # the name the log lines have always had


class SchedulingLoop:
    """One thread's scheduleOne loop over the queue, while leading and not stopping."""

    def __init__(self, *, profiles: Mapping[str, Any], state: ClusterState, queue: SchedulingQueue,
                 rng: random.Random, metrics: SchedulerMetrics, binder: Binder, preemptor: Preemptor,
                 volume_prebinder: VolumePreBinder, nominator: Nominator, failures: FailureReporter,
                 informer_pod: Callable[[str], dict[str, Any] | None], can_act: Callable[[], bool],
                 stopping: threading.Event, exited: Callable[[], bool]) -> None:
        self.profiles = profiles
        self.state = state
        self.queue = queue
        self.rng = rng
        self.metrics = metrics
        self.binder = binder
        self.preemptor = preemptor
        self.volume_prebinder = volume_prebinder
        self.nominator = nominator
        self.failures = failures
        self.informer_pod = informer_pod
        self.can_act = can_act
        self.stopping = stopping
        self.exited = exited

    def run(self) -> None:
        log.info(kv("Starting scheduling", profiles=",".join(self.profiles)))
        while not self.stopping.is_set() and not self.exited():
            if not self.can_act():
                # Renewal is late: schedule nothing until it succeeds or leadership is lost.
                self.stopping.wait(0.05)
                continue
            info = self.queue.pop(timeout=0.5)
            if info is None:
                continue
            try:
                self.schedule_one(info)
            except Exception:
                log.exception(kv("Scheduling attempt crashed", pod=info.key))
                self.queue.requeue_backoff(info)

    def schedule_one(self, info: QueuedPodInfo) -> None:
        pod = info.pod
        name = scheduler_name(pod)
        profile = self.profiles.get(name)
        if profile is None or is_assigned(pod) or self.state.is_assumed(pod):
            self.queue.done(info)
            return
        if is_terminating(pod):
            log_s(log, V(3), "Skip schedule deleting pod", pod=info.key)
            self.queue.done(info)
            return
        log_s(log, V(3), "Attempting to schedule pod", pod=info.key)
        started = time.perf_counter()
        try:
            # No per-node score table: nothing here reads it (simulate and the tests do).
            result = schedule_pod(profile, self.state, pod, self.rng, detail=False)
        except AlreadyInCache:
            # sched.assume failed: the pod is bound already (its watch event is on the way, or was
            # handled); handleSchedulingFailure re-reads it and stops there.
            # Its error text is the cache's (cacheImpl.AssumePod: the pod's UID, then namespace/name).
            message = f"pod {pod_uid(pod)}({info.key}) is in the cache, so can't be assumed"
            log.error(kv("Error scheduling pod; retrying", pod=info.key, err=message))
            self.metrics.attempt("error", name, time.perf_counter() - started)
            fresh = self.informer_pod(info.key)
            if fresh is None or pod_uid(fresh) != pod_uid(pod) or is_assigned(fresh):
                self.queue.done(info)
            else:
                self.queue.requeue_backoff(info)
            self.failures.report(pod, message, "SchedulerError", name)
            return
        except Exception as exc:
            log.exception(kv("Error scheduling pod; retrying", pod=info.key))
            self.metrics.attempt("error", name, time.perf_counter() - started)
            self.queue.requeue_backoff(info)
            self.failures.report(pod, f"running scheduling cycle: {exc}", "SchedulerError", name)
            return
        self.metrics.algorithm_duration.observe(time.perf_counter() - started)
        if not result.node:
            self._unschedulable(info, result, name, started)
            return
        self.queue.done(info)
        self.binder.submit(BindJob(pod=pod, node=result.node, scheduler_name=name, started=started,
                                   context={"info": info, "result": result, "profile": profile},
                                   pre_bind=self._pre_bind_step(profile, pod, result)))

    def _pre_bind_step(self, profile: Any, pod: Mapping[str, Any],
                       result: ScheduleResult) -> Callable[[], None] | None:
        """The binding cycle's PreBind, run on the bind worker: the core decides (plans), the shell acts."""
        cycle = result.cycle
        node = result.node
        if cycle is None or node is None or not getattr(profile, "pre_bind_plugins", None):
            return None

        def run() -> None:
            plans, failure = profile.run_pre_bind(cycle, pod, node)
            if failure is not None:
                raise PreBindError(failure.message, rejected=failure.is_unschedulable())
            for plugin, plan in plans:
                if plugin == "VolumeBinding":
                    self.volume_prebinder.run(plugin, plan)
                else:
                    raise PreBindError(f'running PreBind plugin "{plugin}": no executor for its plan')

        return run

    def _unschedulable(self, info: QueuedPodInfo, result: ScheduleResult, name: str, started: float) -> None:
        """No node: FailedScheduling event, PodScheduled=False, and the pod waits for a change.

        A scheduler error (no nodes at all) is reported the same way with reason SchedulerError
        and retried after backoff, as kube-scheduler's handleSchedulingFailure does.
        """
        pod = info.pod
        message = str(result.message or "")
        nominated = self._preempt(pod, result, name)
        failed = result.status == "error"
        plugins = () if failed else tuple(result.unschedulable_plugins or ())
        reason = "SchedulerError" if failed else "Unschedulable"
        self.metrics.attempt("error" if failed else "unschedulable", name, time.perf_counter() - started)
        self.queue.add_unschedulable(info, plugins)  # no plugins: backoff, not the unschedulable pool
        if failed:
            log.error(kv("Error scheduling pod; retrying", pod=info.key, err=message))
        else:
            log_s(log, V(2), "Unable to schedule pod; no fit; waiting", pod=info.key, err=message)
        self.failures.report(pod, message, reason, name, nominated=nominated,
                             clear_nomination=bool(result.clear_nomination))

    def _preempt(self, pod: Mapping[str, Any], result: ScheduleResult, name: str) -> str | None:
        """DefaultPreemption chose a node: evict its victims now (prepareCandidate); the nominated node."""
        node = result.nominated_node
        if result.clear_nomination:
            self.nominator.delete(pod)
        if not node or not self.can_act():
            return None
        self.nominator.add(pod, node)  # AddNominatedPod, before the victims' deletions arrive
        victims = self.state.pods_on_node(node, result.victims or ())
        return node if self.preemptor.evict(pod, node, victims, name) else None
