"""The end of handleSchedulingFailure, shared by the scheduling cycle and the binding cycle: the
FailedScheduling event, then updatePod with PodScheduled=False and the nomination (set by
preemption, or cleared). Upstream sends both whether or not the pod was re-queued."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.runtime.binder import Binder
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.preemption import status_patch


class FailureReporter:
    def __init__(self, events: EventRecorder, binder: Binder) -> None:
        self.events = events
        self.binder = binder

    def report(self, pod: Mapping[str, Any], message: str, reason: str, scheduler_name: str, *,
               nominated: str | None = None, clear_nomination: bool = True) -> None:
        """FailedScheduling with ``message``, then the status patch on a bind worker (reason
        Unschedulable or SchedulerError; ``nominated`` a node preemption chose, if any)."""
        self.events.failed_scheduling(pod, message, scheduler_name)
        patch = status_patch(pod, message, reason, nominated, clear_nomination)
        if patch is not None:
            self.binder.run_in_pool(lambda: self.binder.patch_status(pod, patch))
