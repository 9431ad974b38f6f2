"""Small facts read off a pod (or any namespaced object) as the API serves it: the one place they are
defined, for the core and the runtime alike.

Pods are JSON mappings; a missing field reads as the API server's default (namespace ``default``,
schedulerName ``default-scheduler``, priority 0), so hand-written state files and watch objects
give the same answers.
"""

from __future__ import annotations

from typing import Any, Mapping

TERMINAL_PHASES = ("Succeeded", "Failed")
DEFAULT_SCHEDULER_NAME = "default-scheduler"


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's metadata ({} when it has none)."""
    return obj.get("metadata") or {}


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's spec ({} when it has none)."""
    return obj.get("spec") or {}


def namespaced_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` of a namespaced object (the namespace defaults to ``default``)."""
    meta = meta_of(obj)
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def pod_key(pod: Mapping[str, Any]) -> str:
    """``namespace/name``: the queue's, the informer's and the log lines' name for a pod."""
    return namespaced_key(pod)


def pod_namespace(pod: Mapping[str, Any]) -> str:
    return str(meta_of(pod).get("namespace") or "default")


def pod_name(pod: Mapping[str, Any]) -> str:
    return str(meta_of(pod).get("name") or "")


def pod_uid(pod: Mapping[str, Any]) -> str:
    """The pod's uid, its key when it has none (a hand-written state file): the cache's identity."""
    return str(meta_of(pod).get("uid") or pod_key(pod))


def resource_version(obj: Mapping[str, Any]) -> str:
    return str(meta_of(obj).get("resourceVersion") or "")


def pod_priority(pod: Mapping[str, Any]) -> int:
    prio = spec_of(pod).get("priority")
    return int(prio) if prio is not None else 0


def scheduler_name(pod: Mapping[str, Any]) -> str:
    """spec.schedulerName, with the API server's default."""
    return str(spec_of(pod).get("schedulerName") or DEFAULT_SCHEDULER_NAME)


def is_assigned(pod: Mapping[str, Any]) -> bool:
    """Bound (or being bound): spec.nodeName is set."""
    return bool(spec_of(pod).get("nodeName"))


def is_terminal(pod: Mapping[str, Any]) -> bool:
    """Succeeded or Failed: never counted (the scheduler's pod informer filters them out)."""
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def is_terminating(pod: Mapping[str, Any]) -> bool:
    """Being deleted (metadata.deletionTimestamp is set)."""
    return meta_of(pod).get("deletionTimestamp") is not None


def has_scheduling_gates(pod: Mapping[str, Any]) -> bool:
    return bool(spec_of(pod).get("schedulingGates"))


def scheduling_gates(pod: Mapping[str, Any]) -> list[str]:
    return [g.get("name", "") for g in spec_of(pod).get("schedulingGates") or ()]
