"""The vagrant-containers lab's names on the host derive from its lab directory, as the kind
lab's do: two checkouts (and a kind lab of the same directory) never share a network namespace,
a socket or a data root, and the lab never adopts the machine's own Docker (its host-only network
would then be on the host). No root, no Docker: engines whose Docker is simulated."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.host.docker_netns import LAB_ID_MAX, DockerEngine, engine_for, lab_id
from lab.providers.base import ProviderError
from lab.providers.vagrant_containers import VagrantContainersProvider, vagrant_lab_id

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
ENGINE_NAMES = ("netns", "host_netns", "socket", "exec_root", "data_root", "record", "pidfile")


def provider(spec, workdir: Path) -> VagrantContainersProvider:
    return VagrantContainersProvider(spec, workdir, say=lambda _: None)


def test_vagrant_lab_id_is_stable_distinct_and_readable(tmp_path: Path) -> None:
    a, b = tmp_path / "one" / ".lab", tmp_path / "two" / ".lab"
    assert vagrant_lab_id(a) == vagrant_lab_id(tmp_path / "one" / "x" / ".." / ".lab")
    assert vagrant_lab_id(a) != vagrant_lab_id(b)
    assert vagrant_lab_id(a).startswith("scheduler-lab-vagrant-one-")
    assert vagrant_lab_id(a) != lab_id(a), "the kind lab of the same directory has a namespace of its own"
    assert vagrant_lab_id(a).rsplit("-", 1)[1] == lab_id(a).rsplit("-", 1)[1], "same directory hash"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                        min_size=1, max_size=80).filter(lambda s: s not in (".", "..")),
                min_size=1, max_size=4))
def test_vagrant_lab_id_is_a_valid_namespace_name_for_any_directory(parts: list[str]) -> None:
    workdir = Path("/nonexistent-scheduler-lab", *parts)
    name = vagrant_lab_id(workdir)
    assert DNS_LABEL.fullmatch(name) and len(name) <= LAB_ID_MAX, name
    assert name.startswith("scheduler-lab-vagrant-")
    assert name != lab_id(workdir) and name != vagrant_lab_id(workdir / "sub")


def test_the_engine_is_named_after_the_lab_directory(spec, tmp_path: Path) -> None:
    workdir = tmp_path / "one" / ".lab"
    engine = provider(spec, workdir).engine()
    assert engine.netns == vagrant_lab_id(workdir) and engine.host_netns == f"{engine.netns}-host"
    assert engine.netns_path() == Path("/run/netns") / engine.netns
    assert engine.data_root == workdir / "vagrant-containers" / "docker-data"
    assert engine.socket in (workdir / "vagrant-containers" / "docker" / "docker.sock",
                             Path("/run") / engine.netns / "docker.sock")
    assert provider(spec, Path("/w/.lab")).engine().socket == Path("/w/.lab/vagrant-containers/docker/docker.sock")


def test_two_labs_and_the_kind_lab_share_no_host_name(spec, tmp_path: Path) -> None:
    one, two = (provider(spec, tmp_path / n / ".lab").engine() for n in ("one", "two"))
    kind = engine_for(tmp_path / "one" / ".lab")
    for attr in ENGINE_NAMES:
        assert getattr(one, attr) != getattr(two, attr), attr
        assert getattr(one, attr) != getattr(kind, attr), f"{attr} shared with the kind lab of the directory"


def test_sockets_move_to_run_under_the_labs_name_when_the_path_is_too_long(spec) -> None:
    deep = Path("/w", *["d" * 20] * 5, ".lab")
    engine = provider(spec, deep).engine()
    assert engine.socket == Path("/run") / vagrant_lab_id(deep) / "docker.sock"
    assert len(str(engine.exec_root / "containerd" / "containerd.sock.ttrpc")) < 108
    other = provider(spec, Path("/w", *["e" * 20] * 5, ".lab")).engine()
    assert other.socket != engine.socket


def test_a_lab_recorded_under_the_old_fixed_name_is_still_found(spec, tmp_path: Path) -> None:
    """A lab brought up before names were derived: its record names the namespace and socket it
    was started with, and down/exec use those (the record decides, not today's name)."""
    engine = provider(spec, tmp_path / ".lab").engine()
    engine.state.mkdir(parents=True)
    engine.record.write_text(json.dumps({"netns": "scheduler-lab-vagrant", "host_netns": "scheduler-lab-vagrant-host",
                                         "pid": 0, "socket": "/run/scheduler-lab-vagrant/docker.sock"}) + "\n")
    assert engine.netns_path() == Path("/run/netns/scheduler-lab-vagrant")
    assert engine.host_netns_path() == Path("/run/netns/scheduler-lab-vagrant-host")
    assert engine.env({})["DOCKER_HOST"] == "unix:///run/scheduler-lab-vagrant/docker.sock"


# -- never the machine's Docker --------------------------------------------------------------
class MachineDockerEngine(DockerEngine):
    """The machine's Docker answers (usable() is True without the lab's record); start() only
    records that it was asked to start the project's dockerd."""

    def __init__(self, state: Path) -> None:
        super().__init__(state, state.parent / "data", netns="scheduler-lab-vagrant-test")
        self.started = 0

    def usable(self, env: dict[str, str] | None = None) -> bool:
        return True

    def start(self, say=print) -> None:
        self.started += 1


def test_ensure_adopts_the_machines_docker_only_when_allowed(tmp_path: Path) -> None:
    kind_like = MachineDockerEngine(tmp_path / "kind" / "docker")
    assert kind_like.ensure(lambda _: None) is False and kind_like.started == 0
    own = MachineDockerEngine(tmp_path / "vagrant" / "docker")
    assert own.ensure(lambda _: None, machine_docker=False) is True and own.started == 1


def test_the_provider_always_starts_its_own_dockerd(spec, tmp_path: Path, monkeypatch) -> None:
    p = provider(spec, tmp_path / ".lab")
    engine = MachineDockerEngine(tmp_path / ".lab" / "vagrant-containers" / "docker")
    monkeypatch.setattr(p, "engine", lambda: engine)
    p._artifacts()
    assert engine.started == 1, "the machine's Docker was adopted: the host-only network would be on the host"


# -- down --wipe ------------------------------------------------------------------------------
def wiped_lab(spec, tmp_path: Path, monkeypatch, mounted: list[str]) -> VagrantContainersProvider:
    """A lab whose dockerd record names no live process (pid 0), with no machines; `down --wipe`
    then runs for real from engine.stop() on, with mounts_under answering ``mounted``."""
    import lab.providers.vagrant_containers as vc
    from lab.host import labdir

    workdir = tmp_path / ".lab"
    labdir.claim(workdir)
    p = VagrantContainersProvider(spec, workdir, repo_root=tmp_path / "repo", say=lambda _: None)
    with labdir.recording(workdir):
        engine = p.engine()
        engine.state.mkdir(parents=True)
        engine.record.write_text(json.dumps({"netns": f"scheduler-lab-vagrant-test-{id(p)}", "pid": 0}) + "\n")
        (engine.data_root / "overlay2").mkdir(parents=True)
    monkeypatch.setattr(p, "plan", lambda: vc.VagrantfilePlan((), "/vagrant"))
    monkeypatch.setattr(vc.Machines, "destroy", lambda self: None)
    monkeypatch.setattr(vc, "mounts_under", lambda path: [str(path / m) for m in mounted])
    return p


def test_wipe_refuses_a_data_root_with_stale_mounts(spec, tmp_path: Path, monkeypatch) -> None:
    p = wiped_lab(spec, tmp_path, monkeypatch, ["docker-data/overlay2/x/merged"])
    with pytest.raises(ProviderError) as info:
        p.down(wipe=True)
    assert "\n" not in str(info.value) and "overlay2/x/merged is still mounted" in str(info.value)
    assert (p.state / "docker-data" / "overlay2").is_dir()


def test_wipe_removes_the_providers_state_once_its_dockerd_is_gone(spec, tmp_path: Path, monkeypatch) -> None:
    p = wiped_lab(spec, tmp_path, monkeypatch, [])
    p.down(wipe=True)
    assert not p.state.exists()
