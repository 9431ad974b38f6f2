"""Wiring: the I/O shell around the pure decision core, as one long-running scheduler process.

Threads, and who talks to whom (each part in its own module; this one only builds and connects them):

    reflectors --events--> handlers.py --> ClusterState (its own lock) + queue
    scheduling loop (scheduling.py): queue.pop -> core.cycle.schedule_pod (decide, assume, Reserve)
        -> Binder, or failures.py (FailedScheduling, PodScheduled=False) and preemption's evictions
    bind workers (binder.py): fence check -> POST pods/binding -> bindcompletion.py (events,
        metrics; failures -> Unreserve + forget + requeue)
    leader elector: Lease renewals; starts the scheduling loop when leading, ends the process when not
    lifecycle.py: start-up order, queue flushes, signals, shutdown; cachedebugger.py: SIGUSR2
    HTTP server: /healthz /livez /readyz /metrics
"""

from __future__ import annotations

import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.core.events import EVENTS_TO_REGISTER, ClusterEvent, worth_requeuing
from scheduler.core.framework import Nominator
from scheduler.core.podutil import pod_key, scheduler_name
from scheduler.core.state import ClusterState
from scheduler.runtime.auth import DelegatedAuth
from scheduler.runtime.bindcompletion import BindCompletion
from scheduler.runtime.binder import Binder
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.cachedebugger import CacheDebugger
from scheduler.runtime.failures import FailureReporter
from scheduler.runtime.handlers import (
    WORKLOAD_INFORMERS,
    LeaseNudger,
    NodeEventHandler,
    ObjectEventHandler,
    PodEventHandler,
)
from scheduler.runtime.informer import NODES_PATH, NON_TERMINAL_PODS, PODS_PATH, KubeListWatch, ListWatchApi, Reflector
from scheduler.runtime.kube import KubeClient
from scheduler.runtime.leader import KubeLeaseStore, LeaderElector
from scheduler.runtime.lifecycle import ExitCode, Lifecycle
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.preemption import NominationTracker, Preemptor
from scheduler.runtime.queue import QueuedPodInfo, SchedulingQueue, priority_sort_less
from scheduler.runtime.scheduling import SchedulingLoop
from scheduler.runtime.server import Checks, ProbeServer
from scheduler.runtime.tuning import BIND_TIMEOUT, BIND_WORKERS, EVENT_WORKERS
from scheduler.runtime.volumes import VOLUME_INFORMERS, VolumeEventHandler, VolumePreBinder

__all__ = ["SchedulerApp", "ServingOptions"]


def _queue_sort(profiles: Mapping[str, Any]) -> Callable[[Any, Any], bool]:
    """The profiles' QueueSort plugin (config validation makes it the same for all profiles);
    PrioritySort's order when a profile has none (test doubles)."""
    for profile in profiles.values():
        if getattr(profile, "queue_sort_plugins", None):
            return profile.less
    return priority_sort_less


@dataclass
class ServingOptions:
    bind_address: str = "0.0.0.0"
    port: int = 0
    secure_port: int = 10259
    auth: DelegatedAuth | None = None  # None: only the always-allow paths are served


def is_random_profile(profile: Any) -> bool:
    """A profile whose only scorer is Random: its decisions are logged like the seed's Go scheduler."""
    try:
        return list(profile.plugin_names("score")) == ["Random"]
    except (AttributeError, KeyError, TypeError):
        return False


class SchedulerApp:
    """One scheduler process: build with `SchedulerApp(config, profiles, kube=...)`, then `run()`."""

    def __init__(
        self,
        config: Any,
        profiles: Mapping[str, Any],
        *,
        kube: KubeClient,
        state: ClusterState,
        serving: ServingOptions | None = None,
        list_watch: ListWatchApi | None = None,
        identity: str | None = None,
        rng: random.Random | None = None,
        lease_watch: bool = True,
    ) -> None:
        self.config = config
        self.profiles = dict(profiles)
        self.kube = kube
        self.state = state
        self.serving = serving or ServingOptions()
        self.rng = rng or random.Random()
        self.hostname = socket.gethostname()
        self.identity = identity or f"{self.hostname}_{uuid.uuid4()}"
        self.metrics = SchedulerMetrics()
        self.queue = SchedulingQueue(
            initial_backoff=float(config.pod_initial_backoff_seconds),
            max_backoff=float(config.pod_max_backoff_seconds),
            on_incoming=self.metrics.incoming,
            less=_queue_sort(self.profiles),
            worth_requeuing=self._worth_requeuing,
        )
        self._exit = ExitCode()
        self._stopping = threading.Event()
        self.nominator = _nominator(self.profiles)

        lw = list_watch or KubeListWatch(kube)
        self.node_reflector = Reflector(lw, name="nodes", path=NODES_PATH, kind="Node",
                                        handler=NodeEventHandler(state, self.queue))
        self.pod_reflector = Reflector(
            lw, name="pods", path=PODS_PATH, field_selector=NON_TERMINAL_PODS, kind="Pod",
            handler=NominationTracker(PodEventHandler(state, self.queue, self._responsible),
                                      self.nominator, self._responsible))
        self.object_reflectors = [
            Reflector(lw, name=name, path=path, kind=kind, handler=ObjectEventHandler(state),
                      optional_on=frozenset({403, 404}))
            for name, path, kind in WORKLOAD_INFORMERS
        ]
        # PVs, PVCs, StorageClasses, CSINodes for the volume plugins; their changes also wake PreBind
        # waiters (VolumePreBinder). Optional like the workload informers (RBAC may not grant them).
        self._volumes_changed = threading.Condition()
        self.volume_reflectors = [
            Reflector(lw, name=name, path=path, kind=kind,
                      handler=VolumeEventHandler(state, self.queue, short, self._volumes_changed),
                      optional_on=frozenset({403, 404}))
            for name, path, kind, short in VOLUME_INFORMERS
        ]

        qps, burst = float(config.client_connection.qps), int(config.client_connection.burst)
        first_name = next(iter(self.profiles), "default-scheduler")
        self.events = EventRecorder(kube.derive(qps=qps, burst=burst, timeout=10.0, pool_size=EVENT_WORKERS,
                                                user_agent=f"{first_name}/events"),
                                    hostname=self.hostname, workers=EVENT_WORKERS)
        le = config.leader_election
        self.elector: LeaderElector | None = None
        self.lease_reflector: Reflector | None = None
        if le.leader_elect:
            lease_kube = kube.derive(qps=qps, burst=burst, user_agent=f"{first_name}/leader-election",
                                     timeout=max(1.0, min(float(le.renew_deadline) / 2, 5.0)))
            store = KubeLeaseStore(lease_kube, le.resource_namespace, le.resource_name)
            gauge = self.metrics.leader_status.labels(name=le.resource_name)
            gauge.set(0)
            self.elector = LeaderElector(
                store,
                identity=self.identity,
                lease_duration=float(le.lease_duration),
                renew_deadline=float(le.renew_deadline),
                retry_period=float(le.retry_period),
                rng=self.rng,
                on_started_leading=lambda: self.lifecycle.start_scheduling(),
                on_stopped_leading=lambda requested: self.lifecycle.stopped_leading(requested),
                on_leader_status=lambda leading: gauge.set(1 if leading else 0),
                record_event=lambda note: self.events.lease_event(
                    store.lease, namespace=le.resource_namespace, name=le.resource_name,
                    note=f"{self.identity} {note}", component=first_name),
            )
            if lease_watch:
                # Wakes a standby the moment the Lease changes (released on SIGTERM).
                self.lease_reflector = Reflector(
                    lw, name="lease", path=f"/apis/coordination.k8s.io/v1/namespaces/{le.resource_namespace}/leases",
                    field_selector=f"metadata.name={le.resource_name}", kind="Lease",
                    handler=LeaseNudger(self.elector.nudge), optional_on=frozenset({403, 404}))
        self.can_act: Callable[[], bool] = (
            self.elector.can_act if self.elector else (lambda: not self._stopping.is_set()))
        # A bind may leave up to renewDeadline after the last renewal began; bounding it by
        # leaseDuration - renewDeadline means it is answered (or abandoned) before any standby
        # can possibly take the Lease over.
        # The bound is on the whole request, connect included (Binder splits it), with no floor:
        # a short lease gap gets a short bind.
        bind_timeout = BIND_TIMEOUT
        if self.elector is not None:
            bind_timeout = min(bind_timeout, float(le.lease_duration) - float(le.renew_deadline))
        self.binder = Binder(kube, can_act=self.can_act, on_done=lambda job, error: self.bind_completion(job, error),
                             workers=BIND_WORKERS,
                             request_timeout=bind_timeout)
        self.preemptor = Preemptor(self.binder.fenced, self.events)  # victims pass the binds' fence
        self.volume_prebinder = VolumePreBinder(
            state, write=self.binder.write, changed=self._volumes_changed, stopping=self._stopping,
            pod_exists=lambda pod: self._informer_pod(pod_key(pod)) is not None)

        self.metrics.snapshot.pending = self.queue.pending_counts
        self.metrics.snapshot.unschedulable = self.queue.unschedulable_by_plugin
        self.metrics.snapshot.cache_size = state.sizes
        self.server = ProbeServer(
            self.metrics,
            Checks(synced=self.synced, leader=self.elector.check if self.elector else (lambda: None),
                   shutting_down=self._stopping.is_set),
            bind_address=self.serving.bind_address, port=self.serving.port,
            secure_port=self.serving.secure_port, auth=self.serving.auth)
        failures = FailureReporter(self.events, self.binder)
        self.bind_completion = BindCompletion(
            state=state, queue=self.queue, metrics=self.metrics, events=self.events, failures=failures,
            informer_pod=self._informer_pod,
            random_profiles={name for name, p in self.profiles.items() if is_random_profile(p)})
        self.scheduling = SchedulingLoop(
            profiles=self.profiles, state=state, queue=self.queue, rng=self.rng, metrics=self.metrics,
            binder=self.binder, preemptor=self.preemptor, volume_prebinder=self.volume_prebinder,
            nominator=self.nominator, failures=failures, informer_pod=self._informer_pod, can_act=self.can_act,
            stopping=self._stopping, exited=lambda: self._exit.code is not None)
        self.cache_debugger = CacheDebugger(kube, state, self.queue)
        self.lifecycle = Lifecycle(
            state=state, queue=self.queue, events=self.events, binder=self.binder, server=self.server,
            reflectors=self._reflectors(), lease_reflector=self.lease_reflector, elector=self.elector,
            scheduling_loop=self.scheduling.run, debug_cache=self.debug_cache, stopping=self._stopping,
            exit_code=self._exit)

    # -- queries -----------------------------------------------------------------------------

    def _responsible(self, pod: Mapping[str, Any]) -> bool:
        return scheduler_name(pod) in self.profiles

    @property
    def binding(self) -> dict[str, str]:
        """namespace/name -> uid of the pods assumed and not yet confirmed (read from the state)."""
        return self.state.assumed_keys()

    def _worth_requeuing(self, info: QueuedPodInfo, event: ClusterEvent) -> bool:
        """isPodWorthRequeuing with the events the pod's profile's plugins registered for."""
        profile = self.profiles.get(info.scheduler_name)
        registry = getattr(profile, "events_to_register", None) or EVENTS_TO_REGISTER
        return worth_requeuing(info.unschedulable_plugins, event, registry)

    def _informer_pod(self, key: str) -> dict[str, Any] | None:
        """The pod informer's current object (its lister), read before any re-queue."""
        return self.pod_reflector.get(key)

    def synced(self) -> bool:
        return all(r.synced.is_set() for r in self._reflectors())

    def _reflectors(self) -> list[Reflector]:
        return [self.node_reflector, self.pod_reflector, *self.object_reflectors, *self.volume_reflectors]

    # -- what the parts do (tests, the CLI and the benchmarks call these) ------------------------

    def run(self) -> int:
        """Run until terminated; returns the process exit code."""
        return self.lifecycle.run()

    def start_informers(self) -> None:
        self.lifecycle.start_informers()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self.lifecycle.wait_for_sync(timeout)

    def request_stop(self) -> None:
        self.lifecycle.request_stop()

    def schedule_one(self, info: QueuedPodInfo) -> None:
        self.scheduling.schedule_one(info)

    def compare_cache(self) -> list[str]:
        return self.cache_debugger.compare()

    def debug_cache(self) -> list[str]:
        """SIGUSR2: log every difference between the cache and the API, then dump the queue."""
        return self.cache_debugger.debug()


def _nominator(profiles: Mapping[str, Any]) -> Nominator:
    """The Nominator the profiles share (core.framework.Nominator), or a stand-in without profiles."""
    for profile in profiles.values():
        handle = getattr(profile, "handle", None)
        if handle is not None:
            return handle.nominator
    return Nominator()
