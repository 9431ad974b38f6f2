"""A cluster-free profile of the scheduler process's whole per-pod path, in one process.

    python -m bench.profile_cycle [--nodes 500] [--pods 2000] [--profile] [--top 30]

The runtime's own objects (SchedulerApp, its reflectors, queue, binder, event recorder and
KubeClient) run against a fake transport instead of an API server: the transport answers with the
bytes the v1.29.15 API server sent for bench/throughput.py's nodes and pods
(``bench/profile_objects.json``, captured once on the local lab), so everything from the response
bytes on is the real code path:

1. start-up: paged lists of nodes and pending pods, decoded and fed to the cache and the queue;
2. per pod: pop, scheduling cycle, assume, bind request (body encoded, answer decoded),
   Scheduled event;
3. the watch: every bound pod comes back twice as a MODIFIED event line (the binding, then kwok's
   status update), read through the reflector's line splitter and decoder.

Work that the real process does on other threads (binds, events) runs inline here, so cProfile
(``--profile``) sees all of it; the wall-clock figures are per phase and per pod, from
``time.process_time``. Decisions (pod -> node) are digested: the same code, seed and inputs must
give the same digest, before and after any optimisation.
"""

from __future__ import annotations

import argparse
import cProfile
import copy
import hashlib
import json
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scheduler.core.plugins.registry import default_registry
from scheduler.core.profiles import build_profiles, load_config_data
from scheduler.core.state import ClusterState
from scheduler.runtime.app import SchedulerApp, ServingOptions
from scheduler.runtime.tuning import tune_gc
from scheduler.runtime.kube import KubeClient, load_configuration

from bench.throughput import ZONE_LABEL, ZONES, mix_pod

OBJECTS = Path(__file__).with_name("profile_objects.json")
SCHEDULER_NAME = "bench-python"
WATCH_BATCH = 50
NODE_MARK = "@@node@@"
NODE_PLACEHOLDER = b"@@NODE_JSON@@"  # bound pods whose two watch events arrive together (the stream's chunks)


def _dumps(obj: Any) -> bytes:
    # The API server's encoding: compact JSON.
    return json.dumps(obj, separators=(",", ":")).encode()


class _Templates:
    """Copies of the captured objects with their own names, uids and resourceVersions."""

    def __init__(self, mix: bool = False) -> None:
        raw = json.loads(OBJECTS.read_text())
        self.mix = mix
        self.node, self.pending = raw["node"], raw["pending_pod"]
        self.bound, self.running = raw["bound_pod"], raw["running_pod"]
        self.rv = 1000

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def make_node(self, i: int) -> dict[str, Any]:
        node = copy.deepcopy(self.node)
        name = f"bench-node-{i:04d}"
        node["metadata"].update(name=name, uid=f"node-uid-{i}", resourceVersion=self._next_rv())
        node["metadata"]["labels"]["kubernetes.io/hostname"] = name
        if self.mix:  # the live bench's zones (bench_nodes), which the mix spreads and attracts over
            node["metadata"]["labels"][ZONE_LABEL] = f"bench-zone-{i % ZONES}"
        return node

    def _pod(self, template: dict[str, Any], i: int, node: str | None) -> dict[str, Any]:
        pod = copy.deepcopy(template)
        pod["metadata"].update(name=f"bench-{i:05d}", namespace="bench", uid=f"pod-uid-{i}",
                               resourceVersion=self._next_rv())
        pod["spec"]["schedulerName"] = SCHEDULER_NAME
        if node is not None:
            pod["spec"]["nodeName"] = node
        return pod

    def make_pending(self, i: int) -> dict[str, Any]:
        pod = self._pod(self.pending, i, None)
        if self.mix:  # mix_pod's labels and constraints on the captured pending pod
            mixed = mix_pod(pod["metadata"]["name"], SCHEDULER_NAME, i)
            pod["metadata"]["labels"] = mixed["metadata"]["labels"]
            for key in ("affinity", "topologySpreadConstraints"):
                if key in mixed["spec"]:
                    pod["spec"][key] = mixed["spec"][key]
        return pod

    def make_bound(self, i: int, node: str) -> dict[str, Any]:
        return self._pod(self.bound, i, node)

    def make_running(self, i: int, node: str) -> dict[str, Any]:
        return self._pod(self.running, i, node)


class _Response:
    """What urllib3 hands KubeClient: ``data`` for requests, ``stream`` for watches."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.status = 200

    def stream(self, amt: int = 2**16, decode_content: bool = False) -> Iterator[bytes]:
        for start in range(0, len(self.data), amt):
            yield self.data[start:start + amt]

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self.data

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeTransport:
    """Answers the scheduler's requests like the API server would, from prepared bytes."""

    def __init__(self, templates: _Templates, nodes: int, pods: int, page: int = 500) -> None:
        self.templates = templates
        self.counts = (nodes, pods)
        self.pages: dict[str, list[bytes]] = {
            "/api/v1/nodes": self._pages([templates.make_node(i) for i in range(nodes)], page, "NodeList"),
            "/api/v1/pods": self._pages([templates.make_pending(i) for i in range(pods)], page, "PodList"),
        }
        # Each pod's two watch lines, prepared now so the fake server's own work stays out of the
        # figures; the node is filled in at bind time.
        self.events = [[_dumps({"type": "MODIFIED", "object": obj}).replace(b'"' + NODE_MARK.encode() + b'"',
                                                                             NODE_PLACEHOLDER)
                        for obj in (templates.make_bound(i, NODE_MARK), templates.make_running(i, NODE_MARK))]
                       for i in range(pods)]
        self.watch_lines: list[bytes] = []
        self.binds: list[tuple[str, str]] = []  # (pod name, node) in bind order
        self.requests = 0

    def _pages(self, items: list[dict[str, Any]], size: int, kind: str) -> list[bytes]:
        chunks = [items[i:i + size] for i in range(0, len(items), size)] or [[]]
        out = []
        for n, chunk in enumerate(chunks):
            meta = {"resourceVersion": "999"}
            if n + 1 < len(chunks):
                meta["continue"] = str(n + 1)
            out.append(_dumps({"kind": kind, "apiVersion": "v1", "metadata": meta, "items": chunk}))
        return out

    def send(self, method: str, path: str, query: Any, body: Any) -> _Response:
        self.requests += 1
        params = dict(query or ())
        if method == "GET" and params.get("watch") in ("true", True):
            lines, self.watch_lines = self.watch_lines, []
            return _Response(b"".join(line + b"\n" for line in lines))
        if method == "GET":
            pages = self.pages.get(path)
            if pages is None:  # the optional workload informers: empty lists
                return _Response(_dumps({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                         "items": []}))
            return _Response(pages[int(params.get("continue") or 0)])
        if path.endswith("/binding"):
            request = json.loads(body) if isinstance(body, (bytes, str)) else body
            name, node = request["metadata"]["name"], request["target"]["name"]
            self.binds.append((name, node))
            i = int(name.rsplit("-", 1)[1])
            node_json = json.dumps(node).encode()
            self.watch_lines.extend(line.replace(NODE_PLACEHOLDER, node_json) for line in self.events[i])
            return _Response(b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}')
        # events (POST/PATCH), status patches: the API server echoes the object; a short answer
        # here keeps the fake's own encoding out of the figures.
        return _Response(b'{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"e"}}')


def fake_client(transport: FakeTransport) -> KubeClient:
    """A real KubeClient whose wire is `transport` (the same seam the unit tests' fakes use)."""
    fd, name = tempfile.mkstemp(prefix="profile-kubeconfig-")
    os.close(fd)
    kubeconfig = Path(name)
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "profile"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    try:
        configuration = load_configuration(str(kubeconfig))
    finally:
        kubeconfig.unlink()
    client = KubeClient(configuration, qps=0, burst=1, user_agent="profile")
    client.use_transport(transport.send)
    return client


class _Inline:
    """A ThreadPoolExecutor stand-in that runs each job at once, on the caller's thread."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        fn(*args, **kwargs)

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass


def build_app(transport: FakeTransport, seed: int) -> SchedulerApp:
    registry = default_registry()
    cfg = load_config_data({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                            "clientConnection": {"qps": 5000, "burst": 5000},
                            "leaderElection": {"leaderElect": False},
                            "profiles": [{"schedulerName": SCHEDULER_NAME}]}, registry=registry)
    kube = fake_client(transport)
    app = SchedulerApp(cfg, build_profiles(cfg, registry), kube=kube, state=ClusterState(),
                       serving=ServingOptions(bind_address="127.0.0.1", port=0, secure_port=0),
                       rng=random.Random(seed))
    # Binds and events run inline so one profiler sees everything.
    app.binder._pool = _Inline()  # type: ignore[assignment]
    app.events._pool = _Inline()  # type: ignore[assignment]
    return app


def prepare(nodes: int, pods: int, mix: bool = False) -> FakeTransport:
    """The fake API server's answers, made before anything is measured; ``mix``: the pods of
    bench.throughput.mix_pod (inter-pod affinity and topology spread) on nodes in 10 zones."""
    return FakeTransport(_Templates(mix), nodes, pods)


def run(transport: FakeTransport, seed: int = 1) -> dict[str, Any]:
    """One whole run; returns the phases' CPU seconds and the decisions' digest."""
    nodes, pods = transport.counts
    tune_gc()  # as `scheduler run` does
    t0 = time.process_time()
    app = build_app(transport, seed)
    t1 = time.process_time()
    for reflector in app._reflectors():
        reflector.relist()
    t2 = time.process_time()
    scheduled = 0
    cycle_cpu = watch_cpu = 0.0
    while True:
        a = time.process_time()
        batch = 0
        while batch < WATCH_BATCH:
            info = app.queue.pop(timeout=0)
            if info is None:
                break
            app.schedule_one(info)
            batch += 1
        b = time.process_time()
        cycle_cpu += b - a
        if transport.watch_lines:
            app.pod_reflector.watch_once()
        watch_cpu += time.process_time() - b
        scheduled += batch
        if batch == 0:
            break
    digest = hashlib.sha256(json.dumps(transport.binds).encode()).hexdigest()[:16]
    return {"nodes": nodes, "pods": pods, "bound": len(transport.binds), "requests": transport.requests,
            "setup_s": t1 - t0, "lists_s": t2 - t1, "cycles_s": cycle_cpu, "watch_s": watch_cpu,
            "ms_per_pod": 1000 * (cycle_cpu + watch_cpu) / max(1, len(transport.binds)),
            "decisions": digest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_cycle", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", action="store_true", help="the affinity and spread pod mix (bench-curve's)")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top functions")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", help="also write the cProfile stats to this file")
    args = parser.parse_args(argv)
    transport = prepare(args.nodes, args.pods, args.mix)
    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(run, transport, args.seed)
        if args.out:
            profiler.dump_stats(args.out)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    else:
        result = run(transport, args.seed)
    print(json.dumps(result))
    return 0 if result["bound"] == args.pods else 1


if __name__ == "__main__":
    sys.exit(main())
