"""Two replicas of the Python scheduler: one leader, failover on SIGKILL and SIGTERM, nothing lost."""
from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter

import pytest

from e2e.harness import SuiteCluster, NotYet, bound_node, pod_manifest, wait_for
from e2e.pyscheduler import SchedulerFleet, SchedulerProcess, scheduler_config, unique_name
from scheduler.runtime.leader import JITTER_FACTOR

LEASE_DURATION, RETRY_PERIOD = 15.0, 2.0


@pytest.fixture
def pair(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> tuple[str, list[SchedulerProcess]]:
    name = unique_name("e2e-ha")
    procs = fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name), replicas=2)
    return name, procs


def lease(cluster: SuiteCluster, namespace: str, name: str) -> dict:
    return cluster.lease(namespace, name)["spec"]


def identity_of(proc: SchedulerProcess) -> str:
    match = re.search(r'identity="([^"]+)"', proc.log())
    assert match, "no identity logged"
    return match.group(1)


def bound_by(proc: SchedulerProcess) -> set[str]:
    return set(re.findall(r'"Successfully bound pod to node" pod="[^/]+/([^"]+)"', proc.log()))


def test_two_replicas_exactly_one_leader(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet,
                                         pair: tuple[str, list[SchedulerProcess]]) -> None:
    name, procs = pair
    leader = fleet.wait_for_one_leader(procs)
    standby = next(p for p in procs if p is not leader)
    spec = lease(cluster, namespace, name)
    assert spec["holderIdentity"] == identity_of(leader)
    assert spec["leaseDurationSeconds"] == 15
    # The standby keeps trying, and says who holds the lock (as client-go does at --v=4).
    wait_for(lambda: standby.log().count("failed to acquire lease") >= 2 or
             (_ for _ in ()).throw(NotYet("standby has not retried twice")), timeout=20)
    assert f"lock is held by {identity_of(leader)} and has not yet expired" in standby.log()
    assert standby.get("/healthz") == (200, "ok") and standby.get("/readyz") == (200, "ok")
    cluster.apply([pod_manifest(f"p{i}", scheduler=name) for i in range(5)], namespace)
    for i in range(5):
        wait_for(lambda i=i: bound_node(cluster, namespace, f"p{i}"), timeout=30)
    # The leader logs each bind just after the API has it: poll its log rather than race it.
    wanted = {f"p{i}" for i in range(5)}

    def leader_logged_all() -> None:
        assert bound_by(leader) == wanted, f"leader logged {sorted(bound_by(leader))}"

    wait_for(leader_logged_all, timeout=10)
    assert bound_by(standby) == set()


def _failover(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet,
              pair: tuple[str, list[SchedulerProcess]], sig: int) -> tuple[float, SchedulerProcess, SchedulerProcess]:
    name, procs = pair
    leader = fleet.wait_for_one_leader(procs)
    standby = next(p for p in procs if p is not leader)
    transitions = lease(cluster, namespace, name).get("leaseTransitions", 0)
    sent = leader.signal(sig)
    cluster.apply(pod_manifest("after", scheduler=name), namespace)
    wait_for(lambda: bound_node(cluster, namespace, "after"), timeout=LEASE_DURATION + RETRY_PERIOD + 20,
             interval=0.1, what="the standby to take over and bind")
    took = time.monotonic() - sent

    def standby_logged_it() -> None:
        # The replica logs the bind just after the API server has it: poll, do not race it.
        assert "after" in bound_by(standby), "the standby has not logged binding 'after'"

    wait_for(standby_logged_it, timeout=10, what="the standby's log line for the bind")
    spec = lease(cluster, namespace, name)
    assert spec["holderIdentity"] == identity_of(standby)
    assert spec["leaseTransitions"] == transitions + 1
    return took, leader, standby


def _logged_at(log: str, message: str) -> float:
    """Seconds since midnight of the klog line (``I1129 05:33:51.420561 ...``) holding message."""
    match = re.search(r"^[IWEF]\d{4} (\d\d):(\d\d):(\d\d\.\d+) .*" + re.escape(message), log, re.M)
    assert match, f"no log line with {message!r}"
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_sigkill_failover_within_lease_duration(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet,
                                                pair: tuple[str, list[SchedulerProcess]]) -> None:
    took, leader, _ = _failover(cluster, namespace, fleet, pair, signal.SIGKILL)
    print(f"failover after SIGKILL: new pod bound {took:.2f}s after the kill")
    assert leader.wait_exit(10) == -signal.SIGKILL
    assert took <= LEASE_DURATION + RETRY_PERIOD + 5, f"takeover after SIGKILL took {took:.1f}s"


def test_sigterm_releases_and_standby_takes_over_fast(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet,
                                                      pair: tuple[str, list[SchedulerProcess]]) -> None:
    took, leader, standby = _failover(cluster, namespace, fleet, pair, signal.SIGTERM)
    assert leader.wait_exit(10) == 0
    released = _logged_at(leader.log(), "released lease")
    acquired = _logged_at(standby.log(), "successfully acquired lease")
    gap = (acquired - released) % 86400  # klog stamps carry no date
    print(f"failover after SIGTERM: standby acquired {gap:.2f}s after the release, "
          f"new pod bound {took:.2f}s after the signal")
    # The released lease is free at once: the standby takes it at its next attempt, which
    # client-go spaces retryPeriod x (1 + rand x JitterFactor 1.2) apart, plus the attempt's own
    # GET and UPDATE. A SIGKILL, by contrast, leaves the lease to expire (leaseDuration).
    assert gap <= RETRY_PERIOD * (1 + JITTER_FACTOR) + 1.0, f"standby acquired {gap:.1f}s after the release"
    assert took < LEASE_DURATION, f"takeover after SIGTERM took {took:.1f}s: the lease was not released"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_no_pod_bound_twice_or_lost_across_failover(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet,
                                                    pair: tuple[str, list[SchedulerProcess]], sig: int) -> None:
    name, procs = pair
    leader = fleet.wait_for_one_leader(procs)
    standby = next(p for p in procs if p is not leader)
    names = [f"w{i:02d}" for i in range(40)]
    stop = threading.Event()

    def create() -> None:
        # Pods keep arriving before, during and after the failover.
        for i in range(0, len(names), 4):
            cluster.apply([pod_manifest(n, scheduler=name, cpu="10m", memory="16Mi") for n in names[i:i + 4]],
                          namespace)
            if stop.wait(0.4):
                return

    creator = threading.Thread(target=create)
    creator.start()
    wait_for(lambda: bound_by(leader) or (_ for _ in ()).throw(NotYet("leader bound nothing yet")), timeout=30)
    leader.signal(sig)
    creator.join(60)

    def all_bound() -> list[dict]:
        pods = cluster.pods(namespace)
        pending = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
        if len(pods) < len(names) or pending:
            raise NotYet(f"{len(pods)} pods, pending: {pending}")
        return pods

    wait_for(all_bound, timeout=LEASE_DURATION + RETRY_PERIOD + 40, what="every pod bound")
    # SIGKILL may land between a bind's success and its log line: only the dead leader's last
    # in-flight binds can stay unlogged, never a pod the standby handled. SIGTERM drains binds.
    allowed_unlogged = 0 if sig == signal.SIGTERM else 16

    def logged() -> tuple[set[str], set[str]]:
        # A replica logs a bind just after the API server has it (under load, a whole burst of the
        # standby's binds can be on the API and not yet in its log): poll, do not race it.
        first, second = bound_by(leader), bound_by(standby)
        unlogged = set(names) - first - second
        if len(unlogged) > allowed_unlogged:
            raise NotYet(f"bound but logged by nobody: {sorted(unlogged)}")
        return first, second

    first, second = wait_for(logged, timeout=15, what="a log line for every bind")
    assert first and second, "both replicas should have bound some pods"
    assert not first & second, f"bound by both: {sorted(first & second)}"

    # Events are posted asynchronously after the bind (as client-go's recorder does): a SIGKILLed
    # leader may die with Scheduled events still queued, so only the survivor's binds and (on
    # SIGTERM, which drains the writers) the leader's must all have one.
    expected = second if sig == signal.SIGKILL else first | second

    def scheduled_counts() -> Counter:
        events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
        counts = Counter(e["regarding"]["name"] for e in events if e["reason"] == "Scheduled")
        if not expected <= set(counts):
            raise NotYet(f"missing Scheduled events for {sorted(expected - set(counts))}")
        return counts

    counts = wait_for(scheduled_counts, timeout=30)
    assert set(counts.values()) == {1}, f"pods with more than one Scheduled event: {counts}"
    for proc in (leader, standby):
        assert "already assigned" not in proc.log(), f"{proc.name} tried to bind a bound pod"


def test_leader_whose_lease_is_taken_stops_at_once_and_exits_1(
        cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet, pair: tuple[str, list[SchedulerProcess]]) -> None:
    name, procs = pair
    leader = fleet.wait_for_one_leader(procs)
    # Somebody else writes itself into the Lease: the leader's next renewal conflicts, it reads
    # the Lease, sees another holder and must stop binding right away.
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    cluster.kubectl("patch", "lease", name, "-n", namespace, "--type=merge", "-p",
                    '{"spec": {"holderIdentity": "intruder", "renewTime": "%s", "acquireTime": "%s"}}' % (now, now))
    stolen = time.monotonic()
    wait_for(lambda: "lock is held by intruder" in leader.log() or
             (_ for _ in ()).throw(NotYet("leader has not seen the intruder")), timeout=10, interval=0.1)
    # It still runs (it exits when renewDeadline passes) but must not bind anything any more.
    assert leader.alive()
    cluster.apply(pod_manifest("while-intruder", scheduler=name), namespace)
    assert leader.wait_exit(10 + 2 + 10) == 1, "the leader should exit 1 when it loses the Lease"
    took = time.monotonic() - stolen
    assert "Leaderelection lost" in leader.log()
    print(f"leader exited {took:.1f}s after the Lease was taken")
    # The intruder never renews: the standby takes over once the intruder's lease expires.
    wait_for(lambda: bound_node(cluster, namespace, "while-intruder"), timeout=LEASE_DURATION + RETRY_PERIOD + 20)
    assert "while-intruder" not in bound_by(leader)
    assert cluster.lease(namespace, name)["spec"]["holderIdentity"] != "intruder"
