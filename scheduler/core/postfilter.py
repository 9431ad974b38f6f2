"""PostFilter (``RunPostFilterPlugins``, v1.29.15): what runs when no node fits, and what it says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from scheduler.core.extensionpoints import CycleState, PostFilterPlugin
from scheduler.core.status import SUCCESS, UNSCHEDULABLE_AND_UNRESOLVABLE, Status


@dataclass
class PostFilterOutcome:
    """The nomination PostFilter made (DefaultPreemption: node, victims, tie set), whether it cleared one,
    and the reasons the fit error message appends ("" when none)."""

    message: str = ""
    nominated: str | None = None
    victims: list[str] = field(default_factory=list)
    tie: dict[str, list[str]] = field(default_factory=dict)
    clear: bool = False


def run_post_filter(plugins: Sequence[PostFilterPlugin], cycle: CycleState, pod: Mapping[str, Any],
                    statuses: dict[str, Status]) -> PostFilterOutcome:
    """Plugins in order until one succeeds (its result counts) or one is unresolvable (only its reasons)."""
    out = PostFilterOutcome()
    if plugins:
        reasons: list[str] = []
        for pl in plugins:
            result, st = pl.post_filter(cycle, pod, statuses)
            if result is not None and not result.nominated_node:
                out.clear = True  # NewPostFilterResultWithNominatedNode("")
            if st is None or st.code == SUCCESS:
                if result is not None:
                    out.nominated, out.victims = result.nominated_node, list(result.victims)
                    out.tie = dict(result.tied)
                reasons = []
                break
            if st.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
                reasons = list(st.reasons)
                break
            reasons.extend(st.reasons)
        out.message = ", ".join(reasons)
    return out
