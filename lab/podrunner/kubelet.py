"""The loop: every second, the pods bound to the lab's nodes that podrunner runs are brought to
what their spec says (volumes, processes, restarts, probes, deletion) and their status written back.

A list every second rather than a watch: the lab has tens of pods, a list is cheap and a missed
watch event can never leave a pod behind.
"""
from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from urllib3.exceptions import HTTPError as TransportError

from lab.host.procs import OwnedProcess
from lab.podrunner import addresses, backoff, images, probes, process
from lab.podrunner.status import Container, now, pod_status, terminated
from lab.podrunner.volumes import MountError, materialize, mounts_for

EVENT_EVERY = 30.0
# The API server cannot be reached (restarting, not started yet): urllib3 gives up with its own
# errors (MaxRetryError, ProtocolError), which are not OSErrors. A kubelet rides that out and keeps
# its containers running; so does podrunner, trying again on the next pass.
UNREACHABLE = (OSError, TransportError)


@dataclass
class Run:
    """One container of a pod podrunner runs."""

    spec: dict
    view: Container
    proc: object = None                 # subprocess.Popen while podrunner is its parent
    record: OwnedProcess | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    backoff_count: int = 0
    next_probe: float = 0.0
    live_failures: int = 0


@dataclass
class PodRun:
    uid: str
    namespace: str
    name: str
    ip: str
    directory: Path
    runs: dict[str, Run] = field(default_factory=dict)
    initialized: bool = False
    mount_error: str = ""
    last_event: float = 0.0
    start_time: str = field(default_factory=now)
    since: dict[str, str] = field(default_factory=dict)
    written: dict = field(default_factory=dict)
    stopping: bool = False


class Kubelet:
    def __init__(self, core: client.CoreV1Api, workdir: Path, nodes: dict[str, str], programs: images.Programs,
                 api_port: int) -> None:
        self.core, self.workdir, self.nodes, self.programs = core, workdir, nodes, programs
        self.api_port = api_port
        self.pods: dict[str, PodRun] = {}

    # -- the loop ---------------------------------------------------------------------------------
    def first_pass(self) -> None:
        """Sync until one pass succeeds (the API server may still be starting)."""
        while not self._sync_once():
            time.sleep(1.0)

    def run_forever(self) -> None:
        while True:
            self._sync_once()
            time.sleep(1.0)

    def _sync_once(self) -> bool:
        try:
            self.sync()
            return True
        except client.ApiException as exc:
            print(f"podrunner: API error {exc.status}: {exc.reason}", flush=True)
        except UNREACHABLE as exc:
            print(f"podrunner: the API server cannot be reached ({type(exc).__name__}); "
                  "containers keep running, next pass in 1s", flush=True)
        return False

    def sync(self) -> None:
        listed = self.core.list_pod_for_all_namespaces(_preload_content=False)
        items = json.loads(listed.data)["items"]
        seen = set()
        for pod in items:
            if pod["spec"].get("nodeName") not in self.nodes or not images.runs_here(pod):
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            self.sync_pod(pod)
        for uid in [u for u in self.pods if u not in seen]:
            self._stop(self.pods.pop(uid), grace=0, delete=False)

    def sync_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        run = self.pods.get(meta["uid"])
        if run is None:
            taken = {p.ip for p in self.pods.values()}
            run = PodRun(meta["uid"], meta["namespace"], meta["name"], addresses.pick(meta["uid"], taken),
                         self.workdir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}")
            for c in pod["spec"]["containers"]:
                run.runs[c["name"]] = Run(c, Container(c["name"], c["image"]))
            self.pods[meta["uid"]] = run
        if meta.get("deletionTimestamp"):
            if not run.stopping:
                run.stopping = True
                grace = float(meta.get("deletionGracePeriodSeconds") or 30)
                threading.Thread(target=self._stop, args=(run, grace, True), daemon=True).start()
            return
        if not run.initialized:
            try:
                materialize(self.core, pod, run.directory)
                run.initialized = True
                run.mount_error = ""
            except MountError as exc:
                run.mount_error = str(exc)
                if time.monotonic() - run.last_event > EVENT_EVERY:
                    run.last_event = time.monotonic()
                    self._event(pod, "Warning", "FailedMount", str(exc))
        if run.initialized:
            for container in run.runs.values():
                self._sync_container(pod, run, container)
        self._write_status(pod, run)

    # -- containers -------------------------------------------------------------------------------
    def _sync_container(self, pod: dict, pod_run: PodRun, c: Run) -> None:
        t = time.monotonic()
        if c.proc is not None:
            code = c.proc.poll()  # type: ignore[attr-defined]
            if code is None:
                self._probe(pod_run, c, t)
                return
            ran = t - c.started_at
            code = 128 - code if code < 0 else code  # killed by a signal: 128+n, as a runtime reports it
            c.view.last_exit = terminated(code, c.view.running_since)
            c.view.running_since, c.proc, c.record = "", None, None
            c.view.ready = c.view.started = False
            if pod["spec"].get("restartPolicy", "Always") == "Never" or (
                    code == 0 and pod["spec"].get("restartPolicy") == "OnFailure"):
                c.view.waiting_reason = "Completed"
                c.restart_at = float("inf")
                return
            c.backoff_count = backoff.next_restarts(c.backoff_count, ran)
            c.restart_at = t + backoff.delay(c.backoff_count)
            c.view.restart_count += 1
            c.view.waiting_reason = "CrashLoopBackOff"
            c.view.waiting_message = (f"back-off {backoff.delay(c.backoff_count):.0f}s restarting failed container="
                                      f"{c.spec['name']} pod={pod_run.name}_{pod_run.namespace}({pod_run.uid})")
        if t < c.restart_at:
            return
        try:
            argv = images.bind_to(images.command_for(c.spec, self.programs), pod_run.ip)
        except images.ImageError as exc:
            c.view.waiting_reason, c.view.waiting_message = "CreateContainerError", str(exc)
            return
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": pod_run.name,
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api_port),
               "PYTHONPATH": str(process.ROOT)}
        for e in c.spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
        log = pod_run.directory / "logs" / c.spec["name"] / f"{c.view.restart_count}.log"
        c.proc, c.record = process.start(argv, env, mounts_for(c.spec, pod_run.directory), pod_run.name,
                                         pod_run.directory / "run" / c.spec["name"], log)
        c.started_at = t
        c.view.running_since = now()
        c.view.waiting_reason, c.view.waiting_message = "", ""
        c.next_probe = t + float((c.spec.get("startupProbe") or c.spec.get("readinessProbe") or {})
                                 .get("initialDelaySeconds", 0))
        c.view.started = "startupProbe" not in c.spec
        c.view.ready = "readinessProbe" not in c.spec and c.view.started

    def _probe(self, pod_run: PodRun, c: Run, t: float) -> None:
        if t < c.next_probe:
            return
        spec = c.spec
        if not c.view.started:
            c.view.started = probes.http_get(pod_run.ip, spec["startupProbe"])
            c.next_probe = t + float(spec["startupProbe"].get("periodSeconds", 10))
            return
        period = 10.0
        if "readinessProbe" in spec:
            c.view.ready = probes.http_get(pod_run.ip, spec["readinessProbe"])
            # Until ready, probe every second: a pod becomes Ready as soon as it is, not a period later.
            period = float(spec["readinessProbe"].get("periodSeconds", 10)) if c.view.ready else 1.0
        live = spec.get("livenessProbe")
        if live and t - c.started_at >= float(live.get("initialDelaySeconds", 0)):
            c.live_failures = 0 if probes.http_get(pod_run.ip, live) else c.live_failures + 1
            if c.live_failures >= int(live.get("failureThreshold", 3)) and c.record is not None:
                c.live_failures = 0
                c.record.terminate_then_kill(float(spec.get("terminationGracePeriodSeconds") or 30))
        c.next_probe = t + period

    # -- deletion ---------------------------------------------------------------------------------
    def _stop(self, run: PodRun, grace: float, delete: bool) -> None:
        """SIGTERM, ``grace`` seconds, SIGKILL for every container; then the pod object goes (grace 0)."""
        for c in run.runs.values():
            if c.record is not None:
                c.record.terminate_then_kill(grace)
            if c.proc is not None:
                c.proc.wait()  # type: ignore[attr-defined]
        if delete:
            try:
                self.core.delete_namespaced_pod(run.name, run.namespace, grace_period_seconds=0,
                                                body=client.V1DeleteOptions(grace_period_seconds=0,
                                                                            preconditions={"uid": run.uid}))
            except client.ApiException as exc:
                if exc.status not in (404, 409):
                    raise
            except UNREACHABLE:
                run.stopping = False  # the containers are stopped; the next pass deletes the pod
                return
        shutil.rmtree(run.directory, ignore_errors=True)
        self.pods.pop(run.uid, None)

    # -- API writes -------------------------------------------------------------------------------
    def _write_status(self, pod: dict, run: PodRun) -> None:
        views = [r.view for r in run.runs.values()]
        if not run.initialized:
            for v in views:
                v.waiting_reason = "ContainerCreating"
        status = pod_status(host_ip=self.nodes[pod["spec"]["nodeName"]], pod_ip=run.ip, start_time=run.start_time,
                            initialized=run.initialized, containers=views, since=run.since)
        for cond in status["conditions"]:
            run.since.setdefault(f"{cond['type']}={cond['status'] == 'True'}", cond["lastTransitionTime"])
        if status == run.written:
            return
        self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})
        run.written = status

    def _event(self, pod: dict, kind: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        self.core.create_namespaced_event(meta["namespace"], {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                               "uid": meta["uid"], "apiVersion": "v1"},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kubelet",
                                                                        "host": pod["spec"]["nodeName"]}})
