"""What every e2e test uses: the cluster handle, polling with deadlines, and diagnostics.

Waits are polls with a deadline (tenacity), never fixed sleeps. ``assert_never`` is the
negative form (kuttl's "errors" file): the condition must stay false for a whole window.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.cluster import LabCluster
from lab.providers import Capability, lacking

T = TypeVar("T")
_TICK = threading.Event()  # never set: wait(interval) paces assert_never's polls


class NotYet(AssertionError):
    """Raised by a poll body to say 'not there yet'; its message is reported on timeout."""


def wait_for(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.25, what: str = "") -> T:
    """Call ``check`` until it returns without raising NotYet/AssertionError; return its value."""
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_exception_type(AssertionError), reraise=True)
    try:
        for attempt in retrying:
            with attempt:
                return check()
    except AssertionError as exc:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check.__name__}: {exc}") from None
    raise AssertionError("unreachable")


def assert_never(condition: Callable[[], bool], duration: float, interval: float = 0.5, what: str = "") -> None:
    """Poll ``condition`` for ``duration`` seconds; fail the moment it becomes true."""
    deadline = time.monotonic() + duration
    while True:
        assert not condition(), f"{what or condition.__name__} happened"
        if time.monotonic() >= deadline:
            return
        _TICK.wait(interval)  # the polling interval of a negative check, not a synchronisation


class SuiteCluster(LabCluster):
    """The lab cluster as the e2e suite drives it: lab.cluster.LabCluster's connection and reads, plus a
    skip by capability (pytest) and the provider operations only the suite performs (deploy a second
    scheduler, kill its leader, reach its replicas), which go through lab.deploy and the CLI's
    provider factory that sit above lab.cluster."""

    kind: Any = None  # pytest-kind's KindCluster on the kind provider

    def requires(self, *needed: Capability | str) -> None:
        """Skip the calling test unless the provider has every capability in ``needed``."""
        import pytest

        reason = lacking(self.provider, *needed)
        if reason:
            pytest.skip(reason)

    # -- the lab's second schedulers (per-provider differences live here) ----------------------
    def deploy(self, app: str) -> None:
        """Make sure `app` (custom-k8s-scheduler | py-scheduler) runs its two replicas."""
        from lab import deploy
        from lab.cli import make_provider

        provider = make_provider(self.provider, self.spec, self.workdir, kubeconfig=str(self.kubeconfig))
        deploy.deploy(provider, self.workdir, only=app)

    def kill_leader(self, app: str, signal_name: str = "KILL") -> str:
        """Kill the replica holding the app's Lease: a process locally, a pod elsewhere."""
        from lab import deploy
        from lab.cli import make_provider

        holder = self.lease_holder(app)
        provider = make_provider(self.provider, self.spec, self.workdir, kubeconfig=str(self.kubeconfig))
        deploy.kill_leader(provider, self.workdir, app, signal_name=signal_name)
        return holder

    def metrics_token(self) -> str:
        """A token of the lab's kube-system/metrics-reader (may get /metrics and /configz on both schedulers,
        which authorize every path but /healthz, /readyz and /livez with the API server)."""
        from lab import deploy

        return deploy.metrics_reader_token(self.workdir, self.kubeconfig)

    def replica_get(self, app: str, path: str) -> list[tuple[str, int, str]]:
        """GET ``path`` from every replica of ``app`` as metrics-reader: [(replica, HTTP status, body)].

        Local replicas are processes on 127.0.0.1; elsewhere `kubectl port-forward` reaches the
        pods' secure port (10259).
        """
        from lab import deploy

        token = self.metrics_token()
        out = []
        pods = self.pods("kube-system", f"app.kubernetes.io/name={app}")
        if self.can("lab_processes"):
            # podrunner's pods listen on their own loopback pod IP: reach them there.
            for pod in pods:
                out.append((pod["metadata"]["name"],
                            *deploy._get(f"https://{pod['status']['podIP']}:10259{path}", token=token)))
            return out
        for pod in pods:
            name = pod["metadata"]["name"]
            # Through port-forward, not the API server's pod proxy: the proxy hides the pod's own
            # status code (kubectl get --raw only fails) and arrives anonymous (403 on /metrics).
            with self.port_forward("kube-system", name, 10259) as local:
                out.append((name, *deploy._get(f"https://127.0.0.1:{local}{path}", timeout=30, token=token)))
        return out


# The objects behind PodTopologySpread's system defaults (helper.DefaultSelector) and namespace
# selectors; list items carry no "kind", so it is set here.
STATE_OBJECTS = (("/api/v1/services", "Service"), ("/api/v1/replicationcontrollers", "ReplicationController"),
                 ("/apis/apps/v1/replicasets", "ReplicaSet"), ("/apis/apps/v1/statefulsets", "StatefulSet"),
                 ("/api/v1/namespaces", "Namespace"))


def snapshot(cluster: SuiteCluster) -> tuple[list[dict], list[dict]]:
    """Nodes and the non-terminal pods bound to them, as a scheduler's cache would hold them:
    terminating pods included (kube-scheduler's cache counts them until their delete event)."""
    nodes = cluster.get("/api/v1/nodes")["items"]
    pods = cluster.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
    return nodes, [p for p in pods if p["spec"].get("nodeName")]


def wait_for_no_terminating_pods(cluster: SuiteCluster, timeout: float = 180) -> None:
    """Until no bound pod is terminating and no namespace is being deleted. Earlier tests' pods
    leave while a test runs: their namespaces are deleted in the background (the namespace
    controller removes the pods over seconds), and on kind and Vagrant each pod keeps its node's
    resources for its grace period, counted by the scheduler's cache until it is gone. Tests that
    expect a placement from the nodes' load wait for the cluster to hold still."""

    def none_left() -> None:
        going_ns = [n["metadata"]["name"] for n in cluster.get("/api/v1/namespaces")["items"]
                    if (n.get("status") or {}).get("phase") == "Terminating"]
        if going_ns:
            raise NotYet(f"{len(going_ns)} namespaces being deleted: {going_ns[:5]}")
        pods = cluster.get("/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed")["items"]
        going = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods
                 if p["spec"].get("nodeName") and p["metadata"].get("deletionTimestamp")]
        if going:
            raise NotYet(f"{len(going)} pods terminating: {going[:5]}")

    wait_for(none_left, timeout=timeout, interval=1.0, what="earlier tests' pods to be gone")


def assigned_keys(base: tuple[list[dict], list[dict]]) -> set[tuple[str, str]]:
    """(uid, node) of every assigned pod in a snapshot. A pod's requests cannot change in v1.29,
    so equal keys mean the scheduler's cache held the same pods (status updates aside)."""
    return {(p["metadata"]["uid"], p["spec"]["nodeName"]) for p in base[1]}


def core_state(cluster: SuiteCluster, base: tuple[list[dict], list[dict]], without: frozenset[str] = frozenset()):
    """The Python core's ClusterState for a snapshot (plus the cluster's workload objects now,
    except the kinds in ``without``)."""
    from scheduler.core.state import ClusterState

    state = ClusterState()
    nodes, assigned = base
    for n in nodes:
        state.add_node(n)
    for p in assigned:
        state.add_pod(p)
    for path, kind in STATE_OBJECTS:
        if kind in without:
            continue
        for obj in cluster.get(path)["items"]:
            state.add_object({**obj, "kind": kind})
    return state


UPSTREAM_ORACLE = "custom-k8s-scheduler"


def upstream_oracle(cluster: SuiteCluster) -> str:
    """The scheduler name of an upstream kube-scheduler v1.29.15 started the normal way: the lab's
    custom-k8s-scheduler (its two replicas running, one holding the Lease).

    Not default-scheduler: kubeadm (kind, Vagrant) starts its static kube-scheduler before the API
    server answers, client-go's NewEventBroadcasterAdapter then finds no events.k8s.io/v1 in
    discovery and the scheduler writes legacy core/v1 events (no action, no series) for its whole
    life. The local lab starts it after the API is up, so there both behave alike."""
    cluster.deploy(UPSTREAM_ORACLE)
    wait_for(lambda: cluster.lease_holder(UPSTREAM_ORACLE) or (_ for _ in ()).throw(NotYet("no holder")),
             timeout=60, what=f"a holder of Lease kube-system/{UPSTREAM_ORACLE}")
    return UPSTREAM_ORACLE


def scheduled_event(cluster: SuiteCluster, namespace: str, pod: str) -> dict:
    """The Scheduled event of a pod, or NotYet."""
    for e in cluster.events_for(namespace, pod):
        if e.get("reason") == "Scheduled":
            return e
    raise NotYet(f"no Scheduled event for {namespace}/{pod} yet")


def bound_node(cluster: SuiteCluster, namespace: str, pod: str) -> str:
    node = cluster.pod(namespace, pod)["spec"].get("nodeName")
    if not node:
        raise NotYet(f"{namespace}/{pod} is not bound yet")
    return node


def pod_manifest(name: str, scheduler: str | None = None, cpu: str = "100m", memory: str = "64Mi",
                 **spec: Any) -> dict:
    pod: dict = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9",
                                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec},
    }
    if scheduler:
        pod["spec"]["schedulerName"] = scheduler
    return pod


PRIVATE_KUBE_SCHEDULER_HEAD = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
clientConnection:
  kubeconfig: {kubeconfig}
"""


@contextlib.contextmanager
def private_kube_scheduler(cluster: SuiteCluster, work: Path, config_body: str) -> Iterator[tuple[Path, Path]]:
    """The lab's own kube-scheduler v1.29.15 as a private scheduler (no leader election, a free
    loopback port, ``--v=10``: it logs every node it scores), configured with ``config_body`` after
    the head above. Yields its config and log paths; stopped afterwards."""
    binary = cluster.workdir / "bin" / "kube-scheduler"
    assert binary.exists(), f"the local lab has no {binary}"
    config = work / "kube-scheduler.yaml"
    config.write_text(PRIVATE_KUBE_SCHEDULER_HEAD.format(kubeconfig=cluster.kubeconfig) + config_body)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "kube-scheduler.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(binary), f"--config={config}", "--bind-address=127.0.0.1",
                                 f"--secure-port={port}", "--v=10"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Starting Kubernetes Scheduler" in log.read_text() or (_ for _ in ()).throw(
            NotYet("not started")), timeout=60, what="the private kube-scheduler to start")
        yield config, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
