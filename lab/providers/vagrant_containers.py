"""vagrant-containers: the Vagrant lab's provisioning, run for real without VirtualBox.

What Vagrant + VirtualBox would provide, this provider provides with Docker; everything inside the
machines is the project's own Vagrantfile and scripts, unchanged:

* the machines: one privileged systemd container per Vagrantfile machine (master-node,
  worker-node01..03), named and addressed as the Vagrantfile defines them (192.168.56.10-.13) on
  a Docker network that stands in for the host-only network. Docker is always the project's own
  dockerd in a network namespace of its own (lab/host/docker_netns.py), never the machine's Docker, so
  192.168.56.0/24 exists only in that namespace: nothing connects it to the host's network;
* the box: Debian bookworm from debootstrap with systemd, containerd and what a Vagrant box
  carries (a ``vagrant`` user, sudo, curl, gpg); the Debian mirror is not reachable inside the
  namespace, so the packages common.sh installs from the distribution are already in the box;
* the synced folder: the repository bind-mounted at /vagrant (two-way, as VirtualBox's);
* ``vagrant up``: the Vagrantfile is evaluated (lab/vagrant/vagrantfile_plan.rb) and every
  machine's shell provisioners run in order, as root, with the environment the Vagrantfile gives
  them (LAB_OFFLINE=1: the offline repository of lab/images/offline_apt.py), the master's first; the
  join command travels through /vagrant/.lab/vagrant/join.sh as with Vagrant.

Every name this creates on the host derives from the lab directory (:func:`vagrant_lab_id`): the
network namespace and its ``-host`` companion, the dockerd's sockets (under the lab directory, or
/run/<id> when that path is too long) and data root (in the lab directory). The containers, their
network and the box image exist only in that dockerd. Two checkouts' labs therefore never share a
name, and neither shares one with a kind lab of the same directory.

Then, like the vagrant provider: the kubeconfig the master wrote to .lab/kubeconfig, the Python
scheduler's image imported on every node, labels, taints, both schedulers. Its API server
(https://192.168.56.10:6443) is reachable only inside the namespace: ``lab exec -- CMD`` runs a
command there (kubectl, pytest).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.host import labdir
from lab.host.docker_netns import DockerEngine, lab_id, mounts_under
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.providers.plan import REPO_ROOT, SubprocessRunner, deploy_steps, node_label_steps
from lab.providers.vagrant import remove_shared
from lab.host.secretfile import write_secret
from lab.spec import LabSpec

# What this provider's host names start with; lab_id() adds the lab directory's name and hash.
LAB_ID_PREFIX = "scheduler-lab-vagrant"
# The host-only network's name and the box image (both only inside the project's dockerd).
NETWORK = "vagrant-hostonly"
BOX_IMAGE = "scheduler-lab/vagrant-box:bookworm"
GUEST_REPO = "/vagrant"
# Where Vagrant's shell provisioner uploads a script before running it.
GUEST_SCRIPT = "/tmp/vagrant-shell"
OFFLINE_DIR = Path(".lab") / "vagrant" / "offline"
PY_SCHEDULER_ARCHIVE = Path(".lab") / "vagrant" / "py-scheduler.tar"
BOOT_TIMEOUT = 120.0
# What a Vagrant box has and the scripts install from the distribution (apt-get install of an
# installed package is a no-op offline), plus what the kubelet and kube-proxy run.
BOX_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "sudo", "kmod", "iproute2", "iputils-ping", "iptables", "nftables",
    "conntrack", "ebtables", "ethtool", "socat", "util-linux", "mount", "procps", "less", "netbase",
    "ca-certificates", "curl", "gpg", "apt-transport-https", "jq", "containerd", "runc",
    "containernetworking-plugins", "findutils",
)


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


def vagrant_lab_id(workdir: Path) -> str:
    """This provider's name on the host for the lab in ``workdir`` (its network namespace; its
    companion ``<id>-host``; /run/<id> for sockets when the lab path is too long)."""
    return lab_id(workdir, prefix=LAB_ID_PREFIX)


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


class VagrantContainersProvider(Provider):
    name = "vagrant-containers"

    def __init__(self, spec: LabSpec, workdir: Path, *, repo_root: Path = REPO_ROOT,
                 say: Callable[[str], None] = print) -> None:
        super().__init__(spec, workdir)
        self.repo_root = repo_root
        self.say = say
        self.state = workdir / "vagrant-containers"
        self.log = workdir / "logs" / "vagrant-containers.log"
        # The Vagrantfile gets the offline switch: pkgs.k8s.io and registries are not reachable.
        self.vagrant_env = {**os.environ, "LAB_OFFLINE": "1"}

    @property
    def shared_kubeconfig(self) -> Path:
        return self.repo_root / ".lab" / "kubeconfig"

    def engine(self) -> DockerEngine:
        # The kind lab's Docker engine class (lab/host/docker_netns.py), with a namespace and data
        # root of this provider's own: a second dockerd in one namespace would take its bridge.
        return DockerEngine(self.state / "docker", self.state / "docker-data", netns=vagrant_lab_id(self.workdir))

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside the namespace, where 192.168.56.10:6443 is."""
        return self.engine().wrap(argv)

    def plan(self) -> VagrantfilePlan:
        return VagrantfilePlan.read(self.repo_root, self.vagrant_env)

    def check_prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise ProviderError("vagrant-containers: needs root (it starts dockerd in a network namespace of its own)")
        for tool, package in (("ruby", "ruby"), ("dockerd", "docker.io"), ("debootstrap", "debootstrap"),
                              ("dpkg-scanpackages", "dpkg-dev"), ("nsenter", "util-linux"), ("jq", "jq")):
            if shutil.which(tool) is None:
                raise ProviderError(f"vagrant-containers: {tool} not found — apt-get install {package}")
        plan = self.plan()
        names = [m.name for m in plan.machines]
        if names != [n.name for n in [self.spec.control_plane, *self.spec.workers]]:
            raise ProviderError(f"vagrant-containers: the Vagrantfile's machines {names} are not lab.yaml's nodes")

    # -- up ---------------------------------------------------------------------------------------
    def up(self) -> Path:
        # What appears in the lab directory and in the repository's .lab (shared with the machines)
        # is recorded, so --wipe may delete exactly that.
        with labdir.recording(self.workdir), labdir.recording(self.repo_root / ".lab", adopt=True):
            return self._up()

    def _up(self) -> Path:
        t_start = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        plan = self.plan()
        engine = self.engine()
        artifacts = self._artifacts()
        artifacts.ensure_box(BOX_IMAGE, BOX_PACKAGES)
        artifacts.ensure_offline_dir(self.repo_root / OFFLINE_DIR)
        docker = Docker(engine.env(), self.log)
        machines = Machines(docker, self.repo_root, plan, self.say)
        machines.ensure_network()
        quirk = ConntrackQuirk(docker, plan.machines[0].name)
        quirk.start()
        try:
            self._vagrant_up(plan, machines)
        finally:
            quirk.stop()
        if not quirk.done.is_set():
            raise ProviderError(f"vagrant-containers: could not set kube-proxy's conntrack.maxPerCore: {quirk.error}")
        self._collect_kubeconfig()
        self._link_kubectl(artifacts.bins())
        artifacts.ensure_py_scheduler(self.repo_root / PY_SCHEDULER_ARCHIVE)
        for machine in plan.machines:
            docker.run("exec", machine.name, "ctr", "-n", "k8s.io", "images", "import",
                       f"{plan.synced_folder}/{PY_SCHEDULER_ARCHIVE.as_posix()}",
                       what=f"importing the Python scheduler image on {machine.name}")
        kubectl = self._kubectl()
        runner = SubprocessRunner(engine.env())
        for step in node_label_steps(kubectl, self.spec, {n.name: n.name for n in self.spec.nodes}) + \
                deploy_steps(kubectl, self.repo_root):
            self.say(f"$ {step.render()}")
            runner(step)
        self.say(f"vagrant-containers: up in {time.monotonic() - t_start:.0f}s")
        return self.kubeconfig

    def _vagrant_up(self, plan: VagrantfilePlan, machines: Machines) -> None:
        """`vagrant up`: one machine after the other (definition order), booted, then provisioned
        (provisioners run on a machine's first up, and those marked run: always every time)."""
        for machine in plan.machines:
            t0 = time.monotonic()
            fresh = not machines.exists(machine.name)
            machines.create(machine)
            machines.wait_booted(machine.name)
            self.say(f"==> {machine.name}: booted ({machine.ip}) in {time.monotonic() - t0:.0f}s")
            for step in machine.provisioners:
                if fresh or step.run == "always":
                    machines.provision(machine, step)

    def _artifacts(self):
        from lab.images.vagrant_offline import OfflineArtifacts

        self.log.parent.mkdir(parents=True, exist_ok=True)
        engine = self.engine()
        # Always the project's dockerd: on the machine's Docker the host-only network (a private
        # range) and the machines' names would be on the host.
        engine.ensure(self.say, machine_docker=False)
        return OfflineArtifacts(self.spec, self.repo_root, engine, self.log, self.say)

    def prepare(self) -> Path:
        """The box and .lab/vagrant/offline, without starting machines (`lab build --vagrant-offline`)."""
        artifacts = self._artifacts()
        artifacts.ensure_box(BOX_IMAGE, BOX_PACKAGES)
        return artifacts.ensure_offline_dir(self.repo_root / OFFLINE_DIR)

    def _link_kubectl(self, bins: Path) -> None:
        """The lab's own kubectl v1.29.15 in .lab/bin (the multi-call binary, by its name), which
        `lab deploy`, `lab kill-leader` and the e2e suite use."""
        # A copy, not a link: a cache directory may be pruned while the lab is up.
        target = self.workdir / "bin" / "kubectl"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(bins / "k8s", partial)
        partial.rename(target)

    def _kubectl(self) -> tuple[str, ...]:
        return tuple(self.wrap([str(self.workdir / "bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig)]))

    def _collect_kubeconfig(self) -> None:
        if not self.shared_kubeconfig.exists():
            raise ProviderError(f"vagrant-containers: {self.shared_kubeconfig} was not written by master.sh")
        if self.shared_kubeconfig.resolve() != self.kubeconfig.resolve():
            write_secret(self.kubeconfig, self.shared_kubeconfig.read_bytes())

    # -- down / status ----------------------------------------------------------------------------
    def down(self, wipe: bool = False) -> None:
        engine = self.engine()
        if not engine.managed:
            return
        docker = Docker(engine.env(), self.log)
        machines = Machines(docker, self.repo_root, self.plan(), self.say)
        if wipe:
            machines.destroy()
            # What the machines shared (join command, offline repository, image archives), the
            # kubeconfig the master wrote, and this provider's dockerd with its data root: the
            # next `up` starts as from a clean clone (the caches in ~/.cache/scheduler-lab stay).
            remove_shared(self.repo_root / ".lab", ["vagrant", self.shared_kubeconfig.name], self.say)
            left = engine.stop(self.say)
            if left:
                raise ProviderError(f"vagrant-containers: still there after stopping the lab's dockerd: "
                                    f"{', '.join(left)}")
            # A dockerd that died uncleanly leaves overlay mounts in its data root: deleting
            # through them is refused (the lab's dockerd is gone, so they are stale).
            mounted = mounts_under(self.state)
            if mounted:
                raise ProviderError(f"vagrant-containers: not wiping {self.state}: {mounted[0]} is still mounted "
                                    "(umount it, then rerun)")
            labdir.remove_owned(self.workdir, [self.state.name])
        else:
            for m in machines.plan.machines:
                if machines.running(m.name):
                    docker.run("stop", m.name, what=f"stopping {m.name}")

    def status(self) -> ProviderStatus:
        engine = self.engine()
        if not engine.managed or not engine.usable():
            return ProviderStatus(up=False, kubeconfig=None, detail="the project's dockerd is not running")
        docker = Docker(engine.env(), self.log)
        machines = Machines(docker, self.repo_root, self.plan(), self.say)
        components = [ComponentStatus(name=f"machine {m.name}", pid=None, healthy=machines.running(m.name),
                                      detail=m.ip) for m in machines.plan.machines]
        up = all(c.healthy for c in components) and self.kubeconfig.exists()
        return ProviderStatus(up=up, kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
                              components=components,
                              detail="all machines running" if up else "not all machines are running")


if __name__ == "__main__":  # pragma: no cover - debugging aid: print the plan
    print(json.dumps([m.__dict__ for m in VagrantfilePlan.read(REPO_ROOT, dict(os.environ)).machines],
                     default=str, indent=1), file=sys.stdout)
