"""The volume I/O: informers for PVs, PVCs, StorageClasses and CSINodes, and VolumeBinding's PreBind.

* ``VolumeEventHandler`` feeds the state's volume cache (``ClusterState.volumes``, the one owner of
  volume objects; it keeps VolumeBinding's assumptions across informer updates) and moves
  unschedulable pods on the events VolumeBinding registers for (eventhandlers.go: ``PvAdd``,
  ``PvcUpdate``, ``StorageClassAdd`` for WaitForFirstConsumer classes only, ...). Every change also
  wakes the PreBind waiters.
* ``VolumePreBinder`` carries out a core ``VolumeBindingPlan`` as ``BindPodVolumes`` does: one
  PUT per PV (its claimRef) and per provisioned claim (its selected-node annotation), each
  through the binder's leader fence, then waits until ``check_bindings`` (pure, in the core) says
  the PV controller has bound every claim, at most ``bindTimeoutSeconds``. Upstream polls every
  second; here each informer change wakes the check as well, with the same one-second fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from scheduler.core.podutil import meta_of, namespaced_key
from scheduler.core.plugins.volumebinding import VolumeBindingError, VolumeBindingPlan, check_bindings
from scheduler.runtime.binder import PreBindError
from scheduler.runtime.klog import V, log_s
from scheduler.runtime.kube import ApiError

__all__ = ["VOLUME_INFORMERS", "VolumeEventHandler", "VolumePreBinder"]

log = logging.getLogger("scheduler.runtime.volumes")

# (reflector name, path, kind, the short kind upstream's event labels use)
VOLUME_INFORMERS = (
    ("persistentvolumes", "/api/v1/persistentvolumes", "PersistentVolume", "Pv"),
    ("persistentvolumeclaims", "/api/v1/persistentvolumeclaims", "PersistentVolumeClaim", "Pvc"),
    ("storageclasses", "/apis/storage.k8s.io/v1/storageclasses", "StorageClass", "StorageClass"),
    ("csinodes", "/apis/storage.k8s.io/v1/csinodes", "CSINode", "CSINode"),
)
POLL_INTERVAL = 1.0  # BindPodVolumes: wait.PollUntilContextTimeout(ctx, time.Second, bindTimeout, false, ...)


class VolumeEventHandler:
    def __init__(self, state: Any, queue: Any, short_kind: str, changed: threading.Condition) -> None:
        self.state = state
        self.queue = queue
        self.short_kind = short_kind
        self.changed = changed

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def on_add(self, obj: dict[str, Any]) -> None:
        self.state.add_object(obj)
        self._notify()
        if self.short_kind == "StorageClass" and obj.get("volumeBindingMode") != "WaitForFirstConsumer":
            return  # onStorageClassAdd: only a late-binding class can make an unbound claim fit
        self.queue.move_all_to_active_or_backoff(f"{self.short_kind}Add")

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.state.update_object(new)
        self._notify()
        self.queue.move_all_to_active_or_backoff(f"{self.short_kind}Update")

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.state.remove_object(obj)  # no plugin registers for volume deletes: nothing moves
        self._notify()


def _api_message(exc: BaseException) -> str:
    """What a Go API error prints (the Status message), for the FailedScheduling text."""
    if isinstance(exc, ApiError) and exc.status:
        return exc.message
    return str(exc)


class VolumePreBinder:
    """Runs VolumeBinding plans (``BindPodVolumes``) on a bind worker."""

    def __init__(self, state: Any, *, write: Callable[[str, str, dict[str, Any]], dict[str, Any]],
                 pod_exists: Callable[[Mapping[str, Any]], bool], changed: threading.Condition,
                 stopping: threading.Event, clock: Callable[[], float] = time.monotonic,
                 poll_interval: float = POLL_INTERVAL) -> None:
        self.state = state
        self._write = write
        self._pod_exists = pod_exists
        self._changed = changed
        self._stopping = stopping
        self._clock = clock
        self._poll = poll_interval

    def run(self, plugin: str, plan: VolumeBindingPlan) -> None:
        """Raises ``PreBindError`` with kube-scheduler's text on any failure."""
        prefix = f'running PreBind plugin "{plugin}": '
        try:
            self._bind_api_update(plan)
        except PreBindError:
            raise
        except Exception as exc:
            raise PreBindError(prefix + _api_message(exc)) from None
        try:
            self._wait(plan)
        except VolumeBindingError as exc:
            raise PreBindError(f"{prefix}binding volumes: {exc}") from None

    def _bind_api_update(self, plan: VolumeBindingPlan) -> None:
        """``bindAPIUpdate``: PVs first, then claims; each answer replaces what we later compare with."""
        for binding in plan.volumes.static_bindings:
            name = meta_of(binding.pv).get("name")
            body = {"apiVersion": "v1", "kind": "PersistentVolume", **binding.pv}
            binding.pv = self._write("PUT", f"/api/v1/persistentvolumes/{name}", body)
            log_s(log, V(2), "Updated PersistentVolume with claim. Waiting for binding to complete",
                  pod=namespaced_key(plan.pod), PV=str(name), PVC=namespaced_key(binding.pvc))
        for i, claim in enumerate(plan.volumes.dynamic_provisions):
            meta = meta_of(claim)
            body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim}
            path = f"/api/v1/namespaces/{meta.get('namespace') or 'default'}/persistentvolumeclaims/{meta.get('name')}"
            plan.volumes.dynamic_provisions[i] = self._write("PUT", path, body)

    def _check(self, plan: VolumeBindingPlan) -> bool:
        pod_ok = self._pod_exists(plan.pod)
        return self.state.atomically(
            lambda: check_bindings(self.state.volumes, plan, self.state.node_labels(plan.node), pod_ok))

    def _wait(self, plan: VolumeBindingPlan) -> None:
        deadline = self._clock() + float(plan.timeout_seconds)
        while True:
            with self._changed:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise VolumeBindingError("context deadline exceeded")
                self._changed.wait(min(self._poll, remaining))
            if self._stopping.is_set():
                raise VolumeBindingError("context canceled")
            if self._check(plan):
                log_s(log, V(2), "All PVCs for pod are bound", pod=namespaced_key(plan.pod))
                return
