"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

Python client 29.0.0 has only a ConfigMap lock with known bugs (python-client.md §1.3), so this is
a small port of client-go's `tools/leaderelection`:

* a candidate takes the Lease when it is free (`holderIdentity` empty) or when the record has not
  changed for `leaseDurationSeconds` *as observed on the candidate's own monotonic clock* (never
  by comparing timestamps written by another machine);
* every write is optimistic: an update carries the resourceVersion that was read, so two
  candidates can never both win; a change of holder increments `leaseTransitions`;
* the leader renews every `retryPeriod`; if it cannot renew within `renewDeadline` it stops
  leading (the scheduler then exits 1, as kube-scheduler does);
* on a requested stop (SIGTERM) the leader releases the Lease (`holderIdentity: ""`,
  `leaseDurationSeconds: 1`) so a standby takes over at once.

On top of client-go, `can_act()` is a fence for every bind: it is true only while the last
successful renewal *started* less than `renewDeadline` ago. Since others wait `leaseDuration`
(> renewDeadline) from when *they* saw that renewal, a bind sent while the fence is open is sent
while nobody else can be leading. Standbys also retry exactly when the observed lease would
expire, and can be nudged (a Lease watch does that) to retry at once when the Lease is released.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from scheduler.runtime.klog import V
from scheduler.runtime.kube import ApiError, KubeClient

__all__ = [
    "LeaderElectionRecord",
    "LeaseStore",
    "KubeLeaseStore",
    "LeaderElector",
    "micro_time",
]

log = logging.getLogger("scheduler.leaderelection")

JITTER_FACTOR = 1.2  # client-go's JitterFactor for the acquire loop
WATCHDOG_TOLERANCE = 20.0  # kube-scheduler's NewLeaderHealthzAdaptor(20 * time.Second)


def micro_time(when: float | None = None) -> str:
    """A metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionRecord:
    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaderElectionRecord:
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.lease_transitions,
        }


class LeaseStore(Protocol):
    """Where the record lives. Errors are `ApiError` (404 from get means "no lease yet")."""

    def describe(self) -> str: ...

    def get(self) -> tuple[LeaderElectionRecord, str]:
        """The current record and its raw form (used to detect changes)."""
        ...

    def create(self, record: LeaderElectionRecord) -> None: ...

    def update(self, record: LeaderElectionRecord) -> None:
        """Write the record conditionally on the resourceVersion last read (409 if it changed)."""
        ...


class KubeLeaseStore:
    """The Lease object through the API server."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self._lease: dict[str, Any] | None = None
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self) -> tuple[LeaderElectionRecord, str]:
        lease = self._kube.request("GET", f"{self._path}/{self.name}")
        self._lease = lease
        spec = lease.get("spec") or {}
        return LeaderElectionRecord.from_spec(spec), json.dumps(spec, sort_keys=True)

    def create(self, record: LeaderElectionRecord) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        self._lease = self._kube.request("POST", self._path, body=body)

    def update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise ApiError(409, "lease not initialized, get or create it first")
        body = dict(self._lease)
        body["spec"] = record.to_spec()  # metadata keeps the resourceVersion read: optimistic write
        self._lease = self._kube.request("PUT", f"{self._path}/{self.name}", body=body)

    @property
    def lease(self) -> dict[str, Any] | None:
        return self._lease


class LeaderElector:
    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[bool], None] = lambda requested: None,
        on_leader_status: Callable[[bool], None] = lambda leading: None,
        record_event: Callable[[str], None] = lambda note: None,
    ) -> None:
        if not lease_duration > renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if not renew_deadline > JITTER_FACTOR * retry_period:
            raise ValueError("renewDeadline must be greater than retryPeriod*1.2")
        self.store = store
        self.identity = identity
        self.lease_duration = float(lease_duration)
        self.renew_deadline = float(renew_deadline)
        self.retry_period = float(retry_period)
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_status = on_leader_status
        self._record_event = record_event
        self._lock = threading.Lock()
        self._observed = LeaderElectionRecord()
        self._observed_raw: str | None = None
        self._observed_time = float("-inf")
        self._renewed_at = float("-inf")  # start of the last successful acquire/renew
        self._reported_leader = ""
        self._stop = threading.Event()
        self._nudge = threading.Event()
        self._fenced = False

    # -- observation -------------------------------------------------------------------------

    def _set_observed(self, record: LeaderElectionRecord, raw: str | None, at: float) -> None:
        with self._lock:
            self._observed = record
            self._observed_raw = raw
            self._observed_time = at

    def is_leader(self) -> bool:
        with self._lock:
            return bool(self.identity) and self._observed.holder_identity == self.identity

    def leader(self) -> str:
        with self._lock:
            return self._observed.holder_identity

    def _lease_valid(self, now: float) -> bool:
        return self._observed_time + self._observed.lease_duration_seconds > now

    def can_act(self) -> bool:
        """True while this process may write as the leader (the fence checked before each bind)."""
        with self._lock:
            leading = self._observed.holder_identity == self.identity
            return leading and not self._fenced and self._clock() - self._renewed_at < self.renew_deadline

    def fence(self) -> None:
        """Stop acting as leader now (before a release or an exit); renewals may continue."""
        with self._lock:
            self._fenced = True

    def check(self, tolerance: float = WATCHDOG_TOLERANCE) -> str | None:
        """client-go's HealthzAdaptor: an error only for a leader that stopped renewing long ago."""
        with self._lock:
            leading = self._observed.holder_identity == self.identity
            if leading and self._clock() > self._observed_time + self.lease_duration + tolerance:
                return f"failed election to renew leadership on lease {self.store.describe()}"
        return None

    # -- one round ---------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the lease (client-go's tryAcquireOrRenew)."""
        started = self._clock()
        wall = micro_time(self._wall())
        desired = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=int(round(self.lease_duration)),
            acquire_time=wall,
            renew_time=wall,
        )
        # Fast path: the leader renews with the resourceVersion it already has (no GET).
        if self.is_leader() and self._lease_valid(started):
            with self._lock:
                old = self._observed
            record = replace(desired, acquire_time=old.acquire_time, lease_transitions=old.lease_transitions)
            try:
                self.store.update(record)
                self._set_observed(record, None, started)
                self._renewed_at = started
                return True
            except ApiError as exc:
                log.log(V(4), f"Failed to update lock optimistically: {exc.message}, falling back to slow path")

        # 1. Obtain or create the record.
        try:
            current, raw = self.store.get()
        except ApiError as exc:
            if exc.status != 404:
                log.error(f"error retrieving resource lock {self.store.describe()}: {exc.message}")
                return False
            try:
                self.store.create(desired)
            except ApiError as create_exc:
                log.error(f"error initially creating leader election record: {create_exc.message}")
                return False
            self._set_observed(desired, None, started)
            self._renewed_at = started
            return True

        # 2. Record obtained: remember when it last changed, by our own clock.
        if raw != self._observed_raw:
            self._set_observed(current, raw, self._clock())
        if current.holder_identity and self._lease_valid(started) and not self.is_leader():
            log.log(V(4), f"lock is held by {current.holder_identity} and has not yet expired")
            return False

        # 3. Free, expired, or ours: try to write ourselves in.
        if self.is_leader():
            record = replace(desired, acquire_time=current.acquire_time,
                             lease_transitions=current.lease_transitions)
        else:
            record = replace(desired, lease_transitions=current.lease_transitions + 1)
        try:
            self.store.update(record)
        except ApiError as exc:
            log.error(f"Failed to update lock: {exc.message}")
            return False
        self._set_observed(record, None, started)
        self._renewed_at = started
        return True

    def release(self) -> bool:
        """Give the lease up so a standby can take it at once (client-go's ReleaseOnCancel)."""
        if not self.is_leader():
            return True
        self.fence()
        wall = micro_time(self._wall())
        with self._lock:
            transitions = self._observed.lease_transitions
        record = LeaderElectionRecord(holder_identity="", lease_duration_seconds=1, acquire_time=wall,
                                      renew_time=wall, lease_transitions=transitions)
        try:
            self.store.update(record)
        except ApiError as exc:
            log.error(f"Failed to release lock: {exc.message}")
            return False
        self._set_observed(record, None, self._clock())
        self._on_status(False)
        log.info(f"released lease {self.store.describe()}")
        return True

    # -- loops -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Requested termination: end the loops; a leader then releases the lease."""
        self._stop.set()
        self._nudge.set()

    def nudge(self) -> None:
        """Something about the lease changed: a standby retries now instead of after its period."""
        self._nudge.set()

    def _report_transition(self) -> None:
        leader = self.leader()
        if leader and leader != self._reported_leader:
            self._reported_leader = leader
            log.log(V(2), f"new leader elected: {leader}")

    def _acquire(self) -> bool:
        desc = self.store.describe()
        log.info(f"attempting to acquire leader lease {desc}...")
        while not self._stop.is_set():
            self._nudge.clear()
            succeeded = self.try_acquire_or_renew()
            self._report_transition()
            if succeeded:
                self._record_event("became leader")
                self._on_status(True)
                log.info(f"successfully acquired lease {desc}")
                return True
            log.log(V(4), f"failed to acquire lease {desc}")
            delay = self.retry_period * (1.0 + self._rng.random() * JITTER_FACTOR)
            with self._lock:
                if self._observed.holder_identity:
                    # Try again right when the observed lease would expire, not up to 4 s later.
                    expiry = self._observed_time + self._observed.lease_duration_seconds - self._clock()
                    delay = min(delay, max(0.05, expiry + 0.05))
            self._nudge.wait(delay)
        return False

    def _attempt_until(self, deadline: float) -> bool:
        """One tryAcquireOrRenew, abandoned at `deadline` (client-go passes the round's
        context.WithTimeout(RenewDeadline) into every request; a Python request cannot be
        cancelled, so the round stops waiting for it and the late answer is ignored: the fence
        stays closed once the round has failed)."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            return False
        outcome: list[bool] = []
        worker = threading.Thread(target=lambda: outcome.append(self.try_acquire_or_renew()),
                                  name="lease-renew", daemon=True)
        worker.start()
        worker.join(remaining)
        return bool(outcome and outcome[0])

    def _renew(self) -> None:
        """client-go's renew: every retryPeriod a round of attempts, the round bounded by
        renewDeadline *in total* (wait.PollImmediateUntil under a RenewDeadline timeout)."""
        desc = self.store.describe()
        while not self._stop.is_set():
            round_start = self._clock()
            deadline = round_start + self.renew_deadline
            renewed = False
            while not self._stop.is_set():
                if self._attempt_until(deadline):
                    renewed = True
                    break
                if self._clock() + self.retry_period >= deadline:
                    break
                self._stop.wait(self.retry_period)
            self._report_transition()
            if self._stop.is_set():
                return
            if not renewed:
                self.fence()
                self._on_status(False)
                log.info(f"failed to renew lease {desc}: timed out waiting for the condition")
                return
            log.log(V(5), f"successfully renewed lease {desc}")
            self._stop.wait(self.retry_period)

    def run(self) -> None:
        """Campaign, lead, and return when leadership ends; calls the callbacks like client-go."""
        requested = False
        try:
            if not self._acquire():
                requested = True
                return
            threading.Thread(target=self._on_started, name="leading", daemon=True).start()
            self._renew()
            requested = self._stop.is_set()
            if self.is_leader():
                self._record_event("stopped leading")
            if requested:
                # ReleaseOnCancel, bounded like any request of the elector (renewDeadline).
                releaser = threading.Thread(target=self.release, name="lease-release", daemon=True)
                releaser.start()
                releaser.join(self.renew_deadline)
        finally:
            self._on_stopped(requested)
