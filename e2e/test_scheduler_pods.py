"""The upstream kube-scheduler Deployment applied with kubectl: two Running Ready pods whose logs
`kubectl logs` shows, one holds the Lease and binds, deleting the leader's pod hands the Lease over
(podrunner runs them on local, the kubelet on kind)."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e.harness import SuiteCluster, NotYet, bound_node, pod_manifest, wait_for

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests" / "kube-scheduler"
APP = "custom-k8s-scheduler"


def rendered(name: str) -> str:
    """manifests/kube-scheduler under ``name`` (its objects, Lease, profile and ConfigMap renamed)."""
    kust = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    text = "\n---\n".join((MANIFESTS / res).read_text() for res in kust["resources"])
    return text.replace(APP, name)


@pytest.fixture
def scheduler(cluster: SuiteCluster) -> Iterator[str]:
    name = f"e2e-pods-{secrets.token_hex(3)}"
    text = rendered(name)
    cluster.kubectl("apply", "-f", "-", input=text)
    yield name
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=text, check=False)


def scheduler_pods(cluster: SuiteCluster, name: str) -> list[dict]:
    return [p for p in cluster.pods("kube-system", f"app.kubernetes.io/name={name}")
            if not p["metadata"].get("deletionTimestamp")]


def two_ready(cluster: SuiteCluster, name: str) -> list[dict]:
    pods = scheduler_pods(cluster, name)
    ready = [p for p in pods if p.get("status", {}).get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    if len(ready) != 2:
        raise NotYet(f"{len(ready)} of 2 pods Running and Ready: "
                     f"{[(p['metadata']['name'], p.get('status', {}).get('phase')) for p in pods]}")
    return ready


def holder_pod(cluster: SuiteCluster, name: str) -> str:
    lease = cluster.find_lease("kube-system", name)
    if lease is None:  # the replicas are Ready (their /healthz) before either has written the Lease
        raise NotYet("no Lease yet")
    holder = lease["spec"].get("holderIdentity", "")
    if not holder:
        raise NotYet("the Lease has no holder")
    return holder.split("_", 1)[0]  # "<hostname = pod name>_<uuid>"


def test_apply_delete_leader_fails_over(cluster: SuiteCluster, namespace: str, scheduler: str) -> None:
    pods = wait_for(lambda: two_ready(cluster, scheduler), timeout=120, what="two Running Ready pods")
    names = {p["metadata"]["name"] for p in pods}
    assert len({p["status"]["podIP"] for p in pods}) == 2, "each pod has its own IP"
    leader = wait_for(lambda: holder_pod(cluster, scheduler), timeout=60, what="a Lease holder")
    for pod in sorted(names):
        # kubectl logs asks the node's kubelet endpoint (podrunner on local): each replica's own log.
        log = cluster.kubectl("logs", pod, "-n", "kube-system").stdout
        assert f"attempting to acquire leader lease kube-system/{scheduler}" in log, \
            f"{pod}: no leader-election lines in its log:\n{log[-2000:]}"
    assert leader in names, f"the Lease holder {leader} is one of the Deployment's pods {sorted(names)}"
    cluster.apply(pod_manifest("before", scheduler=scheduler), namespace)
    wait_for(lambda: bound_node(cluster, namespace, "before"), timeout=60)

    cluster.kubectl("delete", "pod", leader, "-n", "kube-system", "--wait=false")

    def new_holder() -> str:
        now = holder_pod(cluster, scheduler)
        if now == leader:
            raise NotYet(f"{leader} (deleted) still holds the Lease")
        return now

    successor = wait_for(new_holder, timeout=90, what="the Lease to move")
    # Usually the standby takes it on its next try (every retryPeriod, 2 s); the Deployment's
    # replacement pod can win that race when it starts within those 2 s (seen on local). Either
    # way the holder is a live pod of this Deployment, and not the deleted one.
    live = {p["metadata"]["name"] for p in scheduler_pods(cluster, scheduler)}
    assert successor in live - {leader}, f"the Lease holder {successor} is not a live replica: {sorted(live)}"
    cluster.apply(pod_manifest("after", scheduler=scheduler), namespace)
    wait_for(lambda: bound_node(cluster, namespace, "after"), timeout=60)
    # The Deployment replaces the deleted pod: two Ready pods again, the deleted one gone.
    again = wait_for(lambda: two_ready(cluster, scheduler), timeout=120, what="a replacement pod")
    assert leader not in {p["metadata"]["name"] for p in again}
