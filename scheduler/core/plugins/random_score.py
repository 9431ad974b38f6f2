"""Random (Score): a seeded random score 0..100 per node -- seed 004's random scheduler as a plugin.

Enable it alone (``score: {disabled: [{name: "*"}], enabled: [{name: Random}]}``) and every
feasible node is equally likely to win; the randomness comes from the cycle's ``rng`` so a
seed makes the choice reproducible.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import MAX_NODE_SCORE, CycleState, Plugin
from scheduler.core.state import NodeInfo


class RandomScore(Plugin):
    name = "Random"

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        rand = cycle.rng.randint
        return [rand(0, MAX_NODE_SCORE) for _ in nodes]
