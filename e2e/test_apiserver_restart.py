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
    restarts_before = replica_restarts(cluster)
    holders = {app: cluster.lease_holder(app).split("_")[0] for app in APPS}
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
    # The node agent keeps containers running while the API server is away, as a kubelet does. A
    # replica may restart only if it held its Lease: a leader that cannot renew within renewDeadline
    # (10s) exits, upstream's and ours alike. (CI caught podrunner dying of the outage instead and
    # taking every replica with it.)
    restarted = {pod: (app, n) for pod, (app, n) in replica_restarts(cluster).items()
                 if n > restarts_before.get(pod, (app, 0))[1]}
    for pod, (app, _) in restarted.items():
        assert pod == holders[app], f"{pod} restarted during the API server restart but did not lead {app}"
    lost_leader = {app for app, _ in restarted.values()}
    # Bound exactly once each: one Scheduled event per pod, from the pod's own scheduler. Events are
    # written after the bind, asynchronously, and a recorder whose write met the restarting API server
    # retries later (client-go's recordToSink): poll for them, don't read once. A leader that lost
    # its Lease exits with the events it had not written yet (kube-scheduler: klog.FlushAndExit on
    # OnStoppedLeading): only then may a pod of that scheduler go without one.
    def scheduled_events() -> dict[str, list[str]]:
        events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
        scheduled: dict[str, list[str]] = {}
        for e in events:
            if e.get("reason") == "Scheduled":
                scheduled.setdefault(e["regarding"]["name"], []).append(e["reportingController"])
        missing = [n for i, n in enumerate(names) if n not in scheduled and APPS[i % 2] not in lost_leader]
        if missing:
            raise NotYet(f"no Scheduled event yet for {missing}")
        return scheduled

    scheduled = wait_for(scheduled_events, timeout=90, what="a Scheduled event for every pod")
    without = []
    for i, name in enumerate(names):
        if name not in scheduled and APPS[i % 2] in lost_leader:
            without.append(name)
            continue
        assert scheduled.get(name) == [APPS[i % 2]], f"{name}: Scheduled events {scheduled.get(name)}"
    print(f"kube-apiserver restarted in {took:.1f}s; {len(names)} pods bound once each; leaders that lost "
          f"their Lease: {sorted(lost_leader) or 'none'}; pods whose event went with them: {without or 'none'}")


def replica_restarts(cluster: SuiteCluster) -> dict[str, tuple[str, int]]:
    """Each scheduler replica pod: (its app, the restart count of its container)."""
    out = {}
    for app in APPS:
        for pod in cluster.pods("kube-system", f"app.kubernetes.io/name={app}"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            out[pod["metadata"]["name"]] = (app, sum(s.get("restartCount", 0) for s in statuses))
    return out
