"""make bench-curve's pure parts: the affinity-heavy pod mix (every pod of it schedulable, by the
scheduler's own decisions), one point of the curve from its runs, the plot, and bad arguments."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from bench.compare import PYTHON, UPSTREAM
from bench.curve import MIX, main, plot, point
from bench.throughput import ZONE_LABEL, ZONES, bench_nodes, bench_pod, mix_pod
from scheduler.core.simulate import main as simulate


def test_the_mix_asks_for_affinity_and_spread_in_turn() -> None:
    pods = [mix_pod(f"p{i}", "s", i) for i in range(6)]
    assert [set(p["spec"].get("affinity", {})) for p in pods[:3]] == [{"podAntiAffinity"}, set(), {"podAffinity"}]
    assert [c["topologyKey"] for c in pods[1]["spec"]["topologySpreadConstraints"]] == [ZONE_LABEL,
                                                                                         "kubernetes.io/hostname"]
    assert pods[0]["metadata"]["labels"] != pods[1]["metadata"]["labels"]
    # Apart from the constraints, a mix pod is the plain bench pod.
    plain = bench_pod("p0", "s")
    assert pods[0]["spec"]["containers"] == plain["spec"]["containers"]
    assert pods[0]["spec"]["nodeSelector"] == plain["spec"]["nodeSelector"]


def test_every_pod_of_the_mix_finds_a_node(tmp_path: Path) -> None:
    """The benchmark fails a run that leaves a pod unbound: the scheduler's own decisions place all
    of a mix several times larger than the zones, with the hard zone spread among them."""
    nodes = bench_nodes(ZONES * 2)
    pods = [mix_pod(f"p{i:03d}", "default-scheduler", i) for i in range(120)]
    for pod in pods:
        pod["metadata"]["namespace"] = "default"
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes + pods}))
    out = io.StringIO()
    with redirect_stdout(out):
        assert simulate(["--cluster", str(state), "--output", "json", "--seed", "1"]) == 0
    decisions = json.loads(out.getvalue())
    assert len(decisions) == len(pods)
    assert [d["pod"] for d in decisions if d["node"] is None] == []


def _runs(who: str, values: list[float]) -> list[dict]:
    return [{"setting": "uncapped", "round": r + 2, "scheduler": who, "warmup": False, "pods_per_second": 100.0,
             "cpu_ms_per_pod": v, "peak_rss_mib": 10 * v, "startup_seconds": v / 2} for r, v in enumerate(values)]


def test_a_point_has_both_schedulers_medians_and_spreads() -> None:
    warmup = [{**_runs(PYTHON, [99.0])[0], "round": 1, "warmup": True}]
    p = point(500, "plain", warmup + _runs(PYTHON, [2.0, 3.0, 4.0]) + _runs(UPSTREAM, [4.0, 5.0, 6.0]))
    cpu = p["figures"]["CPU per pod"]
    assert cpu[PYTHON] == {"median": 3.0, "min": 2.0, "max": 4.0}
    assert cpu[UPSTREAM]["median"] == 5.0 and cpu["ratio"] == pytest.approx(0.6)
    assert p["nodes"] == 500 and p["pod_mix"] == "plain"


def _data() -> dict:
    points = [point(n, "plain", _runs(PYTHON, [1.0 * k, 1.5 * k, 2.0 * k]) + _runs(UPSTREAM, [2.0 * k, 3.0 * k, 4.0 * k]))
              for k, n in enumerate((500, 1000, 2000), start=1)]
    points.append(point(1000, MIX, _runs(PYTHON, [3.0, 3.5, 4.0]) + _runs(UPSTREAM, [5.0, 6.0, 7.0])))
    return {"commit": "abc1234", "measured": "2026-12-07 00:00 UTC", "cores": 2, "pods": 1000, "rounds": 3,
            "points": points}


def test_the_plot_is_a_png_with_a_panel_per_figure(tmp_path: Path) -> None:
    import matplotlib.image  # in the test extra: a missing install fails here, it is not skipped

    path = tmp_path / "curve.png"
    plot(_data(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(str(path)).shape[:2]
    assert width > 2.5 * height, "three panels side by side"


def test_plot_only_redraws_from_the_json_and_a_missing_json_is_one_line(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plot-only", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "curve.json" in err
    (tmp_path / "curve.json").write_text(json.dumps(_data()))
    assert main(["--plot-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 0


@pytest.mark.parametrize("argv", [["--nodes", "500,lots"], ["--nodes", "5"], ["--rounds", "2"], ["--pods", "0"]])
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m bench.curve: error:")
