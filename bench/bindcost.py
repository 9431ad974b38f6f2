"""What the Python scheduler's own binds and events cost the API server: the counterpart of
bench/wireprobe/main.go (`make wireprobe`), which measures a Go client in four settings.

    python -m bench.bindcost --kubeconfig K --apiserver-pid PID [--pods 2000 --rounds 3]

Each round creates --pods pending pods in the namespace `wireprobe` (not measured), then binds
them all with the Python scheduler's own machinery, as bench.ceiling does (KubeClient with
CLIENT_POOL_SIZE connections, Binder with BIND_WORKERS, a Scheduled event per pod through the
EventRecorder with EVENT_WORKERS, no client-side rate limit), to a node name nothing serves, and
reads kube-apiserver's CPU time from /proc before and after; then deletes the pods. Each round
prints one JSON line in the shape wireprobe prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from bench.ceiling import scheduler_clients
from scheduler.runtime.binder import Binder, BindError, BindJob
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.kube import ApiError, KubeClient, KubeConfigError
from scheduler.runtime.tuning import BIND_TIMEOUT, BIND_WORKERS

__all__ = ["main"]

NAMESPACE = "wireprobe"
LABEL = "scheduler-lab.io/wireprobe"
NOWHERE = "wireprobe-nowhere"  # no node of that name: nothing acts on the bound pods
SCHEDULER = "wireprobe-python"


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()  # read only
    return float(times.user + times.system)


def _create_pods(kube: KubeClient, prefix: str, count: int) -> list[dict[str, Any]]:
    def create(i: int) -> dict[str, Any]:
        return kube.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", body={
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}{i}", "labels": {LABEL: "1"}},
            "spec": {"schedulerName": "wireprobe-nobody", "containers": [{
                "name": "c", "image": "registry.k8s.io/pause:3.9", "resources": {"requests": {"cpu": "1m"}}}]}})

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(create, range(count)))


def _delete_pods(kube: KubeClient) -> None:
    kube.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods",
                 query={"labelSelector": LABEL, "gracePeriodSeconds": 0})
    deadline = time.monotonic() + 120
    while kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods", query={"labelSelector": LABEL})["items"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"python -m bench.bindcost: pods of {NAMESPACE} still there 2 minutes after their deletion")
        time.sleep(1)  # a tool's wait for the API server's deletion, not a test


def _bind_round(kube: KubeClient, events: EventRecorder, pods: list[dict[str, Any]]) -> int:
    finished, lock = threading.Event(), threading.Lock()
    outcome = {"done": 0, "failures": 0}

    def on_done(job: BindJob, error: BindError | None) -> None:
        if error is None:
            events.scheduled(job.pod, job.node, SCHEDULER, here=True)
        with lock:
            outcome["done"] += 1
            outcome["failures"] += error is not None
            if outcome["done"] == len(pods):
                finished.set()

    binder = Binder(kube, can_act=lambda: True, on_done=on_done, workers=BIND_WORKERS, request_timeout=BIND_TIMEOUT)
    for pod in pods:
        binder.submit(BindJob(pod=pod, node=NOWHERE, scheduler_name=SCHEDULER))
    if not finished.wait(600) or not events.flush(120):
        raise SystemExit("python -m bench.bindcost: the binds or their events did not finish within 12 minutes")
    return outcome["failures"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bindcost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--apiserver-pid", type=int, required=True)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        kube, events = scheduler_clients(args.kubeconfig, SCHEDULER, "bindcost", qps=0, burst=1)  # qps 0: no limit
    except KubeConfigError as exc:
        print(f"python -m bench.bindcost: {exc}", file=sys.stderr)
        return 2
    try:
        kube.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": NAMESPACE}})
    except ApiError as exc:
        if exc.status != 409:  # it exists already: fine
            raise
    for round_ in range(1, args.rounds + 1):
        pods = _create_pods(kube, f"py-{round_}-{time.time_ns()}-", args.pods)
        before, start = _cpu_seconds(args.apiserver_pid), time.monotonic()
        failures = _bind_round(kube, events, pods)
        seconds, used = time.monotonic() - start, _cpu_seconds(args.apiserver_pid) - before
        print(json.dumps({"Format": "json", "Transport": "python-http1", "round": round_, "pods": len(pods),
                          "concurrency": BIND_WORKERS, "events": True, "seconds": seconds,
                          "binds_per_second": len(pods) / seconds,
                          "apiserver_cpu_ms_per_pod": used * 1000 / len(pods), "failures": failures}), flush=True)
        _delete_pods(kube)
    events.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
