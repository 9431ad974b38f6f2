"""Scheduling throughput of a scheduler process on a live cluster (pods bound per second).

    run_throughput(kubeconfig, scheduler_cmd, nodes=500, pods=2000, scheduler_name="bench-scheduler")

Method (close to scheduler_perf's SchedulingBasic, but against a real API server):

1. register `nodes` kwok nodes (annotation kwok.x-k8s.io/node=fake, so the lab's kwok keeps them
   Ready), labelled and tainted `scheduler-lab.dev/bench` so nothing else lands on them;
2. create `pods` small pending pods for `scheduler_name` in a fresh namespace *before* the
   scheduler starts, so pod creation never limits the measurement;
3. start `scheduler_cmd`, watch the namespace, and record when each pod is seen bound;
4. throughput = pods bound after the first / (last bind - first bind); also per-second samples
   like scheduler_perf's SchedulingThroughput (average, p50, p90 of 1 s buckets);
5. before the scheduler is stopped, wait until every pod has its Scheduled event (kube-scheduler
   writes one per pod, as soon as it binds): a scheduler that deferred or dropped them would be
   credited with work it never did. The count and how long after the last bind the last one came
   are part of the result; its CPU figure includes writing them.

The scheduler is stopped with SIGTERM afterwards; the namespace is deleted, and the nodes too
unless `keep_nodes=True` (handy to measure two schedulers on the very same nodes).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scheduler.runtime.informer import KubeListWatch, Reflector
from scheduler.runtime.kube import ApiError, KubeClient, load_configuration

__all__ = ["ThroughputResult", "run_throughput", "python_scheduler_command", "bench_nodes", "bench_pod", "mix_pod",
           "POD_MIXES", "BENCH_LABEL", "peak_rss_kib"]

BENCH_LABEL = "scheduler-lab.dev/bench"
# How long after the last bind the Scheduled events may still be arriving. kube-scheduler's are
# all in within a second or two; a minute means the scheduler lost them.
EVENTS_TIMEOUT = 60.0
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}


@dataclass
class ThroughputResult:
    scheduler: str
    nodes: int
    pods: int
    bound: int
    seconds: float  # first bind -> last bind
    pods_per_second: float
    startup_seconds: float  # scheduler start -> first bind (lists, cache sync, leader election)
    cpu_seconds: float = float("nan")  # the scheduler process's user + system CPU, start to exit (getrusage)
    peak_rss_mib: float = float("nan")  # its peak resident set (VmHWM, read just before it is stopped)
    samples: list[int] = field(default_factory=list)  # pods bound in each whole second
    average_sample: float = 0.0
    p50_sample: float = 0.0
    p90_sample: float = 0.0
    log_path: str = ""
    events: int = 0  # pods with a Scheduled event when the scheduler was stopped
    event_lag_seconds: float = float("nan")  # last Scheduled event seen - last bind seen

    @property
    def cpu_ms_per_pod(self) -> float:
        return 1000 * self.cpu_seconds / self.bound if self.bound else float("nan")

    def summary(self) -> str:
        return (f"{self.scheduler}: {self.bound}/{self.pods} pods on {self.nodes} nodes in {self.seconds:.2f}s = "
                f"{self.pods_per_second:.1f} pods/s (1s samples: avg {self.average_sample:.1f}, "
                f"p50 {self.p50_sample:.0f}, p90 {self.p90_sample:.0f}; start-up {self.startup_seconds:.1f}s; "
                f"CPU {self.cpu_ms_per_pod:.2f} ms/pod; peak RSS {self.peak_rss_mib:.0f} MiB; "
                f"Scheduled events {self.events}, the last {self.event_lag_seconds:+.1f}s after the last bind)")


ZONES = 10  # the bench nodes' topology.kubernetes.io/zone values: the pod mix spreads over them
ZONE_LABEL = "topology.kubernetes.io/zone"


def bench_nodes(count: int) -> list[dict[str, Any]]:
    nodes = []
    for i in range(count):
        name = f"bench-node-{i:04d}"
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok", BENCH_LABEL: "true",
                                    ZONE_LABEL: f"bench-zone-{i % ZONES}"},
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"taints": [{"key": BENCH_LABEL, "value": "true", "effect": "NoSchedule"}]},
            "status": {"capacity": dict(NODE_CAPACITY), "allocatable": dict(NODE_CAPACITY)},
        })
    return nodes


PodFactory = Callable[[str, str, int], dict[str, Any]]  # (name, schedulerName, index) -> pod


def bench_pod(name: str, scheduler_name: str, index: int = 0) -> dict[str, Any]:
    """The plain pod every contender binds: a small request, the bench nodes' selector and toleration."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {
            "schedulerName": scheduler_name,
            "nodeSelector": {BENCH_LABEL: "true"},
            "tolerations": [{"key": BENCH_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
        },
    }


MIX_APPS = 20  # the mix's pods belong to this many apps (label app), each spread or attracted on its own


def mix_pod(name: str, scheduler_name: str, index: int) -> dict[str, Any]:
    """The affinity-heavy mix: a plain pod of app ``mix-(index % 20)`` plus, in turn, one of three
    constraints the scheduler must evaluate against every pod already placed: preferred
    anti-affinity to its own app per node (InterPodAffinity scores every node), a hard topology
    spread over the zones with a soft one over the nodes (PodTopologySpread filters and scores), or
    preferred affinity to its own app per zone. All stay satisfiable: 10 zones, a node per pod."""
    pod = bench_pod(name, scheduler_name, index)
    app = f"mix-{index % MIX_APPS}"
    pod["metadata"]["labels"] = {"app": app}
    own = {"labelSelector": {"matchLabels": {"app": app}}}
    kind = index % 3
    if kind == 0:
        pod["spec"]["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {**own, "topologyKey": "kubernetes.io/hostname"}}]}}
    elif kind == 1:
        pod["spec"]["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule", **own},
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", **own}]
    else:
        pod["spec"]["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {**own, "topologyKey": ZONE_LABEL}}]}}
    return pod


POD_MIXES: dict[str, PodFactory] = {"plain": bench_pod, "affinity and spread": mix_pod}


def _create_all(kube: KubeClient, path: str, bodies: Sequence[dict[str, Any]], workers: int = 8) -> None:
    def create(body: dict[str, Any]) -> None:
        for attempt in range(5):
            try:
                kube.request("POST", path, body=body, rate_limited=False)
                return
            except ApiError as exc:
                if exc.status == 409:
                    return  # already there (nodes kept from an earlier run)
                if attempt == 4 or exc.status not in (0, 429, 500, 503, 504):
                    raise
                time.sleep(0.2 * (attempt + 1))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(create, bodies))


def _wait_nodes_ready(kube: KubeClient, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        items = kube.request("GET", "/api/v1/nodes", query={"labelSelector": f"{BENCH_LABEL}=true"})["items"]
        ready = sum(1 for n in items if any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in (n.get("status") or {}).get("conditions") or []))
        if ready >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {ready}/{count} bench nodes Ready after {timeout:.0f}s (is kwok running?)")
        time.sleep(0.5)


class _FirstSeen:
    """Reflector handler: the monotonic time each pod was first named by an object `key_of` accepts
    (`key_of` returns the pod's name, or None for objects that do not count)."""

    def __init__(self, key_of: Callable[[dict[str, Any]], str | None]) -> None:
        self._key_of = key_of
        self.seen_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def _see(self, obj: dict[str, Any]) -> None:
        name = self._key_of(obj)
        if name:
            with self.lock:
                if name not in self.seen_at:
                    self.seen_at[name] = time.monotonic()
                    self.changed.notify_all()

    def on_add(self, obj: dict[str, Any]) -> None:
        self._see(obj)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._see(new)

    def on_delete(self, obj: dict[str, Any]) -> None:
        pass

    def wait_count(self, count: int, timeout: float) -> bool:
        with self.lock:
            return self.changed.wait_for(lambda: len(self.seen_at) >= count, timeout)


def _bound_pod(pod: dict[str, Any]) -> str | None:
    return pod["metadata"]["name"] if (pod.get("spec") or {}).get("nodeName") else None


def _scheduled_event_pod(event: dict[str, Any]) -> str | None:
    return (event.get("regarding") or {}).get("name") if event.get("reason") == "Scheduled" else None


def _samples(times: list[float]) -> list[int]:
    if not times:
        return []
    start = times[0]
    buckets = [0] * (int(times[-1] - start) + 1)
    for t in times:
        buckets[int(t - start)] += 1
    # The last bucket is partial: keep it only if it is the only one.
    return buckets[:-1] if len(buckets) > 1 else buckets


def python_scheduler_command(kubeconfig: str | Path, scheduler_name: str, *, workdir: str | Path,
                             qps: float = 100, burst: int = 200, verbosity: int = 1) -> list[str]:
    """A command running the Python scheduler with one default-plugins profile, no leader election."""
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"qps": qps, "burst": burst},
        "leaderElection": {"leaderElect": False},
        "profiles": [{"schedulerName": scheduler_name}],
    }
    path = Path(workdir) / f"{scheduler_name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return [sys.executable, "-m", "scheduler", f"--config={path}", f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--port=0", f"--v={verbosity}"]


def run_throughput(kubeconfig: str | Path, scheduler_cmd: Sequence[str], nodes: int = 500, pods: int = 2000, *,
                   scheduler_name: str = "bench-scheduler", label: str | None = None, timeout: float = 600.0,
                   keep_nodes: bool = False, log_dir: str | Path | None = None,
                   cwd: str | Path | None = None, make_pod: PodFactory = bench_pod) -> ThroughputResult:
    """Measure how fast `scheduler_cmd` binds `pods` pending pods (schedulerName `scheduler_name`)
    made by `make_pod`; `cwd`: the directory it runs in (a ``python -m bench.x`` command needs the
    checkout's root)."""
    kube = KubeClient(load_configuration(str(kubeconfig)), qps=0, burst=1, user_agent="scheduler-lab-bench",
                      pool_size=16)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="bench-"))
    log_path = log_dir / f"{label or scheduler_name}-{namespace}.log"
    proc: subprocess.Popen | None = None
    reflectors: list[Reflector] = []
    try:
        _create_all(kube, "/api/v1/nodes", bench_nodes(nodes))
        # kwok renews every node's Lease and status: at thousands of nodes on 2 cores, right after a
        # run it falls behind and some nodes go NotReady for a while (4,860 of 5,000 Ready after
        # 120 s, measured). They come back as it catches up; the wait grows with the nodes it renews.
        _wait_nodes_ready(kube, nodes, timeout=max(120.0, nodes * 0.1))
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace,
                                                                      "labels": {BENCH_LABEL: "true"}}})
        _wait_default_service_account(kube, namespace)
        _create_all(kube, f"/api/v1/namespaces/{namespace}/pods",
                    [make_pod(f"bench-{i:05d}", scheduler_name, i) for i in range(pods)])

        recorder, scheduled = _FirstSeen(_bound_pod), _FirstSeen(_scheduled_event_pod)
        reflectors = [
            Reflector(KubeListWatch(kube), name="bench-pods", path=f"/api/v1/namespaces/{namespace}/pods",
                      handler=recorder),
            Reflector(KubeListWatch(kube), name="bench-events", kind="Event", handler=scheduled,
                      path=f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"),
        ]
        for reflector in reflectors:
            reflector.start()
        for reflector in reflectors:
            reflector.synced.wait(60)

        with open(log_path, "wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(list(scheduler_cmd), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        recorder.wait_count(pods, timeout)
        with recorder.lock:
            times = sorted(recorder.seen_at.values())
        scheduled.wait_count(len(times), EVENTS_TIMEOUT)
        with scheduled.lock:
            event_times = sorted(scheduled.seen_at.values())
    finally:
        peak_kib = peak_rss_kib(proc.pid) if proc is not None else None
        usage = _stop_and_reap(proc) if proc is not None else None
        for reflector in reflectors:
            reflector.stop()
        _cleanup(kube, namespace, delete_nodes=not keep_nodes)

    bound = len(times)
    seconds = (times[-1] - times[0]) if bound > 1 else 0.0
    samples = _samples(times)
    quantiles = statistics.quantiles(samples, n=10) if len(samples) >= 2 else [float(s) for s in samples] * 9
    return ThroughputResult(
        scheduler=label or scheduler_name, nodes=nodes, pods=pods, bound=bound, seconds=seconds,
        pods_per_second=(bound - 1) / seconds if seconds > 0 else 0.0,
        startup_seconds=(times[0] - started) if times else float("nan"),
        samples=samples, average_sample=statistics.fmean(samples) if samples else 0.0,
        p50_sample=statistics.median(samples) if samples else 0.0,
        p90_sample=quantiles[8] if quantiles else 0.0, log_path=str(log_path),
        cpu_seconds=(usage.ru_utime + usage.ru_stime) if usage else float("nan"),
        peak_rss_mib=peak_kib / 1024 if peak_kib is not None else float("nan"),
        events=len(event_times),
        event_lag_seconds=(event_times[-1] - times[-1]) if event_times and times else float("nan"))


def peak_rss_kib(pid: int) -> int | None:
    """The process's own peak resident set since its exec (VmHWM of /proc/PID/status), None once gone.

    Not wait4's ru_maxrss: Linux carries the high-water mark of the memory a child had before its
    exec over into it, and a child forked from this process starts as a copy of it, so
    ru_maxrss is at least this process's own size (measured: /bin/true started from a Python
    process of 314 MiB reports 314 MiB). The benchmark, holding every pod of the run, was
    about as large as the schedulers it measured, and their figures read as its size.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _stop_and_reap(proc: subprocess.Popen) -> os.struct_rusage | None:
    """SIGTERM the scheduler and reap it with wait4, which returns the child's own rusage: its CPU
    (its ru_maxrss is not its own: see peak_rss_kib).

    Popen.wait() would reap it through waitpid and lose the figures. The process is the scheduler
    itself (exec'd directly, no shell between), and unreaped until here, so its pid is still its own.
    """
    if proc.returncode is not None:
        return None
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    sig_killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline and not sig_killed:
            os.kill(proc.pid, signal.SIGKILL)
            sig_killed, deadline = True, time.monotonic() + 15
        time.sleep(0.05)


def _wait_default_service_account(kube: KubeClient, namespace: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            kube.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            return
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _cleanup(kube: KubeClient, namespace: str, *, delete_nodes: bool, timeout: float = 180.0) -> None:
    """Delete what the run created and wait until it is gone, so back-to-back runs start equal.

    The namespace goes first: its pods sit on the bench nodes, and kwok (the nodes' "kubelet")
    only finishes deleting them while the nodes still exist.
    """
    deadline = time.monotonic() + timeout
    try:
        kube.request("DELETE", f"/api/v1/namespaces/{namespace}", body={"propagationPolicy": "Background"})
    except ApiError:
        pass
    while time.monotonic() < deadline:
        try:
            kube.request("GET", f"/api/v1/namespaces/{namespace}")
        except ApiError as exc:
            if exc.status == 404:
                break
        time.sleep(0.5)
    if not delete_nodes:
        return
    try:
        kube.request("DELETE", "/api/v1/nodes", query={"labelSelector": f"{BENCH_LABEL}=true"})
    except ApiError:
        pass
    while time.monotonic() < deadline:
        query = {"labelSelector": f"{BENCH_LABEL}=true", "limit": 1}
        if not kube.request("GET", "/api/v1/nodes", query=query)["items"]:
            return
        time.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput",
                                     description="Scheduling throughput of the Python scheduler on a live cluster")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--qps", type=float, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--keep-nodes", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    name = f"bench-py-{uuid.uuid4().hex[:4]}"
    from scheduler.runtime.kube import KubeConfigError

    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        cmd = python_scheduler_command(args.kubeconfig, name, workdir=workdir, qps=args.qps, burst=args.burst)
        try:
            result = run_throughput(args.kubeconfig, cmd, nodes=args.nodes, pods=args.pods, scheduler_name=name,
                                    label="python-scheduler", keep_nodes=args.keep_nodes, log_dir=workdir)
        except (ApiError, KubeConfigError, TimeoutError) as exc:
            print(f"python -m bench.throughput: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(asdict(result)) if args.json else result.summary())
    return 0 if result.bound == result.pods == result.events else 1


if __name__ == "__main__":
    sys.exit(main())
