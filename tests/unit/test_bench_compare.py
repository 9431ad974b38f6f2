"""The side-by-side benchmark's summary: medians, spreads, per-round paired ratios, the verdict
and the fractions of the bind-only ceiling (warm-up runs left out)."""

from __future__ import annotations

import math

from bench.compare import CEILING, PYTHON, UPSTREAM, render, summarise


def _run(setting: str, round_: int, who: str, pods_per_second: float, cpu: float = 2.0,
         warmup: bool = False) -> dict:
    return {"setting": setting, "round": round_, "scheduler": who, "pods_per_second": pods_per_second,
            "cpu_ms_per_pod": cpu, "peak_rss_mib": 100.0, "startup_seconds": 1.0, "warmup": warmup}


def test_each_round_pairs_the_two_schedulers_that_shared_it() -> None:
    # Round 2 is a slow spell for both: the medians mix rounds, the paired ratios do not.
    runs = [_run("uncapped", 1, UPSTREAM, 300), _run("uncapped", 1, PYTHON, 330),
            _run("uncapped", 2, PYTHON, 110), _run("uncapped", 2, UPSTREAM, 100),
            _run("uncapped", 3, UPSTREAM, 200), _run("uncapped", 3, PYTHON, 190)]
    throughput = summarise(runs)["uncapped"]["figures"]["throughput"]
    assert throughput["per_round"] == [330 / 300, 110 / 100, 190 / 200]
    assert throughput["ratio"] == 190 / 200  # median over median
    assert throughput[PYTHON] == {"median": 190, "min": 110, "max": 330}
    assert throughput["winner"] is None and throughput["verdict"].startswith("within noise: no winner")


def test_warm_up_runs_are_left_out_of_every_figure() -> None:
    runs = [_run("s", 1, UPSTREAM, 1, warmup=True), _run("s", 1, PYTHON, 1000, warmup=True)]
    runs += [_run("s", r, who, 100) for r in (2, 3, 4) for who in (UPSTREAM, PYTHON)]
    throughput = summarise(runs)["s"]["figures"]["throughput"]
    assert throughput[UPSTREAM] == throughput[PYTHON] == {"median": 100, "min": 100, "max": 100}
    assert throughput["per_round"] == [1.0, 1.0, 1.0]


def test_a_round_missing_one_scheduler_has_no_paired_ratio() -> None:
    runs = [_run("s", 1, UPSTREAM, 100), _run("s", 1, PYTHON, 120), _run("s", 2, PYTHON, 90)]
    assert summarise(runs)["s"]["figures"]["throughput"]["per_round"] == [1.2]


def test_a_zero_baseline_gives_nan_not_a_crash() -> None:
    runs = [_run("s", 1, UPSTREAM, 0), _run("s", 1, PYTHON, 120)]
    figure = summarise(runs)["s"]["figures"]["throughput"]
    assert math.isnan(figure["ratio"]) and math.isnan(figure["per_round"][0])
    assert figure["winner"] is None


def test_throughputs_are_fractions_of_the_ceilings_median_and_of_its_run_in_the_same_round() -> None:
    runs = [_run("s", r, CEILING, c) for r, c in ((2, 400), (3, 300), (4, 500))]
    runs += [_run("s", r, PYTHON, p) for r, p in ((2, 200), (3, 270), (4, 250))]
    runs += [_run("s", r, UPSTREAM, 100) for r in (2, 3, 4)]
    of_ceiling = summarise(runs)["s"]["of_ceiling"]
    assert of_ceiling[PYTHON]["median"] == 250 / 400
    assert of_ceiling[PYTHON]["per_round"] == [200 / 400, 270 / 300, 250 / 500]
    assert of_ceiling[UPSTREAM]["median"] == 100 / 400


def test_without_a_ceiling_no_fraction_is_made_up() -> None:
    runs = [_run("s", 1, UPSTREAM, 100), _run("s", 1, PYTHON, 125)]
    assert summarise(runs)["s"]["of_ceiling"] == {}


def test_the_rendered_summary_shows_per_scheduler_figures_ratios_and_verdicts() -> None:
    runs = [_run("s", r, UPSTREAM, 100 + r, cpu=4.0) for r in (1, 2, 3)]
    runs += [_run("s", r, PYTHON, 200 + r, cpu=2.0) for r in (1, 2, 3)]
    runs += [_run("s", r, CEILING, 400, cpu=1.0) for r in (1, 2, 3)]
    text = render(summarise(runs), nodes=5, pods=10, rounds=3, load=((1.0, 2.0, 3.0), (0.5, 0.25, 0.125)))
    assert "load average (1/5/15 min): at start 1.00 2.00 3.00, at end 0.50 0.25 0.12" in text
    assert f"{PYTHON:<24} 0.51 of the ceiling (per round 0.50-0.51); " in text
    assert "CPU per pod 2.00 ms (2.00-2.00); peak RSS 100.00 MiB" in text
    assert "ratio 1.98 (higher is better); per round 1.99 1.98 1.97 -> python scheduler is better" in text
    assert "ratio 0.50 (lower is better); per round 0.50 0.50 0.50 -> python scheduler is better" in text
    assert "peak RSS             ratio 1.00 (lower is better); per round 1.00 1.00 1.00 -> within noise" in text
