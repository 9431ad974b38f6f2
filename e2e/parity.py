"""Differential harness: the lab's kube-scheduler v1.29.15 is the oracle for the Python core.

A private upstream kube-scheduler (the lab's own binary, three profiles, no leader election)
runs next to the lab. Generated cluster *states* — 3 to 8 kwok nodes with taints, labels and
zones, pods already bound to them (priorities, anti-affinity, PodDisruptionBudgets), and one
pending pod — are created in batches; each state lives on its own nodes (the pending pod has a
``nodeSelector`` for them) and its pods carry state-unique labels, so states do not interact,
while every message still counts every node of the cluster, as upstream's does.

For each pending pod the harness reads what upstream did (binding, FailedScheduling events,
PodScheduled condition, the "Preemptor Pod preempted victim Pod" log lines) and runs the Python
core on the snapshot taken just before the pending pods were created. ``compare`` reports every
difference; the test asserts there are none.
"""
from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.harness import SuiteCluster, NotYet, STATE_OBJECTS, wait_for

PROFILES = {
    "parity-default": "",
    # The seed's custom-k8s-scheduler (examples/configs/seed000-most-allocated.yaml).
    "parity-most": """
    plugins:
      score:
        enabled:
          - {name: NodeResourcesFit, weight: 1}
      multiPoint:
        enabled:
          - {name: NodeResourcesFit}
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]""",
    "parity-custom": """
    plugins:
      score:
        enabled:
          - {name: TaintToleration, weight: 1}
          - {name: NodeAffinity, weight: 5}
          - {name: InterPodAffinity, weight: 4}
          - {name: PodTopologySpread, weight: 3}
          - {name: NodeResourcesBalancedAllocation, weight: 2}
          - {name: NodeResourcesFit, weight: 6}
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: RequestedToCapacityRatio
            resources: [{name: cpu, weight: 3}, {name: memory, weight: 1}]
            requestedToCapacityRatio:
              shape: [{utilization: 0, score: 0}, {utilization: 60, score: 10}, {utilization: 100, score: 4}]""",
}

CONFIG_HEAD = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
clientConnection:
  kubeconfig: {kubeconfig}
profiles:
"""

PRIORITY_CLASSES = [("parity-low", 10, None), ("parity-mid", 100, None), ("parity-high", 1000, None),
                    ("parity-high-never", 1000, "Never")]

SCORE_LINE = re.compile(r'"(?P<what>Plugin scored node for pod|Calculated node\'s final score for pod)" '
                        r'pod="(?P<pod>[^"]+)"(?: plugin="(?P<plugin>[^"]+)")? node="(?P<node>[^"]+)" '
                        r'score=(?P<score>-?\d+)')
VICTIM_LINE = re.compile(r'"Preemptor Pod preempted victim Pod" preemptor="(?P<pod>[^"]+)" '
                         r'victim="(?P<victim>[^"]+)" node="(?P<node>[^"]+)"')


def scheduler_config(kubeconfig: Path) -> str:
    text = CONFIG_HEAD.format(kubeconfig=kubeconfig)
    for name, body in PROFILES.items():
        text += f"  - schedulerName: {name}{body}\n"
    return text


class UpstreamScheduler:
    """The lab's kube-scheduler v1.29.15 binary, run privately with the parity profiles."""

    def __init__(self, cluster: SuiteCluster, work: Path) -> None:
        self.binary = cluster.workdir / "bin" / "kube-scheduler"
        assert self.binary.exists(), f"the local lab has no {self.binary}"
        self.config = work / "parity-config.yaml"
        self.config.write_text(scheduler_config(cluster.kubeconfig))
        self.log = work / "kube-scheduler.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(self.log, "w") as out:
            # V(2) has the preemption lines; schedule_one at V(10) has every plugin's score.
            self.proc = subprocess.Popen(
                [str(self.binary), f"--config={self.config}", "--bind-address=127.0.0.1", f"--secure-port={port}",
                 "--v=2", "--vmodule=schedule_one=10"], stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._started, timeout=60, what="the parity kube-scheduler to start")

    def _started(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"kube-scheduler exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        if "Starting Kubernetes Scheduler" not in self.log.read_text():
            raise NotYet("not started")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def scores(self, key: str, text: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for m in SCORE_LINE.finditer(text):
            if m["pod"] == key:
                out.setdefault(m["node"], {})["total" if not m["plugin"] else m["plugin"]] = int(m["score"])
        return out

    @staticmethod
    def preemptions(text: str) -> dict[str, tuple[str, set[str]]]:
        """preemptor key -> (node, victim keys) of its first preemption."""
        out: dict[str, tuple[str, set[str]]] = {}
        for m in VICTIM_LINE.finditer(text):
            node, victims = out.setdefault(m["pod"], (m["node"], set()))
            if node == m["node"]:
                victims.add(m["victim"])
        return out


# ------------------------------------------------------------------------------ generation

@dataclass
class State:
    sid: str
    seed: int
    kind: str
    nodes: list[dict] = field(default_factory=list)
    bound: list[dict] = field(default_factory=list)
    pdbs: list[dict] = field(default_factory=list)
    pod: dict = field(default_factory=dict)


def _node(run: str, sid: str, name: str, zone: str, cpu: str, memory: str, pods: str, labels: dict,
          taints: list[dict]) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok",
                                "parity-run": run, "parity-state": sid,
                                "topology.kubernetes.io/zone": f"{sid}-{zone}", **labels}},
        "spec": {"taints": taints, "providerID": f"kwok://{name}"},
        "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "40Gi"},
                   "allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "40Gi"},
                   "nodeInfo": {"kubeletVersion": "v1.29.15", "kubeProxyVersion": "v1.29.15", "operatingSystem": "linux",
                                "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": "",
                                "kernelVersion": "n/a", "osImage": "kwok", "containerRuntimeVersion": "kwok"}},
    }


def _pod(name: str, labels: dict, cpu: str, memory: str, *, scheduler: str = "", node: str = "",
         priority_class: str | None = None, **spec: Any) -> dict:
    pod: dict = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                 "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9",
                                          "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                          "terminationGracePeriodSeconds": 0, **spec}}
    if scheduler:
        pod["spec"]["schedulerName"] = scheduler
    if node:
        pod["spec"]["nodeName"] = node
    if priority_class:
        pod["spec"]["priorityClassName"] = priority_class
    return pod


KINDS = ("plain", "plain", "affinity", "spread", "big", "preempt", "preempt", "preempt-pdb", "never")


def generate(run: str, sid: str, seed: int, scheduler: str) -> State:
    """One random state: its nodes, bound pods, PDBs and the pending pod (deterministic in ``seed``)."""
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    state = State(sid=sid, seed=seed, kind=kind)
    zones = ["a", "b", "c"][:rng.randint(1, 3)]
    full = kind.startswith("preempt") or kind == "never"
    apps = [f"{sid}-{x}" for x in "xyz"]
    for j in range(rng.randint(3, 5) if full else rng.randint(3, 8)):
        name = f"pn-{run}-{sid}-{j}"
        taints = []
        if rng.random() < 0.2:
            taints.append({"key": "dedicated", "value": sid, "effect": rng.choice(["NoSchedule", "PreferNoSchedule"])})
        cpu = "2" if full else rng.choice(["1", "2", "4"])
        state.nodes.append(_node(run, sid, name, rng.choice(zones), cpu, rng.choice(["2Gi", "4Gi", "8Gi"]),
                                 rng.choice(["110"] * 6 + ["3"]), {"disk": rng.choice(["ssd", "hdd"])}, taints))
        for k in range(2 if full else rng.randint(0, 2)):
            app = rng.choice(apps)
            extra: dict = {}
            if rng.random() < 0.1 and not full:
                extra["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": rng.choice(apps)}},
                     "topologyKey": "kubernetes.io/hostname"}]}}
            cpu_req = rng.choice(["700m", "800m"]) if full else rng.choice(["100m", "250m", "500m", "800m"])
            state.bound.append(_pod(f"b-{sid}-{j}-{k}", {"app": app, "parity-state": sid}, cpu_req,
                                    rng.choice(["128Mi", "512Mi", "1Gi"]), node=name,
                                    priority_class=rng.choice([None, "parity-low", "parity-mid"]),
                                    tolerations=[{"operator": "Exists"}], **extra))
    if kind == "preempt-pdb":
        app = rng.choice(apps)
        matching = sum(1 for p in state.bound if p["metadata"]["labels"]["app"] == app)
        state.pdbs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                           "metadata": {"name": f"pdb-{sid}"},
                           "spec": {"minAvailable": max(0, matching - rng.choice([0, 0, 1])),
                                    "selector": {"matchLabels": {"app": app}}}})
    # New nodes carry node.kubernetes.io/not-ready:NoSchedule until the node lifecycle controller
    # sees them Ready (and a late heartbeat brings unreachable); tolerating both keeps every node's filter result fixed while the batch runs
    # (the taint is NoSchedule, so it never scores either).
    spec: dict = {"nodeSelector": {"parity-state": sid},
                  "tolerations": [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoSchedule"}
                                  for t in ("not-ready", "unreachable")]}
    if rng.random() < 0.3:
        spec["tolerations"].append({"key": "dedicated", "operator": "Equal", "value": sid})
    labels = {"app": rng.choice(apps), "parity-state": sid, "parity-pending": "true"}
    cpu, memory, pclass = rng.choice(["100m", "300m", "700m"]), rng.choice(["64Mi", "256Mi", "1Gi"]), None
    if kind == "affinity":
        term = {"labelSelector": {"matchLabels": {"app": rng.choice(apps)}},
                "topologyKey": rng.choice(["kubernetes.io/hostname", "topology.kubernetes.io/zone"])}
        spec["affinity"] = rng.choice([
            {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
            {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": term}]},
             "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                 {"weight": 30, "preference": {"matchExpressions": [{"key": "disk", "operator": "In",
                                                                     "values": ["ssd"]}]}}]}},
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}},
        ])
    elif kind == "spread":
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": rng.choice(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
            "whenUnsatisfiable": rng.choice(["DoNotSchedule", "ScheduleAnyway"]),
            "labelSelector": {"matchLabels": {"app": labels["app"]}}}]
    elif kind == "big":
        cpu = rng.choice(["5", "3"])
    elif kind in ("preempt", "preempt-pdb"):
        cpu, pclass = rng.choice(["800m", "1", "1200m"]), "parity-high"
    elif kind == "never":
        cpu, pclass = "1200m", "parity-high-never"
    state.pod = _pod(f"p-{sid}", labels, cpu, memory, scheduler=scheduler, priority_class=pclass, **spec)
    return state


# ------------------------------------------------------------------------------ running a batch

def _apply(cluster: SuiteCluster, items: list[dict], namespace: str | None = None) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    out = cluster.kubectl("apply", "-f", "-", *(["-n", namespace] if namespace else []), input=text, check=False,
                          timeout=180)
    assert out.returncode == 0, f"kubectl apply failed: {out.stderr[-3000:]}"


_COLLECTIONS = {"Node": "/api/v1/nodes", "Pod": "/api/v1/namespaces/{ns}/pods",
                "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"}


def create_all(cluster: SuiteCluster, items: list[dict], namespace: str = "") -> None:
    """POST new objects, 8 at a time (kubectl apply sends two requests per object, one by one)."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client

    api = client.ApiClient(cluster.api.configuration)
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 8

    def create(item: dict) -> None:
        path = _COLLECTIONS[item["kind"]].format(ns=namespace)
        api.call_api(path, "POST", body=item, auth_settings=["BearerToken"], _preload_content=False,
                     _request_timeout=(5, 60))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, items))  # re-raises the first failure


def ensure_priority_classes(cluster: SuiteCluster) -> None:
    items = []
    for name, value, policy in PRIORITY_CLASSES:
        pc: dict = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                    "value": value}
        if policy:
            pc["preemptionPolicy"] = policy
        items.append(pc)
    _apply(cluster, items)


def make_namespace(cluster: SuiteCluster, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:5]}"
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"scheduler-lab.dev/e2e": "true"}}})

    def default_sa() -> None:
        try:
            cluster.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
        except Exception as exc:  # noqa: BLE001 - 404 until the controller made it
            raise NotYet(str(exc)) from None

    wait_for(default_sa, timeout=60, what=f"the default ServiceAccount in {name}")
    return name


def _ready(node: dict) -> bool:
    """Ready, and the node lifecycle controller has removed its startup not-ready taint."""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or [])
    return ready and not any(t.get("key", "").startswith("node.kubernetes.io/")
                             for t in (node.get("spec") or {}).get("taints") or [])


def setup_batch(cluster: SuiteCluster, namespace: str, run: str, states: list[State]) -> dict[str, float]:
    """Nodes, bound pods and PDBs of every state; returns (once all are settled) how long each took."""
    took: dict[str, float] = {}
    t0 = time.monotonic()
    create_all(cluster, [n for s in states for n in s.nodes])
    want_nodes = {n["metadata"]["name"] for s in states for n in s.nodes}

    def nodes_managed() -> None:  # kwok has taken them over (it runs their pods)
        nodes = cluster.get("/api/v1/nodes", labelSelector=f"parity-run={run}")["items"]
        managed = {n["metadata"]["name"] for n in nodes if (n.get("status") or {}).get("conditions")}
        if not want_nodes <= managed:
            raise NotYet(f"{len(want_nodes - managed)} nodes not initialised by kwok")

    wait_for(nodes_managed, timeout=300, what="the batch's nodes initialised")
    took["nodes"] = time.monotonic() - t0
    bound = [p for s in states for p in s.bound]
    if bound:
        create_all(cluster, bound, namespace)
    took["pods created"] = time.monotonic() - t0 - took["nodes"]

    def pods_running() -> None:
        pods = cluster.pods(namespace)
        started = [p for p in pods if (p.get("status") or {}).get("startTime")
                   and any(c["type"] == "Ready" and c["status"] == "True"
                           for c in p["status"].get("conditions") or [])]
        if len(started) < len(bound):
            raise NotYet(f"{len(started)}/{len(bound)} bound pods running")

    wait_for(pods_running, timeout=300, what="the bound pods Running")
    took["pods running"] = time.monotonic() - t0 - took["nodes"] - took["pods created"]
    pdbs = [p for s in states for p in s.pdbs]
    if pdbs:
        create_all(cluster, pdbs, namespace)
        expected = {p["metadata"]["name"]: p for p in pdbs}

        def pdbs_observed() -> None:
            items = cluster.get(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets")["items"]
            done = [p for p in items if p["metadata"]["name"] in expected
                    and (p.get("status") or {}).get("observedGeneration") == p["metadata"]["generation"]]
            if len(done) < len(expected):
                raise NotYet(f"{len(done)}/{len(expected)} PDBs observed")

        wait_for(pdbs_observed, timeout=120, what="the disruption controller to compute the PDBs")
    took["total"] = time.monotonic() - t0
    return took


def snapshot_state(cluster: SuiteCluster):
    """The Python core's ClusterState now: nodes, bound pods, workload objects, PDBs."""
    from scheduler.core.state import ClusterState

    state = ClusterState()
    for n in cluster.get("/api/v1/nodes")["items"]:
        state.add_node(n)
    pods = cluster.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
    # kube-scheduler's cache appends a pod to its NodeInfo on every add *and* update (updatePod is
    # remove + add), so a node's pods are in the order of their last write, i.e. resourceVersion.
    # SelectVictimsOnNode keeps that order among equally important pods (same priority, same
    # start second), so it decides which of two interchangeable pods is evicted.
    for p in sorted(pods, key=lambda p: int(p["metadata"]["resourceVersion"])):
        if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp"):
            state.add_pod(p)
    for path, kind in (*STATE_OBJECTS, ("/apis/policy/v1/poddisruptionbudgets", "PodDisruptionBudget")):
        for obj in cluster.get(path)["items"]:
            state.add_object({**obj, "kind": kind})
    return state


@dataclass
class Observed:
    """What upstream did with one pending pod."""

    key: str
    node: str | None
    notes: list[str]
    condition: dict | None
    preempted_on: str | None
    victims: set[str]
    pod: dict


def _events_by_pod(cluster: SuiteCluster, namespace: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for e in cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]:
        out[(e.get("regarding") or {}).get("name", "")].append(e)
    for items in out.values():
        items.sort(key=lambda e: e.get("eventTime") or "")
    return out


def run_pending(cluster: SuiteCluster, namespace: str, upstream: UpstreamScheduler, states: list[State],
                timeout: float = 180) -> dict[str, Observed]:
    """Create the pending pods and wait until upstream has decided each one."""
    create_all(cluster, [s.pod for s in states], namespace)
    names = {s.pod["metadata"]["name"] for s in states}

    def decided() -> dict[str, Observed]:
        pods = {p["metadata"]["name"]: p for p in cluster.pods(namespace, "parity-pending=true")}
        events = _events_by_pod(cluster, namespace)
        preempted = upstream.preemptions(upstream.text())
        out, waiting = {}, []
        for name in names:
            pod = pods.get(name)
            key = f"{namespace}/{name}"
            failed = [e["note"] for e in events.get(name, []) if e.get("reason") == "FailedScheduling"]
            node = (pod or {}).get("spec", {}).get("nodeName")
            pre = preempted.get(key)
            if pod is None or (not node and not failed) or (pre and not node):
                waiting.append(name)
                continue
            cond = next((c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"),
                        None)
            out[name] = Observed(key, node, failed, cond, pre[0] if pre else None, pre[1] if pre else set(), pod)
        if waiting:
            raise NotYet(f"{len(waiting)} pending pods undecided, e.g. {sorted(waiting)[:3]}")
        return out

    return wait_for(decided, timeout=timeout, interval=1.0, what="upstream to decide every pending pod")


def delete_nodes(cluster: SuiteCluster, selector: str) -> None:
    """One DELETE of the node collection (kubectl deletes them one by one)."""
    cluster.api.call_api("/api/v1/nodes", "DELETE", query_params=[("labelSelector", selector)],
                         auth_settings=["BearerToken"], _preload_content=False, _request_timeout=(5, 120))


def sweep(cluster: SuiteCluster) -> None:
    """Remove every node a parity batch made (also those an interrupted earlier run left behind)."""
    delete_nodes(cluster, "parity-run")

    def gone() -> None:
        left = cluster.get("/api/v1/nodes", labelSelector="parity-run")["items"]
        if left:
            raise NotYet(f"{len(left)} parity nodes left")

    wait_for(gone, timeout=120, what="leftover parity nodes deleted")


def teardown_batch(cluster: SuiteCluster, namespace: str, run: str) -> None:
    # The namespace takes its pods with it (kwok finishes their deletion); nodes go at once.
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False, timeout=180)
    delete_nodes(cluster, f"parity-run={run}")

    def nodes_gone() -> None:
        left = cluster.get("/api/v1/nodes", labelSelector=f"parity-run={run}")["items"]
        if left:
            raise NotYet(f"{len(left)} nodes left")

    wait_for(nodes_gone, timeout=60, what="the batch's nodes deleted")


# ------------------------------------------------------------------------------ comparing

@dataclass
class Tally:
    states: int = 0
    bound: int = 0
    unschedulable: int = 0
    preempted: int = 0
    scored: int = 0
    differences: list[str] = field(default_factory=list)

    def line(self) -> str:
        ok = self.states - len({d.split(":")[0] for d in self.differences})
        return (f"{ok}/{self.states} states agree ({self.bound} bound, {self.scored} with scores compared, "
                f"{self.unschedulable} unschedulable, {self.preempted} preemptions)")


def _pending_copy(pod: dict) -> dict:
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    return {**pod, "spec": spec, "status": {"phase": "Pending"}}


def compare(profiles: dict, core_state: Any, upstream: UpstreamScheduler, states: list[State],
            observed: dict[str, Observed], tally: Tally) -> None:
    """Run the Python core on the snapshot for each state; record every difference in ``tally``."""
    from scheduler.runtime.binder import truncate_note  # the event note is cut at 1024 characters

    text = upstream.text()
    for st in states:
        obs = observed[st.pod["metadata"]["name"]]
        tally.states += 1
        pod = _pending_copy(obs.pod)
        ours = profiles[pod["spec"]["schedulerName"]].schedule(core_state, pod, random.Random(st.seed))
        where = f"{obs.key} (seed {st.seed}, {st.kind})"
        diffs: list[str] = []
        if obs.preempted_on:
            tally.preempted += 1
            if ours.node is not None:
                diffs.append(f"upstream preempted on {obs.preempted_on}, we bind to {ours.node}")
            elif obs.preempted_on not in ours.nominated_tie:
                diffs.append(f"upstream nominated {obs.preempted_on}, ours {sorted(ours.nominated_tie)}")
            elif set(ours.nominated_tie[obs.preempted_on]) != obs.victims:
                diffs.append(f"victims on {obs.preempted_on}: upstream {sorted(obs.victims)}, "
                             f"ours {sorted(ours.nominated_tie[obs.preempted_on])}")
            if not obs.notes or obs.notes[0] != truncate_note(ours.message or ""):
                diffs.append(f"first FailedScheduling: upstream {obs.notes[:1]!r}\n      ours {ours.message!r}")
            if obs.node != obs.preempted_on:
                diffs.append(f"upstream bound to {obs.node}, not its nominated node {obs.preempted_on}")
        elif obs.node:
            tally.bound += 1
            if ours.node is None:
                diffs.append(f"upstream bound to {obs.node}; ours: {ours.message!r}")
            else:
                theirs = upstream.scores(obs.key, text)
                if theirs and ours.scores:
                    tally.scored += 1
                    our_totals = {n: s["total"] for n, s in ours.scores.items()}
                    their_totals = {n: s["total"] for n, s in theirs.items() if "total" in s}
                    if our_totals != their_totals:
                        diffs.append(f"totals differ: upstream {their_totals}, ours {our_totals}")
                    elif our_totals.get(obs.node) != max(our_totals.values()):
                        diffs.append(f"upstream chose {obs.node}, not among our top nodes {our_totals}")
                elif ours.node != obs.node:
                    diffs.append(f"single feasible node: upstream {obs.node}, ours {ours.node}")
        else:
            tally.unschedulable += 1
            if ours.node is not None or ours.nominated_node:
                diffs.append(f"upstream: unschedulable; ours: node {ours.node}, nominated {ours.nominated_node}")
            bad_notes = [n for n in obs.notes if n != truncate_note(ours.message or "")]
            if bad_notes:
                diffs.append(f"FailedScheduling: upstream {bad_notes[0]!r}\n      ours {ours.message!r}")
            cond = obs.condition or {}
            if (cond.get("status"), cond.get("reason"), cond.get("message")) != ("False", "Unschedulable",
                                                                                  ours.message):
                diffs.append(f"PodScheduled: upstream {json.dumps(cond)}, ours False/Unschedulable/{ours.message!r}")
            if obs.pod.get("status", {}).get("nominatedNodeName"):
                diffs.append(f"upstream nominated {obs.pod['status']['nominatedNodeName']} without evicting")
        tally.differences.extend(f"{where}: {d}" for d in diffs)
