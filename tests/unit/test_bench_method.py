"""bench/method.py: the round plan (alternation, warm-ups), the within-noise rule and the
fractions of the ceiling, as pure data."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.method import ceiling_fraction, round_plan, verdict

A, B, C = "a", "b", "ceiling"


def _rounds(plan):
    out: dict[int, list] = {}
    for slot in plan:
        out.setdefault(slot.round, []).append(slot)
    return [out[r] for r in sorted(out)]


def _before(round_slots, x: str, y: str) -> bool:
    order = [s.contender for s in round_slots]
    return order.index(x) < order.index(y)


def test_the_warm_up_round_runs_everyone_once_and_is_marked_for_discarding() -> None:
    plan = round_plan(A, B, ceiling=C, measured_rounds=3, warmup_rounds=1)
    rounds = _rounds(plan)
    assert len(rounds) == 4
    assert all(s.warmup for s in rounds[0]) and not any(s.warmup for r in rounds[1:] for s in r)
    assert all(sorted(s.contender for s in r) == sorted([A, B, C]) for r in rounds)


@given(measured=st.integers(1, 12), warmups=st.integers(0, 3), flip=st.booleans(), with_ceiling=st.booleans())
def test_which_scheduler_goes_first_flips_every_round(measured: int, warmups: int, flip: bool,
                                                      with_ceiling: bool) -> None:
    plan = round_plan(A, B, ceiling=C if with_ceiling else None, measured_rounds=measured,
                      warmup_rounds=warmups, flip=flip)
    firsts = [_before(r, A, B) for r in _rounds(plan)]
    assert firsts[0] is (not flip)
    assert all(x != y for x, y in zip(firsts, firsts[1:]))
    # Over the measured rounds neither scheduler goes first more than once more than the other.
    measured_firsts = Counter(firsts[warmups:])
    assert abs(measured_firsts[True] - measured_firsts[False]) <= 1


def test_the_ceiling_takes_every_slot_in_turn() -> None:
    rounds = _rounds(round_plan(A, B, ceiling=C, measured_rounds=3, warmup_rounds=0))
    assert [[s.contender for s in r].index(C) for r in rounds] == [0, 1, 2]


def test_the_second_setting_starts_with_the_other_scheduler() -> None:
    assert round_plan(A, B, measured_rounds=3, flip=True)[0].contender == B
    assert round_plan(A, B, measured_rounds=3)[0].contender == A


def test_a_plan_without_measured_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="measured_rounds"):
        round_plan(A, B, measured_rounds=0)


positive = st.floats(min_value=1.0, max_value=1e4, allow_nan=False)


@given(pairs=st.lists(st.tuples(positive, positive), min_size=1, max_size=9), higher=st.booleans())
def test_ratios_that_straddle_one_never_give_a_winner(pairs, higher: bool) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ratios = [x / y for x, y in pairs]
    result = verdict((A, B), a, b, ratios, higher_is_better=higher)
    if min(ratios) <= 1.0 <= max(ratios) or len(pairs) < 3:
        assert result.winner is None and result.text().startswith("within noise: no winner")
    if result.winner is not None:  # a winner only ever with every ratio on its side of 1.0
        assert all(r > 1 for r in ratios) or all(r < 1 for r in ratios)


@given(base=st.lists(st.floats(100, 110), min_size=3, max_size=9), factor=st.floats(1.25, 4.0),
       higher=st.booleans())
def test_a_clear_consistent_difference_is_declared(base: list[float], factor: float, higher: bool) -> None:
    # a is `factor` times b in every round, and b's own spread (<= 10) is far below the gap (>= 25).
    a = [x * factor for x in base]
    result = verdict((A, B), a, base, [x / y for x, y in zip(a, base)], higher_is_better=higher)
    assert result.winner == (A if higher else B)


def test_a_difference_smaller_than_a_schedulers_own_spread_is_noise_even_if_every_round_agrees() -> None:
    a, b = [100.0, 150.0, 200.0], [95.0, 140.0, 190.0]  # a ahead in every round by less than its spread
    result = verdict((A, B), a, b, [x / y for x, y in zip(a, b)], higher_is_better=True)
    assert result.winner is None and "spread" in result.reason


def test_too_few_rounds_give_no_winner() -> None:
    assert verdict((A, B), [300.0, 310.0], [100.0, 101.0], [3.0, 3.07], higher_is_better=True).winner is None


def test_a_nan_ratio_gives_no_winner() -> None:
    assert verdict((A, B), [1.0, 2.0, 3.0], [0.0, 1.0, 1.0], [math.nan, 2.0, 3.0], higher_is_better=True).winner is None


@given(rounds=st.dictionaries(st.integers(1, 20), st.tuples(positive, positive), min_size=1, max_size=9))
def test_the_ceiling_fraction_is_median_over_median_and_pairs_each_round(rounds) -> None:
    mine = {r: v[0] for r, v in rounds.items()}
    ceiling = {r: v[1] for r, v in rounds.items()}
    fraction = ceiling_fraction(mine, ceiling)
    import statistics
    assert fraction.median == statistics.median(mine.values()) / statistics.median(ceiling.values())
    assert fraction.per_round == [mine[r] / ceiling[r] for r in sorted(rounds)]
    assert fraction.above_ceiling is (fraction.median > 1.0)


def test_no_ceiling_runs_give_nan_not_a_crash() -> None:
    fraction = ceiling_fraction({1: 100.0}, {})
    assert math.isnan(fraction.median) and fraction.per_round == []
