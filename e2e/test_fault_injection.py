"""Fault injection (e2e/faults.py): the scheduler's cache and queue stay true while its API
connection is reset, black-holed, answers are held back or replaced by 5xx/429 Status errors
(some after the API server acted on the request), etcd compacts and the API server restarts.

`make test` runs one round of every fault per scheduler; `make soak` runs SOAK_FAULTS (50) each and
prints the counts. py-scheduler runs without leader election here (a lost Lease would end the
process and with it the cache under test); the leader-election parts run on the lab's own
kube-scheduler v1.29.15 binary, restarted whenever a fault costs it the Lease, as a kubelet would.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from e2e.faultproxy import FaultProxy, proxy_for_lab
from e2e.faults import FAULTS, LEADER_FAULTS, FaultRun, PyTarget, UpstreamTarget, proxied_kubeconfig
from e2e.harness import SuiteCluster
from e2e.pyscheduler import SchedulerProcess, scheduler_config, unique_name

FAULT_COUNT = int(os.environ.get("SOAK_FAULTS", str(len(FAULTS))))



@pytest.fixture
def proxy(cluster: SuiteCluster):
    # Faults go through the proxy; etcd compaction and the API server's restarts act on local processes.
    cluster.requires("fault_proxy", "restart_apiserver", "lab_processes")
    fp = proxy_for_lab(cluster.workdir, Path(cluster.kubeconfig))
    yield fp
    fp.stop()


def _report(counts, who: str, proxy: FaultProxy) -> None:
    print(f"\n{who}: {counts.line()}; queue ghosts {counts.queue_ghosts}; by fault {dict(counts.by_fault)}; "
          f"error answers injected {dict(proxy.injected)} (API server's own answers replaced: "
          f"{dict(proxy.reached)}); requests passed on during them {proxy.forwarded}")
    for note in counts.notes:
        print(f"  {note}")


def _assert_errors_injected(counts, proxy: FaultProxy) -> None:
    """Every server-error round answered errors; bind-errors rounds had binds reach the API server."""
    assert counts.ineffective == 0, "\n".join(counts.notes)
    for label in counts.by_fault:
        if label.startswith(("server-errors-", "bind-errors-")):
            assert proxy.injected[int(label.rsplit("-", 1)[1])] > 0, f"{label}: no error answered"
    if any(label.startswith("bind-errors-") for label in counts.by_fault):
        assert proxy.reached["201"] > 0, f"no bind reached the API server before its 5xx: {dict(proxy.reached)}"


def test_py_scheduler_cache_stays_true_under_faults(cluster: SuiteCluster, namespace: str, proxy: FaultProxy,
                                                    tmp_path: Path) -> None:
    name = unique_name("faults")
    config = scheduler_config(name=name, lease_namespace=namespace, lease_name=name, leader_elect=False)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    kubeconfig = proxied_kubeconfig(Path(cluster.kubeconfig), proxy.port, tmp_path / "kubeconfig")
    proc = SchedulerProcess(name=name, config_path=config_path, kubeconfig=kubeconfig,
                            log_path=tmp_path / f"{name}.log", verbosity=2,
                            token=cluster.metrics_token()).start()
    try:
        proc.wait_ready()
        counts = FaultRun(cluster, namespace, name, PyTarget(proc), proxy, seed=1,
                          say=lambda line: print(line, flush=True)).run(FAULT_COUNT)
        _report(counts, "py-scheduler", proxy)
        assert counts.faults == FAULT_COUNT and proxy.connections > 1
        _assert_errors_injected(counts, proxy)
        assert counts.clean(), counts.line() + "\n" + "\n".join(counts.notes)
    finally:
        proc.stop()


UPSTREAM_CONFIG = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
leaderElection:
  leaderElect: true
  resourceNamespace: {namespace}
  resourceName: {name}
profiles:
  - schedulerName: {name}
"""


def test_kube_scheduler_under_the_same_faults(cluster: SuiteCluster, namespace: str, proxy: FaultProxy,
                                              tmp_path: Path) -> None:
    binary = cluster.workdir / "bin" / "kube-scheduler"
    assert binary.exists(), f"the local lab has no {binary}"
    name = unique_name("upstream-faults")
    kubeconfig = proxied_kubeconfig(Path(cluster.kubeconfig), proxy.port, tmp_path / "kubeconfig")
    config = tmp_path / "config.yaml"
    config.write_text(UPSTREAM_CONFIG.format(kubeconfig=kubeconfig, namespace=namespace, name=name))
    target = UpstreamTarget(binary, config, tmp_path / "kube-scheduler.log")
    try:
        faults = max(FAULT_COUNT, len(LEADER_FAULTS))
        counts = FaultRun(cluster, namespace, name, target, proxy, seed=2,
                          say=lambda line: print(line, flush=True)).run(faults, LEADER_FAULTS)
        _report(counts, f"kube-scheduler (restarted {target.restarts}x after losing its Lease)", proxy)
        assert counts.faults == faults and counts.leases_kept == 0 and target.restarts >= 1, \
            "no fault cost kube-scheduler its Lease:\n" + "\n".join(counts.notes)
        _assert_errors_injected(counts, proxy)
        assert counts.clean(), counts.line() + "\n" + "\n".join(counts.notes)
    finally:
        target.stop()
