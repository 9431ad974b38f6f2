"""Throughput of the Python scheduler against upstream kube-scheduler v1.29.15, same cluster.

A private local lab (its own directory and ports) gets N extra kwok nodes; each scheduler in
turn finds M pending pods already created for it and binds them, with the same
clientConnection qps/burst and the default profile. Reported as pods/s (first to last bind)
for each and their ratio. ``python -m bench throughput [--quick]``.
"""
from __future__ import annotations

import json
import socket
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from bench import register_benchmark

ROOT = Path(__file__).resolve().parent.parent
QPS, BURST = 100, 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream_command(binary: Path, kubeconfig: Path, name: str, workdir: Path) -> list[str]:
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": QPS, "burst": BURST},
        "leaderElection": {"leaderElect": False},
        "profiles": [{"schedulerName": name}],
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return [str(binary), f"--config={path}", "--bind-address=127.0.0.1", f"--secure-port={_free_port()}", "--v=1"]


def run(args) -> dict:
    from bench.throughput import python_scheduler_command, run_throughput
    from lab.providers.local import LocalProvider
    from lab.spec import load_spec

    nodes, pods = (100, 300) if getattr(args, "quick", False) else (500, 2000)
    workdir = ROOT / ".lab-bench"
    provider = LocalProvider(load_spec(), workdir, say=lambda m: None)
    started_here = not provider.status().up
    t0 = time.monotonic()
    kubeconfig = provider.up()
    print(f"throughput: private lab in {workdir} up in {time.monotonic() - t0:.1f}s; {nodes} kwok nodes, "
          f"{pods} pods per scheduler, qps {QPS} / burst {BURST}")
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            tmpdir = Path(tmp)
            runs = [
                ("kube-scheduler v1.29.15", upstream_command(workdir / "bin" / "kube-scheduler", kubeconfig,
                                                             "bench-upstream", tmpdir), "bench-upstream"),
                ("python scheduler", python_scheduler_command(kubeconfig, "bench-python", workdir=tmpdir,
                                                              qps=QPS, burst=BURST), "bench-python"),
            ]
            for i, (label, cmd, name) in enumerate(runs):
                res = run_throughput(kubeconfig, cmd, nodes=nodes, pods=pods, scheduler_name=name, label=label,
                                     keep_nodes=i < len(runs) - 1, log_dir=tmpdir)
                results[label] = res
                print(f"  {res.summary()}")
    finally:
        if started_here:
            provider.down(wipe=True)
    up, py = results["kube-scheduler v1.29.15"], results["python scheduler"]
    ratio = py.pods_per_second / up.pods_per_second if up.pods_per_second else float("nan")
    print(f"throughput: python {py.pods_per_second:.1f} pods/s vs kube-scheduler {up.pods_per_second:.1f} pods/s "
          f"-> ratio {ratio:.2f}")
    out = ROOT / ".lab-bench-results.json"
    out.write_text(json.dumps({"nodes": nodes, "pods": pods, "ratio": ratio,
                               "runs": {k: asdict(v) for k, v in results.items()}}, indent=2, default=str))
    return {"ratio": ratio}


register_benchmark("throughput", run)
