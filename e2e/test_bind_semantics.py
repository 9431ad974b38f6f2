"""A bind whose answer is lost after the API server bound the pod (issue 22, item 7).

The fault proxy (e2e/faultproxy.py ``hold_answer``) lets the *first* bind POST reach the API
server, which binds the pod, and then withholds the answer past the scheduler's bind timeout;
while it is held the pod watch's answers are held too, so the scheduler cannot learn the outcome
from its informer first (as on a slow API server, where the watch lags behind the write).

kube-scheduler over client-go does not send the POST again; the Python scheduler reads the pod
back and, finding it bound to the node it chose, counts the bind as the success it was: the pod
is bound once, its ``Scheduled`` event exists exactly once, the schedule-attempts metric counts it
once, and the cache keeps it. The cache check can fail: a second pod, waiting unschedulable since
before the fault, is retried (the node's allocatable grows) after the first bind settled and
while the pod watch still lags; it fits on the node only if the scheduler forgot the first pod,
and would then be bound beside it, overcommitting the node.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from e2e.faultproxy import FaultProxy, proxy_for_lab
from e2e.faults import proxied_kubeconfig
from e2e.harness import SuiteCluster, NotYet, pod_manifest, wait_for
from e2e.pyscheduler import SchedulerProcess, scheduler_config, unique_name

BIND_TIMEOUT = 5.0  # the scheduler's: leaseDuration 15s - renewDeadline 10s
HOLD = BIND_TIMEOUT + 10.0  # the held answer (and the pod watch) outlast the bind's deadline
TAINT = "scheduler-lab.dev/bind-semantics"



@pytest.fixture
def proxy(cluster: SuiteCluster):
    cluster.requires("fault_proxy")  # the bind-answer fault
    fp = proxy_for_lab(cluster.workdir, Path(cluster.kubeconfig))
    yield fp
    fp.stop()


@pytest.fixture
def node(cluster: SuiteCluster, namespace: str):
    """A kwok node with 500m CPU that only this test's pods tolerate."""
    name = f"bind-{namespace[-5:]}"
    cluster.core.create_node({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"}},
        "spec": {"taints": [{"key": TAINT, "value": namespace, "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "500m", "memory": "4Gi", "pods": "110"},
                   "allocatable": {"cpu": "500m", "memory": "4Gi", "pods": "110"}},
    })
    yield name
    cluster.core.delete_node(name)


def scheduler_metric(proc: SchedulerProcess, name: str, labels: dict[str, str]) -> float:
    """One sample of the scheduler's /metrics (0 when absent). The one place the test reads the
    endpoint, as the lab's metrics-reader (the process carries its token)."""
    code, text = proc.get("/metrics")
    if code != 200:
        raise NotYet(f"/metrics answered {code}")
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{([^}}]*)\}}\s+(\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1).split(",") for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def _attempts(proc: SchedulerProcess, profile: str, result: str) -> float:
    return scheduler_metric(proc, "scheduler_schedule_attempts_total", {"profile": profile, "result": result})


def _pod(name: str, scheduler: str, node: str, namespace: str, cpu: str) -> dict:
    return pod_manifest(name, scheduler, cpu=cpu, nodeSelector={"kubernetes.io/hostname": node},
                        tolerations=[{"key": TAINT, "operator": "Equal", "value": namespace, "effect": "NoSchedule"}],
                        terminationGracePeriodSeconds=0)


def _events(cluster: SuiteCluster, namespace: str, pod: str, reason: str) -> list[dict]:
    return [e for e in cluster.events_for(namespace, pod) if e.get("reason") == reason]


def _at_least(what: str, get, wanted: float):
    def check() -> None:
        value = get()
        if value < wanted:
            raise NotYet(f"{what} is {value}, waiting for {wanted}")
    return check


def test_a_bind_whose_answer_is_lost_after_it_bound_is_one_success(
        cluster: SuiteCluster, namespace: str, proxy: FaultProxy, node: str, tmp_path: Path) -> None:
    name = unique_name("bind-lost")
    config = scheduler_config(name=name, lease_namespace=namespace, lease_name=name)  # 15s/10s: 5s binds
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    kubeconfig = proxied_kubeconfig(Path(cluster.kubeconfig), proxy.port, tmp_path / "kubeconfig")
    proc = SchedulerProcess(name=name, config_path=tmp_path / "config.yaml", kubeconfig=kubeconfig,
                            log_path=tmp_path / f"{name}.log", verbosity=2,
                            token=cluster.metrics_token()).start()
    try:
        proc.wait_ready()
        wait_for(_at_least("leading", lambda: 1.0 if proc.leading() else 0.0, 1.0), timeout=60,
                 what="the scheduler to lead")
        # 600m: does not fit in the node's 500m, so it waits in the scheduler's queue.
        cluster.apply(_pod("second", name, node, namespace, "600m"), namespace)
        wait_for(_at_least("unschedulable attempts", lambda: _attempts(proc, name, "unschedulable"), 1),
                 what="the second pod to be found unschedulable")
        proxy.hold_answer(rf"^POST /api/v1/namespaces/{namespace}/pods/first/binding", HOLD,
                          stall=r"^GET /api/v1/pods\?.*watch=", seconds=120)
        cluster.apply(_pod("first", name, node, namespace, "400m"), namespace)
        wait_for(_at_least("binds that reached the API server", lambda: proxy.reached.get("201", 0), 1),
                 timeout=60, what="the first bind to bind the pod")
        held_at = time.monotonic()
        assert cluster.pod(namespace, "first")["spec"].get("nodeName") == node

        def scheduled() -> None:
            if not _events(cluster, namespace, "first", "Scheduled"):
                raise NotYet("no Scheduled event for the first pod")
        try:
            wait_for(scheduled, timeout=HOLD + 30, what="the first bind to settle as a success")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nscheduler log:\n{proc.log()[-3000:]}") from None
        assert time.monotonic() - held_at < HOLD - 3, "settled only after the pod watch caught up"

        # Still inside the watch's lag: 900m fits the second pod alone, not beside the first (400m).
        tries = _attempts(proc, name, "unschedulable")
        cluster.core.patch_node_status(node, {"status": {"allocatable": {"cpu": "900m"},
                                                         "capacity": {"cpu": "900m"}}})
        # Tried again: found unschedulable once more, or scheduled (the overcommit).
        wait_for(_at_least("attempts since the node grew", lambda: _attempts(proc, name, "unschedulable") - tries
                           + _attempts(proc, name, "scheduled") - 1, 1),
                 timeout=30, what="the second pod to be tried again")
        assert time.monotonic() - held_at < HOLD, "the second pod was tried after the pod watch caught up"
        second = cluster.pod(namespace, "second")["spec"].get("nodeName")
        assert not second, f"the second pod was bound to {second}: the cache forgot the first (overcommit)"

        assert proxy.injected["held"] == 1 and proxy.reached == {"201": 1}
        assert cluster.pod(namespace, "first")["spec"].get("nodeName") == node
        assert len(_events(cluster, namespace, "first", "Scheduled")) == 1
        assert _attempts(proc, name, "scheduled") == 1.0
        assert _attempts(proc, name, "error") == 0.0
        assert "Retrying bind" not in proc.log()
    finally:
        proxy.heal()
        proc.stop()
