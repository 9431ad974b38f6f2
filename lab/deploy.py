"""`lab deploy`: put the two second schedulers into the cluster, two replicas each.

The manifests in manifests/ are applied with server-side apply (so the API server validates
every field), and the Deployments run their pods: a kubelet runs them on kind, vagrant and
existing clusters, podrunner (lab/podrunner) on the local lab, with the pods' own ServiceAccount
tokens: the RBAC in the manifests is what is tested. `lab kill-leader` deletes the Lease holder's
pod everywhere, as `kubectl delete pod` does.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab import labdir
from lab.procs import OwnedProcess, SignalDenied, Supervisor
from lab.providers.base import Provider, ProviderError
from lab.secretfile import write_secret

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
NAMESPACE = "kube-system"
REPLICAS = 2
TOKEN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class SchedulerApp:
    name: str        # Deployment, ServiceAccount, Lease and profile name
    directory: Path  # kustomize directory under manifests/
    upstream: bool   # kube-scheduler binary (True) or the Python scheduler

    @property
    def config_key(self) -> str:
        return f"{self.name}-config.yaml"


APPS = {
    "custom-k8s-scheduler": SchedulerApp("custom-k8s-scheduler", MANIFESTS / "kube-scheduler", upstream=True),
    "py-scheduler": SchedulerApp("py-scheduler", MANIFESTS / "py-scheduler", upstream=False),
}


def _sup(workdir: Path) -> Supervisor:
    return Supervisor(workdir / "deploy")


def replica_names(app: str) -> list[str]:
    return [f"{app}-{i}" for i in range(REPLICAS)]


def local_scheduler_status(workdir: Path) -> list[tuple[str, int | None]]:
    sup = _sup(workdir)
    return [(n, child_pid(workdir, n)) for n in sup.names()]


def stop_local_schedulers(workdir: Path, app: str | None = None) -> list[str]:
    sup = _sup(workdir)
    names = [n for n in sup.names() if app is None or n.startswith(app + "-")]
    stopped, denied = [], []
    for name in names:
        try:
            if sup.stop(name, timeout=15):
                stopped.append(name)
        except SignalDenied as exc:
            denied.append(f"{name}: {exc}")
    if denied:
        raise ProviderError(f"stopping the local schedulers: {'; '.join(denied)}")
    return stopped


def child_record(workdir: Path, replica: str) -> OwnedProcess | None:
    """The scheduler process a replica wrapper runs now, if its record still names that process."""
    record = OwnedProcess.load(workdir / "deploy" / "run" / f"{replica}.child")
    return record if record is not None and record.is_same() else None


def child_pid(workdir: Path, replica: str) -> int | None:
    record = child_record(workdir, replica)
    return record.pid if record else None


def kubectl_path(workdir: Path) -> str:
    local = workdir / "bin" / "kubectl"
    if local.exists():
        return str(local)
    found = shutil.which("kubectl")
    if not found:
        raise ProviderError("kubectl not found: put kubectl v1.29 on PATH")
    return found


def kubectl(workdir: Path, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([kubectl_path(workdir), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise ProviderError(f"kubectl {' '.join(args[:2])} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def render(app: SchedulerApp, local_processes: bool) -> list[dict]:
    """The app's manifests (kustomization order); Deployments scaled to 0 for local processes."""
    kust = yaml.safe_load((app.directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for res in kust.get("resources", []):
        docs += [d for d in yaml.safe_load_all((app.directory / res).read_text()) if d]
    if local_processes:
        for d in docs:
            if d.get("kind") == "Deployment":
                d["spec"]["replicas"] = 0
                d["metadata"].setdefault("annotations", {})["scheduler-lab.dev/replicas"] = (
                    f"{REPLICAS} replicas run as local processes (lab deploy): the local lab has no kubelet")
    return docs


def apply(workdir: Path, kubeconfig: Path, docs: list[dict]) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    kubectl(workdir, kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager=scheduler-lab",
            "-f", "-", stdin=text)


def _token_kubeconfig(workdir: Path, admin: Path, app: SchedulerApp) -> Path:
    token = kubectl(workdir, admin, "create", "token", app.name, "-n", NAMESPACE,
                    f"--duration={TOKEN_SECONDS}s").strip()
    admin_cfg = yaml.safe_load(admin.read_text())
    cluster = admin_cfg["clusters"][0]["cluster"]
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": f"system:serviceaccount:{NAMESPACE}:{app.name}", "user": {"token": token}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user":
                                                 f"system:serviceaccount:{NAMESPACE}:{app.name}"}}],
        "current-context": "lab",
    }
    return write_secret(workdir / "deploy" / app.name / "kubeconfig", yaml.safe_dump(cfg, sort_keys=False))


# -- metrics-reader: the identity the lab (and the e2e tests) read schedulers' /metrics with -------------
# Both schedulers serve /metrics and /configz only to callers the API server authorizes (delegated
# authn/authz); the lab's own ServiceAccount is allowed exactly `get` on the non-resource URLs /metrics
# and /configz (the configuration the scheduler loaded: "is it using my config?"). A rule each, so either
# can be dropped alone.
METRICS_READER = "metrics-reader"
METRICS_READER_OBJECTS: list[dict] = [
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": METRICS_READER, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "scheduler-lab"}}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": f"scheduler-lab:{METRICS_READER}", "labels": {"app.kubernetes.io/part-of": "scheduler-lab"}},
     "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
               {"nonResourceURLs": ["/configz"], "verbs": ["get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": f"scheduler-lab:{METRICS_READER}", "labels": {"app.kubernetes.io/part-of": "scheduler-lab"}},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"scheduler-lab:{METRICS_READER}"},
     "subjects": [{"kind": "ServiceAccount", "name": METRICS_READER, "namespace": NAMESPACE}]},
]
METRICS_TOKEN_SECONDS = 24 * 3600


def metrics_token_path(workdir: Path) -> Path:
    return workdir / "deploy" / METRICS_READER / "token"


def metrics_reader_token(workdir: Path, admin: Path, renew: bool = False) -> str:
    """A token of kube-system/metrics-reader (TokenRequest API), kept 0600 in the lab's workdir and
    renewed when asked or half its life is gone; the ServiceAccount and its RBAC are applied then."""
    path = metrics_token_path(workdir)
    try:
        if not renew and time.time() - path.stat().st_mtime < METRICS_TOKEN_SECONDS / 2:
            return path.read_text().strip()
    except OSError:
        pass
    apply(workdir, admin, METRICS_READER_OBJECTS)
    token = kubectl(workdir, admin, "create", "token", METRICS_READER, "-n", NAMESPACE,
                    f"--duration={METRICS_TOKEN_SECONDS}s").strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".token.{os.getpid()}")
    tmp.unlink(missing_ok=True)  # a leftover of a killed run: O_EXCL below then creates it anew, 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 from the first byte
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return token


def stored_metrics_token(workdir: Path) -> str:
    """The token `lab deploy` stored, or "" (then /metrics answers 403)."""
    try:
        return metrics_token_path(workdir).read_text().strip()
    except OSError:
        return ""


def _config_from_cluster(workdir: Path, admin: Path, app: SchedulerApp, kubeconfig: Path) -> Path:
    """The scheduler configuration as the cluster holds it, pointed at the SA kubeconfig."""
    cm = json.loads(kubectl(workdir, admin, "get", "configmap", f"{app.name}-config", "-n", NAMESPACE, "-o", "json"))
    config = yaml.safe_load(cm["data"][app.config_key])
    config.setdefault("clientConnection", {})["kubeconfig"] = str(kubeconfig)
    path = workdir / "deploy" / app.name / app.config_key
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _ports(workdir: Path) -> dict[str, int]:
    from lab.providers.local import _free_port

    path = workdir / "deploy" / "ports.json"
    try:
        ports = json.loads(path.read_text())
    except (OSError, ValueError):
        ports = {}
    changed = False
    for app in APPS:
        for replica in replica_names(app):
            if replica not in ports:
                ports[replica] = _free_port()
                changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports, indent=2) + "\n")
    return ports


# Flags a local replica sets itself (paths and addresses differ from the pod's); every other
# flag of the Deployment's container is kept, so a local replica runs as the manifest says.
LOCAL_FLAGS = ("--config", "--kubeconfig", "--bind-address", "--secure-port", "--port")


def manifest_flags(app: SchedulerApp) -> list[str]:
    """The scheduler container's flags from the app's Deployment, minus the LOCAL_FLAGS."""
    deployment = next(d for d in render(app, local_processes=False) if d.get("kind") == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    words = list(container.get("command", [])) + list(container.get("args", []))
    return [w for w in words if w.startswith("--") and w.split("=", 1)[0] not in LOCAL_FLAGS]


def replica_command(workdir: Path, app: SchedulerApp, config: Path, kubeconfig: Path, port: int) -> list[str]:
    local = [f"--config={config}", "--bind-address=127.0.0.1", f"--secure-port={port}"]
    if app.upstream:
        # kube-scheduler ignores --kubeconfig when --config is given (clientConnection.kubeconfig
        # serves); delegated authn/authz need theirs explicitly outside a pod.
        return [str(workdir / "bin" / "kube-scheduler"), *local,
                f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
                *manifest_flags(app)]
    return [sys.executable, "-m", "scheduler", *local, f"--kubeconfig={kubeconfig}", *manifest_flags(app)]


def _get(url: str, timeout: float = 2.0, token: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl._create_unverified_context()) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return 0, str(e)


def replica_leads(port: int, token: str = "") -> bool:
    """Ask a replica itself: its leader_election_master_status gauge is 1 only on the leader.

    (kube-scheduler labels it name="kube-scheduler" whatever its Lease is called; a replica
    takes part in one election only, so any 1 means it leads.)
    """
    code, body = _get(f"https://127.0.0.1:{port}/metrics", token=token)
    if code != 200:
        return False
    values = re.findall(r"^leader_election_master_status(?:\{[^}]*\})?\s+([0-9.]+)", body, re.MULTILINE)
    return any(float(v) == 1.0 for v in values)


def _lease_holder(workdir: Path, admin: Path, name: str) -> str:
    out = subprocess.run([kubectl_path(workdir), f"--kubeconfig={admin}", "get", "lease", name, "-n", NAMESPACE,
                          "-o", "jsonpath={.spec.holderIdentity}"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


def deploy(provider: Provider, workdir: Path, only: str | None = None, timeout: float = 90.0) -> int:
    status = provider.status()
    if not status.up or status.kubeconfig is None:
        raise ProviderError("the lab is not up: run `python -m lab up` first")
    admin = status.kubeconfig
    apps = [APPS[only]] if only else list(APPS.values())
    local = provider.scheduler_runtime() == "process"
    t0 = time.monotonic()
    for app in apps:
        apply(workdir, admin, render(app, local_processes=local))
        print(f"applied manifests/{app.directory.name} (server-side validated)")
    metrics_reader_token(workdir, admin, renew=True)  # a lab made anew has a new token signer
    print(f"{NAMESPACE}/{METRICS_READER}: may get /metrics and /configz; token in {metrics_token_path(workdir)} (0600)")
    samples = MANIFESTS / "samples"
    if not local:
        for app in apps:
            kubectl(workdir, admin, "rollout", "status", f"deployment/{app.name}", "-n", NAMESPACE,
                    f"--timeout={int(timeout)}s")
            print(f"deployment/{app.name}: {REPLICAS} replicas available")
    else:
        with labdir.recording(workdir):  # deploy/ (tokens, pid records) is the lab's: `down --wipe` deletes it
            ports = _start_local_replicas(workdir, admin, apps)
        for app in apps:
            _wait_replicas(workdir, admin, app, ports, timeout)
    print(f"schedulers deployed in {time.monotonic() - t0:.1f}s; samples: kubectl apply -f {samples}")
    return 0


def _start_local_replicas(workdir: Path, admin: Path, apps: list[SchedulerApp]) -> dict[str, int]:
    """Each app's replicas as local processes (those not running yet); their ports."""
    sup = _sup(workdir)
    ports = _ports(workdir)
    for app in apps:
        sa_kubeconfig = _token_kubeconfig(workdir, admin, app)
        config = _config_from_cluster(workdir, admin, app, sa_kubeconfig)
        for replica in replica_names(app.name):
            if sup.pid(replica) is not None:
                continue
            cmd = replica_command(workdir, app, config, sa_kubeconfig, ports[replica])
            sup.start(replica, [sys.executable, "-m", "lab.replica", "--name", replica, "--child-pid-file",
                                str(workdir / "deploy" / "run" / f"{replica}.child"), "--", *cmd],
                      env={"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    return ports


def _wait_replicas(workdir: Path, admin: Path, app: SchedulerApp, ports: dict[str, int], timeout: float) -> None:
    sup = _sup(workdir)
    deadline = time.monotonic() + timeout
    while True:
        healthy = [r for r in replica_names(app.name) if _get(f"https://127.0.0.1:{ports[r]}/healthz")[0] == 200]
        token = stored_metrics_token(workdir)
        leaders = [r for r in replica_names(app.name) if replica_leads(ports[r], token)]
        if len(healthy) == REPLICAS and len(leaders) == 1:
            print(f"{app.name}: {REPLICAS} replicas healthy, leader {leaders[0]} "
                  f"(Lease {NAMESPACE}/{app.name} held by {_lease_holder(workdir, admin, app.name)})")
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {r} ---\n{sup.tail(r, 8)}" for r in replica_names(app.name))
            raise ProviderError(f"{app.name}: {len(healthy)}/{REPLICAS} replicas healthy and {len(leaders)} "
                                f"leaders after {timeout:.0f}s; logs in {sup.log_dir}\n{tails}")
        time.sleep(0.5)


def find_leader(workdir: Path, app: str) -> str | None:
    ports = _ports(workdir)
    token = stored_metrics_token(workdir)
    for replica in replica_names(app):
        if replica_leads(ports[replica], token):
            return replica
    return None


def kill_leader(provider: Provider, workdir: Path, app: str, signal_name: str = "KILL") -> int:
    if app not in APPS:
        raise ProviderError(f"kill-leader: {app!r} is not one of {', '.join(APPS)}")
    status = provider.status()
    if status.kubeconfig is None:
        raise ProviderError("the lab is not up")
    holder = _lease_holder(workdir, status.kubeconfig, app)
    if provider.scheduler_runtime() == "process":
        replica = find_leader(workdir, app)
        if replica is None:
            raise ProviderError(f"no replica of {app} says it leads (Lease holder: {holder or 'none'})")
        record = child_record(workdir, replica)
        try:
            sent = record is not None and record.signal(getattr(signal, f"SIG{signal_name}"))
        except SignalDenied as exc:
            raise ProviderError(f"kill-leader: {replica}: {exc}") from None
        if not sent:
            raise ProviderError(f"kill-leader: {replica} leads but its recorded scheduler process is not running "
                                f"(pid file {workdir / 'deploy' / 'run' / (replica + '.child')}); nothing was signalled")
        print(f"sent SIG{signal_name} to {replica} (pid {record.pid}), the holder of Lease {NAMESPACE}/{app}: "
              f"{holder}")
        return 0
    pod = holder.split("_", 1)[0]  # identity = hostname (the pod name) + "_" + uuid
    args = ["delete", "pod", pod, "-n", NAMESPACE, "--wait=false"]
    kill_now = getattr(provider, "kill_pod_containers", None)
    if kill_now is not None:
        # A delete only changes the API object; the kubelet signals the process later (seconds, on
        # a busy node), and until then the old leader keeps renewing. Signal it on its node first,
        # as `kill -KILL` / `kill -TERM` would (TERM: up to 30s to exit, as the pod's grace period).
        kill_now(NAMESPACE, pod, grace=0 if signal_name == "KILL" else 30)
    if signal_name == "KILL":
        args += ["--grace-period=0", "--force"]
    kubectl(workdir, status.kubeconfig, *args)
    print(f"deleted pod {NAMESPACE}/{pod}, the holder of Lease {NAMESPACE}/{app}")
    return 0


def token_subject(kubeconfig: Path) -> str:
    """Which identity a replica kubeconfig authenticates as (for status and tests)."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]
    token = user["user"].get("token", "")
    payload = token.split(".")[1] + "=" * (-len(token.split(".")[1]) % 4) if token.count(".") == 2 else ""
    return json.loads(base64.urlsafe_b64decode(payload)).get("sub", "") if payload else user["name"]
