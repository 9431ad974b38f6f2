"""The scheduling queue: active, backoff and unschedulable pods, as kube-scheduler keeps them.

* **active**: pods ready to be tried, in the order of the profiles' QueueSort plugin (PrioritySort:
  highest `spec.priority` first, then the earliest time the pod entered the queue), then arrival;
* **backoff**: pods that failed recently wait `podInitialBackoffSeconds * 2^(attempts-1)`, capped
  at `podMaxBackoffSeconds`, before they are active again;
* **unschedulable**: pods no node could take. They only come back on a cluster event one of the
  plugins that rejected them registered for (core.events, isPodWorthRequeuing) and at the latest
  after 5 minutes;
* **gated**: pods with `spec.schedulingGates` wait until the gates are removed.

A pod being scheduled is "in flight": an update to it (a new resourceVersion) sends it to the
active queue when its attempt fails, as upstream's Update puts a pod found in no queue into
activeQ; and if a cluster event arrives during its attempt, a failure sends it to backoff rather
than to unschedulable (it may fit now: kube-scheduler's moveRequestCycle rule).

Time comes from an injected monotonic clock; the periodic flushes are plain methods that the
scheduler calls from a timer thread and tests call directly.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.core.events import EVENTS, ClusterEvent, worth_requeuing
from scheduler.core.podutil import has_scheduling_gates, pod_key, pod_priority, resource_version, scheduler_name

__all__ = [
    "QueuedPodInfo",
    "SchedulingQueue",
    "ACTIVE",
    "BACKOFF",
    "UNSCHEDULABLE",
    "GATED",
]

ACTIVE, BACKOFF, UNSCHEDULABLE, GATED, IN_FLIGHT = "active", "backoff", "unschedulable", "gated", "inflight"
# kube-scheduler's DefaultPodMaxInUnschedulablePodsDuration.
MAX_IN_UNSCHEDULABLE_SECONDS = 300.0
# Plugins whose verdict may change when another pod is *added* to a node.
_POD_ADD_SENSITIVE = frozenset({"InterPodAffinity", "PodTopologySpread"})


def _worth_requeuing(plugins: Iterable[str], event: ClusterEvent) -> bool:
    return worth_requeuing(plugins, event)


@dataclass
class QueuedPodInfo:
    """A pod plus what the queue knows about its scheduling history."""

    pod: dict[str, Any]
    key: str
    timestamp: float  # when it last entered a queue (for backoff and the 5-minute rule)
    seq: int  # arrival order, the last tie-breaker
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: frozenset[str] = frozenset()
    enqueued_at: float = 0.0  # first time the queue saw it (SLI start when never attempted)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def priority(self) -> int:
        return pod_priority(self.pod)

    @property
    def created(self) -> str:
        # RFC 3339 UTC timestamps from the API server sort correctly as strings.
        return str((self.pod.get("metadata") or {}).get("creationTimestamp") or "")

    @property
    def scheduler_name(self) -> str:
        return scheduler_name(self.pod)


LessFunc = Callable[[Any, Any], bool]


def priority_sort_less(a: Any, b: Any) -> bool:
    """PrioritySort.Less (queuesort/priority_sort.go) on queued pods: priority, then queue timestamp."""
    pa = pod_priority(a.pod)
    pb = pod_priority(b.pod)
    return pa > pb or (pa == pb and a.timestamp < b.timestamp)


@dataclass(frozen=True)
class _Queued:
    """What the QueueSort plugin compares, frozen at push time so heap entries never change order."""

    pod: dict[str, Any]
    timestamp: float


class _SortKey:
    __slots__ = ("item", "seq", "less")

    def __init__(self, item: _Queued, seq: int, less: LessFunc) -> None:
        self.item, self.seq, self.less = item, seq, less

    def __lt__(self, other: "_SortKey") -> bool:
        if self.less(self.item, other.item):
            return True
        if self.less(other.item, self.item):
            return False
        return self.seq < other.seq  # a tie: arrival order


def _significant(pod: Mapping[str, Any]) -> tuple[Any, Any]:
    """What counts as a real change (kube-scheduler's isPodUpdated ignores these fields)."""
    meta = {k: v for k, v in (pod.get("metadata") or {}).items()
            if k not in ("resourceVersion", "generation", "managedFields")}
    return meta, pod.get("spec")


class SchedulingQueue:
    def __init__(
        self,
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_incoming: Callable[[str, str], None] | None = None,
        max_unschedulable_seconds: float = MAX_IN_UNSCHEDULABLE_SECONDS,
        less: LessFunc = priority_sort_less,
        worth_requeuing: Callable[[QueuedPodInfo, ClusterEvent], bool] | None = None,
    ) -> None:
        self.initial_backoff = float(initial_backoff)
        self.max_backoff = float(max_backoff)
        self.max_unschedulable_seconds = max_unschedulable_seconds
        self._clock = clock
        # The profiles' QueueSort plugin (all profiles share one, config validation ensures it).
        self._less = less
        # isPodWorthRequeuing: by default the v1.29 in-tree plugins' registered events.
        self._worth = worth_requeuing or (lambda info, event: _worth_requeuing(info.unschedulable_plugins, event))
        self._on_incoming = on_incoming or (lambda queue, event: None)
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._info: dict[str, QueuedPodInfo] = {}
        self._where: dict[str, str] = {}
        # Index of the unschedulable pods, so that cluster events (one per bound pod) cost
        # O(unschedulable), not O(all pending pods).
        self._parked: dict[str, None] = {}
        # Heaps with lazy deletion: an entry is live only if its token is still current.
        self._active: list[tuple[Any, ...]] = []
        self._backoff: list[tuple[Any, ...]] = []
        self._token: dict[str, int] = {}
        self._tokens = itertools.count()
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._closed = False

    # -- helpers (lock held) -----------------------------------------------------------------

    def _locate(self, key: str, where: str) -> None:
        self._where[key] = where
        if where == UNSCHEDULABLE:
            self._parked[key] = None
        else:
            self._parked.pop(key, None)

    def _forget(self, key: str) -> None:
        self._info.pop(key, None)
        self._where.pop(key, None)
        self._token.pop(key, None)
        self._parked.pop(key, None)

    def _push_active(self, info: QueuedPodInfo, event: str) -> None:
        token = next(self._tokens)
        self._token[info.key] = token
        self._locate(info.key, ACTIVE)
        sort_key = _SortKey(_Queued(info.pod, info.timestamp), info.seq, self._less)
        heapq.heappush(self._active, (sort_key, token, info.key))
        self._on_incoming(ACTIVE, event)
        self._nonempty.notify()

    def _push_backoff(self, info: QueuedPodInfo, event: str) -> None:
        token = next(self._tokens)
        self._token[info.key] = token
        self._locate(info.key, BACKOFF)
        heapq.heappush(self._backoff, (self.backoff_expiry(info), info.seq, token, info.key))
        self._on_incoming(BACKOFF, event)

    def _park(self, info: QueuedPodInfo, where: str, event: str) -> None:
        self._token.pop(info.key, None)
        self._locate(info.key, where)
        if where == UNSCHEDULABLE:
            self._on_incoming(UNSCHEDULABLE, event)

    def _active_or_backoff(self, info: QueuedPodInfo, event: str) -> None:
        if self._is_backing_off(info):
            self._push_backoff(info, event)
        else:
            self._push_active(info, event)

    def _is_backing_off(self, info: QueuedPodInfo) -> bool:
        return info.attempts > 0 and self.backoff_expiry(info) > self._clock()

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """initial * 2^(attempts-1), capped at max (kube-scheduler's calculateBackoffDuration)."""
        duration = self.initial_backoff
        for _ in range(1, max(1, info.attempts)):
            if duration > self.max_backoff - duration:
                return self.max_backoff
            duration += duration
        return min(duration, self.max_backoff)

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    # -- informer side -----------------------------------------------------------------------

    def add(self, pod: dict[str, Any]) -> None:
        """A new pending pod (or one seen again after a re-list)."""
        key = pod_key(pod)
        with self._lock:
            if key in self._info:
                self._update_locked(self._info[key], pod)
                return
            now = self._clock()
            info = QueuedPodInfo(pod=pod, key=key, timestamp=now, seq=next(self._seq), enqueued_at=now)
            self._info[key] = info
            if has_scheduling_gates(pod):
                self._park(info, GATED, "PodAdd")
            else:
                self._push_active(info, "PodAdd")

    def update(self, pod: dict[str, Any]) -> None:
        """A pending pod changed; keep its place unless the change may make it schedulable."""
        with self._lock:
            info = self._info.get(pod_key(pod))
            if info is not None:
                self._update_locked(info, pod)
                return
        self.add(pod)

    def _update_locked(self, info: QueuedPodInfo, pod: dict[str, Any]) -> None:
        old = info.pod
        info.pod = pod
        where = self._where[info.key]
        if where == ACTIVE:
            if pod_priority(old) != info.priority:
                self._push_active(info, "PodUpdate")  # re-sort; the old heap entry goes stale
        elif where == GATED:
            if not has_scheduling_gates(pod):
                self._push_active(info, "PodUpdate")
        elif where == UNSCHEDULABLE:
            if _significant(old) != _significant(pod):
                self._active_or_backoff(info, "PodUpdate")
        elif where == IN_FLIGHT and resource_version(old) != resource_version(pod):
            # Upstream's Update finds the pod in no queue and adds it to activeQ; the failing
            # attempt's AddUnschedulableIfNotPresent then finds it there and leaves it active.
            info.extra["updated_in_flight"] = True
        # BACKOFF keeps its expiry.

    def delete(self, pod: Mapping[str, Any]) -> None:
        """The pod is gone, or was bound: forget it wherever it is (also while in flight)."""
        key = pod_key(pod)
        with self._lock:
            self._forget(key)

    def move_all_to_active_or_backoff(self, event: str, only_plugins: Iterable[str] | None = None,
                                      pre_check: Callable[[Mapping[str, Any]], bool] | None = None) -> int:
        """A cluster event that may help unschedulable pods: give those it may help another try
        (moveAllToActiveOrBackoffQueue; each pod filtered by isPodWorthRequeuing).

        With `only_plugins`, also require a rejection by one of those plugins; with `pre_check`
        (upstream's PreEnqueueCheck), only pods it accepts are considered. Returns how many moved.
        """
        wanted = frozenset(only_plugins) if only_plugins is not None else None
        cluster_event = EVENTS.get(event) or ClusterEvent("*", (1 << 6) - 1, event)
        moved = 0
        with self._lock:
            for key in list(self._parked):
                info = self._info[key]
                if pre_check is not None and not pre_check(info.pod):
                    continue
                if wanted is not None and not (info.unschedulable_plugins & wanted):
                    continue
                if not self._worth(info, cluster_event):
                    continue
                self._active_or_backoff(info, event)
                moved += 1
            # Pods failing in the current cycle must not be parked as unschedulable.
            self._move_request_cycle = self.scheduling_cycle
        return moved

    def assigned_pod_added(self) -> int:
        return self.move_all_to_active_or_backoff("AssignedPodAdd", _POD_ADD_SENSITIVE)

    # -- scheduler side ----------------------------------------------------------------------

    def pop(self, timeout: float | None = None) -> QueuedPodInfo | None:
        """The next pod to schedule; blocks until there is one. None when closed or timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._closed:
                    return None
                while self._active:
                    _, token, key = heapq.heappop(self._active)
                    if self._token.get(key) != token or self._where.get(key) != ACTIVE:
                        continue
                    info = self._info[key]
                    del self._token[key]
                    self._locate(key, IN_FLIGHT)
                    info.attempts += 1
                    if info.initial_attempt_timestamp is None:
                        info.initial_attempt_timestamp = self._clock()
                    self.scheduling_cycle += 1
                    info.extra["cycle"] = self.scheduling_cycle
                    return info
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._nonempty.wait(remaining)

    def done(self, info: QueuedPodInfo) -> None:
        """The attempt ended with the pod bound (or handed to the binder): stop tracking it."""
        with self._lock:
            if self._info.get(info.key) is info and self._where.get(info.key) == IN_FLIGHT:
                self._forget(info.key)

    def add_unschedulable(self, info: QueuedPodInfo, plugins: Iterable[str] = ()) -> str | None:
        """The attempt found no node. Returns the queue the pod went to, None if it was dropped."""
        with self._lock:
            if self._info.get(info.key) is not info or self._where.get(info.key) != IN_FLIGHT:
                return None  # deleted or bound meanwhile
            info.unschedulable_plugins = frozenset(plugins)
            if self._take_in_flight_update(info):
                return ACTIVE
            info.timestamp = self._clock()
            cycle = int(info.extra.get("cycle", 0))
            if not info.unschedulable_plugins or self._move_request_cycle >= cycle:
                self._push_backoff(info, "ScheduleAttemptFailure")
                return BACKOFF
            self._park(info, UNSCHEDULABLE, "ScheduleAttemptFailure")
            return UNSCHEDULABLE

    def requeue_backoff(self, info: QueuedPodInfo, event: str = "ScheduleAttemptFailure") -> str | None:
        """The attempt failed for another reason (an error, a failed bind): retry after backoff."""
        with self._lock:
            if self._info.get(info.key) is not info:
                # A bind failing after `done()`: the pod is known again only if still pending.
                return None
            if self._where.get(info.key) == IN_FLIGHT and self._take_in_flight_update(info):
                return ACTIVE
            info.timestamp = self._clock()
            self._push_backoff(info, event)
            return BACKOFF

    def readd_after_bind_failure(self, info: QueuedPodInfo, pod: dict[str, Any] | None = None) -> str | None:
        """A bind failed after the attempt was handed over: track the pod again, with backoff.

        `pod` is the informer's current object (handleSchedulingFailure re-reads it): the retry
        schedules what the pod is now, not what it was when the attempt began.
        """
        with self._lock:
            if info.key in self._info:
                return None  # the informer re-added it meanwhile
            if pod is not None:
                info.pod = pod
            info.timestamp = self._clock()
            self._info[info.key] = info
            self._push_backoff(info, "BindFailure")
            return BACKOFF

    def _take_in_flight_update(self, info: QueuedPodInfo) -> bool:
        """An update arrived during the attempt: the pod goes straight to active, as a fresh
        QueuedPodInfo would (upstream's Update built one: attempts and timestamps start over)."""
        if not info.extra.pop("updated_in_flight", False):
            return False
        info.attempts = 0
        info.initial_attempt_timestamp = None
        info.timestamp = self._clock()
        self._push_active(info, "PodUpdate")
        return True

    def dump(self) -> dict[str, list[str]]:
        """Every tracked pod by queue (the cache debugger's queue dump, dumper.go dumpSchedulingQueue)."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for key, where in sorted(self._where.items()):
                out.setdefault(where, []).append(key)
            return out

    def flush_backoff_completed(self) -> int:
        """Move pods whose backoff has expired to active (every second in kube-scheduler)."""
        moved = 0
        with self._lock:
            now = self._clock()
            while self._backoff:
                expiry, _, token, key = self._backoff[0]
                if self._token.get(key) != token or self._where.get(key) != BACKOFF:
                    heapq.heappop(self._backoff)
                    continue
                if expiry > now:
                    break
                heapq.heappop(self._backoff)
                self._push_active(self._info[key], "BackoffComplete")
                moved += 1
        return moved

    def flush_unschedulable_left_over(self) -> int:
        """Pods unschedulable for longer than 5 minutes get another try regardless of events."""
        moved = 0
        with self._lock:
            now = self._clock()
            for key in list(self._parked):
                info = self._info[key]
                if now - info.timestamp > self.max_unschedulable_seconds:
                    self._active_or_backoff(info, "UnschedulableTimeout")
                    moved += 1
        return moved

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._nonempty.notify_all()

    # -- introspection -----------------------------------------------------------------------

    def where(self, key: str) -> str | None:
        with self._lock:
            return self._where.get(key)

    def pending_counts(self) -> dict[str, int]:
        """Sizes for scheduler_pending_pods{queue}."""
        with self._lock:
            counts = Counter(self._where.values())
        return {q: counts.get(q, 0) for q in (ACTIVE, BACKOFF, UNSCHEDULABLE, GATED)}

    def unschedulable_by_plugin(self) -> dict[tuple[str, str], int]:
        """(plugin, profile) -> pods held back by that plugin, for scheduler_unschedulable_pods."""
        counts: Counter[tuple[str, str]] = Counter()
        with self._lock:
            for key in self._parked:
                info = self._info[key]
                for plugin in info.unschedulable_plugins:
                    counts[(plugin, info.scheduler_name)] += 1
        return dict(counts)

    def __len__(self) -> int:
        with self._lock:
            return len(self._where)
