"""Vagrant provider: the lab as four VirtualBox VMs made with kubeadm (the original lab's shape).

``master-node`` and ``worker-node01..03`` on the host-only network (addresses from lab/lab.yaml,
192.168.56.10-.13), Ubuntu 22.04, containerd, kubeadm/kubelet/kubectl pinned to
``versions.kubernetes`` from pkgs.k8s.io, Calico. The top-level Vagrantfile and
lab/vagrant/*.sh do the provisioning; this class wraps them:

1. ``vagrant up`` (brings up the master first; it writes .lab/kubeconfig and a fresh join
   command; the workers join).
2. Build the Python scheduler's image on the master with buildah (lab/vagrant/build-image.sh:
   no Docker needed anywhere) and ``ctr images import`` it on every node.
3. Label and taint the nodes as lab.yaml says, apply both schedulers' manifests and wait for the
   two 2-replica Deployments (the same steps as the kind provider).

``down`` halts the VMs; ``down(wipe=True)`` destroys them. Unlike kind, node names are the lab's
own names; each node still gets the ``scheduler-lab.dev/name`` label, so tests work the same.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Callable

from lab.host import labdir
from lab.host.secretfile import write_secret
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.providers.plan import REPO_ROOT, Runner, Step, SubprocessRunner, deploy_steps, node_label_steps
from lab.providers.tools import find_tool, parse_version
from lab.spec import LabSpec

# Oldest versions this was written against: Vagrant's shell provisioner `env`, VirtualBox with the
# 192.168.56.0/21 host-only default range (6.1.28+).
MIN_VAGRANT = (2, 3, 0)
MIN_VIRTUALBOX = (6, 1, 28)
VIRTUALBOX_DEFAULT_HOST_ONLY = ipaddress.ip_network("192.168.56.0/21")
# Inside the VMs: the repository is shared at /vagrant.
GUEST_REPO = "/vagrant"
GUEST_IMAGE_ARCHIVE = f"{GUEST_REPO}/.lab/vagrant/py-scheduler.tar"


def _plain_version(text: str) -> tuple[int, int, int] | None:
    """'Vagrant 2.4.1' / '7.0.18r162988' -> (2, 4, 1) / (7, 0, 18)."""
    return parse_version("v" + text.strip().split()[-1]) if text.strip() else None


class VagrantPlan:
    """The commands `up` runs, in order (readable and testable without VirtualBox)."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    @property
    def commands(self) -> list[list[str]]:
        return [list(s.argv) for s in self.steps]

    def render(self) -> str:
        return "\n".join(f"$ {s.render()}    # {s.why}" for s in self.steps)


class VagrantProvider(Provider):
    name = "vagrant"

    def __init__(self, spec: LabSpec, workdir: Path, *, repo_root: Path = REPO_ROOT,
                 env: dict[str, str] | None = None, runner: Runner | None = None,
                 say: Callable[[str], None] = print) -> None:
        super().__init__(spec, workdir)
        self.repo_root = repo_root
        # Every vagrant command finds the Vagrantfile through VAGRANT_CWD, whatever the cwd.
        self.env = {**(os.environ if env is None else env), "VAGRANT_CWD": str(repo_root)}
        self.run: Runner = runner or SubprocessRunner(self.env)
        self.say = say

    @property
    def shared_kubeconfig(self) -> Path:
        """Where master.sh writes the admin kubeconfig (/vagrant/.lab/kubeconfig in the VM)."""
        return self.repo_root / ".lab" / "kubeconfig"

    def vagrant_binary(self) -> str | None:
        return find_tool("vagrant", self.env, "LAB_VAGRANT_BIN")

    def vboxmanage_binary(self) -> str | None:
        return find_tool("VBoxManage", self.env, "LAB_VBOXMANAGE_BIN")

    def kubectl_binary(self) -> str | None:
        return find_tool("kubectl", self.env, "LAB_KUBECTL_BIN", [self.workdir / "bin"])

    def _vagrant(self) -> str:
        return self.vagrant_binary() or "vagrant"

    def _kubectl(self) -> tuple[str, ...]:
        return (self.kubectl_binary() or "kubectl", "--kubeconfig", str(self.kubeconfig))

    # -- prerequisites ------------------------------------------------------------------------
    def check_prerequisites(self) -> None:
        for label, binary, minimum, fix in (
            ("vagrant", self.vagrant_binary(), MIN_VAGRANT,
             "install Vagrant 2.3+ (https://developer.hashicorp.com/vagrant/install) or set LAB_VAGRANT_BIN"),
            ("VBoxManage", self.vboxmanage_binary(), MIN_VIRTUALBOX,
             "install VirtualBox 6.1.28+ (https://www.virtualbox.org/wiki/Downloads) or set LAB_VBOXMANAGE_BIN"),
        ):
            if binary is None:
                raise ProviderError(f"vagrant provider: {label} not found on PATH — {fix}")
            out = self.run(Step((binary, "--version"), f"read the {label} version"), check=False, timeout=60)
            found = _plain_version(out.stdout) if out.returncode == 0 else None
            if found is None:
                raise ProviderError(f"vagrant provider: `{binary} --version` failed "
                                    f"({(out.stderr or out.stdout).strip()[:120] or out.returncode}) — {fix}")
            if found < minimum:
                raise ProviderError(f"vagrant provider: {label} {'.'.join(map(str, found))} is older than "
                                    f"{'.'.join(map(str, minimum))} — {fix}")
        if self.kubectl_binary() is None:
            raise ProviderError(f"vagrant provider: kubectl not found on PATH — install kubectl "
                                f"{self.spec.versions.kubernetes_minor}.x (it deploys the schedulers from "
                                "this machine) or set LAB_KUBECTL_BIN")
        base = ipaddress.ip_address(self.spec.vagrant_node_address_base)
        last = base + len(self.spec.nodes) - 1
        if base not in VIRTUALBOX_DEFAULT_HOST_ONLY or last not in VIRTUALBOX_DEFAULT_HOST_ONLY:
            raise ProviderError(f"vagrant provider: {self.spec.source}: networking.vagrant.nodeAddressBase "
                                f"{base} is outside VirtualBox's default host-only range "
                                f"{VIRTUALBOX_DEFAULT_HOST_ONLY} — use 192.168.56.x or allow the range in "
                                "/etc/vbox/networks.conf")

    # -- the plan ---------------------------------------------------------------------------------
    def plan(self) -> VagrantPlan:
        vagrant, kubectl = self._vagrant(), self._kubectl()
        master = self.spec.control_plane.name
        steps = [Step((vagrant, "up"), "create and provision the VMs (master first, then the workers)",
                      stream=True),
                 Step((vagrant, "ssh", master, "-c", f"sudo bash {GUEST_REPO}/lab/vagrant/build-image.sh"),
                      "build the Python scheduler image on the master with buildah", stream=True)]
        steps += [Step((vagrant, "ssh", node.name, "-c",
                        f"sudo ctr -n k8s.io images import {GUEST_IMAGE_ARCHIVE}"),
                       f"load the Python scheduler image into containerd on {node.name}", stream=True)
                  for node in self.spec.nodes]
        # Vagrant node names are the lab's names.
        steps += node_label_steps(kubectl, self.spec, {n.name: n.name for n in self.spec.nodes})
        steps += deploy_steps(kubectl, self.repo_root)
        return VagrantPlan(steps)

    # -- up / down / status -----------------------------------------------------------------------
    def up(self) -> Path:
        # The repository's .lab is shared with the machines (they write the kubeconfig and the join
        # command there): what appears in it is recorded too, so --wipe may delete exactly that.
        with labdir.recording(self.workdir), labdir.recording(self.repo_root / ".lab", adopt=True):
            return self._up()

    def _up(self) -> Path:
        plan = self.plan()
        vagrant_up, rest = plan.steps[0], plan.steps[1:]
        self.say(f"$ {vagrant_up.render()}")
        self.run(vagrant_up)
        self._collect_kubeconfig()
        for step in rest:
            self.say(f"$ {step.render()}")
            self.run(step)
        return self.kubeconfig

    def _collect_kubeconfig(self) -> None:
        """master.sh leaves the kubeconfig in the repository's .lab/; the lab's workdir may differ."""
        if not self.shared_kubeconfig.exists():
            raise ProviderError(f"vagrant provider: {self.shared_kubeconfig} was not written by the master's "
                                "provisioning — see `vagrant up` output above, then `vagrant provision "
                                f"{self.spec.control_plane.name}`")
        if self.shared_kubeconfig.resolve() != self.kubeconfig.resolve():
            write_secret(self.kubeconfig, self.shared_kubeconfig.read_bytes())

    def down(self, wipe: bool = False) -> None:
        vagrant = self.vagrant_binary()
        if vagrant is None:
            raise ProviderError("vagrant provider: vagrant not found on PATH, so nothing was stopped — install "
                                "Vagrant or stop the VMs in VirtualBox")
        if wipe:
            self.run(Step((vagrant, "destroy", "--force"), "destroy the VMs", stream=True))
            # The join command and the image archive the VMs shared with the host.
            remove_shared(self.repo_root / ".lab", ["vagrant"], self.say)
        else:
            self.run(Step((vagrant, "halt"), "stop the VMs (vagrant up starts them again)", stream=True))

    def status(self) -> ProviderStatus:
        vagrant = self.vagrant_binary()
        if vagrant is None:
            return ProviderStatus(up=False, kubeconfig=None, detail="vagrant is not installed")
        try:
            out = self.run(Step((vagrant, "status", "--machine-readable"), "read the VMs' state"),
                           check=False, timeout=120)
        except ProviderError as exc:
            return ProviderStatus(up=False, kubeconfig=None, detail=str(exc))
        states = parse_machine_states(out.stdout)
        components = [ComponentStatus(name=f"vm {node.name}", pid=None,
                                      healthy=states.get(node.name) == "running",
                                      detail=states.get(node.name, "not created"))
                      for node in self.spec.nodes]
        up = all(c.healthy for c in components)
        return ProviderStatus(up=up, kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
                              components=components,
                              detail="all VMs running" if up else "not all VMs are running")


def remove_shared(shared: Path, names: list[str], say: Callable[[str], None]) -> None:
    """Delete what the machines left in the repository's .lab, if the lab recorded making it."""
    try:
        labdir.remove_owned(shared, names)
    except labdir.NotALabDirectory as exc:
        say(f"left {', '.join(names)} in place: {exc}")


def parse_machine_states(machine_readable: str) -> dict[str, str]:
    """`vagrant status --machine-readable` lines 'timestamp,target,type,data...' -> {target: state}."""
    states = {}
    for line in machine_readable.splitlines():
        parts = line.split(",")
        if len(parts) >= 4 and parts[2] == "state" and parts[1]:
            states[parts[1]] = parts[3]
    return states
