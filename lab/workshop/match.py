"""The output rule of the doc test: does a command's output show every expected line?

``missing_lines(expected, actual)``: every non-empty expected line must match a line of the actual
output, in order, after collapsing whitespace; ``...`` (exactly three dots) matches any text; ages
(``12s``, ``3m2s``), RFC 3339 timestamps and klog headers are masked on both sides.
"""

from __future__ import annotations

import re

# Exactly three dots are the wildcard; longer runs of dots (the empty part of a `lab status`
# bar, "[#####...........]") are literal text.
WILDCARD = re.compile(r"(?<!\.)\.\.\.(?!\.)")
_MASKS = [
    # klog header: I1123 13:28:27.157521   25371 file.go:12] -> the level stays, time and pid go
    (re.compile(r"\b([IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ "), r"\1<klog> "),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    # ages as kubectl prints them: 5s, 12m, 3m2s, 2d4h, 10h
    (re.compile(r"(?<![\w./-])(?:\d+[smhdy]){1,3}(?![\w./%-])"), "<age>"),
    # an event kubectl describe shows aggregated, "0s (x2 over 1s)", is one age: how often a
    # controller repeats an event within a second depends on timing, not on the lab
    (re.compile(r"<age> \(x\d+ over <age>\)"), "<age>"),
]


def normalize(line: str) -> str:
    """What is compared: masks applied, whitespace collapsed."""
    for pattern, repl in _MASKS:
        line = pattern.sub(repl, line)
    return " ".join(line.split())


def _pattern(expected_line: str) -> re.Pattern[str]:
    parts = WILDCARD.split(normalize(expected_line))
    return re.compile(".*".join(re.escape(p) for p in parts))


def missing_lines(expected: str, actual: str, any_order: bool = False) -> list[str]:
    """Expected lines (non-empty) not found in ``actual``; empty list when the output matches.

    In order: each expected line must match a later actual line than the one before it.
    Any order: each expected line must match a different actual line.
    """
    # A line that is only "..." marks omitted output: lines are matched as a subsequence anyway.
    wanted = [ln for ln in expected.splitlines() if ln.strip() and ln.strip() != "..."]
    got = [normalize(ln) for ln in actual.splitlines()]
    missing: list[str] = []
    used: set[int] = set()
    pos = 0
    for line in wanted:
        pat = _pattern(line)
        candidates = range(len(got)) if any_order else range(pos, len(got))
        hit = next((k for k in candidates if k not in used and pat.fullmatch(got[k])), None)
        if hit is None:
            missing.append(line)
            continue
        used.add(hit)
        pos = hit + 1
    return missing


