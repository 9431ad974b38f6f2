"""The side-by-side benchmark's summary: medians, spreads and the per-round paired ratios."""

from __future__ import annotations

import math

from bench.compare import PYTHON, UPSTREAM, render, summarise


def _run(setting: str, round_: int, who: str, pods_per_second: float, cpu: float = 2.0) -> dict:
    return {"setting": setting, "round": round_, "scheduler": who, "pods_per_second": pods_per_second,
            "cpu_ms_per_pod": cpu, "peak_rss_mib": 100.0, "startup_seconds": 1.0}


def test_each_round_pairs_the_two_schedulers_that_shared_it() -> None:
    # Round 2 is a slow spell for both: the medians mix rounds, the paired ratios do not.
    runs = [_run("uncapped", 1, UPSTREAM, 300), _run("uncapped", 1, PYTHON, 330),
            _run("uncapped", 2, PYTHON, 110), _run("uncapped", 2, UPSTREAM, 100),
            _run("uncapped", 3, UPSTREAM, 200), _run("uncapped", 3, PYTHON, 190)]
    throughput = summarise(runs)["uncapped"]["throughput"]
    assert throughput["per_round"] == [330 / 300, 110 / 100, 190 / 200]
    assert throughput["ratio"] == 190 / 200  # median over median
    assert throughput["python"] == {"median": 190, "min": 110, "max": 330}


def test_a_round_missing_one_scheduler_has_no_paired_ratio() -> None:
    runs = [_run("s", 1, UPSTREAM, 100), _run("s", 1, PYTHON, 120), _run("s", 2, PYTHON, 90)]
    assert summarise(runs)["s"]["throughput"]["per_round"] == [1.2]


def test_a_zero_baseline_gives_nan_not_a_crash() -> None:
    runs = [_run("s", 1, UPSTREAM, 0), _run("s", 1, PYTHON, 120)]
    figure = summarise(runs)["s"]["throughput"]
    assert math.isnan(figure["ratio"]) and math.isnan(figure["per_round"][0])


def test_the_rendered_line_shows_the_per_round_ratios() -> None:
    runs = [_run("s", 1, UPSTREAM, 100, cpu=4.0), _run("s", 1, PYTHON, 125, cpu=2.0)]
    text = render(summarise(runs), nodes=5, pods=10, rounds=1)
    assert "throughput" in text and "ratio 1.25 (higher is better); per round 1.25" in text
    assert "ratio 0.50 (lower is better); per round 0.50" in text
