"""The problems several checks look for: a workshop pod not where it should be, a Lease nobody
renews, a second scheduler short of ready replicas, a port something still listens on.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone

from lab.cluster import LEASES_NAMESPACE, LabCluster
from lab.workshop.objects import NAMESPACE

Problems = list[str]


def age_seconds(timestamp: str) -> float:
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (datetime.now(timezone.utc) - when).total_seconds()


def lease_problems(lab: LabCluster, name: str, what: str, fix: str) -> Problems:
    lease = lab.find_lease(LEASES_NAMESPACE, name)
    if lease is None:
        return [f"Lease kube-system/{name} does not exist: {what} has never run ({fix})"]
    spec = lease.get("spec", {})
    if not spec.get("holderIdentity"):
        return [f"nobody holds Lease kube-system/{name}: {what} is not leading ({fix})"]
    renewed = spec.get("renewTime")
    limit = int(spec.get("leaseDurationSeconds") or 15) + 10
    if not renewed or age_seconds(renewed) > limit:
        return [
            f"Lease kube-system/{name} has not been renewed for over {limit}s: {what} is not running ({fix})"
        ]
    return []


def pod_problems(
    lab: LabCluster,
    name: str,
    scheduler: str,
    apply: str,
    bound_to: list[str] | None = None,
    reported_by: str | None = None,
) -> tuple[Problems, dict | None]:
    """Common checks of one workshop pod: exists, right scheduler, bound (to one of bound_to)."""
    pod = lab.find_pod(NAMESPACE, name)
    if pod is None:
        return [f"pod {NAMESPACE}/{name} does not exist: {apply}"], None
    if pod["spec"].get("schedulerName") != scheduler:
        return [
            f"pod {NAMESPACE}/{name} asks for scheduler {pod['spec'].get('schedulerName')!r}, "
            f"not {scheduler!r}: delete it and {apply}"
        ], pod
    node = pod["spec"].get("nodeName")
    if not node:
        return [
            f"pod {NAMESPACE}/{name} is not bound to a node yet (is {scheduler} running? "
            "python -m lab status)"
        ], pod
    if bound_to is not None and node not in bound_to:
        return [f"pod {NAMESPACE}/{name} is bound to {node}, expected {' or '.join(bound_to)}"], pod
    if reported_by is not None:
        by = lab.scheduled_by(pod)
        if by != reported_by:
            return [
                f"pod {NAMESPACE}/{name} has no Scheduled event from {reported_by}"
                + (f" (it has one from {by})" if by else "")
            ], pod
    return [], pod


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def replicas_problems(lab: LabCluster, app: str) -> Problems:
    """Both replicas of a second scheduler run (its Deployment; podrunner runs the pods on local)."""
    dep = lab.find(f"/apis/apps/v1/namespaces/kube-system/deployments/{app}")
    ready = (dep or {}).get("status", {}).get("readyReplicas", 0)
    return (
        []
        if ready >= 2
        else [
            f"deployment kube-system/{app} has {ready} of 2 replicas ready "
            f"(python -m lab deploy --only {app})"
        ]
    )
