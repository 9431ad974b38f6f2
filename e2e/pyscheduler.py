"""Running the Python scheduler as local processes for e2e tests.

Each test gets its own scheduler name and its own Lease (in the test's namespace), so tests never
collide with each other or with the lab's own schedulers. Endpoints are plain HTTP on a free
127.0.0.1 port; logs go to a file that a failing test prints.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e.harness import SuiteCluster, NotYet, wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def scheduler_config(*, name: str, lease_namespace: str, lease_name: str, strategy: str = "MostAllocated",
                     random_profile: str | None = None, leader_elect: bool = True, lease_duration: str = "15s",
                     renew_deadline: str = "10s", retry_period: str = "2s", qps: int = 100, burst: int = 200) -> dict:
    """A KubeSchedulerConfiguration in the shape of the lab's (seed 000's NodeResourcesFit profile)."""
    profiles: list[dict] = [{
        "schedulerName": name,
        "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
            "type": strategy, "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}}],
    }]
    if random_profile:
        profiles.append({"schedulerName": random_profile, "plugins": {"score": {
            "disabled": [{"name": "*"}], "enabled": [{"name": "Random", "weight": 1}]}}})
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"qps": qps, "burst": burst},
        "leaderElection": {"leaderElect": leader_elect, "resourceNamespace": lease_namespace,
                           "resourceName": lease_name, "leaseDuration": lease_duration,
                           "renewDeadline": renew_deadline, "retryPeriod": retry_period},
        "profiles": profiles,
    }


@dataclass
class SchedulerProcess:
    """One `python -m scheduler` process."""

    name: str
    config_path: Path
    kubeconfig: Path
    log_path: Path
    verbosity: int = 4
    token: str = ""  # bearer token for every GET (the endpoints authorize all but the health paths)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> SchedulerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", f"--config={self.config_path}", f"--kubeconfig={self.kubeconfig}",
             "--bind-address=127.0.0.1", "--secure-port=0", f"--port={self.port}", f"--v={self.verbosity}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            raise NotYet(f"{self.name}: {path}: {exc}") from None

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> None:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            code, body = self.get("/readyz")
            if code != 200:
                raise NotYet(f"/readyz {code}: {body.strip()}")

        wait_for(ready, timeout=timeout, what=f"{self.name} ready")

    def leading(self) -> bool:
        code, body = self.get("/metrics")
        match = re.search(r"^leader_election_master_status\{[^}]*\}\s+([0-9.]+)", body, re.MULTILINE)
        return code == 200 and match is not None and float(match.group(1)) == 1.0

    def signal(self, sig: int) -> float:
        """Send `sig`; returns the monotonic time it was sent."""
        assert self.proc is not None
        sent = time.monotonic()
        # Popen.send_signal does nothing once the child has been reaped: never a reused pid.
        self.proc.send_signal(sig)
        return sent

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.wait_exit(15)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.wait_exit(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class SchedulerFleet:
    """The processes a test started; all stopped (and their logs printed) at teardown."""

    def __init__(self, cluster: SuiteCluster, directory: Path) -> None:
        self.cluster = cluster
        self.directory = directory
        self.processes: list[SchedulerProcess] = []

    def start(self, config: dict, replicas: int = 1, verbosity: int = 4) -> list[SchedulerProcess]:
        name = config["profiles"][0]["schedulerName"]
        path = self.directory / f"{name}-config.yaml"
        path.write_text(yaml.safe_dump(config))
        started = []
        token = self.cluster.metrics_token()
        for _ in range(replicas):
            index = len(self.processes)
            proc = SchedulerProcess(name=f"{name}-{index}", config_path=path, kubeconfig=Path(self.cluster.kubeconfig),
                                    log_path=self.directory / f"{name}-{index}.log", verbosity=verbosity,
                                    token=token)
            self.processes.append(proc.start())
            started.append(proc)
        for proc in started:
            proc.wait_ready()
        return started

    def leaders(self, among: list[SchedulerProcess] | None = None) -> list[SchedulerProcess]:
        return [p for p in (among or self.processes) if p.alive() and p.leading()]

    def wait_for_one_leader(self, among: list[SchedulerProcess], timeout: float = 60) -> SchedulerProcess:
        def one() -> SchedulerProcess:
            leaders = self.leaders(among)
            if len(leaders) != 1:
                raise NotYet(f"{len(leaders)} leaders")
            return leaders[0]

        return wait_for(one, timeout=timeout, interval=0.1, what="exactly one leader")

    def stop_all(self) -> None:
        for proc in self.processes:
            proc.stop()

    def dump_logs(self, tail: int = 60) -> str:
        parts = []
        for proc in self.processes:
            lines = proc.log().splitlines()[-tail:]
            parts.append(f"----- {proc.name} (pid {proc.proc.pid if proc.proc else '-'}) -----\n" + "\n".join(lines))
        return "\n".join(parts)
