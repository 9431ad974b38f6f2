"""Wiring: the I/O shell around the pure decision core, as one long-running scheduler process.

Threads, and who talks to whom:

    reflectors (nodes, pods, workload objects) --events--> ClusterState (its own lock) + queue
    scheduling loop: queue.pop -> core.cycle.schedule_pod (decide, assume, Reserve) -> Binder
    bind workers: fence check -> POST pods/binding -> events, metrics; failures -> forget + requeue
    leader elector: Lease renewals; starts the scheduling loop when leading, ends the process when not
    HTTP server: /healthz /livez /readyz /metrics

Start-up follows kube-scheduler: informers first, caches synced, *then* campaign for the Lease.
Termination:
* SIGTERM/SIGINT: close the fence (no new bind leaves), wait for binds on the wire, release the
  Lease, exit 0 (a standby takes over within about a second);
* Lease lost: the fence is already closed (it closes on its own at renewDeadline); exit 1 at once.
"""

from __future__ import annotations

import gc
import logging
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.core.cachecompare import compare_cache
from scheduler.core.events import EVENTS_TO_REGISTER, ClusterEvent, worth_requeuing
from scheduler.core.cycle import schedule_pod, unreserve
from scheduler.core.podutil import is_assigned, is_terminating, pod_key, pod_uid, scheduler_name
from scheduler.core.state import AlreadyInCache
from scheduler.runtime.binder import (
    Binder,
    BindError,
    BindJob,
    EventRecorder,
    NotLeader,
    PreBindError,
    bind_failure_message,
)
from scheduler.runtime.handlers import (
    WORKLOAD_INFORMERS,
    LeaseNudger,
    NodeEventHandler,
    ObjectEventHandler,
    PodEventHandler,
)
from scheduler.runtime.informer import NON_TERMINAL_PODS, KubeListWatch, ListWatchApi, Reflector
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import ApiError, KubeClient
from scheduler.runtime.leader import KubeLeaseStore, LeaderElector
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.preemption import NominationTracker, Preemptor, status_patch
from scheduler.runtime.queue import QueuedPodInfo, SchedulingQueue, priority_sort_less
from scheduler.runtime.auth import DelegatedAuth
from scheduler.runtime.server import Checks, ProbeServer
from scheduler.runtime.volumes import VOLUME_INFORMERS, VolumeEventHandler, VolumePreBinder

__all__ = ["SchedulerApp", "ServingOptions", "CLIENT_POOL_SIZE", "tune_gc"]

log = logging.getLogger("scheduler.runtime.app")

# kube-scheduler binds each pod in its own goroutine, so with the client rate limit lifted hundreds
# of binds wait in the API server at once. A bind worker is a thread that mostly waits on a socket,
# and how many are in flight sets the throughput once the API server is the bottleneck: it splits
# its CPU between the binds and its other clients' writes (kubelets' status updates) by how many
# of each are waiting. Measured in alternation with kube-scheduler v1.29.15 (500 kwok nodes, 2,000
# pods, 2 cores, qps lifted, 2 runs of 3 rounds): 64 workers bound 185-263 pods/s, 192 bound
# 282-313 in all 6 rounds, 384 bound 248-286 at more CPU per pod (2.3-2.8 ms against 1.8-2.1:
# thread switching); kube-scheduler 201-306. Threads start only as binds arrive (ThreadPoolExecutor).
BIND_WORKERS = 192
# Unary connections kept alive: one per bind worker, plus the reflectors' watches. A worker finding
# the pool short opens a new connection, and a TLS handshake costs the API server an RSA signature.
CLIENT_POOL_SIZE = BIND_WORKERS + 8
# client-go's recorder writes every event in its own goroutine. With 8 threads, the 500-node
# benchmark's 2,000-pod burst had 271-313 Scheduled events written when the last pod was bound
# (kube-scheduler: 1,886-2,000), and the 1,000-event backlog overflowed: under load an event write
# waits as long as a bind, so events need as many writes in flight as binds.
EVENT_WORKERS = BIND_WORKERS
UNSCHEDULABLE_FLUSH_PERIOD = 30.0
BACKOFF_FLUSH_PERIOD = 1.0
BIND_TIMEOUT = 10.0  # the whole bind request, connect and read
CACHE_COMPARE_PAGE_SIZE = 500  # the informers' page size (client-go's pager default)


# The cyclic collector's thresholds for the scheduler process (CPython's default: 700, 10, 10).
# Every watch event decodes into a few hundred containers, so the default runs a young collection
# every few pods and a full one — a walk over every cached pod and node — every few hundred: in
# the 500-node benchmark 0.2 ms of CPU per pod. Reference counting frees all of that anyway (JSON
# objects hold no cycles); only the rare cycles (exceptions with their frames) wait a bit longer.
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """Collect cycles less often (see GC_THRESHOLDS); decisions do not depend on it."""
    gc.set_threshold(*GC_THRESHOLDS)


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


@dataclass
class _Exit:
    code: int | None = None
    event: threading.Event = field(default_factory=threading.Event)

    def set(self, code: int) -> None:
        if self.code is None:
            self.code = code
        self.event.set()


class SchedulerApp:
    """One scheduler process: build with `SchedulerApp(config, profiles, kube=...)`, then `run()`."""

    def __init__(
        self,
        config: Any,
        profiles: Mapping[str, Any],
        *,
        kube: KubeClient,
        state: Any,
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
        self._exit = _Exit()
        self._stopping = threading.Event()
        self._scheduling_started = threading.Event()
        self._random_profiles = {name for name, p in self.profiles.items() if is_random_profile(p)}

        lw = list_watch or KubeListWatch(kube)
        self.node_reflector = Reflector(lw, name="nodes", path="/api/v1/nodes", kind="Node",
                                        handler=NodeEventHandler(state, self.queue))
        self.pod_reflector = Reflector(
            lw, name="pods", path="/api/v1/pods", field_selector=NON_TERMINAL_PODS, kind="Pod",
            handler=NominationTracker(PodEventHandler(state, self.queue, self._responsible),
                                      self._nominator(), self._responsible))
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
                on_started_leading=self._start_scheduling,
                on_stopped_leading=self._stopped_leading,
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
        self.binder = Binder(kube, can_act=self.can_act, on_done=self._bind_done, workers=BIND_WORKERS,
                             request_timeout=bind_timeout)
        self.preemptor = Preemptor(self.binder.fenced, self.events)  # victims pass the binds' fence
        self.volume_prebinder = VolumePreBinder(
            state, write=self.binder.write, changed=self._volumes_changed, stopping=self._stopping,
            pod_exists=lambda pod: self._informer_pod(pod_key(pod)) is not None)

        self.metrics.snapshot.pending = self.queue.pending_counts
        self.metrics.snapshot.unschedulable = self.queue.unschedulable_by_plugin
        self.metrics.snapshot.cache_size = self._cache_sizes
        self.server = ProbeServer(
            self.metrics,
            Checks(synced=self.synced, leader=self.elector.check if self.elector else (lambda: None),
                   shutting_down=self._stopping.is_set),
            bind_address=self.serving.bind_address, port=self.serving.port,
            secure_port=self.serving.secure_port, auth=self.serving.auth)

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

    def _cache_sizes(self) -> dict[str, int]:
        return self.state.sizes()

    # -- lifecycle ---------------------------------------------------------------------------

    def start_informers(self) -> None:
        for reflector in self._reflectors():
            reflector.start()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for reflector in self._reflectors():
            while not reflector.synced.wait(0.2):
                if self._stopping.is_set() or (deadline is not None and time.monotonic() > deadline):
                    return False
        return True

    def run(self) -> int:
        """Run until terminated; returns the process exit code."""
        self._install_signals()
        self.server.start()
        self.start_informers()
        if not self.wait_for_sync():
            return 0 if self._exit.code is None else self._exit.code
        log.info(kv("Caches are synced", nodes=self.state.num_nodes))
        threading.Thread(target=self._flush_loop, name="queue-flush", daemon=True).start()
        threading.Thread(target=self.events.run_series_ticker, args=(self._stopping,), name="event-series",
                         daemon=True).start()
        if self.elector is not None:
            if self.lease_reflector is not None:
                self.lease_reflector.start()
            threading.Thread(target=self.elector.run, name="leader-election", daemon=True).start()
        else:
            self._start_scheduling()
        while not self._exit.event.wait(0.5):  # a timed wait keeps signal handlers responsive
            pass
        return self._exit.code or 0

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.request_stop())
        # kube-scheduler's cache debugger (internal/cache/debugger/signal.go): compare and dump.
        signal.signal(signal.SIGUSR2, lambda signum, frame: threading.Thread(
            target=self.debug_cache, name="cache-debugger", daemon=True).start())

    def request_stop(self) -> None:
        """SIGTERM: stop sending binds, let those on the wire finish, then release and exit 0."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        log.info("Received termination request, stopping")
        threading.Thread(target=self._terminate, name="terminate", daemon=True).start()

    def _terminate(self) -> None:
        """Drain, then release, within a bounded total: binds on the wire are answered or abandoned
        within the bind timeout, the release round within renewDeadline (client-go bounds it by
        the same context), events get a second."""
        if self.elector is None:
            self._drain()
            self.events.flush(1.0)
            self._exit.set(0)
            return
        self.elector.fence()
        self._drain()
        # Release first, as kube-scheduler's ReleaseOnCancel does the moment its context ends: the
        # standby takes over while our queued events are flushed (in _stopped_leading).
        self.elector.stop()  # its thread releases the Lease and calls _stopped_leading(True)
        if not self._exit.event.wait(self.elector.renew_deadline + 2.0):
            log.warning("Lease release did not finish in time; exiting anyway")
            self._exit.set(0)

    def _drain(self) -> None:
        self.queue.close()
        if not self.binder.wait_until_nothing_in_flight(self.binder.request_timeout + 1.0):
            log.warning("Binds still in flight after their timeout; exiting anyway")

    # -- the cache debugger --------------------------------------------------------------------

    def compare_cache(self) -> list[str]:
        """The cache's differences from the API's current truth (empty when exact)."""
        nodes = self._list_paged("/api/v1/nodes", {})
        pods = self._list_paged("/api/v1/pods", {"fieldSelector": NON_TERMINAL_PODS})
        return compare_cache(self.state, nodes, pods)

    def _list_paged(self, path: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a collection, CACHE_COMPARE_PAGE_SIZE at a time (limit/continue), as the
        informers' lists are: one answer for a large cluster's pods could pass the HTTP client's
        body cap. A continue token that expired mid-list (410) starts the list over, as the
        informer's pager does."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page_query: dict[str, Any] = {**query, "limit": CACHE_COMPARE_PAGE_SIZE}
            if token:
                page_query["continue"] = token
            try:
                page = self.kube.request("GET", path, query=page_query)
            except ApiError as exc:
                if exc.status == 410 and token:
                    items, token = [], None
                    continue
                raise
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    def debug_cache(self) -> list[str]:
        """SIGUSR2: log every difference between the cache and the API, then dump the queue
        (CacheDebugger.Compare + Dumper.DumpAll)."""
        log.info("Starting the cache comparison")
        try:
            diffs = self.compare_cache()
        except Exception as exc:
            log.error(kv("Cache comparison failed", err=str(exc)))
            return [f"comparison failed: {exc}"]
        for diff in diffs:
            log.info(kv("Cache mismatch", diff=diff))
        log.info(kv("Cache comparison done", differences=len(diffs)))
        for where, keys in self.queue.dump().items():
            log.info(kv("Dump of scheduling queue", queue=where, pods=",".join(keys)))
        return diffs

    def _stopped_leading(self, requested: bool) -> None:
        if requested or self._stopping.is_set():
            log.info("Requested to terminate, exiting")
            self.events.flush(1.0)
            self._exit.set(0)
            return
        log.error("Leaderelection lost")
        self.queue.close()
        self._exit.set(1)

    def _start_scheduling(self) -> None:
        if self._scheduling_started.is_set():
            return
        self._scheduling_started.set()
        threading.Thread(target=self._scheduling_loop, name="scheduler", daemon=True).start()

    def _flush_loop(self) -> None:
        last_unschedulable = time.monotonic()
        while not self._stopping.wait(BACKOFF_FLUSH_PERIOD):
            self.queue.flush_backoff_completed()
            if time.monotonic() - last_unschedulable >= UNSCHEDULABLE_FLUSH_PERIOD:
                self.queue.flush_unschedulable_left_over()
                last_unschedulable = time.monotonic()

    # -- scheduling --------------------------------------------------------------------------

    def _scheduling_loop(self) -> None:
        log.info(kv("Starting scheduling", profiles=",".join(self.profiles)))
        while not self._stopping.is_set() and self._exit.code is None:
            if not self.can_act():
                # Renewal is late: schedule nothing until it succeeds or leadership is lost.
                self._stopping.wait(0.05)
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
            fresh = self._informer_pod(info.key)
            if fresh is None or pod_uid(fresh) != pod_uid(pod) or is_assigned(fresh):
                self.queue.done(info)
            else:
                self.queue.requeue_backoff(info)
            self._report_failure(pod, message, "SchedulerError", name)
            return
        except Exception as exc:
            log.exception(kv("Error scheduling pod; retrying", pod=info.key))
            self.metrics.attempt("error", name, time.perf_counter() - started)
            self.queue.requeue_backoff(info)
            self._report_failure(pod, f"running scheduling cycle: {exc}", "SchedulerError", name)
            return
        self.metrics.algorithm_duration.observe(time.perf_counter() - started)
        if not result.node:
            self._unschedulable(info, result, name, started)
            return
        self.queue.done(info)
        self.binder.submit(BindJob(pod=pod, node=result.node, scheduler_name=name, started=started,
                                   context={"info": info, "result": result, "profile": profile},
                                   pre_bind=self._pre_bind_step(profile, pod, result)))

    def _pre_bind_step(self, profile: Any, pod: Mapping[str, Any], result: Any) -> Callable[[], None] | None:
        """The binding cycle's PreBind, run on the bind worker: the core decides (plans), the shell acts."""
        cycle = getattr(result, "cycle", None)
        if cycle is None or not getattr(profile, "pre_bind_plugins", None):
            return None

        def run() -> None:
            plans, failure = profile.run_pre_bind(cycle, pod, result.node)
            if failure is not None:
                raise PreBindError(failure.message, rejected=failure.is_unschedulable())
            for plugin, plan in plans:
                if plugin == "VolumeBinding":
                    self.volume_prebinder.run(plugin, plan)
                else:
                    raise PreBindError(f'running PreBind plugin "{plugin}": no executor for its plan')

        return run

    def _unschedulable(self, info: QueuedPodInfo, result: Any, name: str, started: float) -> None:
        """No node: FailedScheduling event, PodScheduled=False, and the pod waits for a change.

        A scheduler error (no nodes at all) is reported the same way with reason SchedulerError
        and retried after backoff, as kube-scheduler's handleSchedulingFailure does.
        """
        pod = info.pod
        message = str(result.message or "")
        nominated = self._preempt(pod, result, name)
        failed = getattr(result, "status", "unschedulable") == "error"
        plugins = () if failed else tuple(getattr(result, "unschedulable_plugins", ()) or ())
        reason = "SchedulerError" if failed else "Unschedulable"
        self.metrics.attempt("error" if failed else "unschedulable", name, time.perf_counter() - started)
        self.queue.add_unschedulable(info, plugins)  # no plugins: backoff, not the unschedulable pool
        if failed:
            log.error(kv("Error scheduling pod; retrying", pod=info.key, err=message))
        else:
            log_s(log, V(2), "Unable to schedule pod; no fit; waiting", pod=info.key, err=message)
        self.events.failed_scheduling(pod, message, name)
        patch = status_patch(pod, message, reason, nominated, bool(getattr(result, "clear_nomination", False)))
        if patch is not None:
            self.binder.run_in_pool(lambda: self.binder.patch_status(pod, patch))

    def _nominator(self) -> Any:
        """The Nominator the profiles share (core.framework.Nominator), or a stand-in without profiles."""
        for profile in self.profiles.values():
            handle = getattr(profile, "handle", None)
            if handle is not None:
                return handle.nominator
        from scheduler.core.framework import Nominator
        return Nominator()

    def _preempt(self, pod: Mapping[str, Any], result: Any, name: str) -> str | None:
        """DefaultPreemption chose a node: evict its victims now (prepareCandidate); the nominated node."""
        node = getattr(result, "nominated_node", None)
        if getattr(result, "clear_nomination", False):
            self._nominator().delete(pod)
        if not node or not self.can_act():
            return None
        self._nominator().add(pod, node)  # AddNominatedPod, before the victims' deletions arrive
        victims = self.state.pods_on_node(node, getattr(result, "victims", ()) or ())
        return node if self.preemptor.evict(pod, node, victims, name) else None

    def _bind_done(self, job: BindJob, error: BindError | None) -> None:
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
            if job.scheduler_name in self._random_profiles:
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
            fresh = self._informer_pod(info.key)
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
        fresh = self._informer_pod(key)
        if fresh is None or pod_uid(fresh) != pod_uid(job.pod):
            log.info(kv("Pod doesn't exist in informer cache", pod=key))
        elif is_assigned(fresh):
            log.info(kv("Pod has been assigned to node. Abort adding it back to queue.", pod=key,
                        node=(fresh.get("spec") or {}).get("nodeName")))
        else:
            self.queue.readd_after_bind_failure(info, fresh)
        self._report_failure(job.pod, message, reason, job.scheduler_name)

    def _report_failure(self, pod: Mapping[str, Any], message: str, reason: str, scheduler_name: str) -> None:
        """The end of handleSchedulingFailure for a failure that nominates nothing (an error, or a
        rejection after the scheduling cycle): the FailedScheduling event, then updatePod with
        PodScheduled=False and the nomination cleared (clearNominatedNode). Upstream sends both
        whether or not the pod was re-queued."""
        self.events.failed_scheduling(pod, message, scheduler_name)
        patch = status_patch(pod, message, reason, None, True)
        if patch is not None:
            self.binder.run_in_pool(lambda: self.binder.patch_status(pod, patch))
