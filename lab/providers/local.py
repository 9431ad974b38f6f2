"""The embedded lab: real upstream etcd, kube-apiserver, kube-controller-manager,
kube-scheduler (v1.29) run as local processes, with kwok playing the kubelets.

Everything binds 127.0.0.1. Nodes get InternalIPs in 127.0.10.0/24 and pods get IPs from
127.1.0.0/16, so even the API server dialing a "node" stays on this host.

Why this stays one module of about 550 lines: it is the ``LocalProvider`` class alone, one lifecycle
(start in order, wait until ready, restart, stop in reverse, status) whose methods share the
supervisor, the ports and the certificates; the processes are lab/host/procs.py, the certificates
lab/host/pki.py and the pods lab/podrunner/.
"""
from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import yaml

from lab.build import Binaries, ensure_binaries, recorded_versions, version_of
from lab.host import labdir
from lab.host.pki import Pki
from lab.host.procs import SignalDenied, Supervisor
from lab.host.secretfile import write_secret
from lab.podrunner.images import kwok_excluded_query
from lab.podrunner.process import stop_pod, stop_recorded
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.spec import LabSpec

# Start order; stop order is the reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "podrunner")
# Client identities as kubeadm names them, so bootstrap RBAC applies unchanged.
CLIENTS = {
    "admin": ("kubernetes-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok-controller", "system:masters"),  # plays every kubelet: writes node and pod status
    # runs the pods of images the lab has programs for (lab/podrunner): pod status, tokens, deletes
    "podrunner": ("scheduler-lab-podrunner", "system:masters"),
    # the API server asking a node's kubelet endpoint (podrunner's /containerLogs) for logs
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}
# What kubeadm's static pods request on a control-plane node; mirrored as pods on master-node
# so the scheduler sees the allocation a kubeadm master really has.
CONTROL_PLANE_PODS = {
    "etcd": {"cpu": "100m", "memory": "100Mi"},
    "kube-apiserver": {"cpu": "250m"},
    "kube-controller-manager": {"cpu": "200m"},
    "kube-scheduler": {"cpu": "100m"},
}
READY_TIMEOUT = 120.0
# Restarted when they exit, as kubelet restarts static pods: kube-scheduler exits by design when
# it loses its Lease (e.g. while the API server restarts), and a lab should heal like a cluster.
RESTARTED = ("kube-controller-manager", "kube-scheduler", "kwok", "podrunner")
# Seconds to wait after SIGTERM before SIGKILL. kube-apiserver stops listening at once but its
# process can linger for a long time after that; etcd gets time to close its database cleanly.
STOP_GRACE = {"etcd": 10.0, "kube-apiserver": 3.0}
# What `lab down --wipe` deletes (of what the lab directory's marker says the lab made); logs stay.
WIPED = ("etcd", "pki", "kubeconfigs", "run", "state.json", "kubeconfig", "bin", "deploy", "podrunner",
         "kwok-stages.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(port: int) -> bool:
    return _listening("127.0.0.1", port)


def _listening(address: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((address, port)) == 0


class LocalProvider(Provider):
    name = "local"

    def __init__(self, spec: LabSpec, workdir: Path, say: Callable[[str], None] = print) -> None:
        super().__init__(spec, workdir)
        self.say = say
        self.sup = Supervisor(workdir)
        self.pki = Pki(workdir / "pki")
        self.state_file = workdir / "state.json"

    # -- state ---------------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict) -> None:
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def ports(self) -> dict[str, int]:
        """Ports of this lab, chosen free once and kept, so two labs on one host never collide."""
        state = self._state()
        ports = state.get("ports") or {}
        missing = [n for n in ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                               "podrunner") if n not in ports]
        if missing:
            ports.update({n: _free_port() for n in missing})
            state["ports"] = ports
            self._save_state(state)
        return ports

    def scheduler_runtime(self) -> str:
        return "deployment"  # podrunner runs the schedulers' pods (lab/podrunner)

    def kill_pod_containers(self, namespace: str, pod: str, grace: int = 0) -> None:
        """Signal a podrunner pod's processes now (SIGTERM, SIGKILL after ``grace``; 0: SIGKILL at once),
        as `lab kill-leader` does on kind: a deletion alone reaches them only at podrunner's next sync."""
        stop_pod(self.workdir / "podrunner" / "pods", namespace, pod, float(grace))

    def check_prerequisites(self) -> None:
        if not Path("/proc").is_dir():
            raise ProviderError("the local provider needs Linux (/proc); use --provider kind or vagrant")

    # -- kubeconfigs ---------------------------------------------------------------------
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports()['kube-apiserver']}"

    def write_kubeconfig(self, path: Path, client: str) -> Path:
        pair = self.pki.pair(client)
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
        cfg = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": self.spec.cluster_name, "cluster": {
                "server": self.server(), "certificate-authority-data": b64(self.pki.ca.cert)}}],
            "users": [{"name": client, "user": {
                "client-certificate-data": b64(pair.cert), "client-key-data": b64(pair.key)}}],
            "contexts": [{"name": self.spec.cluster_name,
                          "context": {"cluster": self.spec.cluster_name, "user": client}}],
            "current-context": self.spec.cluster_name,
        }
        return write_secret(path, yaml.safe_dump(cfg, sort_keys=False))

    def _component_kubeconfig(self, client: str) -> Path:
        return self.workdir / "kubeconfigs" / f"{client}.kubeconfig"

    # -- commands ------------------------------------------------------------------------
    def _commands(self, bins: Binaries) -> dict[str, list[str]]:
        p = self.ports()
        pki = self.pki
        kc = {c: str(self._component_kubeconfig(c)) for c in CLIENTS}
        local = self.spec
        return {
            "etcd": [
                str(bins.path("etcd")), "--name=lab", f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
                f"--initial-cluster=lab=http://127.0.0.1:{p['etcd-peer']}",
                "--listen-metrics-urls=", "--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
                "--auto-compaction-retention=1", "--log-level=warn",
            ],
            "kube-apiserver": [
                str(bins.path("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={p['kube-apiserver']}",
                f"--tls-cert-file={pki.pair('apiserver').cert}", f"--tls-private-key-file={pki.pair('apiserver').key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.service_account_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={local.local_service_subnet}",
                # No kube-proxy and no real endpoints: the apiserver must not publish itself.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true", "--profiling=false",
                f"--requestheader-client-ca-file={pki.pair('front-proxy-ca').cert}",
                f"--proxy-client-cert-file={pki.pair('front-proxy-client').cert}",
                f"--proxy-client-key-file={pki.pair('front-proxy-client').key}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--kubelet-certificate-authority={pki.ca.cert}",
                f"--kubelet-client-certificate={pki.pair('apiserver-kubelet-client').cert}",
                f"--kubelet-client-key={pki.pair('apiserver-kubelet-client').key}",
                "--kubelet-preferred-address-types=InternalIP",
                "--v=1",
            ],
            "kube-controller-manager": [
                str(bins.path("kube-controller-manager")),
                f"--kubeconfig={kc['controller-manager']}",
                f"--authentication-kubeconfig={kc['controller-manager']}",
                f"--authorization-kubeconfig={kc['controller-manager']}",
                "--bind-address=127.0.0.1", f"--secure-port={p['kube-controller-manager']}",
                "--leader-elect=false", "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca.cert}", "--controllers=*",
                # Two cores shared with a build or a benchmark: give kwok's heartbeats slack.
                "--node-monitor-grace-period=2m", "--v=1",
            ],
            "kube-scheduler": [
                str(bins.path("kube-scheduler")),
                f"--kubeconfig={kc['scheduler']}",
                f"--authentication-kubeconfig={kc['scheduler']}",
                f"--authorization-kubeconfig={kc['scheduler']}",
                "--bind-address=127.0.0.1", f"--secure-port={p['kube-scheduler']}",
                "--leader-elect=true", "--v=2",
            ],
            "kwok": [
                str(bins.path("kwok")), f"--kubeconfig={kc['kwok']}", f"--config={self._kwok_stages(bins)}",
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={local.local_pod_subnet}", f"--node-ip={local.node_address(0, 'local')}",
                # No --node-port: kwok would listen on it on every address. podrunner sets the nodes'
                # kubelet port itself and serves /containerLogs there on the node addresses only.
                "--node-lease-duration-seconds=40",
            ],
            "podrunner": [
                sys.executable, "-m", "lab.podrunner", f"--workdir={self.workdir / 'podrunner'}",
                f"--kubeconfig={kc['podrunner']}", f"--kube-scheduler={bins.path('kube-scheduler')}",
                f"--api-port={p['kube-apiserver']}", f"--log-port={p['podrunner']}", f"--pki={pki.dir}",
                *(f"{n.name}={local.node_address(i, 'local')}" for i, n in enumerate(local.nodes)),
            ],
        }

    def _kwok_stages(self, bins: Binaries) -> Path:
        """kwok's stages with the pods podrunner runs left out of every pod stage (it plays their kubelet).

        Written into this lab's directory: the built stages in the cache are shared by every lab."""
        query = kwok_excluded_query()
        docs = [d for d in yaml.safe_load_all(bins.kwok_stages.read_text()) if d]
        for doc in docs:
            if doc.get("spec", {}).get("resourceRef", {}).get("kind") == "Pod":
                doc["spec"].setdefault("selector", {}).setdefault("matchExpressions", []).append(
                    {"key": query, "operator": "NotIn", "values": ["true"]})
        path = self.workdir / "kwok-stages.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return path

    # -- health --------------------------------------------------------------------------
    def _ssl(self, client: str = "admin") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        pair = self.pki.pair(client)
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
        return ctx

    def _get(self, url: str, timeout: float = 3.0) -> tuple[int, str]:
        try:
            if url.startswith("https://127.0.0.1:" + str(self.ports()["kube-apiserver"])):
                ctx = self._ssl()
            elif url.startswith("https"):
                ctx = ssl._create_unverified_context()  # self-signed serving certs of KCM / scheduler
            else:
                ctx = None
            with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, ssl.SSLError) as e:
            return 0, str(e)

    def health_url(self, component: str) -> str | None:
        p = self.ports()
        return {
            "etcd": f"http://127.0.0.1:{p['etcd']}/health",
            "kube-apiserver": f"https://127.0.0.1:{p['kube-apiserver']}/readyz",
            "kube-controller-manager": f"https://127.0.0.1:{p['kube-controller-manager']}/healthz",
            "kube-scheduler": f"https://127.0.0.1:{p['kube-scheduler']}/healthz",
        }.get(component)

    def healthy(self, component: str) -> bool:
        if self.sup.pid(component) is None:
            return False
        if component == "podrunner":
            # It opens its log port on the nodes' addresses once it has written the pods of an
            # earlier run not ready (lab/podrunner/__main__.py): before that their Ready is stale.
            return _listening(self.spec.node_address(0, "local"), self.ports()["podrunner"])
        url = self.health_url(component)
        if url is None:
            return True
        code, body = self._get(url)
        return code == 200 and ("true" in body or body.strip() == "ok")

    def _wait_healthy(self, component: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sup.pid(component) is None:
                raise ProviderError(f"{component} exited during start-up")
            if self.healthy(component):
                return
            time.sleep(0.25)
        raise ProviderError(f"{component} did not become healthy within {timeout:.0f}s")

    # -- API helpers (plain HTTPS with the admin cert: no client library needed here) ----------
    def api(self, method: str, path: str, body: dict | None = None, ok=(200, 201)) -> dict:
        req = urllib.request.Request(self.server() + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl()) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return json.loads(e.read() or b"{}")
            raise ProviderError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:300]}") from None

    def _exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
            return True
        except ProviderError as e:
            if "HTTP 404" in str(e):
                return False
            raise

    def node_manifest(self, index: int) -> dict:
        node = self.spec.nodes[index]
        ip = self.spec.node_address(index, "local")
        labels = {
            "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "type": "kwok", **node.labels,
        }
        third = self.spec.local_pod_subnet.split(".")
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": labels,
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"taints": [t.to_api() for t in node.taints],
                     "podCIDR": f"{third[0]}.{third[1]}.{index}.0/24",
                     "podCIDRs": [f"{third[0]}.{third[1]}.{index}.0/24"],
                     "providerID": f"kwok://{node.name}"},
            "status": {
                "capacity": dict(node.capacity), "allocatable": dict(node.capacity),
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node.name}],
                "nodeInfo": {"kubeletVersion": self.spec.versions.kubernetes,
                             "kubeProxyVersion": self.spec.versions.kubernetes,
                             "containerRuntimeVersion": f"kwok://{self.spec.versions.kwok}",
                             "osImage": "kwok fake node (scheduler-lab)", "kernelVersion": "n/a",
                             "operatingSystem": "linux", "architecture": "amd64"},
            },
        }

    def _register_nodes(self) -> None:
        for i, node in enumerate(self.spec.nodes):
            if not self._exists(f"/api/v1/nodes/{node.name}"):
                self.api("POST", "/api/v1/nodes", self.node_manifest(i))

    def _control_plane_pods(self) -> None:
        master = self.spec.control_plane.name
        for comp, requests in CONTROL_PLANE_PODS.items():
            name = f"{comp}-{master}"
            if self._exists(f"/api/v1/namespaces/kube-system/pods/{name}"):
                continue
            self.api("POST", "/api/v1/namespaces/kube-system/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system",
                             "labels": {"component": comp, "tier": "control-plane"},
                             "annotations": {"scheduler-lab.dev/stands-for":
                                             f"the local {comp} process (kubeadm runs it as a static pod here)"}},
                "spec": {"nodeName": master, "priorityClassName": "system-node-critical", "priority": 2000001000,
                         "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                         "containers": [{"name": comp, "image": f"registry.k8s.io/{comp}:{self.spec.versions.kubernetes}"
                                         if comp != "etcd" else "registry.k8s.io/etcd:3.5.10-0",
                                         "resources": {"requests": requests}}]},
            })

    def nodes_ready(self) -> tuple[int, list[str]]:
        """(ready count, problems) for the spec's nodes: Ready and without the not-ready taint."""
        items = {n["metadata"]["name"]: n for n in self.api("GET", "/api/v1/nodes").get("items", [])}
        ready, problems = 0, []
        for node in self.spec.nodes:
            n = items.get(node.name)
            if n is None:
                problems.append(f"{node.name}: not registered")
                continue
            cond = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
            taints = [t["key"] for t in n.get("spec", {}).get("taints", []) or []]
            if cond.get("Ready") != "True":
                problems.append(f"{node.name}: not Ready")
            elif "node.kubernetes.io/not-ready" in taints:
                problems.append(f"{node.name}: still tainted not-ready")
            else:
                ready += 1
        return ready, problems

    def _wait(self, what: str, check: Callable[[], tuple[bool, str]], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        detail = ""
        while time.monotonic() < deadline:
            done, detail = check()
            if done:
                return
            time.sleep(0.5)
        raise ProviderError(f"timed out after {timeout:.0f}s waiting for {what}: {detail}")

    # -- lifecycle -----------------------------------------------------------------------
    def up(self) -> Path:
        self.check_prerequisites()
        with labdir.recording(self.workdir):  # refuses a directory the lab did not make
            return self._up()

    def _up(self) -> Path:
        t0 = time.monotonic()
        step = [0]

        def say(msg: str) -> None:
            step[0] += 1
            self.say(f"[{step[0]:>2}] {time.monotonic() - t0:6.1f}s  {msg}")

        if all(self.healthy(c) for c in COMPONENTS) and self.kubeconfig.exists():
            say("the local lab is already up")
            return self.kubeconfig
        started: list[str] = []
        current = "build"
        try:
            say("checking the control-plane binaries")
            bins = ensure_binaries(self.spec, self.workdir / "logs", say=lambda m: self.say("       " + m))
            ports = self.ports()
            for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                if self.sup.pid(comp) is None and _port_in_use(ports[comp]):
                    raise ProviderError(
                        f"port {ports[comp]} for {comp} is taken by another program; run `lab down --wipe` "
                        f"to choose new ports")
            say("preparing certificates and kubeconfigs")
            self.pki.ensure(CLIENTS, serving_ips=["127.0.0.1"])
            self.pki.ensure_front_proxy()
            self.pki.ensure_serving("podrunner-kubelet", "scheduler-lab-nodes",
                                    [self.spec.node_address(i, "local") for i in range(len(self.spec.nodes))])
            for client in CLIENTS:
                self.write_kubeconfig(self._component_kubeconfig(client), client)
            commands = self._commands(bins)
            for comp in COMPONENTS:
                current = comp
                if self.sup.pid(comp) is None:
                    self._start(comp, commands[comp])
                    started.append(comp)
                if comp != "kwok":
                    self._wait_healthy(comp)
                say(f"{comp} running (pid {self.sup.pid(comp)})")
                if comp == "kube-apiserver":
                    self.write_kubeconfig(self.kubeconfig, "admin")
                    current = "kube-apiserver (node registration)"
                    self._register_nodes()
                    say(f"registered nodes {', '.join(n.name for n in self.spec.nodes)}")
            current = "kwok / kube-controller-manager (nodes Ready)"
            self._wait("four Ready nodes", lambda: (lambda r: (r[0] == len(self.spec.nodes), "; ".join(r[1])))(
                self.nodes_ready()))
            say(f"{len(self.spec.nodes)} nodes Ready")
            current = "kube-controller-manager (service accounts)"
            self._wait("the default ServiceAccount", lambda: (
                self._exists("/api/v1/namespaces/default/serviceaccounts/default"), "not created yet"))
            self._control_plane_pods()
            say("default ServiceAccount exists; control-plane pods recorded on master-node")
        except (ProviderError, OSError, KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - report and clean up
            comp = current.split()[0]
            tail = self.sup.tail(comp, 15) if comp in COMPONENTS or comp == "build" else ""
            if comp == "build":
                tail = self.sup.tail("build", 15)
            self.say(f"lab up failed at {current}: {exc}")
            if tail.strip():
                self.say(f"--- last lines of {self.sup.log_path(comp)} ---\n{tail.rstrip()}")
            self.say("stopping what was started ...")
            self.down(wipe=False)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ProviderError(f"lab up failed at {current}: {str(exc).splitlines()[0] if str(exc) else exc!r}") \
                from None
        state = self._state()
        state.update(provider="local", kubernetes=self.spec.versions.kubernetes, bin_dir=str(bins.bin_dir))
        self._save_state(state)
        self._link_bin(bins)
        say(f"lab is up in {time.monotonic() - t0:.1f}s")
        return self.kubeconfig

    def _start(self, comp: str, command: list[str]) -> None:
        if comp in RESTARTED:
            child = self.sup.run_dir / f"{comp}.child"
            command = [sys.executable, "-m", "lab.replica", "--name", comp, "--child-pid-file", str(child),
                       "--", *command]
        self.sup.start(comp, command, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})

    def restart(self, component: str) -> float:
        """Stop and start one control-plane component (same flags); seconds until healthy again."""
        if component not in COMPONENTS:
            raise ProviderError(f"restart: {component!r} is not one of {', '.join(COMPONENTS)}")
        bins = Binaries(Path(self._state()["bin_dir"]))
        t0 = time.monotonic()
        self.sup.stop(component, timeout=STOP_GRACE.get(component, 5.0))
        self._start(component, self._commands(bins)[component])
        if component != "kwok":
            self._wait_healthy(component)
        return time.monotonic() - t0

    def _link_bin(self, bins: Binaries) -> None:
        """.lab/bin holds the built kubectl and friends, for `export PATH=$PWD/.lab/bin:$PATH`."""
        link = self.workdir / "bin"
        if link.is_dir() and not link.is_symlink():
            # A kind lab in the same directory left its tool links there (kind, kubectl).
            entries = list(link.iterdir())
            if any(not e.is_symlink() for e in entries):
                raise ProviderError(f"{link} is a directory holding files, where the local lab links its "
                                    f"binaries: move it away")
            for entry in entries:
                entry.unlink()
            link.rmdir()
        elif link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(bins.bin_dir)

    def down(self, wipe: bool = False) -> None:
        """Stop the processes this lab recorded (nothing else); ``wipe`` deletes what its marker lists."""
        stopped, denied = [], []
        for comp in reversed(COMPONENTS):
            try:
                if self.sup.stop(comp, timeout=STOP_GRACE.get(comp, 5.0)):
                    stopped.append(comp)
            except SignalDenied as exc:
                denied.append(f"{comp}: {exc}")
        try:
            if stop_recorded(self.workdir / "podrunner" / "pods"):
                stopped.append("podrunner's pods")
        except SignalDenied as exc:
            denied.append(f"podrunner's pods: {exc}")
        try:
            stopped += self.sup.stop_all()  # anything else recorded
        except SignalDenied as exc:
            denied.append(str(exc))
        if stopped:
            self.say(f"stopped: {', '.join(stopped)}")
        if denied:
            raise ProviderError(f"lab down: {'; '.join(denied)}")
        if wipe:
            labdir.remove_owned(self.workdir, WIPED)
            self.say(f"wiped cluster state (logs kept in {self.workdir / 'logs'})")

    def status(self) -> ProviderStatus:
        comps = []
        bin_dir = self._state().get("bin_dir")
        versions = recorded_versions(Binaries(Path(bin_dir))) if bin_dir else {}
        for comp in COMPONENTS:
            pid = self.sup.pid(comp)
            version = versions.get("kube-apiserver" if comp.startswith("kube-") else comp, "")
            comps.append(ComponentStatus(comp, pid, pid is not None and self.healthy(comp), version))
        up = all(c.healthy for c in comps)
        return ProviderStatus(up=up, kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
                              components=comps)

    def binary_version(self, name: str) -> str:
        bin_dir = self._state().get("bin_dir")
        return version_of(Path(bin_dir) / name) if bin_dir else "?"
