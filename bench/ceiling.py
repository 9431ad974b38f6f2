"""The bind-only ceiling: a "scheduler" that makes no decision, only binds.

    python -m bench.ceiling --kubeconfig K --scheduler-name NAME [--qps Q --burst B]

It watches pods and nodes as the Python scheduler does (all non-terminal pods, all nodes: the
same watch load on the API server), and binds every pending pod whose schedulerName is NAME to
the next node in turn (round-robin over the nodes carrying `--node-label`, the bench pods'
nodeSelector), with no filtering or scoring. Everything else is the Python scheduler's own
machinery, so the two differ only by the decisions: the same HTTP client
(scheduler.runtime.kube.KubeClient, pool of CLIENT_POOL_SIZE connections, the same qps/burst),
the same Binder (its request shape and retries, BIND_WORKERS concurrent binds, BIND_TIMEOUT) and
the same Scheduled event per pod through the same EventRecorder (EVENT_WORKERS), which the
benchmark requires of both schedulers. Its throughput on the same lab is what the API server
lets this client bind: the schedulers' throughputs are reported as fractions of it.

Runs until SIGTERM (bench.throughput.run_throughput stops it as it stops a scheduler).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from typing import Any

from bench.throughput import BENCH_LABEL
from scheduler.runtime.tuning import BIND_TIMEOUT, BIND_WORKERS, CLIENT_POOL_SIZE, EVENT_WORKERS
from scheduler.runtime.binder import Binder, BindError, BindJob
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.informer import NON_TERMINAL_PODS, KubeListWatch, Reflector
from scheduler.runtime.kube import KubeClient, KubeConfigError, load_configuration

__all__ = ["main", "NodeRing", "PendingPodBinder", "scheduler_clients"]



class NodeRing:
    """Reflector handler keeping the names of nodes labelled `label`; `next()` hands them out in turn."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._names: list[str] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def _update(self, node: dict[str, Any], present: bool) -> None:
        meta = node.get("metadata") or {}
        name, wanted = meta.get("name"), self._label in (meta.get("labels") or {})
        with self._lock:
            if present and wanted and name not in self._names:
                self._names.append(name)
            elif (not present or not wanted) and name in self._names:
                self._names.remove(name)

    def on_add(self, obj: dict[str, Any]) -> None:
        self._update(obj, True)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._update(new, True)

    def on_delete(self, obj: dict[str, Any]) -> None:
        self._update(obj, False)

    def next(self) -> str | None:
        with self._lock:
            return self._names[next(self._turn) % len(self._names)] if self._names else None


class PendingPodBinder:
    """Reflector handler: each pending pod of `scheduler_name` (by UID, once) goes to the binder
    with the ring's next node; a Scheduled event follows each bind, as the scheduler writes it."""

    def __init__(self, scheduler_name: str, nodes: NodeRing, binder_factory: Any, events: EventRecorder) -> None:
        self._name = scheduler_name
        self._nodes = nodes
        self._events = events
        self._submitted: set[str] = set()
        self._lock = threading.Lock()
        self.failures = 0
        self.binder: Binder = binder_factory(self._done)

    def _offer(self, pod: dict[str, Any]) -> None:
        spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
        if spec.get("schedulerName") != self._name or spec.get("nodeName"):
            return
        uid = meta.get("uid")
        with self._lock:
            if not uid or uid in self._submitted:
                return
            node = self._nodes.next()
            if node is None:
                return
            self._submitted.add(uid)
        self.binder.submit(BindJob(pod=pod, node=node, scheduler_name=self._name))

    def _done(self, job: BindJob, error: BindError | None) -> None:
        if error is None:
            self._events.scheduled(job.pod, job.node, self._name, here=True)
            return
        # Forget it: the pod's next watch update (or none, and the benchmark times out and says so).
        with self._lock:
            self.failures += 1
            self._submitted.discard((job.pod.get("metadata") or {}).get("uid"))
        print(f"bench.ceiling: bind of {job.pod['metadata'].get('name')} to {job.node} failed: {error}",
              file=sys.stderr, flush=True)

    def on_add(self, obj: dict[str, Any]) -> None:
        self._offer(obj)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._offer(new)

    def on_delete(self, obj: dict[str, Any]) -> None:
        pass


def scheduler_clients(kubeconfig: str, scheduler_name: str, role: str, qps: float,
                      burst: int) -> tuple[KubeClient, EventRecorder]:
    """The API client and event recorder the Python scheduler binds and writes events with, built
    as scheduler/cli.py and SchedulerApp build theirs (CLIENT_POOL_SIZE connections, EVENT_WORKERS
    event writers with their own connections). Raises KubeConfigError."""
    kube = KubeClient(load_configuration(kubeconfig), qps=qps, burst=burst, user_agent=f"{scheduler_name}/{role}",
                      pool_size=CLIENT_POOL_SIZE)
    events = EventRecorder(kube.derive(qps=qps, burst=burst, timeout=10.0, pool_size=EVENT_WORKERS,
                                       user_agent=f"{scheduler_name}/events"), workers=EVENT_WORKERS)
    return kube, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--scheduler-name", required=True)
    parser.add_argument("--qps", type=float, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--node-label", default=BENCH_LABEL, help="round-robin over the nodes with this label key")
    args = parser.parse_args(argv)
    try:
        kube, events = scheduler_clients(args.kubeconfig, args.scheduler_name, "bench-ceiling", args.qps, args.burst)
    except KubeConfigError as exc:
        print(f"python -m bench.ceiling: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    nodes = NodeRing(args.node_label)
    pods = PendingPodBinder(args.scheduler_name, nodes, lambda done: Binder(
        kube, can_act=lambda: not stopping.is_set(), on_done=done, workers=BIND_WORKERS,
        request_timeout=BIND_TIMEOUT), events)
    lw = KubeListWatch(kube)
    node_reflector = Reflector(lw, name="nodes", path="/api/v1/nodes", kind="Node", handler=nodes)
    pod_reflector = Reflector(lw, name="pods", path="/api/v1/pods", field_selector=NON_TERMINAL_PODS, kind="Pod",
                              handler=pods)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    node_reflector.start()
    while not node_reflector.synced.wait(0.1) and not stopping.is_set():
        pass
    pod_reflector.start()  # after the nodes, as the scheduler starts scheduling after its cache sync
    stopping.wait()
    pod_reflector.stop()
    node_reflector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
