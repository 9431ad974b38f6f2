"""``python -m bench validation``: a 10,000-node cluster state loaded, validated and 20 pods scheduled.

The whole ``scheduler simulate`` path in-process (read YAML with libyaml and its budgets,
validate every object, build the state, schedule 20 pending pods, format the table).
Issue 11's target: under 3 s on the lab machines (27.6 s before, 19 s of it in the pure-Python
YAML reader).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from typing import Any

import yaml

from bench import register_benchmark


def make_node(i: int) -> dict[str, Any]:
    """A Node as ``kubectl get node -o yaml`` prints it (labels, taints on some, conditions, images)."""
    name = f"node-{i:05d}"
    alloc = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    node: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{i}", "resourceVersion": str(1000 + i),
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": f"zone-{i % 3}",
                                "node.kubernetes.io/instance-type": "m5.8xlarge"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": f"10.{i // 250}.{i % 250}.0/24"},
        "status": {
            "allocatable": alloc, "capacity": dict(alloc),
            "conditions": [{"type": t, "status": "False" if t != "Ready" else "True",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}
                           for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")],
            "addresses": [{"type": "InternalIP", "address": f"10.1.{i // 250}.{i % 250}"},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.29.15", "osImage": "Ubuntu 22.04", "architecture": "amd64"},
            "images": [{"names": ["registry.k8s.io/kube-proxy:v1.29.15"], "sizeBytes": 28617849},
                       {"names": ["docker.io/library/nginx:1.25"], "sizeBytes": 70000000}],
        },
    }
    if i % 10 == 0:
        node["spec"]["taints"] = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    return node


def make_compact_node(i: int) -> dict[str, Any]:
    """A Node with only what scheduling reads (the shape of bench.core's nodes): ~0.4 KiB of YAML."""
    name = f"node-{i:05d}"
    alloc = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    node: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                                  "topology.kubernetes.io/zone": f"zone-{i % 3}"}},
                            "status": {"allocatable": alloc, "capacity": dict(alloc)}}
    if i % 10 == 0:
        node["spec"] = {"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}
    return node


def make_pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"web-{i}", "namespace": "bench", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.25",
                                 "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}],
                 "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                "whenUnsatisfiable": "ScheduleAnyway",
                                                "labelSelector": {"matchLabels": {"app": "web"}}}]},
        "status": {"phase": "Pending"},
    }


def write_state(path: str, nodes: int, pods: int, compact: bool = False) -> int:
    node = make_compact_node if compact else make_node
    objects = [node(i) for i in range(nodes)] + [make_pod(i) for i in range(pods)]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump_all(objects, Dumper=dumper, sort_keys=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return len(text.encode("utf-8"))


def time_simulate(path: str) -> tuple[float, str, float]:
    from scheduler.core import simulate

    out, err = io.StringIO(), io.StringIO()
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = simulate.main(["--cluster", path, "--seed", "1"])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code != 0:
        raise RuntimeError(f"simulate failed: {err.getvalue().strip()}")
    return elapsed, out.getvalue(), cpu


def run(args: Any = None, nodes: int = 10_000, pods: int = 20) -> dict[str, float]:
    from scheduler.core.validation import yamlload

    results = {}
    print("validation benchmark: `scheduler simulate` in-process on a 10,000-node state (read YAML with its "
          "budgets, validate every object, build the state, schedule 20 pods); issue 11 target < 3 s")
    for label, compact in (("compact nodes (only what scheduling reads)", True),
                           ("kubectl-sized nodes (conditions, addresses, nodeInfo, images)", False)):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "state.yaml")
            size = write_state(path, nodes, pods, compact=compact)
            runs = 1 if getattr(args, "quick", False) else 3
            times, cpus = [], []
            before = yamlload.FAST_PATH_USED[0]
            for _ in range(runs):
                elapsed, out, cpu = time_simulate(path)
                times.append(elapsed)
                cpus.append(cpu)
            reader = "yaml_rs fast path" if yamlload.FAST_PATH_USED[0] > before else "libyaml (PyYAML CSafeLoader)"
            scheduled = out.count(" -> node-")
            best = min(times)
            results[label] = best
            print(f"  {nodes} {label}, {size / 2**20:.1f} MiB, {reader}: {scheduled}/{pods} pods scheduled, "
                  f"best {best:.2f} s wall ({min(cpus):.2f} s CPU) of {runs}; load average "
                  f"{os.getloadavg()[0]:.1f}")
    return results


register_benchmark("validation", run)
