"""The informers' event handlers (kube-scheduler's eventhandlers.go): nodes and assigned pods feed
the cache, pending pods the scheduling queue, workload objects the cache's PodTopologySpread and
affinity inputs; a Lease change wakes a standby."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from scheduler.core.podutil import is_assigned, is_terminal, pod_key, pod_uid, resource_version
from scheduler.core.state import ClusterState
from scheduler.runtime.klog import V, log_s
from scheduler.runtime.queue import SchedulingQueue

__all__ = ["NodeEventHandler", "PodEventHandler", "ObjectEventHandler", "LeaseNudger", "node_change_events",
           "WORKLOAD_INFORMERS"]

log = logging.getLogger("scheduler.runtime.app")  # the name the log lines have always had


def _scheduling_relevant(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of an assigned pod the cache depends on (requests, ports, affinity, labels, phase)."""
    meta = pod.get("metadata") or {}
    return (pod.get("spec"), meta.get("labels"), meta.get("deletionTimestamp"),
            is_terminal(pod))


def _conditions(node: Mapping[str, Any]) -> dict[str, str]:
    return {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}


def node_change_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Which node changes may make an unschedulable pod fit (kube-scheduler's
    nodeSchedulingPropertiesChange). Heartbeats change none of them, so they move nothing."""
    events = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if bool(old_spec.get("unschedulable")) != bool(new_spec.get("unschedulable")):
        events.append("NodeSpecUnschedulableChange")
    if (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"):
        events.append("NodeAllocatableChange")
    if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
        events.append("NodeLabelChange")
    if old_spec.get("taints") != new_spec.get("taints"):
        events.append("NodeTaintChange")
    if _conditions(old) != _conditions(new):
        events.append("NodeConditionChange")
    return events


class NodeEventHandler:
    def __init__(self, state: ClusterState, queue: SchedulingQueue) -> None:
        self.state = state
        self.queue = queue

    def on_add(self, node: dict[str, Any]) -> None:
        self.state.add_node(node)
        log_s(log, V(3), "Add event for node", node=node["metadata"]["name"])
        self.queue.move_all_to_active_or_backoff("NodeAdd")

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.state.update_node(new)
        for event in node_change_events(old, new)[:1]:
            self.queue.move_all_to_active_or_backoff(event)

    def on_delete(self, node: dict[str, Any]) -> None:
        log_s(log, V(3), "Delete event for node", node=node["metadata"]["name"])
        self.state.remove_node(node["metadata"]["name"])


class PodEventHandler:
    """kube-scheduler's eventhandlers.go: assigned pods feed the cache, pending ones the queue.

    Both sides are client-go FilteringResourceEventHandlers, mirrored exactly: an update that
    moves a pod across a filter becomes an add on one side and a delete of the *old* object on the
    other (assigned -> unassigned is a delete from the cache); an update whose uid changed (a pod
    deleted and re-created under its name during a watch gap) removes the old pod and adds the new;
    a tombstone from a re-list goes to the cache whatever the stale object says.

    The assumed / in-flight state is the ClusterState's (one owner); the handler only reads it.
    """

    def __init__(self, state: ClusterState, queue: SchedulingQueue, responsible: Callable[[Mapping[str, Any]], bool]) -> None:
        self.state = state
        self.queue = queue
        self.responsible = responsible

    def _for_queue(self, pod: Mapping[str, Any]) -> bool:
        return not is_assigned(pod) and self.responsible(pod)

    # -- the cache side (addPodToCache / updatePodInCache / deletePodFromCache) -----------------

    def _add_to_cache(self, pod: dict[str, Any]) -> None:
        log_s(log, V(3), "Add event for scheduled pod", pod=pod_key(pod))
        self.queue.delete(pod)  # a re-list may show bound a pod the queue still holds
        self.state.add_pod(pod)
        self.queue.assigned_pod_added()

    def _update_in_cache(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        log_s(log, V(4), "Update event for scheduled pod", pod=pod_key(old))
        if pod_uid(old) != pod_uid(new):
            # updatePodInCache: "a delete event followed by an immediate add event" was merged.
            self._delete_from_cache(old)
            self._add_to_cache(new)
            return
        if _scheduling_relevant(old) == _scheduling_relevant(new):
            return  # status-only updates (the kubelet's, kwok's) change nothing the scheduler counts
        self.state.update_pod(old, new)
        self.queue.move_all_to_active_or_backoff("AssignedPodUpdate")

    def _delete_from_cache(self, pod: dict[str, Any]) -> None:
        log_s(log, V(3), "Delete event for scheduled pod", pod=pod_key(pod))
        self.state.remove_pod(pod)  # by uid: finds an assumed pod too
        self.queue.move_all_to_active_or_backoff("AssignedPodDelete")

    # -- the queue side (add/update/deletePodFromSchedulingQueue) -------------------------------

    def _add_to_queue(self, pod: dict[str, Any]) -> None:
        log_s(log, V(3), "Add event for unscheduled pod", pod=pod_key(pod))
        if not self.state.is_assumed(pod):
            self.queue.add(pod)

    def _update_in_queue(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        # updatePodInSchedulingQueue: identical objects (a re-list) and assumed pods are skipped;
        # the binder re-reads the pod from the informer if its bind fails.
        if resource_version(old) == resource_version(new) and pod_uid(old) == pod_uid(new):
            return
        if self.state.is_assumed(new):
            return
        self.queue.update(new)

    def _delete_from_queue(self, pod: dict[str, Any]) -> None:
        log_s(log, V(3), "Delete event for unscheduled pod", pod=pod_key(pod))
        self.queue.delete(pod)

    # -- the informer's calls -------------------------------------------------------------------

    def on_add(self, pod: dict[str, Any]) -> None:
        if is_assigned(pod):
            self._add_to_cache(pod)
        elif self.responsible(pod):
            self._add_to_queue(pod)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        older, newer = is_assigned(old), is_assigned(new)
        if older and newer:
            self._update_in_cache(old, new)
        elif newer:
            self._add_to_cache(new)
        elif older:
            self._delete_from_cache(old)
        q_older, q_newer = self._for_queue(old), self._for_queue(new)
        if q_older and q_newer:
            if pod_uid(old) != pod_uid(new):
                self._delete_from_queue(old)
                self._add_to_queue(new)
            else:
                self._update_in_queue(old, new)
        elif q_newer:
            self._add_to_queue(new)
        elif q_older:
            self._delete_from_queue(old)

    def on_delete(self, pod: dict[str, Any]) -> None:
        if is_assigned(pod):
            self._delete_from_cache(pod)
        elif self.responsible(pod):
            self._delete_from_queue(pod)

    def on_delete_final_state_unknown(self, pod: dict[str, Any]) -> None:
        """A delete a re-list found: the object may be stale (pending here, bound and gone there),
        so the cache cleans up by uid anyway ("Attempting to cleanup anyways", eventhandlers.go)."""
        self._delete_from_cache(pod)
        if self.responsible(pod):
            self._delete_from_queue(pod)


class ObjectEventHandler:
    """Services, controllers and namespaces: only PodTopologySpread defaults and affinity read them."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state

    def on_add(self, obj: dict[str, Any]) -> None:
        self.state.add_object(obj)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.state.update_object(new)

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.state.remove_object(obj)


class LeaseNudger:
    """Wakes a standby when the Lease changes hands or is released (not on every renewal)."""

    def __init__(self, nudge: Callable[[], None]) -> None:
        self._nudge = nudge

    @staticmethod
    def _holder(lease: Mapping[str, Any]) -> str:
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def on_add(self, obj: dict[str, Any]) -> None:
        self._nudge()

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if self._holder(old) != self._holder(new):
            self._nudge()

    def on_delete(self, obj: dict[str, Any]) -> None:
        self._nudge()


# (name, path, kind) of the optional informers feeding ClusterState.add_object.
WORKLOAD_INFORMERS = (
    ("services", "/api/v1/services", "Service"),
    ("replicationcontrollers", "/api/v1/replicationcontrollers", "ReplicationController"),
    ("replicasets", "/apis/apps/v1/replicasets", "ReplicaSet"),
    ("statefulsets", "/apis/apps/v1/statefulsets", "StatefulSet"),
    ("namespaces", "/api/v1/namespaces", "Namespace"),
    ("poddisruptionbudgets", "/apis/policy/v1/poddisruptionbudgets", "PodDisruptionBudget"),  # preemption
)
