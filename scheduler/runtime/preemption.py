"""The I/O half of DefaultPreemption: evict the victims the pure core chose, nominate the node.

Mirrors kube-scheduler v1.29.15:

* ``preemption.Evaluator.prepareCandidate`` — for every victim, patch ``pods/status`` with the
  ``DisruptionTarget`` condition (reason ``PreemptionByScheduler``; the PodDisruptionConditions gate
  is on by default in 1.29), DELETE the pod, and record a ``Preempted`` event regarding the victim,
  related to the preemptor: ``Preempted by pod <uid> on node <node>`` (action ``Preempting``);
* ``schedule_one.go`` ``updatePod`` — the preemptor's ``status.nominatedNodeName`` is set in the
  same status patch as its ``PodScheduled=False`` condition, and cleared when preemption found no
  candidate (``NewPostFilterResultWithNominatedNode("")``).

Victims are deleted synchronously in the scheduling cycle, as upstream does, so the preemptor is
never retried before its victims are terminating.

Every victim's status patch and deletion is a leader's write and goes through the very fence
binds pass (``Binder.fenced``: the Lease-based ``can_act`` checked immediately before each
request, the request bounded by the bind timeout and counted as in flight): a deposed leader
deletes nothing, and a deletion already on the wire ends before any standby can lead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from scheduler.core.podutil import is_assigned, pod_key
from scheduler.runtime.binder import NotLeader
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import JSON, STRATEGIC_MERGE_PATCH, ApiError

__all__ = ["NominationTracker", "Preemptor", "status_patch"]

log = logging.getLogger("scheduler.runtime.preemption")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ref(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name"), "namespace": meta.get("namespace"),
            "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}


def status_patch(pod: Mapping[str, Any], message: str, reason: str, nominated: str | None,
                 clear: bool) -> dict[str, Any] | None:
    """``updatePod``: the PodScheduled=False condition plus nominatedNodeName when it changes.

    Returns None when the pod already shows both (upstream then skips the API call).
    """
    status = pod.get("status") or {}
    current = status.get("nominatedNodeName") or ""
    wanted = nominated if nominated else ("" if clear else current)
    cond_current = any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                       and c.get("reason") == reason and c.get("message") == message
                       for c in status.get("conditions") or [])
    if cond_current and wanted == current:
        return None
    patch: dict[str, Any] = {"status": {}}
    if not cond_current:
        patch["status"]["conditions"] = [{
            "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
            "lastProbeTime": None, "lastTransitionTime": _now()}]
    if wanted != current:
        patch["status"]["nominatedNodeName"] = wanted or None
    return patch


# A leader's write: (method, path, body, content_type) -> the answer; raises NotLeader (nothing
# sent) once the fence is closed, ApiError when the request fails.
FencedSend = Callable[[str, str, Any, str], dict[str, Any]]


class Preemptor:
    """Evicts victims for one scheduler process (``prepareCandidate``), every write through
    ``send`` (the binder's fenced send)."""

    def __init__(self, send: FencedSend, events: Any) -> None:
        self.send = send
        self.events = events

    def evict(self, preemptor: Mapping[str, Any], node: str, victims: list[Mapping[str, Any]],
              scheduler_name: str) -> bool:
        """Evict ``victims`` for ``preemptor``; False if any eviction failed (the cycle then errs)."""
        ok = True
        uid = (preemptor.get("metadata") or {}).get("uid")
        for victim in victims:
            meta = victim.get("metadata") or {}
            path = f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}"
            condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                         "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
                         "lastTransitionTime": _now()}
            try:
                if not any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                           and c.get("reason") == "PreemptionByScheduler"
                           for c in (victim.get("status") or {}).get("conditions") or []):
                    self.send("PATCH", path + "/status", {"status": {"conditions": [condition]}},
                              STRATEGIC_MERGE_PATCH)
                self.send("DELETE", path, None, JSON)
            except NotLeader:
                log_s(log, V(2), "Victim not evicted: not leading", preemptor=pod_key(preemptor),
                      victim=f"{meta.get('namespace')}/{meta.get('name')}")
                return False  # the fence is closed: no later victim's write would pass it either
            except ApiError as exc:
                if exc.status != 404:  # already gone is what we wanted
                    log.error(kv("Preempted pod", pod=f"{meta.get('namespace')}/{meta.get('name')}",
                                 preemptor=pod_key(preemptor), err=str(exc)))
                    ok = False
                    continue
            log_s(log, V(2), "Preemptor Pod preempted victim Pod", preemptor=pod_key(preemptor),
                  victim=f"{meta.get('namespace')}/{meta.get('name')}", node=node)
            body = self.events.event_for_pod(victim, scheduler_name=scheduler_name, type_="Normal",
                                             reason="Preempted", action="Preempting",
                                             note=f"Preempted by pod {uid} on node {node}")
            body["related"] = _ref(preemptor)
            self.events._submit(f"/apis/events.k8s.io/v1/namespaces/{meta.get('namespace')}/events", body)
        return ok





class NominationTracker:
    """Wraps the pod informer's handler to keep the scheduler's ``Nominator`` current.

    As kube-scheduler's queue does: an unassigned pod carrying ``status.nominatedNodeName`` (set by
    this scheduler or by a previous leader) is nominated there; a pod that gets assigned, loses
    its nomination or is deleted is forgotten.
    """

    def __init__(self, inner: Any, nominator: Any, responsible: Any) -> None:
        self.inner = inner
        self.nominator = nominator
        self.responsible = responsible

    def _track(self, pod: Mapping[str, Any]) -> None:
        node = (pod.get("status") or {}).get("nominatedNodeName")
        if is_assigned(pod) or not node or not self.responsible(pod):
            self.nominator.delete(pod)
        else:
            self.nominator.add(pod, node)

    def on_add(self, pod: dict[str, Any]) -> None:
        self.inner.on_add(pod)
        self._track(pod)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.inner.on_update(old, new)
        self._track(new)

    def on_delete(self, pod: dict[str, Any]) -> None:
        self.inner.on_delete(pod)
        self.nominator.delete(pod)

    def on_delete_final_state_unknown(self, pod: dict[str, Any]) -> None:
        # A re-list's tombstone: the wrapped handler cleans its cache whatever the stale object says.
        getattr(self.inner, "on_delete_final_state_unknown", self.inner.on_delete)(pod)
        self.nominator.delete(pod)
