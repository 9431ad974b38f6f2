"""`lab logs APP`: the log of every replica of a second scheduler, the same way on every provider.

    python -m lab logs custom-k8s-scheduler                       # every line of both replicas
    python -m lab logs custom-k8s-scheduler --grep leaderelection --tail 2

Each replica's log follows a header line ``== <replica>``, replicas in name order. The
replicas are, on every provider (podrunner runs them on the local lab):

* the pods of Deployment ``kube-system/<app>`` (its selector), whose
  logs the API server serves (``kubectl logs``); a pod whose container has not started yet gets
  its header and the reason instead of a log.

``--grep`` keeps the lines matching a regular expression, ``--tail N`` the last N lines (after
--grep) of each replica.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab.providers.base import ProviderError

NAMESPACE = "kube-system"


@dataclass(frozen=True)
class ReplicaLog:
    replica: str  # the replica's process name (local) or pod name
    text: str | None  # None: no log to show (why says why)
    why: str = ""


def _pod_logs(workdir: Path, app: str) -> list[ReplicaLog]:
    from kubernetes.client.rest import ApiException

    from lab.cluster import LabCluster

    kubeconfig = workdir / "kubeconfig"
    if not kubeconfig.exists():
        raise ProviderError(f"the lab is not up ({kubeconfig} does not exist): make lab-up")
    cluster = LabCluster(workdir, kubeconfig=kubeconfig)
    dep = cluster.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{app}")
    if dep is None:
        raise ProviderError(f"deployment {NAMESPACE}/{app} does not exist: python -m lab deploy --only {app}")
    labels = (dep.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = cluster.pods(NAMESPACE, selector)
    if not pods:
        raise ProviderError(f"deployment {NAMESPACE}/{app} has no pods (kubectl describe deployment -n "
                            f"{NAMESPACE} {app})")
    core = cluster.core
    out = []
    for name in sorted(p["metadata"]["name"] for p in pods):
        try:
            out.append(ReplicaLog(name, core.read_namespaced_pod_log(name, NAMESPACE, _request_timeout=(5, 60))))
        except ApiException as exc:
            # 400 while the container is being created, 404 for a pod deleted since the list
            out.append(ReplicaLog(name, None, _api_reason(exc)))
    return out


def _api_reason(exc: Exception) -> str:
    import json

    body = getattr(exc, "body", None)
    try:
        return str(json.loads(body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"HTTP {getattr(exc, 'status', '?')}"


def replica_logs(workdir: Path, provider: str, app: str) -> list[ReplicaLog]:
    return _pod_logs(workdir, app)  # on local too: podrunner answers kubectl logs


def render(logs: list[ReplicaLog], grep: re.Pattern[str] | None = None, tail: int | None = None) -> str:
    """The ``== <replica>`` sections, filtered by ``grep`` and cut to the last ``tail`` lines."""
    out: list[str] = []
    for log in logs:
        if log.text is None:
            out.append(f"== {log.replica} (no log: {log.why})")
            continue
        out.append(f"== {log.replica}")
        lines = log.text.splitlines()
        if grep is not None:
            lines = [ln for ln in lines if grep.search(ln)]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        out += lines
    return "\n".join(out) + "\n"


def show(workdir: Path, provider: str, app: str, grep: re.Pattern[str] | None, tail: int | None) -> int:
    print(render(replica_logs(workdir, provider, app), grep, tail), end="")
    return 0
