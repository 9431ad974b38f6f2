"""The side-by-side benchmark's method as pure data: the round plan, medians with their spread,
per-round paired ratios, fractions of the bind-only ceiling, and the within-noise rule.

No I/O here (bench/compare.py runs the plan and prints; tests/unit/test_bench_method.py checks this).

Round plan (`round_plan`): every contender runs once per round; the first ``warmup_rounds`` rounds
are run on the filled lab and discarded (kube-scheduler's first round on a freshly filled lab was
always its slowest, whoever ran first there was handicapped). Which of the two schedulers goes
first flips every round, warm-ups included; the ceiling's slot rotates first, middle, last.

Within-noise rule (`verdict`), for one figure of two schedulers a and b over the measured rounds:
there is NO winner ("within noise: no winner") when any of these holds:

1. fewer than MIN_PAIRED_ROUNDS rounds have both a and b (too few to tell);
2. the per-round paired ratios a/b straddle 1.0: min(ratios) <= 1.0 <= max(ratios) (or one is
   not a number): in some round a did better and in another b did, or they tied;
3. |median(a) - median(b)| < max(max(a) - min(a), max(b) - min(b)): the difference of the
   medians is smaller than the larger of the two schedulers' own min-max spreads.

Otherwise the winner is the one whose median is better (higher or lower, as the figure goes).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_PAIRED_ROUNDS = 3


@dataclass(frozen=True)
class Slot:
    """One run of the plan: `round` counts from 1 over warm-ups and measured rounds alike."""

    round: int
    contender: str
    warmup: bool


def round_plan(first: str, second: str, *, measured_rounds: int, warmup_rounds: int = 1,
               ceiling: str | None = None, flip: bool = False) -> list[Slot]:
    """The runs in order. Round r (0-based) puts `first` before `second` when r is even (odd when
    `flip`: a second setting can start with the other scheduler); the ceiling, if any, goes in
    slot r % 3 of the round. The first `warmup_rounds` rounds are warm-ups."""
    if measured_rounds < 1 or warmup_rounds < 0:
        raise ValueError(f"measured_rounds must be >= 1 and warmup_rounds >= 0, not {measured_rounds}/{warmup_rounds}")
    plan: list[Slot] = []
    for r in range(warmup_rounds + measured_rounds):
        order = [first, second] if (r + flip) % 2 == 0 else [second, first]
        if ceiling is not None:
            order.insert(r % 3, ceiling)
        plan.extend(Slot(round=r + 1, contender=who, warmup=r < warmup_rounds) for who in order)
    return plan


@dataclass(frozen=True)
class Spread:
    median: float
    min: float
    max: float

    @property
    def width(self) -> float:
        return self.max - self.min


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(math.nan, math.nan, math.nan)
    return Spread(statistics.median(values), min(values), max(values))


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def paired(by_round_a: dict[int, float], by_round_b: dict[int, float]) -> list[float]:
    """a / b within each round that has both, in round order."""
    return [ratio(by_round_a[r], by_round_b[r]) for r in sorted(by_round_a.keys() & by_round_b.keys())]


@dataclass(frozen=True)
class Verdict:
    winner: str | None  # None: no winner
    reason: str

    def text(self) -> str:
        return f"{self.winner} is better ({self.reason})" if self.winner else f"within noise: no winner ({self.reason})"


def verdict(names: tuple[str, str], a: Sequence[float], b: Sequence[float], ratios: Sequence[float],
            *, higher_is_better: bool) -> Verdict:
    """The within-noise rule of the module docstring; `ratios` are the per-round a/b."""
    if len(ratios) < MIN_PAIRED_ROUNDS:
        return Verdict(None, f"{len(ratios)} paired rounds, fewer than {MIN_PAIRED_ROUNDS}")
    if any(math.isnan(x) for x in ratios) or min(ratios) <= 1.0 <= max(ratios):
        return Verdict(None, f"per-round ratios {min(ratios):.2f}-{max(ratios):.2f} straddle 1.0")
    sa, sb = spread(a), spread(b)
    difference = abs(sa.median - sb.median)
    widest = max(sa.width, sb.width)
    if not difference >= widest:
        return Verdict(None, f"difference of medians {difference:.3g} < widest min-max spread {widest:.3g}")
    a_better = (sa.median > sb.median) == higher_is_better
    return Verdict(names[0] if a_better else names[1],
                   f"every round's ratio {min(ratios):.2f}-{max(ratios):.2f} on one side of 1.0, "
                   f"difference of medians {difference:.3g} >= widest spread {widest:.3g}")


@dataclass(frozen=True)
class CeilingFraction:
    """A throughput as a fraction of the bind-only ceiling: medians over medians, and within each
    round (the runs that shared a stretch of the machine's time)."""

    median: float
    per_round: list[float]

    @property
    def above_ceiling(self) -> bool:
        """Faster than the ceiling: noise for a contender on the ceiling's own HTTP stack; a
        client on another stack (kube-scheduler's client-go) may really be faster."""
        return self.median > 1.0


def ceiling_fraction(by_round: dict[int, float], ceiling_by_round: dict[int, float]) -> CeilingFraction:
    return CeilingFraction(ratio(spread(list(by_round.values())).median, spread(list(ceiling_by_round.values())).median)
                           if by_round and ceiling_by_round else math.nan,
                           paired(by_round, ceiling_by_round))
