"""Compare the scheduler's cache with the cluster's truth (kube-scheduler's CacheComparer).

kube-scheduler's internal/cache/debugger compares, on SIGUSR2, the node names and the pods its
cache holds with what its informers' listers hold, and logs every difference. This is that
comparison, made pure so the runtime's signal handler and the tests call the same function: the
truth is plain lists of node and pod objects (what the API server returns), the cache is a
``ClusterState``. Besides names it compares what decisions read: which pods each node holds and
the resources they request, so phantom capacity (a pod dropped or counted twice) shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scheduler.core.podutil import is_assigned, is_terminal
from scheduler.core.state import ClusterState

__all__ = ["compare_cache"]


def _node_summary(state: ClusterState, name: str) -> tuple[dict[str, str], tuple[int, int, int, int]]:
    info = state.get_node_info(name)
    if info is None:
        return {}, (0, 0, 0, 0)
    pods = {uid: pi.key for uid, pi in info.pods.items()}
    req = info.requested
    return pods, (req.milli_cpu, req.memory, info.non0_cpu, info.non0_mem)


def compare_cache(state: ClusterState, nodes: Iterable[Mapping[str, Any]],
                  pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every difference between ``state`` and the truth (nodes; non-terminal pods), as log lines.

    Empty when the cache is exact. Pods with no ``spec.nodeName`` in the truth must not be counted
    on any node (an assumed pod whose binding the watch has not confirmed counts as a difference:
    call this once the watch has caught up).
    """
    truth = ClusterState()
    node_list = list(nodes)
    for node in node_list:
        truth.add_node(node)
    for pod in pods:
        if is_assigned(pod) and not is_terminal(pod):
            truth.add_pod(pod)
    diffs: list[str] = []

    def compare() -> None:  # the cache held still while it is read
        cached_nodes = state.node_name_set()
        actual_nodes = {str((n.get("metadata") or {}).get("name")) for n in node_list}
        for name in sorted(actual_nodes - cached_nodes):
            diffs.append(f"node {name}: in the API, missing from the cache")
        for name in sorted(cached_nodes - actual_nodes):
            diffs.append(f"node {name}: in the cache, gone from the API")
        where: dict[str, str] = {}
        for info in state.pods():
            where[info.uid] = info.node_name or ""
        for key, uid in sorted(state.assumed_keys().items()):
            diffs.append(f"pod {key} ({uid}): still assumed on {where.get(uid, '?')}")
        truth_where = {info.uid: (info.key, info.node_name or "") for info in truth.pods()}
        for uid, (key, node) in sorted(truth_where.items(), key=lambda kv: kv[1]):
            cached = where.get(uid)
            if cached is None:
                diffs.append(f"pod {key} ({uid}): bound to {node} in the API, missing from the cache")
            elif cached != node:
                diffs.append(f"pod {key} ({uid}): bound to {node} in the API, cached on {cached}")
        for info in sorted(state.pods(), key=lambda i: i.key):
            if info.uid not in truth_where and info.uid not in {u for u in state.assumed_keys().values()}:
                diffs.append(f"pod {info.key} ({info.uid}): cached on {info.node_name}, not bound in the API")
        for name in sorted(cached_nodes | actual_nodes):
            ours, theirs = _node_summary(state, name), _node_summary(truth, name)
            if ours[1] != theirs[1]:
                diffs.append(f"node {name}: cache requests (milliCPU, memory, non-zero milliCPU, non-zero memory) "
                             f"{ours[1]}, API {theirs[1]}")

    state.atomically(compare)
    return diffs

