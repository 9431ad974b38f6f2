"""Two checkouts' kind labs on one machine: every host name derives from the lab directory, the
recorded dockerd is signalled only while its PID still is it, a failed `up` undoes what it
started, and `down` stops what the lab started even without kind. No root, no Docker: decoy
processes this test starts itself, fake engines and a recording runner."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity import Retrying, stop_after_delay, wait_fixed

from lab.build import BuildError
from lab.host.procs import OwnedProcess
from lab.host.docker_netns import LAB_ID_MAX, DockerEngine, engine_for, lab_data_root, lab_id, owned_dockerd
from lab.images.kindimage.cachelock import cache_lock
from lab.providers.base import ProviderError
from lab.providers.kind import KindProvider
from lab.providers.kindconfig import kind_node_names
from tests.static.conftest import FakeRunner, tool_env, write_tool

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


# -- derived names ---------------------------------------------------------------------------
def check_name(name: str) -> None:
    assert DNS_LABEL.fullmatch(name) and len(name) <= LAB_ID_MAX, name
    assert len(f"{name}-control-plane") <= 63, "kind node containers are hostnames"
    assert len(f"{name}-host") <= 50 and len(f"{name}-kind-node-build") <= 63


def test_lab_id_is_stable_distinct_and_readable(tmp_path: Path) -> None:
    a, b = tmp_path / "one" / ".lab", tmp_path / "two" / ".lab"
    assert lab_id(a) == lab_id(a) == lab_id(tmp_path / "one" / "x" / ".." / ".lab")
    assert lab_id(a) != lab_id(b)
    assert lab_id(a).startswith("scheduler-lab-one-") and lab_id(b).startswith("scheduler-lab-two-")
    check_name(lab_id(a))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                        min_size=1, max_size=80).filter(lambda s: s not in (".", "..")),
                min_size=1, max_size=4))
def test_lab_id_is_a_valid_name_for_any_directory(parts: list[str]) -> None:
    workdir = Path("/nonexistent-scheduler-lab", *parts)
    check_name(lab_id(workdir))
    assert lab_id(workdir) != lab_id(workdir / "sub")


def test_two_labs_share_no_engine_name_or_path(tmp_path: Path) -> None:
    one, two = engine_for(tmp_path / "one" / ".lab"), engine_for(tmp_path / "two" / ".lab")
    for attr in ("netns", "host_netns", "data_root", "socket", "exec_root", "record"):
        assert getattr(one, attr) != getattr(two, attr), attr
    assert one.netns == lab_id(tmp_path / "one" / ".lab") and one.data_root == lab_data_root(tmp_path / "one" / ".lab")
    assert one.socket.parent == tmp_path / "one" / ".lab" / "docker" or one.socket.parent == Path("/run") / one.netns


def test_sockets_move_to_run_when_the_lab_path_is_too_long(tmp_path: Path) -> None:
    short = DockerEngine(Path("/w/.lab/docker"), tmp_path, netns="scheduler-lab-w-1")
    assert short.socket == Path("/w/.lab/docker/docker.sock")
    deep = Path("/w", *["d" * 20] * 5, ".lab")
    engine = engine_for(deep)
    assert engine.socket == Path("/run") / lab_id(deep) / "docker.sock"
    assert len(str(engine.exec_root / "containerd" / "containerd.sock.ttrpc")) < 108


def test_kind_names_follow_the_lab(spec, tmp_path: Path) -> None:
    p = KindProvider(spec, tmp_path / ".lab", env={"PATH": str(tmp_path)}, say=lambda _: None)
    assert p.cluster_name == lab_id(tmp_path / ".lab")
    assert set(kind_node_names(spec, p.cluster_name).values()) == {
        f"{p.cluster_name}-{suffix}" for suffix in ("control-plane", "worker", "worker2", "worker3")}


# -- the recorded dockerd --------------------------------------------------------------------
def start_decoy(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def lab_engine(tmp_path: Path) -> DockerEngine:
    return DockerEngine(tmp_path / "lab" / "docker", tmp_path / "data", netns=f"scheduler-lab-test-{os.getpid()}")


def record_engine(tmp_path: Path, pid: int, create_time: float | None) -> DockerEngine:
    engine = lab_engine(tmp_path)
    engine.state.mkdir(parents=True)
    data = {"netns": engine.netns, "pid": pid, "socket": str(engine.socket)}
    if create_time is not None:
        data["create_time"] = create_time
    engine.record.write_text(json.dumps(data) + "\n")
    return engine


@pytest.fixture
def sleeper():
    proc = start_decoy(["sleep", "300"])
    yield proc
    proc.kill()  # the test's own process, by its Popen handle
    proc.wait(30)


def test_a_reused_pid_is_never_signalled(tmp_path: Path, sleeper) -> None:
    """The record holds the decoy's PID with another start time: the PID was reused."""
    created = psutil.Process(sleeper.pid).create_time()
    engine = record_engine(tmp_path, sleeper.pid, created - 1000.0)
    assert engine.stop(lambda _: None) == []
    assert sleeper.poll() is None, "a process that is not the recorded dockerd was signalled"
    assert not engine.record.exists(), "a stale record is removed"


def test_a_process_that_is_not_dockerd_is_never_signalled(tmp_path: Path, sleeper) -> None:
    """Right PID and start time, but `sleep`, not dockerd (and a record from before start times)."""
    for created in (psutil.Process(sleeper.pid).create_time(), None):
        engine = record_engine(tmp_path / str(created), sleeper.pid, created)
        engine.stop(lambda _: None)
        assert sleeper.poll() is None
    assert owned_dockerd(sleeper.pid, None, tmp_path / "docker.sock") is None


@pytest.fixture
def fake_dockerd(tmp_path: Path):
    """A process whose executable is named dockerd and whose argv names a lab's socket: this
    interpreter copied as `dockerd`, waiting for a signal."""
    exe = tmp_path / "bin" / "dockerd"
    exe.parent.mkdir()
    shutil.copy2(os.path.realpath(sys.executable), exe)
    socket = lab_engine(tmp_path).socket
    proc = start_decoy([str(exe), "-I", "-S", "-c", "import signal; signal.pause()", f"--host=unix://{socket}"])
    try:
        for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), reraise=True):
            with attempt:
                assert proc.poll() is None, "the copied interpreter did not start"
                assert f"--host=unix://{socket}" in psutil.Process(proc.pid).cmdline()
    except AssertionError as exc:
        exited = proc.poll()
        proc.kill()
        if exited is None:
            raise  # it runs but its argv is not the lab's: a failure, not a missing capability
        pytest.skip(f"a copy of this interpreter cannot run here (exit {exited}), so there is no "
                    f"stand-in dockerd: {exc}")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def test_a_dockerd_started_at_another_time_is_never_signalled(tmp_path: Path, fake_dockerd) -> None:
    """Executable dockerd, this lab's socket, but not the start time recorded: not the one `up` started."""
    engine = record_engine(tmp_path, fake_dockerd.pid, psutil.Process(fake_dockerd.pid).create_time() - 5.0)
    assert engine.stop(lambda _: None) == []
    assert fake_dockerd.poll() is None and not engine.record.exists()


def test_the_recorded_dockerd_is_stopped(tmp_path: Path, fake_dockerd) -> None:
    engine = record_engine(tmp_path, fake_dockerd.pid, psutil.Process(fake_dockerd.pid).create_time())
    assert owned_dockerd(fake_dockerd.pid, None, engine.socket) is not None
    assert owned_dockerd(fake_dockerd.pid, None, tmp_path / "other.sock") is None, "another lab's socket"
    assert engine.stop(lambda _: None) == []
    assert fake_dockerd.wait(30) is not None
    assert not engine.record.exists()


def test_the_recorded_dockerd_is_stopped_after_a_step_of_the_wall_clock(tmp_path: Path, fake_dockerd) -> None:
    """up records the boot and the start in clock ticks after boot: a paused and resumed machine,
    whose wall-clock create_times all moved, still stops its own dockerd."""
    owned = OwnedProcess.of(fake_dockerd.pid)
    engine = lab_engine(tmp_path)
    engine.state.mkdir(parents=True)
    engine.record.write_text(json.dumps({
        "netns": engine.netns, "pid": owned.pid, "socket": str(engine.socket),
        "create_time": owned.create_time - 32.0, "start_ticks": owned.start_ticks, "boot_id": owned.boot_id}) + "\n")
    assert engine.stop(lambda _: None) == []
    assert fake_dockerd.wait(30) is not None
    assert not engine.record.exists()


def test_a_dockerd_recorded_in_another_boot_is_never_signalled(tmp_path: Path, fake_dockerd) -> None:
    owned = OwnedProcess.of(fake_dockerd.pid)
    engine = lab_engine(tmp_path)
    engine.state.mkdir(parents=True)
    engine.record.write_text(json.dumps({
        "netns": engine.netns, "pid": owned.pid, "socket": str(engine.socket),
        "create_time": owned.create_time, "start_ticks": owned.start_ticks,
        "boot_id": "00000000-0000-0000-0000-000000000000"}) + "\n")
    assert engine.stop(lambda _: None) == []
    assert fake_dockerd.poll() is None, "a dockerd recorded during another boot was signalled"
    assert not engine.record.exists()


# -- down without kind, failed up -----------------------------------------------------------
class FakeEngine(DockerEngine):
    """A DockerEngine whose Docker is simulated: ``running`` says whether `docker info` answers,
    ``starts`` whether ensure() starts dockerd; stop() is the real one (the record decides)."""

    def __init__(self, state: Path, *, running: bool, starts: bool = False) -> None:
        super().__init__(state, state.parent / "data", netns=f"scheduler-lab-test-{os.getpid()}")
        self.running, self.starts = running, starts
        self.stops = 0

    def usable(self, env: dict[str, str] | None = None) -> bool:
        return self.running

    def ensure(self, say=print) -> bool:
        if self.starts:
            self.state.mkdir(parents=True, exist_ok=True)
            self.record.write_text(json.dumps({"netns": self.netns, "pid": 0}) + "\n")
        return self.starts

    def stop(self, say=print) -> list[str]:
        self.stops += 1
        return super().stop(say)


@pytest.fixture
def sysctl(tmp_path: Path) -> Path:
    root = tmp_path / "sys" / "fs" / "inotify"
    root.mkdir(parents=True)
    (root / "max_user_watches").write_text("524288\n")
    (root / "max_user_instances").write_text("512\n")
    return tmp_path / "sys"


def provider_with(spec, tmp_path: Path, engine: DockerEngine | None, runner: FakeRunner, *, kind: bool,
                  sysctl: Path | None = None, **env: str) -> tuple[KindProvider, list[str]]:
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir(exist_ok=True)
    if kind:
        write_tool(bin_dir, "kind", "exit 0\n")
        write_tool(bin_dir, "kubectl", "exit 0\n")
    said: list[str] = []
    p = KindProvider(spec, tmp_path / "lab", env=tool_env(bin_dir, **env), runner=runner, engine=engine,
                     say=said.append, sysctl_root=sysctl or tmp_path / "no-sys")
    return p, said


def test_down_without_kind_stops_the_labs_own_dockerd(spec, tmp_path: Path, fake_dockerd) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=False)
    engine.state.mkdir(parents=True)
    engine.record.write_text(json.dumps({"netns": engine.netns, "pid": fake_dockerd.pid, "socket": str(engine.socket),
                                         "create_time": psutil.Process(fake_dockerd.pid).create_time()}))
    p, said = provider_with(spec, tmp_path, engine, FakeRunner({}), kind=False)
    p.cluster_record.write_text("{}\n")
    p.down()  # no exception: exit 0
    assert fake_dockerd.wait(30) is not None, "the lab's dockerd was not stopped"
    assert not engine.record.exists() and not p.cluster_record.exists()
    assert any("kind not found: the cluster's containers go with the lab's dockerd" in s for s in said)


def test_down_without_kind_removes_the_node_containers_from_the_labs_dockerd(spec, tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True, starts=True)
    engine.ensure()
    runner = FakeRunner({("ps",): (0, "c1\nc2\n")})
    p, _ = provider_with(spec, tmp_path, engine, runner, kind=False)
    p.down()
    label = f"label=io.x-k8s.kind.cluster={p.cluster_name}"
    assert runner.calls == [["docker", "ps", "-aq", "--filter", label], ["docker", "rm", "-f", "-v", "c1", "c2"]]
    assert engine.stops == 1 and not engine.managed


def test_down_without_kind_on_the_machines_docker(spec, tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True)  # not the lab's: no record
    p, said = provider_with(spec, tmp_path, engine, FakeRunner({}), kind=False)
    p.down()  # nothing recorded: nothing left, exit 0
    assert any("nothing to delete" in s for s in said)
    p.workdir.mkdir(parents=True, exist_ok=True)
    p.cluster_record.write_text("{}\n")
    with pytest.raises(ProviderError) as info:
        p.down()
    assert "\n" not in str(info.value) and f"kind cluster {p.cluster_name}" in str(info.value)
    assert "was not deleted" in str(info.value)


@pytest.mark.parametrize("command", ["up", "prepare"])
def test_a_failed_up_or_build_stops_the_dockerd_it_started(
        command: str, spec, tmp_path: Path, sysctl: Path, monkeypatch) -> None:
    """The offline image build fails (debootstrap missing) right after `up` (or `lab build --kind`,
    which is `prepare`) started dockerd: the dockerd it started goes too."""
    def no_debootstrap(*args, **kwargs):
        raise BuildError("debootstrap is needed to build images without a registry")

    monkeypatch.setattr("lab.images.kindimage.ensure_kind_images", no_debootstrap)
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True, starts=True)
    p, said = provider_with(spec, tmp_path, engine, FakeRunner({}), kind=True, sysctl=sysctl,
                            LAB_KIND_NODE_IMAGE="built")
    with pytest.raises(BuildError, match="debootstrap"):
        getattr(p, command)()
    assert engine.stops == 1 and not engine.managed
    assert any("undoing what this run started" in s for s in said)


def test_failed_create_deletes_the_half_made_cluster_and_stops_dockerd(spec, tmp_path: Path, sysctl: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True, starts=True)
    runner = FakeRunner({("image", "inspect"): (0, ""), ("version",): (0, f"kind {spec.versions.kind}"),
                         ("get", "clusters"): (0, ""), ("create", "cluster"): (1, "")})
    p, _ = provider_with(spec, tmp_path, engine, runner, kind=True, sysctl=sysctl)
    with pytest.raises(ProviderError):
        p.up()
    delete = [c for c in runner.calls if c[1:3] == ["delete", "cluster"]]
    assert len(delete) == 1 and delete[0][delete[0].index("--name") + 1] == p.cluster_name
    assert engine.stops == 1 and not p.cluster_record.exists()


def test_failed_up_leaves_a_dockerd_it_did_not_start(spec, tmp_path: Path, sysctl: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True, starts=False)
    runner = FakeRunner({("image", "inspect"): (0, ""), ("version",): (0, f"kind {spec.versions.kind}"),
                         ("get", "clusters"): (0, ""),
                         ("--kubeconfig", str(tmp_path / "lab" / "kubeconfig"), "apply"): (1, "")})
    p, _ = provider_with(spec, tmp_path, engine, runner, kind=True, sysctl=sysctl)
    with pytest.raises(ProviderError):
        p.up()
    assert any(c[1:3] == ["delete", "cluster"] for c in runner.calls), "the cluster this run created goes"
    assert engine.stops == 0


def test_reused_cluster_is_not_deleted_when_up_fails(spec, tmp_path: Path, sysctl: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True)
    p, _ = provider_with(spec, tmp_path, engine, FakeRunner({}), kind=True, sysctl=sysctl)
    nodes = "\n".join(kind_node_names(spec, p.cluster_name).values())
    images = "".join(f"/{n} {spec.versions.kind_node_image}\n" for n in kind_node_names(spec, p.cluster_name).values())
    p.run = runner = FakeRunner({("image", "inspect"): (0, ""), ("version",): (0, f"kind {spec.versions.kind}"),
                                 ("get", "clusters"): (0, p.cluster_name), ("get", "nodes"): (0, nodes),
                                 ("inspect",): (0, images), ("--kubeconfig", str(p.kubeconfig), "apply"): (1, "")})
    with pytest.raises(ProviderError):
        p.up()
    assert not any(c[1:3] == ["delete", "cluster"] for c in runner.calls) and engine.stops == 0


# -- the shared cache lock ---------------------------------------------------------------------
def test_cache_lock_makes_a_second_process_wait(tmp_path: Path) -> None:
    said: list[str] = []
    with cache_lock("kind-images", said.append, tmp_path), cache_lock("kind-images", said.append, tmp_path):
        pass  # re-entrant in one process
    assert said == []
    code = ("import fcntl, signal, sys; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); signal.pause()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "kind-images.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        entered = threading.Event()

        def take() -> None:
            with cache_lock("kind-images", said.append, tmp_path):
                entered.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.05), reraise=True):
            with attempt:
                assert said, "the second taker did not say it waits"
        assert not entered.is_set() and "waiting for another checkout's build" in said[0]
    finally:
        holder.kill()  # the test's own process
        holder.wait(30)
    assert entered.wait(30), "the lock was not taken after its holder ended"


def test_down_stops_the_labs_dockerd_even_when_kind_delete_fails(spec, tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path / "lab" / "docker", running=True, starts=True)
    engine.ensure()
    runner = FakeRunner({("delete", "cluster"): (1, ""), ("ps",): (0, "c1\n")})
    p, _ = provider_with(spec, tmp_path, engine, runner, kind=True)
    p.down()
    assert runner.calls[-1] == ["docker", "rm", "-f", "-v", "c1"]
    assert engine.stops == 1 and not engine.managed


# -- installing docker.io --------------------------------------------------------------------
def test_install_disables_only_the_units_it_enabled(tmp_path: Path, monkeypatch) -> None:
    """Fake apt-get "installs" docker.io by enabling its units; containerd.service was enabled
    before and stays so. No real package or unit is touched."""
    import lab.host.docker_netns as dn

    bin_dir, units = tmp_path / "bin", tmp_path / "enabled"
    bin_dir.mkdir()
    units.mkdir()
    (units / "containerd.service").touch()
    policy = tmp_path / "policy-rc.d"
    write_tool(bin_dir, "apt-get", f'test -x {policy} || exit 9\n'
                                   f'touch {units}/docker.service {units}/docker.socket\n'
                                   f'printf "#!/bin/sh\\n" > {bin_dir}/dockerd; chmod +x {bin_dir}/dockerd\n')
    write_tool(bin_dir, "systemctl", f'if [ "$1" = is-enabled ]; then [ -e {units}/$2 ] && echo enabled; exit 0; fi\n'
                                     f'if [ "$1" = disable ]; then shift 2; for u; do rm -f {units}/$u; done; fi\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(dn, "POLICY_RC_D", policy)
    said: list[str] = []
    engine = DockerEngine(tmp_path / "lab" / "docker", tmp_path / "data", netns="scheduler-lab-test")
    assert engine._install(said.append) == str(bin_dir / "dockerd")
    assert sorted(p.name for p in units.iterdir()) == ["containerd.service"]
    assert not policy.exists(), "policy-rc.d is removed again"
    assert any("disabled docker.service, docker.socket" in s for s in said)
