"""A thin, provider-independent view of a running lab cluster (through its kubeconfig)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config
from kubernetes.utils.quantity import parse_quantity


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def get_json(api: client.ApiClient, path: str, query: list[tuple[str, str]] | None = None) -> dict:
    """GET a raw API path and decode it (no model deserialization: fast and exact)."""
    resp = api.call_api(path, "GET", query_params=query or [], auth_settings=["BearerToken"],
                        _preload_content=False, _request_timeout=(5, 30))
    return json.loads(resp[0].data)


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


def nodes_view(api: client.ApiClient) -> list[NodeView]:
    nodes = get_json(api, "/api/v1/nodes")["items"]
    pods = get_json(api, "/api/v1/pods",
                    [("fieldSelector", "status.phase!=Succeeded,status.phase!=Failed")])["items"]
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


def leases(api: client.ApiClient, namespace: str = "kube-system") -> list[dict]:
    items = get_json(api, f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases")["items"]
    return [{"name": i["metadata"]["name"], "holder": i.get("spec", {}).get("holderIdentity") or "",
             "renewTime": i.get("spec", {}).get("renewTime") or "",
             "transitions": i.get("spec", {}).get("leaseTransitions", 0)} for i in items]


def bar(fraction: float, width: int = 20) -> str:
    """A text bar: '[#######.............]  35%'."""
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:4.0f}%"
