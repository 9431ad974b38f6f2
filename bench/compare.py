"""The Python scheduler against upstream kube-scheduler v1.29.15, side by side on the same lab.

A private local lab (its own directory and ports) gets N extra kwok nodes; each scheduler in
turn finds M pending pods already created for it and binds them with the default profile.
Measured for each, in one run, as ratios python / kube-scheduler:

- throughput (pods/s, first to last bind), with the client-side rate limit lifted
  (qps 5000 / burst 5000: what the scheduler itself can do) and at the seed's qps 100 / burst 200
  (where both sit on the cap);
- scheduler CPU (user + system, from wait4's rusage) per pod bound;
- peak RSS;
- time from process start to the first bind (lists, cache sync).

Both must also write every pod's Scheduled event before they are stopped (run_throughput waits
for them), so neither is credited with API writes it put off or dropped.

Every setting runs ``rounds`` times with the order of the two schedulers alternated, so drift
on a busy machine (the other core's work, the API server's caches warming) hits both alike;
medians, the spread (min-max) and the ratio within each round are printed, and the whole run is
kept as JSON in ``.lab-bench-results.json``. ``python -m bench throughput [--quick|--large]``.
"""
from __future__ import annotations

import compileall
import json
import os
import socket
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from bench import register_benchmark

ROOT = Path(__file__).resolve().parent.parent
# name -> (qps, burst) of the scheduler's client connection.
SETTINGS = {"uncapped": (5000, 5000), "seed qps 100/burst 200": (100, 200)}
UPSTREAM, PYTHON = "kube-scheduler v1.29.15", "python scheduler"
# figure -> (attribute of ThroughputResult, unit, True when higher is better)
FIGURES = {"throughput": ("pods_per_second", "pods/s", True), "CPU per pod": ("cpu_ms_per_pod", "ms", False),
           "peak RSS": ("peak_rss_mib", "MiB", False), "start to first bind": ("startup_seconds", "s", False)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream_command(binary: Path, kubeconfig: Path, name: str, workdir: Path, qps: float, burst: int) -> list[str]:
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": qps, "burst": burst},
        "leaderElection": {"leaderElect": False},
        "profiles": [{"schedulerName": name}],
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return [str(binary), f"--config={path}", "--bind-address=127.0.0.1", f"--secure-port={_free_port()}", "--v=1"]


def scale(args: Any) -> tuple[int, int, int]:
    """(nodes, pods per scheduler, rounds) for the command line's size."""
    if getattr(args, "quick", False):
        return 100, 300, 2
    if getattr(args, "large", False):
        return 5000, 5000, 2  # each round takes minutes at this size
    # Five rounds: on 2 cores the API server's pace moves between rounds more than the two
    # schedulers differ (0.76-0.94 between quiet runs of three rounds), and a slow spell in one
    # round is common; five per-round ratios show how far the ratio can be trusted.
    return 500, 2000, 5


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """setting -> figure -> {python, upstream: median/min/max, ratio: python median / upstream median,
    per_round: python / kube-scheduler within each round}.

    The per-round ratios pair the two runs that shared a stretch of the machine's time, so a slow
    spell of the lab (the API server's pace moves between rounds more than the schedulers differ)
    cancels out of each; their spread is how far the ratio itself can be trusted."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for setting in dict.fromkeys(r["setting"] for r in runs):
        mine = [r for r in runs if r["setting"] == setting]
        out[setting] = {}
        for figure, (attr, unit, _higher) in FIGURES.items():
            per = {who: _stats([r[attr] for r in mine if r["scheduler"] == who]) for who in (PYTHON, UPSTREAM)}
            by_round = {(r["round"], r["scheduler"]): r[attr] for r in mine}
            paired = [_ratio(by_round[(n, PYTHON)], by_round[(n, UPSTREAM)])
                      for n in sorted({r["round"] for r in mine}) if (n, PYTHON) in by_round and (n, UPSTREAM) in by_round]
            out[setting][figure] = {"unit": unit, "python": per[PYTHON], "upstream": per[UPSTREAM],
                                    "ratio": _ratio(per[PYTHON]["median"], per[UPSTREAM]["median"]),
                                    "per_round": paired}
    return out


def render(summary: dict[str, dict[str, dict[str, Any]]], nodes: int, pods: int, rounds: int) -> str:
    lines = [f"throughput: {nodes} nodes, {pods} pods per scheduler, {rounds} rounds, order alternated; "
             "medians (min-max); ratio = python / kube-scheduler"]
    for setting, figures in summary.items():
        lines.append(f"  {setting}:")
        for figure, f in figures.items():
            py, up = f["python"], f["upstream"]
            better = "higher" if FIGURES[figure][2] else "lower"
            lines.append(f"    {figure:<20} python {py['median']:8.2f} ({py['min']:.2f}-{py['max']:.2f}) "
                         f"kube-scheduler {up['median']:8.2f} ({up['min']:.2f}-{up['max']:.2f}) {f['unit']:<6} "
                         f"ratio {f['ratio']:.2f} ({better} is better); per round "
                         + " ".join(f"{x:.2f}" for x in f["per_round"]))
    return "\n".join(lines)


def run(args: Any) -> dict:
    from bench.throughput import python_scheduler_command, run_throughput
    from lab.providers.local import LocalProvider
    from lab.spec import load_spec

    nodes, pods, rounds = scale(args)
    _compile_bytecode()
    workdir = ROOT / ".lab-bench"
    provider = LocalProvider(load_spec(), workdir, say=lambda m: None)
    started_here = not provider.status().up
    t0 = time.monotonic()
    kubeconfig = provider.up()
    print(f"throughput: private lab in {workdir} up in {time.monotonic() - t0:.1f}s")
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            tmpdir = Path(tmp)
            plan = [(setting, r) for setting in SETTINGS for r in range(rounds)]
            for n, (setting, r) in enumerate(plan):
                qps, burst = SETTINGS[setting]
                commands = {
                    UPSTREAM: (upstream_command(workdir / "bin" / "kube-scheduler", kubeconfig, "bench-upstream",
                                                tmpdir, qps, burst), "bench-upstream"),
                    PYTHON: (python_scheduler_command(kubeconfig, "bench-python", workdir=tmpdir, qps=qps,
                                                      burst=burst), "bench-python"),
                }
                order = [UPSTREAM, PYTHON] if r % 2 == 0 else [PYTHON, UPSTREAM]
                for i, who in enumerate(order):
                    cmd, name = commands[who]
                    last = n == len(plan) - 1 and i == len(order) - 1
                    res = run_throughput(kubeconfig, cmd, nodes=nodes, pods=pods, scheduler_name=name, label=who,
                                         keep_nodes=not last, log_dir=tmpdir, timeout=1800 if nodes > 1000 else 600)
                    if res.bound != pods or res.events != pods:
                        raise RuntimeError(f"{who} bound {res.bound}/{pods} pods and wrote {res.events} Scheduled "
                                           f"events ({setting}, round {r + 1}); its log: {res.log_path}")
                    runs.append({"setting": setting, "round": r + 1, **asdict(res),
                                 "cpu_ms_per_pod": res.cpu_ms_per_pod})
                    print(f"  [{setting}, round {r + 1}] {res.summary()}")
    finally:
        if started_here:
            provider.down(wipe=True)
    summary = summarise(runs)
    print(render(summary, nodes, pods, rounds))
    out = ROOT / (".lab-bench-large-results.json" if nodes > 1000 else ".lab-bench-results.json")
    out.write_text(json.dumps({"nodes": nodes, "pods": pods, "rounds": rounds, "cores": _cores(),
                               "summary": summary, "runs": runs}, indent=2, default=str))
    print(f"throughput: results in {out}")
    return summary


def _compile_bytecode() -> None:
    """Run the Python scheduler as it is deployed: a wheel installed by pip (the image's
    Dockerfile) comes with its modules compiled to bytecode. From this editable checkout, with
    PYTHONDONTWRITEBYTECODE set (as on these CI machines), every start would compile them again:
    about 0.15 s of CPU that counts in its start-up and CPU per pod, and that kube-scheduler, a
    compiled binary, never pays. compileall writes the cache whatever that variable says."""
    compileall.compile_dir(str(ROOT / "scheduler"), quiet=1)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


register_benchmark("throughput", run)
