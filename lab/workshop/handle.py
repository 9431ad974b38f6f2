"""The handle on the lab cluster that the checks and the challenges read (``Lab``): API GETs through
the lab directory's admin kubeconfig, pods, Leases, events, and lab node names as the cluster spells them.
"""

from __future__ import annotations

from pathlib import Path

NAMESPACE = "default"  # the workshop's pods live where the seeds put them
NAME_LABEL = "scheduler-lab.dev/name"  # the lab name of a kind node (lab/providers/plan.py)


class Lab:
    """What the checks read from the cluster (admin kubeconfig of the lab directory)."""

    def __init__(self, workdir: Path) -> None:
        from lab.cluster import api_client
        from lab.spec import load_spec

        self.workdir = workdir
        self.spec = load_spec()
        self.api = api_client(workdir / "kubeconfig")
        self._names: dict[str, str] | None = None

    def get(self, path: str, **query: str) -> dict | None:
        """GET an API path; None when it does not exist."""
        from kubernetes.client.rest import ApiException

        from lab.cluster import get_json

        try:
            return get_json(self.api, path, list(query.items()))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pod(self, name: str, namespace: str = NAMESPACE) -> dict | None:
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def pods(self, selector: str = "", namespace: str = NAMESPACE) -> list[dict]:
        query = {"labelSelector": selector} if selector else {}
        return (self.get(f"/api/v1/namespaces/{namespace}/pods", **query) or {}).get("items", [])

    def lease(self, name: str) -> dict | None:
        return self.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")

    def scheduled_by(self, pod: dict) -> str:
        """Who reported the pod's Scheduled event ("" when there is none)."""
        meta = pod["metadata"]
        events = (
            self.get(
                f"/api/v1/namespaces/{meta['namespace']}/events",
                fieldSelector=f"involvedObject.name={meta['name']},reason=Scheduled",
            )
            or {}
        )
        for e in events.get("items", []):
            if e.get("involvedObject", {}).get("uid") == meta.get("uid"):
                return e.get("reportingComponent") or (e.get("source") or {}).get("component") or "?"
        return ""

    def real_name(self, lab_name: str) -> str:
        """A lab node's name in this cluster: kind cannot rename its nodes, so there the lab name is
        the scheduler-lab.dev/name label (local and vagrant nodes carry the lab names)."""
        if self._names is None:
            self._names = {}
            for n in (self.get("/api/v1/nodes") or {}).get("items", []):
                meta = n["metadata"]
                self._names[(meta.get("labels") or {}).get(NAME_LABEL, meta["name"])] = meta["name"]
        return self._names.get(lab_name, lab_name)

    @property
    def workers(self) -> list[str]:
        return [self.real_name(n.name) for n in self.spec.workers]

    @property
    def master(self) -> str:
        return self.real_name(self.spec.control_plane.name)
