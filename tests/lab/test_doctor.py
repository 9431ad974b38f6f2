"""lab.doctor: each check against a faked machine, every problem named at once, and the CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import cli, doctor

ROOT = Path(__file__).resolve().parents[2]
GIB = doctor.GIB
Memory = namedtuple("Memory", "total")
Disk = namedtuple("Disk", "total used free")
# Every tool any provider's checks look for.
ALL_TOOLS = ("docker", "dockerd", "apt-get", "ip", "nsenter", "debootstrap", "busybox", "gcc", "ruby",
             "dpkg-scanpackages", "jq", "vagrant", "VBoxManage", "kubectl")
STATIC_BUSYBOX = b"\x7fELF" + b"\0" * 200
DYNAMIC_BUSYBOX = b"\x7fELF" + b"\0" * 60 + b"/lib64/ld-linux-x86-64.so.2\0"


class Fake:
    """One faked machine: its tools, cores, memory, free disk, uid, files."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.tools: set[str] = set(ALL_TOOLS)
        self.cpus, self.memory, self.free, self.euid = 8, 32 * GIB, 100 * GIB, 1000
        self.root = tmp / "root"
        (self.root / "proc").mkdir(parents=True)
        (self.root / "bin").mkdir()
        (self.root / "usr" / "include").mkdir(parents=True)
        (self.root / "usr" / "include" / "stdio.h").write_text("")
        (self.root / "usr" / "lib" / "x86_64-linux-gnu").mkdir(parents=True)
        (self.root / "usr" / "lib" / "x86_64-linux-gnu" / "libc.a").write_text("")
        self.busybox = tmp / "busybox"
        self.busybox.write_bytes(STATIC_BUSYBOX)
        self.sysctl = tmp / "sysctl"
        (self.sysctl / "fs" / "inotify").mkdir(parents=True)
        self.inotify(524288, 512)
        self.docker_usable = True  # a laptop's running Docker (tests of the offline path turn it off)
        self.machine = doctor.Machine(sysctl_root=self.sysctl, root=self.root, cache_dir=tmp / "cache",
                                      kubeconfig=tmp / "kubeconfig", python=(3, 11, 2),
                                      docker_usable=lambda: self.docker_usable)
        (tmp / "kubeconfig").write_text("apiVersion: v1\n")
        monkeypatch.setattr(shutil, "which", self.which)
        monkeypatch.setattr(os, "cpu_count", lambda: self.cpus)
        monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory(self.memory))
        monkeypatch.setattr(shutil, "disk_usage", lambda path: Disk(self.free * 2, self.free, self.free))
        monkeypatch.setattr(os, "geteuid", lambda: self.euid)

    def which(self, name: str, *args: object, **kwargs: object) -> str | None:
        if name not in self.tools:
            return None
        return str(self.busybox) if name == "busybox" else f"/usr/bin/{name}"

    def inotify(self, watches: int, instances: int) -> None:
        (self.sysctl / "fs" / "inotify" / "max_user_watches").write_text(f"{watches}\n")
        (self.sysctl / "fs" / "inotify" / "max_user_instances").write_text(f"{instances}\n")

    def problems(self, provider: str) -> list[doctor.Problem]:
        self.machine._docker_answer = None  # a fresh run asks again
        return doctor.problems(provider, self.machine)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch)


def whats(found: list[doctor.Problem]) -> list[str]:
    return [p.what for p in found]


@pytest.mark.parametrize("provider", ["local", "kind", "vagrant", "existing"])
def test_a_complete_machine_has_no_problem(fake: Fake, provider: str) -> None:
    assert fake.problems(provider) == []


def test_vagrant_containers_complete_as_root(fake: Fake) -> None:
    fake.euid = 0
    assert fake.problems("vagrant-containers") == []


def test_old_python(fake: Fake) -> None:
    fake.machine.python = (3, 9, 18)
    assert whats(fake.problems("local")) == ["Python 3.9.18 is older than 3.10"]


def test_too_few_cores(fake: Fake) -> None:
    fake.cpus = 1
    (problem,) = fake.problems("kind")
    assert problem.what == "1 CPU core(s); the kind lab needs 2"


def test_too_little_memory(fake: Fake) -> None:
    fake.memory = 3 * GIB
    (problem,) = fake.problems("vagrant")
    assert problem.what == "3.0 GiB of memory; the vagrant lab needs 8 GiB"


def test_too_little_disk_names_the_cache_and_how_to_see_what_fills_it(fake: Fake) -> None:
    fake.free = 5 * GIB
    (problem,) = fake.problems("kind")
    assert problem.what == f"5.0 GiB free under {fake.tmp / 'cache'}; the kind lab needs 20 GiB"
    assert problem.fix.startswith(f"du -sh {fake.tmp}/*")  # the cache does not exist yet: its parent


def test_every_provider_has_figures() -> None:
    assert set(doctor.NEEDS) == set(cli.PROVIDERS)


def test_local_needs_proc(fake: Fake) -> None:
    (fake.root / "proc").rmdir()
    assert whats(fake.problems("local")) == ["no /proc: the local lab runs Linux processes"]


def test_low_inotify_named_with_the_sysctl_that_fixes_it(fake: Fake) -> None:
    fake.inotify(8192, 128)
    (problem,) = fake.problems("kind")
    assert "fs.inotify.max_user_watches is 8192" in problem.what
    assert problem.fix == "sudo sysctl fs.inotify.max_user_watches=524288"


def test_low_inotify_is_no_problem_for_root_which_raises_it(fake: Fake) -> None:
    fake.inotify(8192, 128)
    fake.euid = 0
    assert fake.problems("kind") == []


def test_kind_without_docker_as_a_user(fake: Fake) -> None:
    fake.docker_usable = False
    fake.tools -= {"docker"}
    (problem,) = fake.problems("kind")
    assert problem.fix == "sudo make lab-up PROVIDER=kind"


def test_kind_with_a_stopped_docker_as_a_user(fake: Fake) -> None:
    fake.docker_usable = False
    (problem,) = fake.problems("kind")  # docker present, daemon not answering
    assert problem.what == "the Docker daemon is not reachable by this user"
    assert problem.fix == "sudo systemctl start docker"


def test_kind_as_root_with_apt_installs_docker_itself(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    fake.tools -= {"docker", "dockerd"}
    assert fake.problems("kind") == []


def test_kind_as_root_without_dockerd_or_apt(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    fake.tools -= {"docker", "dockerd", "apt-get"}
    (problem,) = fake.problems("kind")
    assert "no apt-get" in problem.what and "docs.docker.com" in problem.fix


def test_kind_with_a_usable_docker_needs_no_offline_build_tools(fake: Fake) -> None:
    fake.docker_usable = True
    fake.tools -= {"debootstrap", "gcc", "busybox", "ip", "nsenter"}
    assert fake.problems("kind") == []


def test_kind_with_the_node_image_cached_needs_no_build_tools(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    fake.tools -= {"debootstrap", "gcc", "busybox"}
    (fake.tmp / "cache" / "kind-node").mkdir(parents=True)
    (fake.tmp / "cache" / "kind-node" / "kind-node-v1.29.15-plain.tar").write_text("")
    assert fake.problems("kind") == []


def test_a_dynamic_busybox_is_not_enough(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    fake.busybox.write_bytes(DYNAMIC_BUSYBOX)
    (problem,) = fake.problems("kind")
    assert "dynamically linked" in problem.what and problem.fix == "apt-get install -y busybox-static"


def test_no_static_libc(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    (fake.root / "usr" / "lib" / "x86_64-linux-gnu" / "libc.a").unlink()
    (problem,) = fake.problems("kind")
    assert problem.package == "libc6-dev" and problem.fix == "apt-get install -y libc6-dev"


def test_vagrant_containers_as_a_user_names_root_and_every_missing_tool(fake: Fake) -> None:
    fake.tools -= {"ruby", "jq"}
    assert whats(fake.problems("vagrant-containers")) == [
        "needs root (it starts dockerd in a network namespace of its own)",
        "ruby not found on PATH", "jq not found on PATH"]


def test_vagrant_names_both_tools(fake: Fake) -> None:
    fake.tools -= {"vagrant", "VBoxManage"}
    assert whats(fake.problems("vagrant")) == ["vagrant not found on PATH", "VBoxManage not found on PATH"]


def test_existing_without_a_kubeconfig(fake: Fake) -> None:
    (fake.tmp / "kubeconfig").unlink()
    (problem,) = fake.problems("existing")
    assert problem.what == f"kubeconfig {fake.tmp / 'kubeconfig'} not found"


# The kind offline build's tools (as root: Docker comes from apt) and the package each names.
KIND_TOOLS = {"debootstrap": "debootstrap", "busybox": "busybox-static", "gcc": "gcc", "ip": "iproute2",
              "nsenter": "util-linux"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(missing=st.sets(st.sampled_from(sorted(KIND_TOOLS))), libc=st.booleans(), user=st.booleans())
def test_every_missing_tool_is_named_once_with_its_fix(fake: Fake, missing: set[str], libc: bool,
                                                       user: bool) -> None:
    fake.tools = set(ALL_TOOLS) - missing
    fake.euid = 1000 if user else 0
    fake.docker_usable = False
    fake.tools -= {"docker"}  # as a user: one Docker problem; as root: the lab installs docker.io
    libc_a = fake.root / "usr" / "lib" / "x86_64-linux-gnu" / "libc.a"
    libc_a.unlink(missing_ok=True)
    if libc:
        libc_a.write_text("")
    found = fake.problems("kind")
    expected = {KIND_TOOLS[t] for t in missing} | (set() if libc else {"libc6-dev"})
    packaged = [p for p in found if p.package]
    assert sorted(p.package for p in packaged) == sorted(expected)  # each exactly once
    sudo = "sudo " if user else ""
    for p in packaged:
        assert p.fix == f"{sudo}apt-get install -y {p.package}"
        assert "\n" not in p.line() and p.fix in p.line()
    assert len(found) == len(packaged) + (1 if user else 0)  # plus "no Docker for this user"
    report = doctor.report("kind", found, fake.machine)
    assert len(report.splitlines()) == (1 + len(found) if found else 1)


def test_root_with_apt_installs_the_packages_then_checks_again(fake: Fake) -> None:
    fake.docker_usable = False
    fake.euid = 0
    fake.tools -= {"debootstrap", "gcc"}
    installed: list[list[str]] = []

    def install(packages: list[str], say) -> None:
        installed.append(packages)
        fake.tools |= {"debootstrap", "gcc"}

    assert doctor.require("kind", fake.machine, install=install) == []
    assert installed == [["debootstrap", "gcc"]]


def test_a_user_gets_the_list_and_nothing_is_installed(fake: Fake) -> None:
    fake.tools -= {"debootstrap", "gcc"}
    fake.docker_usable = False
    calls: list[object] = []
    found = doctor.require("kind", fake.machine, install=lambda p, say: calls.append(p))
    assert calls == [] and {"debootstrap", "gcc"} <= {p.package for p in found}


def test_apt_install_places_and_removes_policy_rc_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], bool, str]] = []
    policy = tmp_path / "policy-rc.d"

    def run(argv, env, **kwargs):
        seen.append((argv, policy.read_text() == "#!/bin/sh\nexit 101\n", env["DEBIAN_FRONTEND"]))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(doctor.subprocess, "run", run)
    said: list[str] = []
    doctor.apt_install(["debootstrap", "gcc"], said.append, policy=policy)
    assert seen == [(["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap", "gcc"],
                     True, "noninteractive")]
    assert not policy.exists() and said == ["installing debootstrap gcc (apt-get, as root: the kind lab needs them)"]


def test_lab_up_kind_stops_naming_every_missing_build_tool(fake: Fake, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A user's `lab up --provider kind` on a machine without debootstrap, busybox and a compiler:
    one run names all three with their fixes, before any provider work."""
    fake.tools -= {"debootstrap", "busybox", "gcc"}
    (fake.root / "bin" / "busybox").unlink(missing_ok=True)
    fake.docker_usable = False
    monkeypatch.setattr(cli, "_doctor_machine", lambda args, spec: fake.machine)

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("lab up went past the checks")

    monkeypatch.setattr(cli, "make_provider", no_work)
    rc = cli.main(["--workdir", str(fake.tmp / "lab"), "up", "--provider", "kind"])
    err = capsys.readouterr().err
    assert rc == 1
    for line in ("debootstrap not found on PATH — fix: sudo apt-get install -y debootstrap",
                 "busybox not found (the helper images need a static one) — fix: sudo apt-get install -y "
                 "busybox-static",
                 "gcc not found on PATH — fix: sudo apt-get install -y gcc"):
        assert f"  - {line}\n" in err
    assert not (fake.tmp / "lab").exists()


def lab(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_cli_existing_without_a_kubeconfig_exits_1(tmp_path: Path) -> None:
    proc = lab("doctor", "--provider", "existing", "--kubeconfig", str(tmp_path / "none"),
               env_extra={"XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        "the existing lab cannot start here: 1 problem(s)",
        f"  - kubeconfig {tmp_path / 'none'} not found — fix: python -m lab up --provider existing "
        "--kubeconfig FILE (or export KUBECONFIG=FILE)"]


def test_cli_existing_with_a_kubeconfig_is_ready(tmp_path: Path) -> None:
    (tmp_path / "kc").write_text("apiVersion: v1\n")
    proc = lab("doctor", "--provider", "existing", env_extra={"KUBECONFIG": str(tmp_path / "kc"),
                                                              "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ready for the existing lab:") and proc.stderr == ""


def test_cli_vagrant_with_an_empty_path_names_both_tools(tmp_path: Path) -> None:
    proc = lab("doctor", "--provider", "vagrant", env_extra={"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "  - vagrant not found on PATH" in proc.stderr and "  - VBoxManage not found on PATH" in proc.stderr
    assert "  - kubectl not found on PATH" in proc.stderr


def test_cli_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    proc = lab("doctor", "--provider", "nope", env_extra={})
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
