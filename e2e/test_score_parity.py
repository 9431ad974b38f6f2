"""The Python core scores exactly like kube-scheduler v1.29 on the same cluster state.

A private upstream kube-scheduler (the lab's own v1.29.15 binary) runs at --v=10, where it logs
every plugin's weighted score and each node's total for every pod it schedules. The test
creates pods for it, rebuilds the cluster state each decision saw (the state before the batch
plus the pods bound earlier in the scheduler's own order), runs the Python core on that state
with the same KubeSchedulerConfiguration, and compares node by node.

"The state before the batch" is what upstream's cache held, not what the API server returns: on a
busy machine upstream's informer may lag the API by a moment (a pod bound or deleted just before
the snapshot). So the test replays upstream's own cache events from its --v=10 log
("Add/Delete event for scheduled pod", eventhandlers.go addPodToCache/deletePodFromCache) and
rebuilds, for every decision, exactly the assigned pods its cache held when "Attempting to schedule
pod" was logged; and before creating a batch it waits until upstream's cache holds what the API holds.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from e2e.harness import SuiteCluster, NotYet, bound_node, core_state, pod_manifest, private_kube_scheduler, wait_for

CONFIG = """profiles:
  - schedulerName: parity-default
  - schedulerName: parity-most
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources:
              - {name: cpu, weight: 1}
              - {name: memory, weight: 1}
"""
LINE = re.compile(r'"(?P<what>Plugin scored node for pod|Calculated node\'s final score for pod)" '
                  r'pod="(?P<pod>[^"]+)"(?: plugin="(?P<plugin>[^"]+)")? node="(?P<node>[^"]+)" score=(?P<score>-?\d+)')
ATTEMPT = re.compile(r'"Attempting to schedule pod" pod="(?P<pod>[^"]+)"')
# Upstream's cache feed (eventhandlers.go, V(3)) and scheduling attempts, in log order.
CACHE_OR_ATTEMPT = re.compile(r'"(?P<what>Add event for scheduled pod|Delete event for scheduled pod|'
                              r'Attempting to schedule pod)" pod="(?P<pod>[^"]+)"')


@pytest.fixture(scope="module")
def upstream_scheduler(cluster: SuiteCluster, tmp_path_factory: pytest.TempPathFactory):
    cluster.requires("parity_oracle")
    with private_kube_scheduler(cluster, tmp_path_factory.mktemp("parity"), CONFIG) as (config, log):
        yield config, log


def _upstream_scores(log: Path, key: str) -> dict[str, dict[str, int]]:
    scores: dict[str, dict[str, int]] = {}
    for m in LINE.finditer(log.read_text()):
        if m["pod"] != key:
            continue
        node = scores.setdefault(m["node"], {})
        if m["plugin"]:
            node[m["plugin"]] = int(m["score"])
        else:
            node["total"] = int(m["score"])
    return scores


def _upstream_cache(log: Path) -> tuple[set[str], dict[str, set[str]]]:
    """Replay upstream's cache events: the assigned pods it holds now, and at each pod's first attempt."""
    cache: set[str] = set()
    at_attempt: dict[str, set[str]] = {}
    for m in CACHE_OR_ATTEMPT.finditer(log.read_text()):
        if m["what"].startswith("Add"):
            cache.add(m["pod"])
        elif m["what"].startswith("Delete"):
            cache.discard(m["pod"])
        else:
            at_attempt.setdefault(m["pod"], set(cache))
    return cache, at_attempt


def _assigned_pods(cluster: SuiteCluster) -> dict[str, dict]:
    """Every assigned non-terminal pod, terminating ones included (upstream's cache keeps them)."""
    pods = cluster.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods if p["spec"].get("nodeName")}


def caught_up_base(cluster: SuiteCluster, log: Path) -> tuple[list[dict], dict[str, dict]]:
    """Nodes and assigned pods once upstream's cache holds exactly the API's assigned pods (pacing)."""

    def agree() -> tuple[list[dict], dict[str, dict]]:
        nodes = cluster.get("/api/v1/nodes")["items"]
        pods = _assigned_pods(cluster)
        cache, _ = _upstream_cache(log)
        if cache != set(pods):
            raise NotYet(f"upstream's cache lags the API: only there {sorted(cache - set(pods))[:5]}, "
                         f"not yet there {sorted(set(pods) - cache)[:5]}")
        return nodes, pods

    return wait_for(agree, timeout=60, what="upstream's cache to catch up with the API")


def _compare(cluster: SuiteCluster, namespace: str, config: Path, log: Path, names: list[str],
             base: tuple[list[dict], dict[str, dict]]) -> list[str]:
    from scheduler.core.profiles import build_profiles, load_config

    profiles = build_profiles(load_config(str(config)))
    order = [m["pod"] for m in ATTEMPT.finditer(log.read_text()) if m["pod"].startswith(namespace + "/")]
    order = list(dict.fromkeys(order))  # first attempt of each pod
    assert sorted(order) == sorted(f"{namespace}/{n}" for n in names), order
    nodes, known = base
    _, at_attempt = _upstream_cache(log)
    earlier: list[dict] = []  # this batch's pods decided before, assumed in upstream's cache
    report, lags = [], []
    for key in order:
        held = at_attempt[key] - {f"{namespace}/{p['metadata']['name']}" for p in earlier}
        unknown = sorted(k for k in held if k not in known and not k.startswith(namespace + "/"))
        assert not unknown, f"{key}: upstream's cache held pods the test never saw: {unknown}"
        state = core_state(cluster, (nodes, [known[k] for k in sorted(held) if k in known] + earlier))
        pod = cluster.pod(*key.split("/"))
        chosen = pod["spec"]["nodeName"]
        pending = {**pod, "spec": {k: v for k, v in pod["spec"].items() if k != "nodeName"},
                   "status": {"phase": "Pending"}}
        profile = profiles[pod["spec"]["schedulerName"]]
        ours = profile.schedule(state, pending, random.Random(0))
        theirs = _upstream_scores(log, key)
        if theirs and _skipped_spread(theirs, ours.scores):
            # Upstream's PodTopologySpread found no Service/RC/ReplicaSet/StatefulSet selecting the
            # pod (its PreScore skipped: no score lines): its workload informers had not yet
            # delivered the ReplicaSet the pod's controller had just created. Replay that view.
            lagged = core_state(cluster, (nodes, [known[k] for k in sorted(held) if k in known] + earlier),
                                without=WORKLOAD_KINDS)
            ours = profile.schedule(lagged, pending, random.Random(0))
            lags.append(key)
        if theirs:  # none when only one node was feasible: upstream then skips scoring
            our_totals = {node: s["total"] for node, s in ours.scores.items()}
            their_totals = {node: s["total"] for node, s in theirs.items()}
            assert our_totals == their_totals, (
                f"{key}: totals differ\n ours     {ours.scores}\n upstream {theirs}")
            best = max(our_totals.values())
            assert our_totals[chosen] == best, f"{key}: upstream chose {chosen}, not a top node for us"
        else:
            assert ours.node == chosen, f"{key}: single feasible node {chosen}, we chose {ours.node}"
        report.append(f"{key} -> {chosen} {theirs.get(chosen, {}).get('total', '-')}")
        earlier.append(pod)  # what the next decision saw
    if lags:
        report.append(f"upstream's workload informers lagged for {len(lags)} pod(s): {lags}")
    return report


WORKLOAD_KINDS = frozenset({"Service", "ReplicationController", "ReplicaSet", "StatefulSet"})


def _skipped_spread(theirs: dict[str, dict[str, int]], ours: dict[str, dict[str, int]]) -> bool:
    """Upstream logged no PodTopologySpread score for any node where we computed one."""
    return (not any("PodTopologySpread" in s for s in theirs.values())
            and any("PodTopologySpread" in s for s in ours.values()))


def test_bare_pods_score_like_upstream(cluster: SuiteCluster, namespace: str, upstream_scheduler) -> None:
    config, log = upstream_scheduler
    base = caught_up_base(cluster, log)
    pods = [
        pod_manifest("plain", scheduler="parity-default", cpu="250m", memory="256Mi"),
        pod_manifest("no-requests", scheduler="parity-default", cpu="0", memory="0"),
        pod_manifest("packed", scheduler="parity-most", cpu="300m", memory="512Mi"),
        pod_manifest("on-master", scheduler="parity-most", cpu="100m", memory="64Mi",
                     tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                   "effect": "NoSchedule"}]),
        pod_manifest("prefers-02", scheduler="parity-default", cpu="100m", memory="64Mi",
                     affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                         {"weight": 40, "preference": {"matchExpressions": [
                             {"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-node02"]}]}}]}}),
    ]
    del pods[1]["spec"]["containers"][0]["resources"]  # truly no requests: the 100m/200Mi defaults apply
    for p in pods:
        cluster.apply(p, namespace)
        wait_for(lambda p=p: bound_node(cluster, namespace, p["metadata"]["name"]), timeout=60)
    report = _compare(cluster, namespace, config, log, [p["metadata"]["name"] for p in pods], base)
    print("\n".join(report))


def test_deployment_pods_score_like_upstream(cluster: SuiteCluster, namespace: str, upstream_scheduler) -> None:
    # Pods owned by a ReplicaSet get PodTopologySpread's system default constraints.
    config, log = upstream_scheduler
    base = caught_up_base(cluster, log)
    template = pod_manifest("web", scheduler="parity-default", cpu="200m", memory="128Mi")
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]}}},
                  namespace)

    def all_bound() -> list[str]:
        pods = cluster.pods(namespace, "app=web")
        if len(pods) != 5 or not all(p["spec"].get("nodeName") for p in pods):
            raise NotYet(f"{sum(1 for p in pods if p['spec'].get('nodeName'))}/5 bound")
        return [p["metadata"]["name"] for p in pods]

    names = wait_for(all_bound, timeout=90)
    report = _compare(cluster, namespace, config, log, names, base)
    print("\n".join(report))


def test_config_is_accepted_by_both(upstream_scheduler) -> None:
    from scheduler.core.profiles import load_config

    config, log = upstream_scheduler
    parsed = load_config(str(config))
    assert [p.scheduler_name for p in parsed.profiles] == ["parity-default", "parity-most"]
    assert "Starting Kubernetes Scheduler" in log.read_text()
    assert yaml.safe_load(config.read_text())["profiles"][1]["schedulerName"] == "parity-most"
