"""Behaviours every provider must show: the deprecated annotation, Pending until a scheduler
starts, health endpoints, and a replica with a bad config that fails alone."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from e2e.harness import SuiteCluster, NotYet, assert_never, bound_node, pod_manifest, scheduled_event, wait_for

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "manifests" / "samples"


def test_deprecated_annotation_goes_to_the_default_scheduler(cluster: SuiteCluster, namespace: str) -> None:
    # Seed 003 names its scheduler only in the scheduler.alpha.kubernetes.io/name annotation,
    # which nothing has read since v1.6: the API server defaults spec.schedulerName.
    pod = yaml.safe_load((SAMPLES / "annotation-pod.yaml").read_text())
    cluster.apply(pod, namespace)
    name = pod["metadata"]["name"]
    assert cluster.pod(namespace, name)["spec"]["schedulerName"] == "default-scheduler"
    wait_for(lambda: bound_node(cluster, namespace, name), timeout=60)
    event = wait_for(lambda: scheduled_event(cluster, namespace, name), timeout=30)
    assert event["reportingController"] == "default-scheduler"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pending_until_a_scheduler_starts(cluster: SuiteCluster, namespace: str, tmp_path: Path) -> None:
    name = f"late-{namespace[-5:]}"
    cluster.apply(pod_manifest("waits", scheduler=name), namespace)
    assert_never(lambda: bool(cluster.pod(namespace, "waits")["spec"].get("nodeName")), duration=4,
                 what="the pod being bound with no scheduler running")
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(f"""
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        leaderElection: {{leaderElect: false}}
        profiles: [{{schedulerName: {name}}}]
    """))
    log = tmp_path / "scheduler.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler", f"--config={config}",
                                 f"--kubeconfig={cluster.kubeconfig}", "--bind-address=127.0.0.1",
                                 f"--secure-port={_free_port()}"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        node = wait_for(lambda: bound_node(cluster, namespace, "waits"), timeout=60,
                        what="the pod bound once its scheduler runs")
        event = wait_for(lambda: scheduled_event(cluster, namespace, "waits"), timeout=30)
        assert event["reportingController"] == name
        assert node in event["note"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("app", ["custom-k8s-scheduler", "py-scheduler"])
def test_health_endpoints(cluster: SuiteCluster, app: str) -> None:
    cluster.deploy(app)
    health = cluster.replica_get(app, "/healthz")
    assert len(health) == 2 and all(code == 200 and body.strip() == "ok" for _, code, body in health), health
    metrics = cluster.replica_get(app, "/metrics")
    assert all(code == 200 for _, code, _ in metrics), [(r, c) for r, c, _ in metrics]
    leaders = [r for r, _, body in metrics
               if any(line.startswith("leader_election_master_status") and float(line.split()[-1]) == 1.0
                      for line in body.splitlines())]
    assert len(leaders) == 1, f"expected exactly one leader among {[r for r, _, _ in metrics]}: {leaders}"
    assert all("scheduler_schedule_attempts_total" in body or "scheduler_pending_pods" in body
               for _, _, body in metrics)
    ready = cluster.replica_get(app, "/readyz")
    if app == "custom-k8s-scheduler":
        # kube-scheduler v1.29 serves /healthz only; /readyz and /livez came in a later release.
        assert all(code == 404 for _, code, _ in ready), ready
    else:
        assert all(code == 200 for _, code, _ in ready), ready


def test_a_replica_with_a_bad_config_fails_alone(cluster: SuiteCluster, namespace: str, tmp_path: Path) -> None:
    app = "py-scheduler"
    cluster.deploy(app)
    holder = wait_for(lambda: cluster.lease_holder(app) or (_ for _ in ()).throw(NotYet("no holder")), timeout=60)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubescheduler.config.k8s.io/v1beta1\nkind: KubeSchedulerConfiguration\n"
                   "profiles:\n  - schedulerName: py-scheduler\n")
    run = subprocess.run([sys.executable, "-m", "scheduler", f"--config={bad}", f"--kubeconfig={cluster.kubeconfig}",
                          "--bind-address=127.0.0.1", f"--secure-port={_free_port()}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "apiVersion" in lines[0] and bad.name in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert cluster.lease_holder(app) == holder, "the bad replica disturbed the leader"
    cluster.apply(pod_manifest("still-scheduled", scheduler=app), namespace)
    wait_for(lambda: bound_node(cluster, namespace, "still-scheduled"), timeout=60)
    if cluster.can("parity_oracle"):  # the lab's own kube-scheduler binary, for its wording
        upstream = subprocess.run([str(cluster.workdir / "bin" / "kube-scheduler"), f"--config={bad}"],
                                  capture_output=True, text=True, timeout=60)
        assert upstream.returncode != 0
        # kube-scheduler's own wording: no kind "KubeSchedulerConfiguration" is registered for
        # version "kubescheduler.config.k8s.io/v1beta1" (quoted once more in its log line).
        assert "is registered for version" in upstream.stderr
        assert "kubescheduler.config.k8s.io/v1beta1" in upstream.stderr
