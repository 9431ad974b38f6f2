"""selectHost (``pkg/scheduler/schedule_one.go``, v1.29): the node among the highest total scores,
chosen by uniform reservoir sampling with the cycle's random source."""

from __future__ import annotations

import random
from typing import Callable


def _getrandbits_of(rng: random.Random) -> Callable[[int], int] | None:
    """``rng.getrandbits`` when ``rng.randrange(n)`` is exactly ``_randbelow_with_getrandbits(n)`` (a plain
    Random or a subclass that overrides neither), so selectHost may draw the bits itself; else None."""
    cls = type(rng)
    if (cls.randrange is random.Random.randrange
            and getattr(cls, "_randbelow", None) is getattr(random.Random, "_randbelow_with_getrandbits", object())):
        return rng.getrandbits
    return None


def select_host(totals: list[int], rng: random.Random) -> int:
    """The index of the chosen node in ``totals`` (one total score per feasible node, at least one).

    Draws exactly what ``rng.randrange(count)`` per tied node would draw, so a seeded run decides the same."""
    best = max(totals)
    selected = -1
    count = 0
    getrandbits = _getrandbits_of(rng)
    if getrandbits is not None:
        # Random._randbelow_with_getrandbits(count), inlined: the same draws, one call fewer per
        # tied node (hundreds per pod among equal nodes).
        for idx, total_score in enumerate(totals):
            if total_score == best:
                count += 1
                if count == 1:
                    selected = idx
                    continue
                bits = count.bit_length()
                r = getrandbits(bits)
                while r >= count:
                    r = getrandbits(bits)
                if r == 0:
                    selected = idx
    else:
        for idx, total_score in enumerate(totals):
            if total_score == best:
                count += 1
                if count == 1 or rng.randrange(count) == 0:
                    selected = idx
    return selected
