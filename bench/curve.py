"""How the two schedulers' costs grow with the cluster: ``make bench-curve`` (``python -m bench.curve``).

At each node count (500, 1,000, 2,000 and 5,000 by default) the private bench lab gets that many
kwok nodes, and bench/compare.py's method runs on it: one discarded warm-up round of each scheduler,
then ``--rounds`` measured rounds, which one goes first flipping every round, client rate limit
lifted. The same number of pods at every point (``--pods``), so CPU per pod compares across points.
One more point, at ``--mix-nodes`` (1,000), binds the affinity-heavy pod mix of
bench/throughput.py (preferred inter-pod (anti-)affinity, topology spread over zones and nodes)
instead of plain pods.

Written, next to the method in the docs (``--out``, default docs/performance/):

- ``curve.json``: per point and scheduler, the median and min-max of throughput, CPU per pod, peak
  RSS and start to first bind, the per-round ratios and the within-noise verdict, with the commit
  it was measured on, the date, the cores and the load average at the start and the end;
- ``curve.png``: CPU per pod, peak RSS and start to first bind against nodes, one line per
  scheduler (median, min-max as error bars), the mix as separate markers; the commit in its title.

``python -m bench.curve --plot-only`` redraws the PNG from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.providers.base import ProviderError
from scheduler.runtime.kube import ApiError

from bench.compare import PYTHON, ROOT, SETTINGS, UPSTREAM, compile_bytecode, cores, measure, private_lab, summarise

NODE_COUNTS = (500, 1000, 2000, 5000)
MIX_NODES = 1000
PODS = 1000
ROUNDS = 3
SETTING = "uncapped"
OUT = ROOT / "docs" / "performance"
# figure -> (axis label) of the plot; the keys are bench/compare.py's FIGURES
PLOTTED = {"CPU per pod": "CPU per pod bound (ms)", "peak RSS": "peak RSS (MiB)",
           "start to first bind": "start to first bind (s)"}
MIX = "affinity and spread"


def _node_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of node counts, not {text!r}") from None
    if not counts or min(counts) < 10:
        raise argparse.ArgumentTypeError(f"every node count must be at least 10 (the mix spreads over 10 zones), "
                                         f"not {text!r}")
    return counts


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    commit = out.stdout.strip() or "unknown"
    return commit + ("+changes" if dirty.stdout.strip() else "")


def point(nodes: int, pod_mix: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One point of the curve from its runs (warm-ups left out by summarise)."""
    return {"nodes": nodes, "pod_mix": pod_mix, "figures": summarise(runs)[SETTING]["figures"]}


def measure_curve(node_counts: Sequence[int], mix_nodes: int | None, pods: int, rounds: int,
                  say: Any = print, done: Any = lambda points: None) -> list[dict[str, Any]]:
    """The points in order; `done(points)` after each, so a later failure keeps what was measured."""
    points: list[dict[str, Any]] = []
    plan = [(n, "plain") for n in node_counts] + ([(mix_nodes, MIX)] if mix_nodes else [])
    provider = private_lab()
    started_here = not provider.status().up
    kubeconfig = provider.up()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-curve-") as tmp:
            for nodes, mix in plan:
                t0 = time.monotonic()
                say(f"curve: {nodes} nodes, {pods} {mix} pods per run")
                runs = measure(kubeconfig, provider.workdir / "bin", Path(tmp), nodes=nodes, pods=pods, rounds=rounds,
                               settings={SETTING: SETTINGS[SETTING]}, with_ceiling=False, pod_mix=mix, say=say)
                points.append(point(nodes, mix, runs))
                done(points)
                say(f"curve: {nodes} nodes ({mix}) measured in {time.monotonic() - t0:.0f}s")
    finally:
        if started_here:
            provider.down(wipe=True)
    return points


def plot(data: dict[str, Any], path: Path) -> None:
    """The PNG: one panel per figure of PLOTTED against nodes; plain points as lines, the mix as markers."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on CI machines
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(5 * len(PLOTTED), 4.2), constrained_layout=True)
    styles = {UPSTREAM: ("tab:blue", "o"), PYTHON: ("tab:orange", "s")}
    for ax, (figure, label) in zip(axes, PLOTTED.items()):
        for who, (colour, marker) in styles.items():
            for mix, line in (("plain", "-"), (MIX, "")):
                pts = sorted((p for p in data["points"] if p["pod_mix"] == mix and who in p["figures"][figure]),
                             key=lambda p: p["nodes"])
                if not pts:
                    continue
                # The mix sits at a node count of the plain line: drawn a little to the right of it.
                xs = [p["nodes"] * (1.0 if mix == "plain" else 1.06) for p in pts]
                med = [p["figures"][figure][who]["median"] for p in pts]
                low = [m - p["figures"][figure][who]["min"] for m, p in zip(med, pts)]
                high = [p["figures"][figure][who]["max"] - m for m, p in zip(med, pts)]
                ax.errorbar(xs, med, yerr=[low, high], color=colour, marker=marker if mix == "plain" else "D",
                            linestyle=line or "none", capsize=3, mfc="white" if mix == MIX else colour,
                            label=who if mix == "plain" else f"{who}, {MIX} mix")
        ax.set_xscale("log")
        ax.set_xticks(sorted({p["nodes"] for p in data["points"]}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("nodes")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{data['pods']} pods per run, median of {data['rounds']} rounds (min-max), "
                 f"commit {data['commit']}, {data['measured']}, {data['cores']} cores")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.curve", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=_node_counts, default=NODE_COUNTS, help="node counts, e.g. 500,1000")
    parser.add_argument("--mix-nodes", type=int, default=MIX_NODES, help="the pod mix's node count (0: none)")
    parser.add_argument("--pods", type=int, default=PODS, help="pods per scheduler and round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="measured rounds per point (at least 3)")
    parser.add_argument("--out", type=Path, default=OUT, help="directory for curve.json and curve.png")
    parser.add_argument("--plot-only", action="store_true", help="redraw curve.png from curve.json")
    args = parser.parse_args(argv)
    data_path, png_path = args.out / "curve.json", args.out / "curve.png"
    if args.plot_only:
        try:
            data = json.loads(data_path.read_text())
        except (OSError, ValueError) as exc:
            print(f"python -m bench.curve: cannot read {data_path}: {exc}", file=sys.stderr)
            return 1
        plot(data, png_path)
        print(f"curve: plot in {png_path}")
        return 0
    if args.rounds < 3:
        parser.error(f"--rounds must be at least 3 (the within-noise rule needs three), not {args.rounds}")
    if args.pods < 1 or (args.mix_nodes and args.mix_nodes < 10):
        parser.error("--pods must be at least 1 and --mix-nodes 0 or at least 10")
    commit = _commit()
    compile_bytecode()
    load_start = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}

    def save(points: list[dict[str, Any]]) -> None:
        data.update(commit=commit, measured=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    cores=cores(), pods=args.pods, rounds=args.rounds, setting=SETTING,
                    load_average={"start": load_start, "end": os.getloadavg()}, points=list(points))
        data_path.write_text(json.dumps(data, indent=2) + "\n")

    try:
        points = measure_curve(args.nodes, args.mix_nodes, args.pods, args.rounds,
                               say=lambda line: print(line, flush=True), done=save)
    except (RuntimeError, TimeoutError, OSError, ApiError, ProviderError) as exc:
        kept = f"; the points measured before it are in {data_path}" if data.get("points") else ""
        print(f"python -m bench.curve: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{kept}",
              file=sys.stderr)
        return 1
    plot(data, png_path)
    for p in points:
        f = p["figures"]
        print(f"curve: {p['nodes']:>5} nodes ({p['pod_mix']}): " + "; ".join(
            f"{name} {f[name][PYTHON]['median']:.2f}/{f[name][UPSTREAM]['median']:.2f} {f[name]['unit']} "
            f"(python/kube-scheduler, ratio {f[name]['ratio']:.2f})" for name in ("throughput", *PLOTTED)))
    print(f"curve: {data_path} and {png_path} (commit {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
