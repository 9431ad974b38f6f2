"""PrioritySort (QueueSort): higher spec.priority first, then older queue timestamp."""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import Plugin
from scheduler.core.state import pod_priority


def _timestamp(pod: Mapping[str, Any]) -> str:
    # The queue's own timestamp is not part of the object; creationTimestamp is the closest stand-in.
    return (pod.get("metadata") or {}).get("creationTimestamp") or ""


class PrioritySort(Plugin):
    name = "PrioritySort"

    def less(self, pod_a: Mapping[str, Any], pod_b: Mapping[str, Any]) -> bool:
        pa, pb = pod_priority(pod_a), pod_priority(pod_b)
        return pa > pb or (pa == pb and _timestamp(pod_a) < _timestamp(pod_b))
