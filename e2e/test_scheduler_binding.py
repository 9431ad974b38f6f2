"""The Python scheduler as a local process: binding, events, FailedScheduling, packing, endpoints."""
from __future__ import annotations

from collections import Counter


from e2e.harness import SuiteCluster, NotYet, bound_node, pod_manifest, scheduled_event, upstream_oracle, wait_for
from e2e.pyscheduler import SchedulerFleet, scheduler_config, unique_name


def _events(cluster: SuiteCluster, namespace: str, pod: str, reason: str) -> list[dict]:
    return [e for e in cluster.events_for(namespace, pod) if e.get("reason") == reason]


def test_pod_is_bound_with_a_scheduled_event_from_the_scheduler(
        cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    name, random_name = unique_name("e2e-py"), unique_name("e2e-random")
    [proc] = fleet.start(scheduler_config(name=name, random_profile=random_name, lease_namespace=namespace,
                                          lease_name=name))
    cluster.apply([pod_manifest("web", scheduler=name), pod_manifest("sleep", scheduler=random_name)], namespace)
    node = wait_for(lambda: bound_node(cluster, namespace, "web"), timeout=30, what="web bound")
    event = wait_for(lambda: scheduled_event(cluster, namespace, "web"), timeout=30)
    assert event["reportingController"] == name
    assert event["note"] == f"Successfully assigned {namespace}/web to {node}"
    assert event["type"] == "Normal" and event["action"] == "Binding"
    assert node in [w.name for w in cluster.spec.workers]  # no toleration for the master's taint
    # kubectl names the scheduler too (what a workshop participant looks at).
    described = " ".join(cluster.describe(namespace, "pod/web").split())
    assert f"{name} Successfully assigned {namespace}/web to {node}" in described, described[-600:]

    random_node = wait_for(lambda: bound_node(cluster, namespace, "sleep"), timeout=30, what="sleep bound")
    random_event = wait_for(lambda: scheduled_event(cluster, namespace, "sleep"), timeout=30)
    assert random_event["reportingController"] == random_name
    wait_for(lambda: f"Placed pod [{namespace}/sleep] on {random_node}" in proc.log() or
             (_ for _ in ()).throw(NotYet("no Placed line")), timeout=10, what="the Go-style Placed log line")
    log = proc.log()
    assert f'"Successfully bound pod to node" pod="{namespace}/web" node="{node}"' in log
    assert f'"Attempting to schedule pod" pod="{namespace}/web"' in log


def _failed_scheduling(cluster: SuiteCluster, namespace: str, pod: str) -> dict:
    events = _events(cluster, namespace, pod, "FailedScheduling")
    if not events:
        raise NotYet(f"no FailedScheduling event for {pod}")
    return events[0]


def _pod_scheduled(cluster: SuiteCluster, namespace: str, pod: str) -> dict:
    for cond in cluster.pod(namespace, pod).get("status", {}).get("conditions") or []:
        if cond["type"] == "PodScheduled":
            return cond
    raise NotYet(f"no PodScheduled condition on {pod}")


def test_impossible_pod_gets_the_same_failed_scheduling_as_kube_scheduler(
        cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    # The oracle is the lab's own kube-scheduler v1.29.15 (upstream_oracle), given the same pod on the
    # same cluster at the same time; no expected text is written down here.
    oracle = upstream_oracle(cluster)
    name = unique_name("e2e-py")
    fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name))
    cluster.apply([pod_manifest("huge", scheduler=name, cpu="64"),
                   pod_manifest("huge-upstream", scheduler=oracle, cpu="64")], namespace)

    upstream = wait_for(lambda: _failed_scheduling(cluster, namespace, "huge-upstream"), timeout=60,
                        what="kube-scheduler's FailedScheduling")
    event = wait_for(lambda: _failed_scheduling(cluster, namespace, "huge"), timeout=30, what="FailedScheduling")
    assert event["type"] == upstream["type"] == "Warning"
    assert event["reportingController"] == name
    assert event["action"] == upstream["action"]
    assert event["note"] == upstream["note"]
    assert upstream["note"].endswith(".") and not upstream["note"].endswith("..")

    theirs = wait_for(lambda: _pod_scheduled(cluster, namespace, "huge-upstream"), timeout=30)
    cond = wait_for(lambda: _pod_scheduled(cluster, namespace, "huge"), timeout=30)
    assert (cond["status"], cond["reason"], cond["message"]) == (
        theirs["status"], theirs["reason"], theirs["message"]) == ("False", "Unschedulable", upstream["note"])
    assert not cluster.pod(namespace, "huge")["spec"].get("nodeName")


def _place_20(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet, strategy: str) -> Counter:
    name = unique_name(f"e2e-{strategy.lower()}")
    fleet.start(scheduler_config(name=name, strategy=strategy, lease_namespace=namespace, lease_name=name))
    pods = [pod_manifest(f"small-{i:02d}", scheduler=name, cpu="50m", memory="64Mi") for i in range(20)]
    cluster.apply(pods, namespace)

    def all_bound() -> list[str]:
        items = cluster.pods(namespace)
        nodes = [p["spec"].get("nodeName") for p in items]
        if len(items) < 20 or not all(nodes):
            raise NotYet(f"{sum(1 for n in nodes if n)}/20 bound")
        return nodes

    return Counter(wait_for(all_bound, timeout=90, what="20 pods bound"))


def _free_millicpu(cluster: SuiteCluster) -> dict[str, int]:
    """Allocatable minus requested cpu per worker (what the scheduler sees before the test pods)."""
    from scheduler.core.resources import pod_resource  # the same request rules the scheduler uses

    free = {}
    pods = cluster.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
    for worker in cluster.spec.workers:
        node = cluster.get(f"/api/v1/nodes/{worker.name}")
        alloc = node["status"]["allocatable"]["cpu"]
        milli = int(float(alloc[:-1])) if alloc.endswith("m") else int(float(alloc) * 1000)
        used = sum(pod_resource(p).milli_cpu for p in pods if p["spec"].get("nodeName") == worker.name)
        free[worker.name] = milli - used
    return free


def test_most_allocated_packs_20_small_pods(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    free = _free_millicpu(cluster)
    # How many workers 20 x 50m need at the least, filling the fullest first (what MostAllocated does).
    need, left = 0, 20 * 50
    for capacity in sorted(free.values()):
        if left <= 0:
            break
        if capacity >= 50:
            need += 1
            left -= capacity // 50 * 50
    placement = _place_20(cluster, namespace, fleet, "MostAllocated")
    assert len(placement) <= max(1, need), f"MostAllocated used {dict(placement)}; free before: {free}"


def test_least_allocated_spreads_20_small_pods(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    free = _free_millicpu(cluster)
    placement = _place_20(cluster, namespace, fleet, "LeastAllocated")
    # Other tests share the cluster, so "spread" is judged against the load it had: the pods go to
    # more than one worker, and the emptiest worker gets its share first.
    assert len(placement) >= 2, f"LeastAllocated used {dict(placement)}; free before: {free}"
    emptiest = max(free, key=free.get)
    assert placement[emptiest] >= 20 // len(free), f"LeastAllocated used {dict(placement)}; free before: {free}"


def test_health_readiness_and_metrics(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    name = unique_name("e2e-py")
    [proc] = fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name))
    fleet.wait_for_one_leader([proc])
    cluster.apply(pod_manifest("m", scheduler=name), namespace)
    wait_for(lambda: bound_node(cluster, namespace, "m"), timeout=30)
    assert proc.get("/healthz") == (200, "ok")
    assert proc.get("/livez") == (200, "ok")
    assert proc.get("/readyz") == (200, "ok")

    def metrics() -> str:
        code, body = proc.get("/metrics")
        if f'scheduler_schedule_attempts_total{{profile="{name}",result="scheduled"}} 1.0' not in body:
            raise NotYet("attempt not counted yet")
        return body

    body = wait_for(metrics, timeout=10)
    for needle in (f'leader_election_master_status{{name="{name}"}} 1.0',
                   'scheduler_pending_pods{queue="active"} 0.0',
                   'scheduler_scheduler_cache_size{type="nodes"} 4.0' if len(cluster.spec.nodes) == 4 else "",
                   'scheduler_pod_scheduling_sli_duration_seconds_count{attempts="1"} 1.0',
                   'scheduler_queue_incoming_pods_total{event="PodAdd",queue="active"} 1.0'):
        assert needle in body, needle
