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

The machines themselves (the Vagrantfile's plan, the containers, the provisioners) are
lab/providers/vagrant_machines.py.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from lab.host import labdir
from lab.host.docker_netns import DockerEngine, lab_id, mounts_under
from lab.host.secretfile import write_secret
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.providers.plan import REPO_ROOT, SubprocessRunner, deploy_steps, node_label_steps
from lab.providers.vagrant import remove_shared
from lab.providers.vagrant_machines import BOX_IMAGE, ConntrackQuirk, Docker, Machines, VagrantfilePlan
from lab.spec import LabSpec

# What this provider's host names start with; lab_id() adds the lab directory's name and hash.
LAB_ID_PREFIX = "scheduler-lab-vagrant"
OFFLINE_DIR = Path(".lab") / "vagrant" / "offline"
PY_SCHEDULER_ARCHIVE = Path(".lab") / "vagrant" / "py-scheduler.tar"
# What a Vagrant box has and the scripts install from the distribution (apt-get install of an
# installed package is a no-op offline), plus what the kubelet and kube-proxy run.
BOX_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "sudo", "kmod", "iproute2", "iputils-ping", "iptables", "nftables",
    "conntrack", "ebtables", "ethtool", "socat", "util-linux", "mount", "procps", "less", "netbase",
    "ca-certificates", "curl", "gpg", "apt-transport-https", "jq", "containerd", "runc",
    "containernetworking-plugins", "findutils",
)


def vagrant_lab_id(workdir: Path) -> str:
    """This provider's name on the host for the lab in ``workdir`` (its network namespace; its
    companion ``<id>-host``; /run/<id> for sockets when the lab path is too long)."""
    return lab_id(workdir, prefix=LAB_ID_PREFIX)


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
