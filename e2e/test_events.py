"""FailedScheduling events aggregate into a series exactly as kube-scheduler v1.29.15's do.

The same impossible pod is given to the lab's kube-scheduler (custom-k8s-scheduler) and to the Python scheduler; both are
made to retry (a bound pod is created and deleted, an AssignedPodDelete event) until each has tried
at least three times. client-go's events.k8s.io recorder then shows two events per pod: the first
attempt's (the PodScheduled patch changes the pod's resourceVersion, which is part of the key) and
a second one whose series was written with count 2 at the third attempt.
"""
from __future__ import annotations

import itertools

from e2e.harness import SuiteCluster, NotYet, pod_manifest, upstream_oracle, wait_for
from e2e.pyscheduler import SchedulerFleet, scheduler_config, unique_name


def _failed(cluster: SuiteCluster, namespace: str, pod: str) -> list[dict]:
    events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
    out = [e for e in events if e.get("reason") == "FailedScheduling" and e["regarding"]["name"] == pod]
    return sorted(out, key=lambda e: e.get("eventTime") or "")


def test_failed_scheduling_events_form_the_same_series_as_kube_scheduler(
        cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet) -> None:
    name = unique_name("e2e-events")
    fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name))
    oracle = upstream_oracle(cluster)
    cluster.apply([pod_manifest("huge-up", scheduler=oracle, cpu="64"),
                   pod_manifest("huge-py", scheduler=name, cpu="64")], namespace)
    worker = cluster.spec.workers[0].name
    counter = itertools.count()

    def two_events_with_a_series() -> dict[str, list[dict]]:
        got = {pod: _failed(cluster, namespace, pod) for pod in ("huge-up", "huge-py")}
        if all(len(ev) >= 2 and (ev[-1].get("series") or {}).get("count", 0) >= 2 for ev in got.values()):
            return got
        # Not there yet: give both schedulers a reason to retry (kube-scheduler's AssignedPodDelete).
        poke = f"poke-{next(counter)}"
        cluster.apply(pod_manifest(poke, cpu="1m", memory="1Mi", nodeName=worker), namespace)
        cluster.kubectl("delete", "pod", poke, "-n", namespace, "--grace-period=0", "--force", "--wait=false",
                        check=False)
        raise NotYet({pod: [(e["metadata"]["name"], e.get("series")) for e in ev] for pod, ev in got.items()})

    got = wait_for(two_events_with_a_series, timeout=180, interval=2.0,
                   what="three attempts of each scheduler, aggregated")
    shape = {pod: [(e["note"], (e.get("series") or {}).get("count")) for e in ev] for pod, ev in got.items()}
    # Same text, same aggregation: one lone event, then one series (count 2 until its 6-minute flush).
    assert shape["huge-py"] == shape["huge-up"], shape
    assert [count for _, count in shape["huge-up"]] == [None, 2], shape
    up_first, py_first = got["huge-up"][0], got["huge-py"][0]
    assert up_first["regarding"]["resourceVersion"] != got["huge-up"][1]["regarding"]["resourceVersion"]
    assert py_first["regarding"]["resourceVersion"] != got["huge-py"][1]["regarding"]["resourceVersion"]
    # kubectl shows the aggregation as "(x2 over ...)".
    described = cluster.describe(namespace, "pod/huge-py")
    assert "(x2 over" in described, described[-800:]
