"""``Nominator``: the pods preemption nominated to nodes, and the room they hold there."""

from __future__ import annotations

import threading
from typing import Any, Mapping

from scheduler.core.nodeinfo import PodInfo
from scheduler.core.podutil import pod_uid


class Nominator:
    """Pods nominated to nodes by preemption (the scheduling queue's ``nominator``, v1.29.15).

    One per scheduler, shared by its profiles. A nominated pod reserves its room: pods of lower
    or equal priority are filtered as if it were already on the node
    (``RunFilterPluginsWithNominatedPods``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def add(self, pod: Mapping[str, Any], node: str) -> None:
        """``AddNominatedPod`` (replaces an earlier nomination of the same pod)."""
        info = PodInfo(pod)
        with self._lock:
            self._remove(info.uid)
            self._by_node.setdefault(node, {})[info.uid] = info
            self._node_of[info.uid] = node

    def delete(self, pod: Mapping[str, Any]) -> None:
        """``DeleteNominatedPodIfExists``."""
        with self._lock:
            self._remove(pod_uid(pod))

    def _remove(self, uid: str) -> None:
        node = self._node_of.pop(uid, None)
        if node is not None:
            pods = self._by_node.get(node, {})
            pods.pop(uid, None)
            if not pods:
                self._by_node.pop(node, None)

    def for_node(self, node: str) -> list[PodInfo]:
        """``NominatedPodsForNode``."""
        with self._lock:
            return list(self._by_node.get(node, {}).values())

    def nodes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._by_node)

    def node_of(self, pod: Mapping[str, Any]) -> str | None:
        with self._lock:
            return self._node_of.get(pod_uid(pod))
