"""Event texts of kube-scheduler v1.29 (FitError.Error and friends)."""

from __future__ import annotations

from collections import Counter
from typing import Mapping

from scheduler.core.status import Status

NO_NODES_AVAILABLE = "no nodes available to schedule pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_PREEMPTION_VICTIMS = "No preemption victims found for incoming pod"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."


def reason_histogram(statuses: Mapping[str, Status]) -> str:
    """"N reason" parts, counted over every reason of every node, sorted as plain strings."""
    counts: Counter[str] = Counter()
    for status in statuses.values():
        for reason in status.reasons:
            counts[reason] += 1
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def fit_error_message(num_all_nodes: int, statuses: Mapping[str, Status], pre_filter_msg: str = "",
                      post_filter_msg: str = "") -> str:
    """``FitError.Error()`` of v1.29.15 (pkg/scheduler/framework/types.go).

    The PreFilter message and the reason histogram are each appended as ``" %v."``; the
    PostFilter message is appended as ``" %v"`` (no dot of its own). The preemption
    message is itself a FitError ending in ".", so the whole text ends in a single ".".
    Checked against the lab's kube-scheduler v1.29.15 by e2e/test_upstream_parity.py.
    """
    msg = f"0/{num_all_nodes} nodes are available:"
    if pre_filter_msg:
        msg += f" {pre_filter_msg}."
    else:
        hist = reason_histogram(statuses)
        if hist:
            msg += f" {hist}."
    if post_filter_msg:
        msg += f" {post_filter_msg}"
    return msg


def scheduled_message(namespace: str, name: str, node: str) -> str:
    """Note of the ``Scheduled`` event."""
    return f"Successfully assigned {namespace}/{name} to {node}"
