"""One scheduling cycle (``schedulingCycle`` of schedule_one.go, v1.29), shared by ``simulate`` and the
live scheduler: the decision (``Profile.schedule``: PreFilter .. selectHost, or the failure path with
PostFilter and the FitError message), then assume and Reserve; a Reserve failure is undone
(Unreserve, ForgetPod) and becomes the failure kube-scheduler reports. Pure: the caller acts on the
result (binds, or reports the failure and runs preemption's evictions).

The cycle runs as one cache operation (``ClusterState.atomically``): no watch event lands between
the decision and the assumption it leads to.
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Protocol

from scheduler.core.framework import Profile, ScheduleResult
from scheduler.core.messages import fit_error_message
from scheduler.core.state import ClusterState


class Decides(Protocol):
    """What the cycle needs of a profile: its decision. ``Profile`` is one; so are the I/O tests'
    doubles, which pick a fixed node."""

    def schedule(self, state: ClusterState, pod: Mapping[str, Any], rng: random.Random) -> ScheduleResult: ...


def schedule_pod(profile: Decides, state: ClusterState, pod: Mapping[str, Any], rng: random.Random, *,
                 detail: bool = True) -> ScheduleResult:
    """Decide, assume and reserve ``pod``; returns the cycle's result (a node, or why none).

    ``detail=False`` leaves out the per-node score table (the live scheduler reads none of it).
    Raises ``AlreadyInCache`` when the pod is counted already (sched.assume failed).
    """
    def cycle() -> ScheduleResult:
        if isinstance(profile, Profile):
            result = profile.schedule(state, pod, rng, detail=detail)
        else:
            result = profile.schedule(state, pod, rng)
        if result.node:
            state.assume_pod(pod, result.node)
            result = _reserve(profile, state, pod, result)
        return result

    return state.atomically(cycle)


def _reserve(profile: Decides, state: ClusterState, pod: Mapping[str, Any], result: ScheduleResult) -> ScheduleResult:
    """Reserve after assume: VolumeBinding assumes the PV it chose so later pods see it taken. A
    failure undoes both and turns the result into the failure schedulingCycle reports."""
    cycle = result.cycle
    if cycle is None or result.node is None or not isinstance(profile, Profile):
        return result  # a profile without Reserve plugins (a test double) reserves nothing
    status = profile.run_reserve(cycle, pod, result.node)
    if status is None:
        return result
    profile.run_unreserve(cycle, pod, result.node)
    state.forget_pod(pod)
    if status.is_unschedulable():
        return ScheduleResult(result.pod_key, None, message=fit_error_message(1, {result.node: status}),
                              status="unschedulable", unschedulable_plugins={status.plugin},
                              weights=result.weights, clear_nomination=True)
    return ScheduleResult(result.pod_key, None, message=status.message, status="error",
                          weights=result.weights, clear_nomination=True)


def unreserve(profile: Decides | None, state: ClusterState, result: ScheduleResult, pod: Mapping[str, Any],
              node: str) -> bool:
    """handleBindingCycleError's Unreserve then ForgetPod, as one cache operation: VolumeBinding
    restores the PVs/PVCs it assumed, and the pod stops counting on ``node`` unless the watch
    confirmed it meanwhile. Returns whether the pod was forgotten (it freed what it held)."""
    def undo() -> bool:
        if result.cycle is not None and isinstance(profile, Profile):
            profile.run_unreserve(result.cycle, pod, node)
        return state.forget_pod(pod)

    return state.atomically(undo)
