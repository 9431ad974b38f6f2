"""Nodes are tried in kube-scheduler v1.29.15's order after a node is deleted and others updated.

Where a pod's search stops early (``percentageOfNodesToScore``), the order of the node list decides
which nodes are scored at all. Upstream keeps a node's place when it is updated (a heartbeat, a
label, a taint) and closes the gap in order when one is deleted.

The test starts a private upstream kube-scheduler (the lab's binary, ``--v=10``, which logs every
node it scores) and a Python scheduler, both fresh, so each one's first pod starts its search at
the first node. Both have ``percentageOfNodesToScore: 1``: each scores the first 100 feasible nodes
it finds. Upstream gets ``parallelism: 1`` as well: with 16 goroutines filtering chunks of the list
at once, the 100 it keeps are those whose chunks finish first, not the first 100 in order (the
Python scheduler filters in order, as one goroutine does). Then, so that both receive them over their watch in one order, it adds 120 nodes in a
zone of their own; kwok and the node controller update each of them after that. It deletes one
node and changes a label on another. Upstream schedules a pod that may run only on those nodes,
and its log names the 100 it scored; the 19 it did not are the end of its list. The Python
scheduler then gets a pod that prefers exactly those 19: with upstream's order it scores none of
them either.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from e2e.harness import NotYet, SuiteCluster, bound_node, pod_manifest, private_kube_scheduler, wait_for
from e2e.parity import _node, create_all, delete_nodes

NODES = 120
UPSTREAM_CONFIG = """percentageOfNodesToScore: 1
parallelism: 1
profiles:
  - schedulerName: {name}
"""


def _seen_by_both(logs: list[Path], node: str) -> None:
    """Both schedulers logged the node's Add event (upstream's eventhandlers.go, V(3); ours alike)."""
    line = f'"Add event for node" node="{node}"'
    for log in logs:
        if line not in log.read_text():
            raise NotYet(f"{log.name} has not seen {node} yet")


def _scored_nodes(log: Path, pod: str) -> set[str]:
    prefix = f'"Calculated node\'s final score for pod" pod="{pod}" node="'
    return {line.split(prefix, 1)[1].split('"', 1)[0] for line in log.read_text().splitlines() if prefix in line}


def test_a_deleted_and_an_updated_node_leave_the_order_as_upstream_keeps_it(
        cluster: SuiteCluster, namespace: str, fleet, tmp_path: Path) -> None:
    cluster.requires("parity_oracle")
    run = uuid.uuid4().hex[:6]
    upstream_name, python_name = f"order-upstream-{run}", f"order-python-{run}"
    names = [f"order-{run}-{i:03d}" for i in range(NODES)]
    updated, deleted = names[2], names[3]

    def node(name: str, zone: str, **labels: str) -> dict:
        return _node(run, f"order-{run}", name, zone, "8", "16Gi", "110", labels, [])

    with private_kube_scheduler(cluster, tmp_path, UPSTREAM_CONFIG.format(name=upstream_name)) as (_, upstream_log):
        try:
            python_log = tmp_path / f"{python_name}-0.log"
            fleet.start({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                         "leaderElection": {"leaderElect": False}, "percentageOfNodesToScore": 1, "parallelism": 1,
                         "profiles": [{"schedulerName": python_name}]})
            # A first node both have seen means both are watching: what comes after reaches them in one order.
            create_all(cluster, [node(f"order-{run}-first", "elsewhere")])
            wait_for(lambda: _seen_by_both([upstream_log, python_log], f"order-{run}-first"), timeout=90,
                     what="both schedulers to see the first node")
            create_all(cluster, [node(n, "z", **{"order-pool": run}) for n in names])

            def managed() -> None:  # kwok took them over: Ready, without the not-ready taint
                nodes = cluster.get("/api/v1/nodes", labelSelector=f"order-pool={run}")["items"]
                ready = [n for n in nodes if not (n.get("spec") or {}).get("taints")
                         and any(c.get("type") == "Ready" and c.get("status") == "True"
                                 for c in (n.get("status") or {}).get("conditions") or [])]
                if len(ready) < NODES:
                    raise NotYet(f"{len(ready)} of {NODES} nodes ready")

            wait_for(managed, timeout=180, what="kwok to take over the nodes")
            cluster.core.delete_node(deleted)
            cluster.core.patch_node(updated, {"metadata": {"labels": {"order-touched": "yes"}}})
            # Seen after the delete and the patch on the same watch: both have applied them.
            create_all(cluster, [node(f"order-{run}-last", "elsewhere")])
            wait_for(lambda: _seen_by_both([upstream_log, python_log], f"order-{run}-last"), timeout=90,
                     what="both schedulers to see the node added after the delete and the patch")

            cluster.apply(pod_manifest("upstream", scheduler=upstream_name, cpu="0", memory="0",
                                       nodeSelector={"order-pool": run}), namespace)
            wait_for(lambda: bound_node(cluster, namespace, "upstream"), timeout=90, what="upstream's pod bound")
            scored = _scored_nodes(upstream_log, f"{namespace}/upstream")
            # The search stopped early: 100 of the 119 nodes were scored, so the order decided which.
            assert len(scored) == 100 and scored <= set(names) - {deleted}, sorted(scored)
            unscored = sorted(set(names) - {deleted} - scored)

            preferring_unscored = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": unscored}]}}]}}
            cluster.apply(pod_manifest("python", scheduler=python_name, cpu="0", memory="0",
                                       nodeSelector={"order-pool": run}, affinity=preferring_unscored), namespace)
            placed = wait_for(lambda: bound_node(cluster, namespace, "python"), timeout=90, what="the Python pod bound")
            assert placed not in unscored, (
                f"the Python scheduler put its pod on {placed}, one of the nodes upstream's order puts after the first 100 "
                f"(upstream left out {unscored}; {updated} was updated, {deleted} deleted)")
        finally:
            delete_nodes(cluster, f"parity-run={run}")
