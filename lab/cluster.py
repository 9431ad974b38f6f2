"""The lab cluster (``LabCluster``): one connection through the lab's kubeconfig and the reads that the CLI,
the workshop machinery (checks, challenges) and the e2e suite share, each spelled once.

Argument order is Kubernetes' own: namespace before name (``pod(namespace, name)``). ``get`` raises the
API's error (404 included); ``find`` and the ``find_*`` reads answer None when the object does not exist.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.utils.quantity import parse_quantity

from lab.providers import Capability, capabilities, recorded_provider
from lab.spec import LabSpec, load_spec

NAME_LABEL = "scheduler-lab.dev/name"  # the lab name of a kind node (lab/providers/plan.py)
LEASES_NAMESPACE = "kube-system"  # where the schedulers' Leases live


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def _qty(value: str | None) -> float:
    return float(parse_quantity(value)) if value is not None else 0.0


def pod_requests(pod: dict) -> dict[str, float]:
    """Effective requests (max of regular+sidecars and init containers, plus overhead) for display."""
    spec = pod.get("spec", {})
    total: dict[str, float] = {}
    for c in spec.get("containers", []):
        for r, q in (c.get("resources", {}).get("requests") or {}).items():
            total[r] = total.get(r, 0.0) + _qty(q)
    side: dict[str, float] = {}
    for c in spec.get("initContainers", []) or []:
        req = {r: _qty(q) for r, q in (c.get("resources", {}).get("requests") or {}).items()}
        if c.get("restartPolicy") == "Always":
            for r, q in req.items():
                total[r] = total.get(r, 0.0) + q
                side[r] = side.get(r, 0.0) + q
        else:
            for r, q in req.items():
                total[r] = max(total.get(r, 0.0), q + side.get(r, 0.0))
    for r, q in (spec.get("overhead") or {}).items():
        total[r] = total.get(r, 0.0) + _qty(q)
    return total


@dataclass
class NodeView:
    name: str
    roles: list[str]
    ready: bool
    taints: list[str]
    addresses: list[str]
    version: str
    allocatable: dict[str, float]
    requested: dict[str, float] = field(default_factory=dict)
    pods: list[str] = field(default_factory=list)


class LabCluster:
    """A connected lab cluster: its lab directory, spec, provider name, kubeconfig and API client."""

    def __init__(self, workdir: Path, *, kubeconfig: Path | None = None, spec: LabSpec | None = None,
                 provider: str | None = None, kubectl_path: str = "") -> None:
        self.workdir = workdir
        self.kubeconfig = kubeconfig if kubeconfig is not None else workdir / "kubeconfig"
        self.spec = spec if spec is not None else load_spec()
        self.provider = provider if provider is not None else recorded_provider(workdir)
        self.kubectl_path = kubectl_path  # "" = the lab's own kubectl, else the one on PATH
        self.api = api_client(self.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self._names: dict[str, str] | None = None

    def can(self, capability: Capability | str) -> bool:
        """Whether this lab's provider has ``capability`` (lab.providers' registry, not its name)."""
        return Capability(capability) in capabilities(self.provider)

    # -- reads ------------------------------------------------------------------------------------
    def get(self, path: str, **query: str) -> dict:
        """GET a raw API path and decode it (no model deserialization: fast and exact); raises ApiException."""
        resp = self.api.call_api(path, "GET", query_params=list(query.items()), auth_settings=["BearerToken"],
                                 _preload_content=False, _request_timeout=(5, 30))
        return json.loads(resp[0].data)

    def find(self, path: str, **query: str) -> dict | None:
        """GET an API path; None when it does not exist."""
        try:
            return self.get(path, **query)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pod(self, namespace: str, name: str) -> dict:
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def find_pod(self, namespace: str, name: str) -> dict | None:
        return self.find(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def pods(self, namespace: str, selector: str = "") -> list[dict]:
        query = {"labelSelector": selector} if selector else {}
        found: list[dict] = (self.find(f"/api/v1/namespaces/{namespace}/pods", **query) or {}).get("items", [])
        return found

    def lease(self, namespace: str, name: str) -> dict:
        return self.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")

    def find_lease(self, namespace: str, name: str) -> dict | None:
        return self.find(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")

    def lease_holder(self, name: str) -> str:
        """Who holds the scheduler Lease kube-system/``name`` ("" while there is no Lease, no holder or
        no answer)."""
        try:
            return ((self.find_lease(LEASES_NAMESPACE, name) or {}).get("spec") or {}).get("holderIdentity") or ""
        except Exception:  # noqa: BLE001 - the API server may be restarting: no holder known
            return ""

    def leases(self, namespace: str = LEASES_NAMESPACE) -> list[dict]:
        """Every Lease of ``namespace`` as name, holder, renewTime and transitions."""
        items = self.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases")["items"]
        return [{"name": i["metadata"]["name"], "holder": i.get("spec", {}).get("holderIdentity") or "",
                 "renewTime": i.get("spec", {}).get("renewTime") or "",
                 "transitions": i.get("spec", {}).get("leaseTransitions", 0)} for i in items]

    def events_for(self, namespace: str, name: str) -> list[dict]:
        """events.k8s.io events regarding a pod (what kube-scheduler writes)."""
        items = self.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
                         fieldSelector=f"regarding.name={name}")["items"]
        core = self.get(f"/api/v1/namespaces/{namespace}/events",
                        fieldSelector=f"involvedObject.name={name}")["items"]
        seen = {e["metadata"]["uid"] for e in items}
        # Core-v1 view of the same objects has the same uid; keep only those not seen.
        return items + [_core_to_events(e) for e in core if e["metadata"]["uid"] not in seen]

    def scheduled_by(self, pod: dict) -> str:
        """Who reported the pod's Scheduled event ("" when there is none)."""
        meta = pod["metadata"]
        events = self.find(f"/api/v1/namespaces/{meta['namespace']}/events",
                           fieldSelector=f"involvedObject.name={meta['name']},reason=Scheduled") or {}
        for e in events.get("items", []):
            if e.get("involvedObject", {}).get("uid") == meta.get("uid"):
                return e.get("reportingComponent") or (e.get("source") or {}).get("component") or "?"
        return ""

    def nodes_view(self) -> list[NodeView]:
        """Every node with its roles, readiness, taints, allocatable and what its live pods request."""
        nodes = self.get("/api/v1/nodes")["items"]
        pods = self.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
        views: dict[str, NodeView] = {}
        for n in nodes:
            meta, st = n["metadata"], n.get("status", {})
            labels = meta.get("labels", {})
            roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
            cond = {c["type"]: c["status"] for c in st.get("conditions", [])}
            views[meta["name"]] = NodeView(
                name=meta["name"], roles=roles, ready=cond.get("Ready") == "True",
                taints=[f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
                        for t in n.get("spec", {}).get("taints", []) or []],
                addresses=[a["address"] for a in st.get("addresses", []) if a["type"] == "InternalIP"],
                version=st.get("nodeInfo", {}).get("kubeletVersion", ""),
                allocatable={r: _qty(q) for r, q in st.get("allocatable", {}).items()},
            )
        for p in pods:
            node = p.get("spec", {}).get("nodeName")
            if node in views:
                v = views[node]
                v.pods.append(f"{p['metadata']['namespace']}/{p['metadata']['name']}")
                for r, q in pod_requests(p).items():
                    v.requested[r] = v.requested.get(r, 0.0) + q
        return list(views.values())

    # -- lab node names -----------------------------------------------------------------------------
    def real_name(self, lab_name: str) -> str:
        """A lab node's name in this cluster: kind cannot rename its nodes, so there the lab name is
        the scheduler-lab.dev/name label (local and vagrant nodes carry the lab names)."""
        if self._names is None:
            self._names = {}
            for n in (self.find("/api/v1/nodes") or {}).get("items", []):
                meta = n["metadata"]
                self._names[(meta.get("labels") or {}).get(NAME_LABEL, meta["name"])] = meta["name"]
        return self._names.get(lab_name, lab_name)

    @property
    def workers(self) -> list[str]:
        return [self.real_name(n.name) for n in self.spec.workers]

    @property
    def master(self) -> str:
        return self.real_name(self.spec.control_plane.name)

    # -- kubectl --------------------------------------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run([self._kubectl_binary(), *args], capture_output=True, text=True, check=check,
                              input=input, env=env, timeout=timeout)

    def apply(self, manifest: dict | list[dict] | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": manifest if isinstance(manifest, list) else [manifest]})
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        self.kubectl(*args, input=text)

    def describe(self, namespace: str, kind_name: str) -> str:
        out = self.kubectl("describe", "-n", namespace, kind_name, check=False)
        return out.stdout + out.stderr

    @contextlib.contextmanager
    def port_forward(self, namespace: str, pod: str, port: int) -> Iterator[int]:
        """`kubectl port-forward` to a pod's port; yields the local port on 127.0.0.1. (Its
        connections start inside the pod's network namespace: no NetworkPolicy applies.)"""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.Popen([self._kubectl_binary(), "-n", namespace, "port-forward", f"pod/{pod}", f":{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            local = 0
            deadline = time.monotonic() + 30
            assert proc.stdout is not None
            while not local and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
                line = proc.stdout.readline() if ready else ""
                if not line and proc.poll() is not None:
                    break
                m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
                local = int(m.group(1)) if m else 0
            if not local:
                raise AssertionError(f"kubectl port-forward to {pod}:{port} did not start")
            yield local
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def _kubectl_binary(self) -> str:
        if not self.kubectl_path:
            from lab.workshop.kubectl import kubectl_binary

            self.kubectl_path = kubectl_binary(self.workdir)
        return self.kubectl_path


def _core_to_events(e: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": e["metadata"], "reason": e.get("reason"), "note": e.get("message"),
            "type": e.get("type"), "action": e.get("action"), "reportingController": e.get("reportingComponent")
            or (e.get("source") or {}).get("component"),
            "regarding": e.get("involvedObject")}
