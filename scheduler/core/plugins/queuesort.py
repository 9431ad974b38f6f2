"""PrioritySort (QueueSort): higher spec.priority first, then the earlier time the pod entered the queue."""

from __future__ import annotations

from scheduler.core.extensionpoints import QueuedPod
from scheduler.core.framework import Plugin
from scheduler.core.podutil import pod_priority


class PrioritySort(Plugin):
    name = "PrioritySort"

    def less(self, a: QueuedPod, b: QueuedPod) -> bool:
        """queuesort.PrioritySort.Less: priority, then pInfo.Timestamp (when it entered the queue)."""
        pa, pb = pod_priority(a.pod), pod_priority(b.pod)
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)
