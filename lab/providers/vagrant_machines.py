"""The Vagrant lab's machines as systemd containers in the project's own dockerd: the Vagrantfile's
plan (read by lab/vagrant/vagrantfile_plan.rb), the machines on the host-only network, their shell
provisioners run in order, and kube-proxy's conntrack quirk inside a container.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.providers.base import ProviderError

# The host-only network's name and the box image (both only inside the project's dockerd).
NETWORK = "vagrant-hostonly"
BOX_IMAGE = "scheduler-lab/vagrant-box:bookworm"
GUEST_REPO = "/vagrant"
# Where Vagrant's shell provisioner uploads a script before running it.
GUEST_SCRIPT = "/tmp/vagrant-shell"
BOOT_TIMEOUT = 120.0


class _NotYet(Exception):
    """A polled condition is not reached yet."""


@dataclass(frozen=True)
class ShellProvisioner:
    name: str
    path: str
    env: dict[str, str]
    run: str = "once"


@dataclass(frozen=True)
class Machine:
    name: str
    hostname: str
    ip: str
    provisioners: tuple[ShellProvisioner, ...]
    cpus: int | None = None  # the VirtualBox VM's size (vb.cpus, vb.memory in MiB)
    memory_mib: int | None = None


@dataclass(frozen=True)
class VagrantfilePlan:
    """What ``vagrant up`` would do, read from the Vagrantfile itself."""

    machines: tuple[Machine, ...]
    synced_folder: str

    @classmethod
    def from_json(cls, data: dict) -> "VagrantfilePlan":
        machines = []
        for m in data["machines"]:
            ips = [n["ip"] for n in m["networks"] if n["type"] == "private_network"]
            if len(ips) != 1:
                raise ProviderError(f"vagrant-containers: machine {m['name']} needs exactly one private_network ip")
            steps = tuple(ShellProvisioner(p["name"], p["path"], {k: str(v) for k, v in (p.get("env") or {}).items()},
                                           p.get("run", "once"))
                          for p in m["provisioners"] if p.get("type") == "shell")
            vm = (m.get("providers") or {}).get("virtualbox") or {}
            machines.append(Machine(m["name"], m.get("hostname") or m["name"], ips[0], steps,
                                    _int_or_none(vm.get("cpus")), _int_or_none(vm.get("memory"))))
        folders = [f["target"] for f in data["synced_folders"] if f["source"] == "."]
        return cls(tuple(machines), folders[0] if folders else GUEST_REPO)

    @classmethod
    def read(cls, repo_root: Path, env: dict[str, str]) -> "VagrantfilePlan":
        ruby = shutil.which("ruby", path=env.get("PATH"))
        if ruby is None:
            raise ProviderError("vagrant-containers: ruby is needed to read the Vagrantfile (apt-get install ruby)")
        proc = subprocess.run([ruby, "lab/vagrant/vagrantfile_plan.rb", "Vagrantfile"], cwd=repo_root,
                              capture_output=True, text=True, env=env, timeout=60)
        if proc.returncode != 0:
            # Ruby prints the error first, then the backtrace.
            first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
            raise ProviderError(f"vagrant-containers: the Vagrantfile did not evaluate: {first}")
        return cls.from_json(json.loads(proc.stdout))


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# A container sees the host's CPUs and memory where a VM sees its own (vb.cpus, vb.memory), and
# scoring (MostAllocated, BalancedAllocation) reads allocatable. The machine layer therefore gives
# the kubelet a systemReserved of the difference, in a drop-in sorted after kubeadm's 10-kubeadm.conf
# that the provisioning scripts never touch. The kubelet's default memory.available<100Mi eviction
# threshold still applies, as in a VM.
VM_SIZE_DROPIN = "/etc/systemd/system/kubelet.service.d/20-vm-size.conf"


def vm_size_dropin(machine: Machine, host_cpus: int, host_memory_bytes: int) -> str | None:
    """The kubelet drop-in that makes a container's node as large as the Vagrantfile's VM, or None."""
    reserved = []
    if machine.cpus and host_cpus > machine.cpus:
        reserved.append(f"cpu={(host_cpus - machine.cpus) * 1000}m")
    if machine.memory_mib and host_memory_bytes > machine.memory_mib * 2**20:
        reserved.append(f"memory={(host_memory_bytes - machine.memory_mib * 2**20) // 2**20}Mi")
    if not reserved:
        return None
    return ("# scheduler-lab vagrant-containers: the VM's size (Vagrantfile vb.cpus / vb.memory)\n[Service]\n"
            "ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS "
            f"$KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS --system-reserved={','.join(reserved)}\n")


class Docker:
    """The docker CLI against the project's dockerd (DOCKER_HOST from the engine)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log

    def run(self, *args: str, what: str, capture: bool = True, input_bytes: bytes | None = None) -> str:
        with open(self.log, "a") as out:
            out.write(f"\n$ docker {' '.join(args)}\n")
            out.flush()
            proc = subprocess.run(["docker", *args], env=self.env, input=input_bytes,
                                  stdin=None if input_bytes is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if capture else out, stderr=out)
        if proc.returncode != 0:
            raise ProviderError(f"vagrant-containers: {what} failed (docker {args[0]}, exit {proc.returncode}); "
                                f"see {self.log}")
        return proc.stdout.decode(errors="replace") if capture else ""

    def ok(self, *args: str) -> bool:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True).returncode == 0


class Machines:
    """The VM layer: systemd containers on the host-only network, the repository at /vagrant."""

    def __init__(self, docker: Docker, repo_root: Path, plan: VagrantfilePlan, say: Callable[[str], None]) -> None:
        self.docker = docker
        self.repo_root = repo_root
        self.plan = plan
        self.say = say

    def subnet(self) -> tuple[str, str]:
        """The /24 of the machines' addresses and its .1 (the gateway address Docker takes)."""
        first = self.plan.machines[0].ip.rsplit(".", 1)[0]
        return f"{first}.0/24", f"{first}.1"

    def ensure_network(self) -> None:
        if self.docker.ok("network", "inspect", NETWORK):
            return
        subnet, gateway = self.subnet()
        # Not --internal: that drops every packet whose source or destination is outside the
        # subnet, i.e. pod traffic routed between the machines (10.244.x.y), which VirtualBox's
        # host-only network carries. Nothing leaves anyway: the namespace has no way out.
        self.docker.run("network", "create", "--subnet", subnet, "--gateway", gateway, NETWORK,
                        what=f"creating the host-only network {subnet}")

    def exists(self, name: str) -> bool:
        return self.docker.ok("container", "inspect", name)

    def running(self, name: str) -> bool:
        out = subprocess.run(["docker", "container", "inspect", "-f", "{{.State.Running}}", name],
                             env=self.docker.env, capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.strip() == "true"

    def create(self, machine: Machine) -> None:
        if self.exists(machine.name):
            if not self.running(machine.name):
                self.docker.run("start", machine.name, what=f"starting {machine.name}")
            return
        self.docker.run(
            "run", "-d", "--name", machine.name, "--hostname", machine.hostname,
            "--network", NETWORK, "--ip", machine.ip,
            # systemd as PID 1 with its own cgroups, mounts and devices, as in a VM (kind's flags).
            "--privileged", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--tmpfs", "/tmp:rw,exec,mode=1777", "--tmpfs", "/run", "--volume", "/var",
            "--volume", f"{self.repo_root}:{self.plan.synced_folder}",
            "--label", "scheduler-lab.dev/vagrant-machine=" + machine.name,
            BOX_IMAGE, what=f"creating machine {machine.name}")
        info = json.loads(self.docker.run("info", "--format", "{{json .}}", what="reading the engine's CPUs and memory"))
        dropin = vm_size_dropin(machine, int(info["NCPU"]), int(info["MemTotal"]))
        if dropin:
            self.docker.run("exec", "-i", machine.name, "sh", "-c",
                            f"mkdir -p {VM_SIZE_DROPIN.rsplit('/', 1)[0]} && cat > {VM_SIZE_DROPIN}",
                            what=f"sizing {machine.name} like its VM", input_bytes=dropin.encode())

    def wait_booted(self, name: str, timeout: float = BOOT_TIMEOUT) -> str:
        """Poll systemd until it has finished booting (running, or degraded: some unit failed)."""
        try:
            for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.5),
                                    retry=retry_if_exception_type(_NotYet), reraise=True):
                with attempt:
                    if not self.running(name):
                        logs = subprocess.run(["docker", "logs", "--tail", "1", name], env=self.docker.env,
                                              capture_output=True, text=True)
                        last = (logs.stdout + logs.stderr).strip().splitlines()[-1:] or ["no output"]
                        raise ProviderError(f"vagrant-containers: {name} stopped while booting: {last[0]}")
                    out = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                                         env=self.docker.env, capture_output=True, text=True)
                    state = out.stdout.strip()
                    if state not in ("running", "degraded"):
                        raise _NotYet(state)
                    return state
        except _NotYet as exc:
            raise ProviderError(f"vagrant-containers: {name} did not finish booting in {timeout:.0f}s "
                                f"(systemd: {exc})") from None
        raise AssertionError("unreachable")

    def provision(self, machine: Machine, step: ShellProvisioner) -> None:
        """Vagrant's shell provisioner: upload the script, run it as root with its env."""
        script = self.repo_root / step.path
        # Through exec, not `docker cp`: /tmp is a tmpfs, which `docker cp` cannot write into.
        self.docker.run("exec", "-i", machine.name, "sh", "-c", f"cat > {GUEST_SCRIPT}", what=f"uploading {step.path}",
                        input_bytes=script.read_bytes())
        argv = ["docker", "exec"]
        for key, value in step.env.items():
            argv += ["-e", f"{key}={value}"]
        argv += [machine.name, "bash", "-c", f"chmod +x {GUEST_SCRIPT} && {GUEST_SCRIPT}"]
        t0 = time.monotonic()
        self.say(f"==> {machine.name}: Running provisioner: {step.name} (shell)...")
        with subprocess.Popen(argv, env=self.docker.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, stdin=subprocess.DEVNULL) as proc, open(self.docker.log, "a") as log:
            assert proc.stdout is not None
            for line in proc.stdout:
                # Vagrant prefixes each line of a provisioner's output with the machine's name.
                self.say(f"    {machine.name}: {line.rstrip()}")
                log.write(f"{machine.name}: {line}")
        if proc.returncode != 0:
            raise ProviderError(f"vagrant-containers: provisioner {step.name} ({step.path}) failed on {machine.name} "
                                f"(exit {proc.returncode}); its output is above and in {self.docker.log}")
        self.say(f"==> {machine.name}: {step.name} done in {time.monotonic() - t0:.0f}s")

    def destroy(self) -> None:
        for machine in self.plan.machines:
            if self.exists(machine.name):
                self.docker.run("rm", "-f", "-v", machine.name, what=f"destroying {machine.name}")
        if self.docker.ok("network", "inspect", NETWORK):
            self.docker.run("network", "rm", NETWORK, what="removing the host-only network")


# kube-proxy raises nf_conntrack_max to 32768 per core (min 131072) unless it already has that
# value; only the host's initial network namespace may write it, so in a machine container
# kube-proxy exits ("open /proc/sys/net/netfilter/nf_conntrack_max: permission denied") and
# nothing reaches the API's Service address. A VM has its own kernel and never hits this.
# maxPerCore: 0 leaves the kernel's value alone (kind configures kube-proxy the same way).
CONNTRACK_PATCH = (
    "export KUBECONFIG=/etc/kubernetes/admin.conf; "
    "test -f $KUBECONFIG && cm=$(kubectl -n kube-system get configmap kube-proxy -o yaml 2>/dev/null) || exit 3; "
    "printf '%s\\n' \"$cm\" | grep -q 'maxPerCore: 0' && exit 0; "
    "printf '%s\\n' \"$cm\" | sed 's/maxPerCore: null/maxPerCore: 0/' | kubectl replace -f - >/dev/null && "
    "kubectl -n kube-system delete pod -l k8s-app=kube-proxy --wait=false >/dev/null"
)


class ConntrackQuirk(threading.Thread):
    """Beside the master's provisioning: once kubeadm has made kube-proxy's ConfigMap, set
    conntrack.maxPerCore to 0 (see CONNTRACK_PATCH). The scripts are not changed for it."""

    def __init__(self, docker: Docker, master: str, timeout: float = 900.0) -> None:
        super().__init__(name="conntrack-quirk", daemon=True)
        self.docker = docker
        self.master = master
        self.timeout = timeout
        self.done = threading.Event()
        self.stop_asked = threading.Event()
        self.error = ""

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.stop_asked.is_set() and time.monotonic() < deadline:
            out = subprocess.run(["docker", "exec", self.master, "sh", "-c", CONNTRACK_PATCH], env=self.docker.env,
                                 capture_output=True, text=True)
            if out.returncode == 0:
                self.done.set()
                return
            if out.returncode != 3:
                self.error = (out.stderr.strip().splitlines() or [str(out.returncode)])[-1]
            # The poll interval of a background fix-up, not a synchronisation: stop() ends it.
            self.stop_asked.wait(2.0)
        if not self.done.is_set() and not self.error:
            self.error = "kube-proxy's ConfigMap never appeared"

    def stop(self) -> None:
        self.stop_asked.set()
        self.join()
