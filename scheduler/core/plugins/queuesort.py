"""PrioritySort (QueueSort): higher spec.priority first, then the earlier time the pod entered the queue."""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from scheduler.core.framework import Plugin
from scheduler.core.podutil import pod_priority


class QueuedPod(Protocol):
    """What a QueueSort plugin compares (framework.QueuedPodInfo): the pod and its queue timestamp."""

    pod: Mapping[str, Any]
    timestamp: float


class PrioritySort(Plugin):
    name = "PrioritySort"

    def less(self, a: QueuedPod, b: QueuedPod) -> bool:
        """queuesort.PrioritySort.Less: priority, then pInfo.Timestamp (when it entered the queue)."""
        pa, pb = pod_priority(a.pod), pod_priority(b.pod)
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)
