"""Lease leader election against a fake lease server: client-go semantics, fence, release."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from scheduler.runtime.kube import ApiError
from scheduler.runtime.leader import LeaderElectionRecord, LeaderElector


class LeaseServer:
    """One Lease object with resourceVersion-based optimistic concurrency, like the API server."""

    def __init__(self) -> None:
        self.spec: dict | None = None
        self.rv = 0
        self.lock = threading.Lock()
        self.fail: ApiError | None = None
        self.writes = 0


class FakeStore:
    def __init__(self, server: LeaseServer) -> None:
        self.server = server
        self.read_rv: int | None = None

    def describe(self) -> str:
        return "kube-system/test-lease"

    def get(self):
        with self.server.lock:
            if self.server.fail:
                raise self.server.fail
            if self.server.spec is None:
                raise ApiError(404, "leases.coordination.k8s.io \"test-lease\" not found")
            self.read_rv = self.server.rv
            spec = dict(self.server.spec)
        return LeaderElectionRecord.from_spec(spec), json.dumps(spec, sort_keys=True)

    def create(self, record: LeaderElectionRecord) -> None:
        with self.server.lock:
            if self.server.fail:
                raise self.server.fail
            if self.server.spec is not None:
                raise ApiError(409, "already exists")
            self.server.spec = record.to_spec()
            self.server.rv += 1
            self.server.writes += 1
            self.read_rv = self.server.rv

    def update(self, record: LeaderElectionRecord) -> None:
        with self.server.lock:
            if self.server.fail:
                raise self.server.fail
            if self.read_rv != self.server.rv:
                raise ApiError(409, "the object has been modified; please apply your changes to the latest version")
            self.server.spec = record.to_spec()
            self.server.rv += 1
            self.server.writes += 1
            self.read_rv = self.server.rv


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def elector(server: LeaseServer, clock: Clock, identity: str, **kwargs) -> LeaderElector:
    return LeaderElector(FakeStore(server), identity=identity, lease_duration=15, renew_deadline=10,
                         retry_period=2, clock=clock, wall_clock=lambda: 1_700_000_000.0 + clock.now, **kwargs)


@pytest.fixture
def server() -> LeaseServer:
    return LeaseServer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_first_candidate_creates_the_lease(server: LeaseServer, clock: Clock) -> None:
    a = elector(server, clock, "a")
    assert a.try_acquire_or_renew()
    assert a.is_leader() and a.can_act()
    assert server.spec["holderIdentity"] == "a"
    assert server.spec["leaseDurationSeconds"] == 15
    assert server.spec["leaseTransitions"] == 0
    assert server.spec["acquireTime"].endswith("Z") and "." in server.spec["acquireTime"]


def test_standby_waits_for_expiry_measured_on_its_own_clock(server: LeaseServer, clock: Clock, caplog) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    assert a.try_acquire_or_renew()
    caplog.set_level(logging.DEBUG, logger="scheduler.leaderelection")
    assert not b.try_acquire_or_renew()
    assert "lock is held by a and has not yet expired" in caplog.text
    clock.now += 14.9  # a died right after acquiring: b saw the record at t=500
    assert not b.try_acquire_or_renew()
    clock.now += 0.2
    assert b.try_acquire_or_renew()
    assert server.spec["holderIdentity"] == "b"
    assert server.spec["leaseTransitions"] == 1
    assert b.is_leader()


def test_renewals_keep_the_standby_out_and_keep_acquire_time(server: LeaseServer, clock: Clock) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    a.try_acquire_or_renew()
    acquired = server.spec["acquireTime"]
    for _ in range(20):
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert server.spec["holderIdentity"] == "a"
    assert server.spec["acquireTime"] == acquired
    assert server.spec["renewTime"] != acquired
    assert server.spec["leaseTransitions"] == 0


def test_release_lets_the_standby_take_over_at_once(server: LeaseServer, clock: Clock) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release()
    assert server.spec["holderIdentity"] == ""
    assert server.spec["leaseDurationSeconds"] == 1
    assert not a.can_act()
    assert b.try_acquire_or_renew()  # no waiting: the lease is free
    assert server.spec["holderIdentity"] == "b"
    assert server.spec["leaseTransitions"] == 1


def test_a_conflicting_write_loses(server: LeaseServer, clock: Clock) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    a.try_acquire_or_renew()
    clock.now += 16  # expired for everybody
    # Both read the expired record, then both try to write: only the first write may win.
    a_store, b_store = a.store, b.store
    a_store.get()
    b_store.get()
    b_store.update(LeaderElectionRecord(holder_identity="b", lease_duration_seconds=15))
    with pytest.raises(ApiError) as err:
        a_store.update(LeaderElectionRecord(holder_identity="a", lease_duration_seconds=15))
    assert err.value.status == 409


def test_two_candidates_never_both_lead(server: LeaseServer, clock: Clock) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    results = []
    for _ in range(30):
        results.append((a.try_acquire_or_renew(), b.try_acquire_or_renew()))
        clock.now += 1
    assert all(not (x and y) for x, y in results)
    assert sum(1 for x, y in results if x or y) == 30


def test_fence_closes_when_renewals_stop(server: LeaseServer, clock: Clock) -> None:
    a = elector(server, clock, "a")
    a.try_acquire_or_renew()
    clock.now += 9.9
    assert a.can_act()
    server.fail = ApiError(503, "etcd unavailable")
    assert not a.try_acquire_or_renew()
    clock.now += 0.2
    assert not a.can_act()  # 10.1 s since the last successful renewal started
    assert a.is_leader()  # the record still names it: only the fence knows better


def test_watchdog_fails_only_a_stale_leader(server: LeaseServer, clock: Clock) -> None:
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    clock.now += 34
    assert a.check() is None
    clock.now += 2  # > leaseDuration + 20 s without renewal
    assert "failed election to renew leadership" in a.check()
    assert b.check() is None  # standbys are always healthy


def test_validation_of_durations(server: LeaseServer, clock: Clock) -> None:
    with pytest.raises(ValueError):
        LeaderElector(FakeStore(server), identity="x", lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError):
        LeaderElector(FakeStore(server), identity="x", lease_duration=15, renew_deadline=2, retry_period=2)


def wait_until(predicate, timeout: float = 10.0) -> None:
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.02),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            assert predicate()


def real_time_elector(server: LeaseServer, identity: str, **kwargs) -> LeaderElector:
    return LeaderElector(FakeStore(server), identity=identity, lease_duration=1.5, renew_deadline=1.0,
                         retry_period=0.1, **kwargs)


def test_run_loop_leads_renews_and_releases_on_stop(server: LeaseServer) -> None:
    started, stopped, status, notes = threading.Event(), [], [], []
    a = real_time_elector(server, "a", on_started_leading=started.set, on_stopped_leading=stopped.append,
                          on_leader_status=status.append, record_event=notes.append)
    thread = threading.Thread(target=a.run)
    thread.start()
    assert started.wait(10)
    writes = server.writes
    wait_until(lambda: server.writes >= writes + 3)
    a.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert stopped == [True]
    assert server.spec["holderIdentity"] == "" and server.spec["leaseDurationSeconds"] == 1
    assert status == [True, False]
    assert notes == ["became leader", "stopped leading"]


def test_run_loop_ends_with_lost_when_renewal_fails(server: LeaseServer) -> None:
    started, stopped = threading.Event(), []
    a = real_time_elector(server, "a", on_started_leading=started.set, on_stopped_leading=stopped.append)
    thread = threading.Thread(target=a.run)
    thread.start()
    assert started.wait(10)
    server.fail = ApiError(0, "connection refused")
    thread.join(10)
    assert not thread.is_alive()
    assert stopped == [False]
    assert not a.can_act()


def test_standby_takes_over_when_nudged_after_release(server: LeaseServer) -> None:
    a_started, b_started = threading.Event(), threading.Event()
    # Long leases and a 5 s retry period: without the nudge b would wait 5-11 s.
    a = LeaderElector(FakeStore(server), identity="a", lease_duration=60, renew_deadline=50, retry_period=0.1,
                      on_started_leading=a_started.set)
    b = LeaderElector(FakeStore(server), identity="b", lease_duration=60, renew_deadline=50, retry_period=5,
                      on_started_leading=b_started.set)
    ta = threading.Thread(target=a.run)
    ta.start()
    assert a_started.wait(10)
    tb = threading.Thread(target=b.run)
    tb.start()
    wait_until(lambda: b.leader() == "a")
    a.stop()
    ta.join(10)
    b.nudge()
    assert b_started.wait(3)
    assert server.spec["holderIdentity"] == "b"
    b.stop()
    tb.join(10)


def test_standby_stops_without_touching_the_lease(server: LeaseServer, clock: Clock) -> None:
    a = elector(server, clock, "a")
    a.try_acquire_or_renew()
    stopped = []
    b = real_time_elector(server, "b", on_stopped_leading=stopped.append)
    thread = threading.Thread(target=b.run)
    thread.start()
    wait_until(lambda: b.leader() == "a")
    writes = server.writes
    b.stop()
    thread.join(10)
    assert stopped == [True]
    assert server.writes == writes
