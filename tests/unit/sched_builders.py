"""Tiny builders for Node and Pod dicts (Kubernetes JSON form) used by the core unit tests."""

from __future__ import annotations

import itertools
import random
from typing import Any

from scheduler.core.framework import Profile
from scheduler.core.profiles import build_profiles, load_config_text
from scheduler.core.state import ClusterState

_uid = itertools.count(1)


def node(name: str, cpu: str = "2", memory: str = "4Gi", pods: str | int = "110", labels: dict | None = None,
         taints: list[dict] | None = None, images: list[tuple[list[str], int]] | None = None,
         unschedulable: bool = False, extra: dict[str, str] | None = None, ephemeral: str | None = None) -> dict:
    alloc: dict[str, Any] = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    if ephemeral is not None:
        alloc["ephemeral-storage"] = ephemeral
    alloc.update(extra or {})
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": dict(alloc), "allocatable": alloc,
                   "images": [{"names": n, "sizeBytes": s} for n, s in images or ()]},
    }


def container(name: str = "c", requests: dict | None = None, image: str = "nginx:1.25", ports: list | None = None,
              restart_policy: str | None = None) -> dict:
    c: dict[str, Any] = {"name": name, "image": image}
    if requests is not None:
        c["resources"] = {"requests": requests}
    if ports:
        c["ports"] = ports
    if restart_policy:
        c["restartPolicy"] = restart_policy
    return c


def pod(name: str, *requests: dict | None, node_name: str | None = None, namespace: str = "default",
        labels: dict | None = None, priority: int | None = None, scheduler: str | None = None,
        init: list[dict] | None = None, overhead: dict | None = None, tolerations: list | None = None,
        affinity: dict | None = None, node_selector: dict | None = None, spread: list | None = None,
        containers: list[dict] | None = None, owner: dict | None = None, **spec_extra: Any) -> dict:
    spec: dict[str, Any] = {
        "containers": containers if containers is not None else [container(f"c{i}", r) for i, r in
                                                                 enumerate(requests or [None])],
    }
    if node_name:
        spec["nodeName"] = node_name
    if priority is not None:
        spec["priority"] = priority
    if scheduler:
        spec["schedulerName"] = scheduler
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if spread:
        spec["topologySpreadConstraints"] = spread
    spec.update(spec_extra)
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}-{next(_uid)}"}
    if labels:
        meta["labels"] = labels
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


def cluster(nodes: list[dict], pods: list[dict] = ()) -> ClusterState:  # type: ignore[assignment]
    state = ClusterState()
    for n in nodes:
        state.add_node(n)
    for p in pods:
        state.add_pod(p)
    return state


CONFIG_HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def profile_from(yaml_body: str = "", name: str = "default-scheduler") -> Profile:
    return build_profiles(load_config_text(CONFIG_HEAD + yaml_body, "test.yaml"))[name]


def default_profile() -> Profile:
    return profile_from()


def schedule(profile: Profile, state: ClusterState, p: dict, seed: int = 0):
    return profile.schedule(state, p, random.Random(seed))
