"""An API server restart in the middle of a burst loses nothing (local provider: the API
server is a process this suite can restart)."""
from __future__ import annotations

import pytest

from e2e.harness import SuiteCluster, NotYet, pod_manifest, wait_for

APPS = ("py-scheduler", "custom-k8s-scheduler")


@pytest.mark.requires("restart_apiserver")
def test_apiserver_restart_mid_burst_loses_no_pod(cluster: SuiteCluster, namespace: str) -> None:
    from lab.providers.local import LocalProvider

    for app in APPS:
        cluster.deploy(app)
    names = []
    for i in range(12):
        app = APPS[i % 2]
        names.append(f"before-{i}")
        cluster.apply(pod_manifest(f"before-{i}", scheduler=app, cpu="10m", memory="16Mi"), namespace)
    took = LocalProvider(cluster.spec, cluster.workdir).restart("kube-apiserver")
    for i in range(12):
        app = APPS[i % 2]
        names.append(f"after-{i}")
        cluster.apply(pod_manifest(f"after-{i}", scheduler=app, cpu="10m", memory="16Mi"), namespace)

    def all_bound() -> dict[str, str]:
        pods = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in cluster.pods(namespace)}
        missing = [n for n in names if not pods.get(n)]
        if missing:
            raise NotYet(f"{len(missing)} not bound yet: {missing[:5]}")
        return pods

    wait_for(all_bound, timeout=120, what="every pod bound after the API server restart")
    # Bound exactly once each: one Scheduled event per pod, from the pod's own scheduler. Events are
    # written after the bind, asynchronously, and a recorder whose write met the restarting API server
    # retries later (client-go's recordToSink): poll for them, don't read once.
    def scheduled_events() -> dict[str, list[str]]:
        events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
        scheduled: dict[str, list[str]] = {}
        for e in events:
            if e.get("reason") == "Scheduled":
                scheduled.setdefault(e["regarding"]["name"], []).append(e["reportingController"])
        missing = [n for n in names if n not in scheduled]
        if missing:
            raise NotYet(f"no Scheduled event yet for {missing}")
        return scheduled

    scheduled = wait_for(scheduled_events, timeout=90, what="a Scheduled event for every pod")
    for i, name in enumerate(names):
        assert scheduled.get(name) == [APPS[i % 2]], f"{name}: Scheduled events {scheduled.get(name)}"
    print(f"kube-apiserver restarted in {took:.1f}s; {len(names)} pods bound once each")
