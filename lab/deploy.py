"""`lab deploy`: put the two second schedulers into the cluster, two replicas each.

The manifests in manifests/ are applied with server-side apply (so the API server validates
every field), and the Deployments run their pods: a kubelet runs them on kind, vagrant and
existing clusters, podrunner (lab/podrunner) on the local lab, with the pods' own ServiceAccount
tokens: the RBAC in the manifests is what is tested. `lab kill-leader` deletes the Lease holder's
pod everywhere, as `kubectl delete pod` does.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.providers.base import Provider, ProviderError

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


def render(app: SchedulerApp) -> list[dict]:
    """The app's manifests (kustomization order)."""
    kust = yaml.safe_load((app.directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for res in kust.get("resources", []):
        docs += [d for d in yaml.safe_load_all((app.directory / res).read_text()) if d]
    return docs


def apply(workdir: Path, kubeconfig: Path, docs: list[dict]) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    kubectl(workdir, kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager=scheduler-lab",
            "-f", "-", stdin=text)


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


def _get(url: str, timeout: float = 2.0, token: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl._create_unverified_context()) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return 0, str(e)


def _lease_holder(workdir: Path, admin: Path, name: str) -> str:
    return _lease(workdir, admin, name)[0]


def _lease(workdir: Path, admin: Path, name: str) -> tuple[str, str]:
    """(holderIdentity, renewTime) of the app's Lease; empty strings when there is none yet."""
    out = subprocess.run([kubectl_path(workdir), f"--kubeconfig={admin}", "get", "lease", name, "-n", NAMESPACE,
                          "-o", "jsonpath={.spec.holderIdentity} {.spec.renewTime}"],
                         capture_output=True, text=True, timeout=30)
    holder, _, renewed = out.stdout.strip().partition(" ") if out.returncode == 0 else ("", "", "")
    return holder, renewed


def _running_pods(workdir: Path, admin: Path, app: SchedulerApp) -> set[str]:
    out = kubectl(workdir, admin, "get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={app.name}",
                  "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
    return set(out.split())


def wait_for_leader(workdir: Path, admin: Path, app: SchedulerApp, timeout: float) -> str:
    """The running pod that leads: the Lease is renewed while we watch, by one of the Deployment's
    running pods. A Lease that only names one is not enough: after `lab down` and `lab up` it still
    names the pod (same name, earlier process) that held it before, until a replica of this run
    takes it over when it expires."""
    deadline = time.monotonic() + timeout
    first = _lease(workdir, admin, app.name)
    while True:
        holder, renewed = _lease(workdir, admin, app.name)
        pod = holder.split("_", 1)[0]
        if renewed and renewed != first[1] and pod in _running_pods(workdir, admin, app):
            return pod
        if time.monotonic() > deadline:
            raise ProviderError(f"deployment/{app.name}: no running replica renewed Lease {NAMESPACE}/{app.name} "
                                f"within {timeout:.0f}s (holder {holder or 'none'!r}); see: python -m lab logs")
        time.sleep(0.5)  # the leader renews every retryPeriod (2 s)


def deploy(provider: Provider, workdir: Path, only: str | None = None, timeout: float = 90.0) -> int:
    status = provider.status()
    if not status.up or status.kubeconfig is None:
        raise ProviderError("the lab is not up: run `python -m lab up` first")
    admin = status.kubeconfig
    apps = [APPS[only]] if only else list(APPS.values())
    t0 = time.monotonic()
    for app in apps:
        apply(workdir, admin, render(app))
        print(f"applied manifests/{app.directory.name} (server-side validated)")
    metrics_reader_token(workdir, admin, renew=True)  # a lab made anew has a new token signer
    print(f"{NAMESPACE}/{METRICS_READER}: may get /metrics and /configz; token in {metrics_token_path(workdir)} (0600)")
    samples = MANIFESTS / "samples"
    for app in apps:
        kubectl(workdir, admin, "rollout", "status", f"deployment/{app.name}", "-n", NAMESPACE,
                f"--timeout={int(timeout)}s")
        print(f"deployment/{app.name}: {REPLICAS} replicas available")
    for app in apps:
        print(f"deployment/{app.name}: {wait_for_leader(workdir, admin, app, timeout)} leads "
              f"(renews Lease {NAMESPACE}/{app.name})")
    print(f"schedulers deployed in {time.monotonic() - t0:.1f}s; samples: kubectl apply -f {samples}")
    return 0


def kill_leader(provider: Provider, workdir: Path, app: str, signal_name: str = "KILL") -> int:
    if app not in APPS:
        raise ProviderError(f"kill-leader: {app!r} is not one of {', '.join(APPS)}")
    status = provider.status()
    if status.kubeconfig is None:
        raise ProviderError("the lab is not up")
    holder = _lease_holder(workdir, status.kubeconfig, app)
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
