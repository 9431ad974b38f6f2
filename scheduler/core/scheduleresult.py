"""What one scheduling cycle decides (``ScheduleResult``), and how many nodes it looks at
(``numFeasibleNodesToFind`` from the rotating ``StartIndex``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.core.extensionpoints import CycleState

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


@dataclass
class ScheduleResult:
    """Outcome of one scheduling cycle.

    ``scores[node]`` holds, per score plugin that ran, the plugin's score *after*
    NormalizeScore and *before* weighting (0..100), plus ``"total"``: the weighted sum
    kube-scheduler compares (Σ weight × score).  Plugins skipped in PreScore are
    absent.  ``scores`` is empty when no scoring happened (one feasible node, or none).
    """

    pod_key: str
    node: str | None
    scores: dict[str, dict[str, int]] = field(default_factory=dict)
    message: str | None = None
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    # "scheduled" | "unschedulable" | "gated" | "error"
    status: str = "scheduled"
    # Set by DefaultPreemption when evicting ``victims`` (pod keys) would make the pod fit there.
    nominated_node: str | None = None
    victims: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=dict)
    # DefaultPreemption's tie set for nominated_node, and whether PostFilter cleared a nomination.
    nominated_tie: dict[str, list[str]] = field(default_factory=dict)
    clear_nomination: bool = False
    # The cycle's state when a node was chosen: Reserve, Unreserve and PreBind read it (VolumeBinding's
    # per-node volume plan lives there), as upstream's CycleState travels into the binding cycle.
    cycle: "CycleState | None" = field(default=None, repr=False, compare=False)


class StartIndex:
    """``sched.nextStartNodeIndex``: one rotating index shared by all profiles of a scheduler."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def num_feasible_nodes_to_find(percentage: int | None, num_all_nodes: int) -> int:
    """``numFeasibleNodesToFind`` (adaptive percentageOfNodesToScore)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    pct = percentage or 0
    if pct == 0:
        pct = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    num = num_all_nodes * pct // 100
    return max(num, MIN_FEASIBLE_NODES_TO_FIND)
