"""Preemption end to end: the running Python scheduler evicts what kube-scheduler v1.29.15 evicts.

Two identical "full" node sets (three kwok nodes, 2 cpu each, each 1500m used) are made; on the
first the lab's own kube-scheduler (default-scheduler) handles a priority-1000 pod, on the second
the Python scheduler does. On each set:

    node 0: a priority-10 pod            -> the victim (lowest priority, no budget violated)
    node 1: a priority-100 pod           -> spared (higher priority)
    node 2: a priority-10 pod under a PodDisruptionBudget allowing no disruption -> spared

Both must nominate node 0, delete exactly its pod (with the DisruptionTarget condition and a
``Preempted`` event), write the same FailedScheduling text, and then bind the pod to node 0.
"""
from __future__ import annotations

import uuid

import pytest

from e2e.harness import SuiteCluster, NotYet, wait_for
from e2e.parity import _apply, _node, _pod, _ready, ensure_priority_classes
from e2e.pyscheduler import SchedulerFleet, scheduler_config, unique_name

SHAPE = [("low", "parity-low", {}), ("mid", "parity-mid", {}), ("kept", "parity-low", {"protected": "true"})]


def _make_set(cluster: SuiteCluster, namespace: str, run: str, tag: str) -> list[str]:
    sid = f"{tag}{run}"
    nodes = [_node(run, sid, f"pe-{run}-{tag}-{i}", "a", "2", "4Gi", "110", {}, []) for i in range(3)]
    _apply(cluster, nodes)
    names = [n["metadata"]["name"] for n in nodes]

    def ready() -> None:
        if not all(_ready(cluster.get(f"/api/v1/nodes/{n}")) for n in names):
            raise NotYet("nodes not Ready and untainted")

    wait_for(ready, timeout=120, what=f"node set {tag} Ready")
    pods = [_pod(f"{tag}-{name}", {"app": f"{tag}-{name}", **extra}, "1500m", "256Mi", node=names[i],
                 priority_class=pclass)
            for i, (name, pclass, extra) in enumerate(SHAPE)]
    _apply(cluster, pods, namespace)
    return names


def _running(cluster: SuiteCluster, namespace: str, n: int) -> None:
    pods = [p for p in cluster.pods(namespace) if (p.get("status") or {}).get("phase") == "Running"]
    if len(pods) < n:
        raise NotYet(f"{len(pods)}/{n} running")


def _outcome(cluster: SuiteCluster, namespace: str, tag: str, pod: str) -> dict:
    """Wait for the preemptor to be bound; return what happened around it."""
    def bound() -> dict:
        p = cluster.pod(namespace, pod)
        if not p["spec"].get("nodeName"):
            raise NotYet(f"{pod} not bound yet")
        return p

    p = wait_for(bound, timeout=120, what=f"{pod} bound after preemption")
    left = {q["metadata"]["name"] for q in cluster.pods(namespace)
            if q["metadata"]["name"].startswith(f"{tag}-") and not q["metadata"].get("deletionTimestamp")}
    events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
    preempted = [e for e in events if e.get("reason") == "Preempted"]
    failed = sorted((e for e in events if e.get("reason") == "FailedScheduling"
                     and e["regarding"]["name"] == pod), key=lambda e: e.get("eventTime") or "")
    return {"pod": p, "left": left, "preempted": preempted, "failed": failed}


@pytest.mark.requires("kwok_nodes")  # it creates its own full nodes
def test_high_priority_pod_preempts_like_kube_scheduler(cluster: SuiteCluster, namespace: str,
                                                        fleet: SchedulerFleet) -> None:
    ensure_priority_classes(cluster)
    run = uuid.uuid4().hex[:5]
    name = unique_name("e2e-preempt")
    try:
        up_nodes = _make_set(cluster, namespace, run, "up")
        py_nodes = _make_set(cluster, namespace, run, "py")
        wait_for(lambda: _running(cluster, namespace, 6), timeout=120, what="the fill pods Running")
        pdbs = [{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": f"{tag}-kept"},
                 "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": f"{tag}-kept"}}}}
                for tag in ("up", "py")]
        _apply(cluster, pdbs, namespace)

        def budgets_computed() -> None:
            for tag in ("up", "py"):
                pdb = cluster.get(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{tag}-kept")
                if (pdb.get("status") or {}).get("currentHealthy") != 1:
                    raise NotYet(f"PDB {tag}-kept not computed")

        wait_for(budgets_computed, timeout=60, what="the disruption controller")
        fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name))

        vip = {"up": "default-scheduler", "py": name}
        for tag in ("up", "py"):
            _apply(cluster, [_pod(f"vip-{tag}", {"app": f"vip-{tag}"}, "1", "256Mi", scheduler=vip[tag],
                                  priority_class="parity-high", nodeSelector={"parity-state": f"{tag}{run}"})],
                   namespace)
            if tag == "up":  # one at a time: the FailedScheduling texts then count the same nodes
                theirs = _outcome(cluster, namespace, "up", "vip-up")
        ours = _outcome(cluster, namespace, "py", "vip-py")

        # Same victim, same survivors, same node.
        assert theirs["pod"]["spec"]["nodeName"] == up_nodes[0], theirs["pod"]["spec"]["nodeName"]
        assert ours["pod"]["spec"]["nodeName"] == py_nodes[0], ours["pod"]["spec"]["nodeName"]
        wait_for(lambda: _gone(cluster, namespace, "up-low"), timeout=60, what="upstream's victim deleted")
        wait_for(lambda: _gone(cluster, namespace, "py-low"), timeout=60, what="our victim deleted")
        assert {"up-mid", "up-kept"} <= theirs["left"] and {"py-mid", "py-kept"} <= ours["left"]

        # The Preempted event: regarding the victim, related to the preemptor, same note.
        def preempted(tag: str, controller: str) -> dict:
            events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
            for e in events:
                if e.get("reason") == "Preempted" and e["regarding"]["name"] == f"{tag}-low":
                    return e
            raise NotYet(f"no Preempted event for {tag}-low")

        up_event = wait_for(lambda: preempted("up", "default-scheduler"), timeout=30)
        py_event = wait_for(lambda: preempted("py", name), timeout=30)
        for event, pod, node in ((up_event, theirs["pod"], up_nodes[0]), (py_event, ours["pod"], py_nodes[0])):
            assert event["note"] == f"Preempted by pod {pod['metadata']['uid']} on node {node}"
            assert (event["type"], event["action"]) == ("Normal", "Preempting")
            assert (event.get("related") or {}).get("name") == pod["metadata"]["name"]
        assert py_event["reportingController"] == name
        assert up_event["reportingController"] == "default-scheduler"

        # The first FailedScheduling (the attempt that preempted) has the same text.
        assert theirs["failed"] and ours["failed"]
        up_note = theirs["failed"][0]["note"]
        assert ours["failed"][0]["note"] == up_note, (ours["failed"][0]["note"], up_note)
        assert "preemption:" not in up_note  # a preemption that found a node adds no PostFilter text
    finally:
        cluster.kubectl("delete", "nodes", "-l", f"parity-run={run}", "--wait=false", check=False, timeout=180)


def _gone(cluster: SuiteCluster, namespace: str, pod: str) -> None:
    names = {p["metadata"]["name"] for p in cluster.pods(namespace)}
    if pod in names:
        raise NotYet(f"{pod} still exists")
