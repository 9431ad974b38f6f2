"""A local apt repository of Debian packages made from files on disk (dpkg-deb, no debhelper).

The Vagrant lab's offline mode (lab/vagrant/offline/README.md) installs kubeadm, kubelet,
kubectl, cri-tools and kubernetes-cni from such a repository with the same ``apt-get install
kubelet=1.29.15-1.1 ...`` line it uses against pkgs.k8s.io, so the provisioning scripts take the
same path online and offline; only the ``sources.list.d`` line differs.

The repository is "flat" (``deb [trusted=yes] file:/dir ./``): ``Packages`` from
``dpkg-scanpackages`` and a ``Release`` listing its checksums, so apt reads it without warnings.
"""
from __future__ import annotations

import email.utils
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab.spec import LabSpec

HERE = Path(__file__).resolve().parents[1] / "vagrant" / "offline"
MAINTAINER = "scheduler-lab <scheduler-lab@invalid>"
# pkgs.k8s.io's package revision for v1.29 ("1.29.15-1.1"); lab/vagrant/settings.yaml pins it.
REVISION = "1.1"
# What the box carries (Debian bookworm's containernetworking-plugins) and the only cri-tools
# release the Go module proxy serves (lab/images/kindimage/versions.py CRICTL).
CNI_VERSION = "1.1.1"


class AptRepoError(RuntimeError):
    """The repository could not be built; str() is one line."""


@dataclass(frozen=True)
class DebPackage:
    """One binary package: ``files`` maps a path in the installed system to a file on disk;
    ``links`` a path to its symlink target."""

    name: str
    version: str
    description: str
    depends: tuple[str, ...] = ()
    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    executables: frozenset[str] = frozenset()

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_amd64.deb"

    def control(self, installed_kib: int) -> str:
        lines = [f"Package: {self.name}", f"Version: {self.version}", "Architecture: amd64",
                 f"Maintainer: {MAINTAINER}", f"Installed-Size: {installed_kib}", "Section: misc",
                 "Priority: optional", "Homepage: https://kubernetes.io"]
        if self.depends:
            lines.append(f"Depends: {', '.join(self.depends)}")
        summary, _, body = self.description.partition("\n")
        lines.append(f"Description: {summary}")
        lines += [f" {line}" if line else " ." for line in body.splitlines()]
        return "\n".join(lines) + "\n"


def kubernetes_packages(spec: LabSpec, bins: Path) -> list[DebPackage]:
    """The packages common.sh installs, from the lab's binaries in ``bins`` (gobins.py's dir)."""
    version = f"{spec.versions.kubernetes.lstrip('v')}-{REVISION}"
    # Dependencies as upstream's packages (kubernetes/release's templates) state them, with the
    # floors our own kubernetes-cni and cri-tools satisfy.
    return [
        DebPackage("kubelet", version, "Node agent for Kubernetes clusters\n"
                   "Built by scheduler-lab from k8s.io/kubernetes " + spec.versions.kubernetes + ".",
                   depends=("iptables (>= 1.4.21)", f"kubernetes-cni (>= {CNI_VERSION})", "iproute2", "socat",
                            "util-linux", "mount", "ebtables", "ethtool", "conntrack"),
                   files={"usr/bin/kubelet": bins / "kubelet",
                          "usr/lib/systemd/system/kubelet.service": HERE / "kubelet.service",
                          "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": HERE / "10-kubeadm.conf"},
                   executables=frozenset({"usr/bin/kubelet"})),
        DebPackage("kubeadm", version, "Command-line utility for administering a Kubernetes cluster\n"
                   "Built by scheduler-lab from k8s.io/kubernetes " + spec.versions.kubernetes + ".",
                   depends=("kubelet (>= 1.19.0)", "kubectl (>= 1.19.0)", f"kubernetes-cni (>= {CNI_VERSION})",
                            "cri-tools (>= 1.28.0)"),
                   files={"usr/bin/kubeadm": bins / "kubeadm"}, executables=frozenset({"usr/bin/kubeadm"})),
        # The local lab's multi-call binary runs kubectl when started under that name.
        DebPackage("kubectl", version, "Command-line utility for interacting with a Kubernetes cluster\n"
                   "The scheduler-lab multi-call binary (k8s.io/kubernetes " + spec.versions.kubernetes + ").",
                   files={"usr/bin/kubectl": bins / "k8s"}, executables=frozenset({"usr/bin/kubectl"})),
        DebPackage("cri-tools", f"{_crictl_version()}-{REVISION}",
                   "Command-line utility for interacting with a container runtime\n"
                   "crictl, built by scheduler-lab from sigs.k8s.io/cri-tools.",
                   files={"usr/bin/crictl": bins / "crictl"}, executables=frozenset({"usr/bin/crictl"})),
        DebPackage("kubernetes-cni", f"{CNI_VERSION}-lab", "Binaries required to provision kubernetes container "
                   "networking\nLinks in /opt/cni/bin to Debian's containernetworking-plugins.",
                   depends=(f"containernetworking-plugins (>= {CNI_VERSION})",),
                   links={f"opt/cni/bin/{p}": f"/usr/lib/cni/{p}" for p in
                          ("bridge", "host-local", "loopback", "portmap", "ptp", "bandwidth", "firewall",
                           "host-device", "ipvlan", "macvlan", "static", "tuning", "vlan", "vrf", "dhcp")}),
    ]


def _crictl_version() -> str:
    from lab.images.kindimage import versions

    return versions.CRICTL.lstrip("v")


class AptRepo:
    """A flat repository in ``root``: one .deb per package, Packages and Release."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def build(self, packages: list[DebPackage]) -> Path:
        for tool in ("dpkg-deb", "dpkg-scanpackages"):
            if shutil.which(tool) is None:
                raise AptRepoError(f"{tool} is needed to build the offline apt repository (apt-get install dpkg-dev)")
        missing = [str(src) for p in packages for src in p.files.values() if not src.is_file()]
        if missing:
            raise AptRepoError(f"offline apt repository: missing input {missing[0]}")
        self.root.mkdir(parents=True, exist_ok=True)
        for old in self.root.glob("*.deb"):
            old.unlink()
        for package in packages:
            self._build_one(package)
        index = subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=self.root,
                               capture_output=True, text=True, check=True).stdout
        (self.root / "Packages").write_text(index)
        self._release()
        return self.root

    def _build_one(self, package: DebPackage) -> None:
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            tree = Path(tmp) / package.name
            size = 0
            for dest, src in package.files.items():
                target = tree / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
                target.chmod(0o755 if dest in package.executables else 0o644)
                size += target.stat().st_size
            for dest, link in package.links.items():
                target = tree / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(link)
            for d in [tree, *tree.rglob("*")]:
                if d.is_dir() and not d.is_symlink():
                    d.chmod(0o755)
            (tree / "DEBIAN").mkdir(mode=0o755)
            (tree / "DEBIAN" / "control").write_text(package.control(max(1, size // 1024)))
            # --root-owner-group: files owned by root whoever builds; -Zgzip: any dpkg reads it; -z1: the
            # binaries hardly compress and the repository never leaves the machine.
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree),
                            str(self.root / package.filename)], check=True, capture_output=True)

    def _release(self) -> None:
        packages = (self.root / "Packages").read_bytes()
        lines = ["Origin: scheduler-lab", "Label: scheduler-lab offline",
                 f"Date: {email.utils.formatdate(usegmt=True)}", "Architectures: amd64",
                 "SHA256:", f" {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages"]
        (self.root / "Release").write_text("\n".join(lines) + "\n")
