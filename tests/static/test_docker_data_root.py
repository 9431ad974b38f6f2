"""A kind lab's Docker data root (~/.cache/scheduler-lab/docker-data/<lab id>, 1.5-3 GB): its
dockerd's start records it, and `lab down --wipe` deletes exactly that directory once the dockerd
is gone, never another path, one still in use or mounted, or one a lab on the machine's own
Docker never made. No root, no Docker: the cache root is a temporary directory, engines are
simulated and the only processes are decoys this test starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity import Retrying, stop_after_delay, wait_fixed

import lab.host.docker_netns as dn
from lab.host import labdir
from lab.host.docker_netns import DockerEngine, EngineError, Quirks, docker_data_parent, lab_data_root, lab_id
from lab.providers.base import ProviderError
from lab.providers.kind import KindProvider, py_scheduler_build_image
from tests.static.conftest import FakeRunner, tool_env, write_tool


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    """~/.cache is a directory of this test's: nothing real under ~/.cache/scheduler-lab is seen."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "scheduler-lab"


class LabEngine(DockerEngine):
    """The lab's engine (engine_for's names) whose Docker is simulated: ensure() does what
    start() records and makes (engine.json, data-root.json, the data root) without a dockerd."""

    def __init__(self, workdir: Path, *, machine_docker: bool = False) -> None:
        labdir.claim(workdir)  # a lab directory, as `lab up` makes it
        super().__init__(workdir / "docker", lab_data_root(workdir), netns=lab_id(workdir))
        self.machine_docker = machine_docker

    def usable(self, env: dict[str, str] | None = None) -> bool:
        return True

    def ensure(self, say=print, *, machine_docker: bool = True) -> bool:
        if self.machine_docker:
            return False
        self.state.mkdir(parents=True, exist_ok=True)
        self.data_root_record.write_text(json.dumps({"data_root": str(self.data_root)}) + "\n")
        (self.data_root / "overlay2").mkdir(parents=True, exist_ok=True)
        (self.data_root / "overlay2" / "layer").write_text("image layer\n")
        self.record.write_text(json.dumps({"netns": self.netns, "pid": 0, "data_root": str(self.data_root)}) + "\n")
        return True


def kind_lab(spec, tmp_path: Path, engine: LabEngine) -> tuple[KindProvider, list[str]]:
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir(exist_ok=True)
    write_tool(bin_dir, "kind", "exit 0\n")
    said: list[str] = []
    p = KindProvider(spec, engine.state.parent, env=tool_env(bin_dir), runner=FakeRunner({}), engine=engine, say=said.append,
                     sysctl_root=tmp_path / "no-sys")
    return p, said


def others(cache: Path) -> list[Path]:
    """Another checkout's data root and an unrelated cache directory, each with a file."""
    made = []
    for d in (docker_data_parent() / lab_id(cache / "other-checkout" / ".lab"), cache / "kind-images"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "keep").write_text("not this lab's\n")
        made.append(d)
    return made


# -- down --wipe -------------------------------------------------------------------------------
def test_wipe_deletes_exactly_the_recorded_data_root(spec, tmp_path: Path, cache: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    keep = others(cache)
    p, said = kind_lab(spec, tmp_path, engine)
    p.down(wipe=True)
    assert not engine.managed and not os.path.lexists(engine.data_root)
    assert not engine.data_root_record.exists()
    assert all((d / "keep").is_file() for d in keep), "another lab's data root or the image cache was touched"
    assert f"removed this lab's Docker data root {engine.data_root}" in said


def test_down_keeps_the_data_root_and_a_later_wipe_deletes_it(spec, tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    p, _ = kind_lab(spec, tmp_path, engine)
    p.down()
    assert (engine.data_root / "overlay2" / "layer").is_file(), "a plain down keeps the images"
    p.down(wipe=True)  # the dockerd is already gone: the record still names the data root
    assert not os.path.lexists(engine.data_root)


def test_wipe_on_the_machines_docker_touches_no_data_root(spec, tmp_path: Path) -> None:
    """Docker is the machine's: the lab started no dockerd and recorded no data root, so even a
    directory named after this lab in the cache is left alone."""
    engine = LabEngine(tmp_path / "one" / ".lab", machine_docker=True)
    engine.data_root.mkdir(parents=True)
    (engine.data_root / "keep").write_text("x\n")
    p, _ = kind_lab(spec, tmp_path, engine)
    p.down(wipe=True)
    assert (engine.data_root / "keep").is_file()


@pytest.mark.parametrize("where", ["outside the cache", "another lab's", "through ..", "the parent itself"])
def test_a_recorded_path_other_than_this_labs_is_refused(spec, tmp_path: Path, cache: Path, where: str) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    other = lab_id(tmp_path / "two" / ".lab")
    target = {"outside the cache": tmp_path / "elsewhere" / engine.netns,
              "another lab's": docker_data_parent() / other,
              "through ..": Path(f"{docker_data_parent()}/{other}/../{engine.netns}"),
              "the parent itself": docker_data_parent()}[where]
    Path(os.path.normpath(target)).mkdir(parents=True, exist_ok=True)
    (Path(os.path.normpath(target)) / "keep").write_text("x\n")
    engine.data_root_record.write_text(json.dumps({"data_root": str(target)}) + "\n")
    p, _ = kind_lab(spec, tmp_path, engine)
    with pytest.raises(ProviderError) as info:
        p.down(wipe=True)
    message = str(info.value)
    assert "\n" not in message and "refusing to delete" in message and str(engine.data_root) in message
    assert (Path(os.path.normpath(target)) / "keep").is_file()
    assert engine.data_root_record.exists(), "the record stays until its directory is deleted"


def test_a_symlinked_data_root_is_refused(tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x\n")
    os.rename(engine.data_root, tmp_path / "moved")
    engine.data_root.symlink_to(elsewhere)
    engine.record.unlink()
    with pytest.raises(EngineError, match="not a directory"):
        engine.remove_data_root(engine.netns)
    assert (elsewhere / "keep").is_file() and engine.data_root.is_symlink()


def test_nothing_is_deleted_while_the_dockerd_is_recorded(tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    with pytest.raises(EngineError, match="still recorded as running"):
        engine.remove_data_root(engine.netns)
    assert (engine.data_root / "overlay2" / "layer").is_file()


@pytest.fixture
def decoy_dockerd(tmp_path: Path):
    """A process of this test's whose argv says --data-root=<this lab's data root>."""
    root = lab_data_root(tmp_path / "one" / ".lab")
    proc = subprocess.Popen([sys.executable, "-I", "-c", "import signal; signal.pause()", f"--data-root={root}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), reraise=True):
        with attempt:
            assert dn.data_root_user(root) is not None
    yield proc
    proc.kill()  # the test's own process, by its Popen handle
    proc.wait(30)


def test_a_data_root_a_process_still_uses_is_refused(tmp_path: Path, decoy_dockerd) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    engine.record.unlink()  # the recorded dockerd is gone; another process still runs with the data root
    with pytest.raises(EngineError) as info:
        engine.remove_data_root(engine.netns)
    assert f"process {decoy_dockerd.pid} " in str(info.value)
    assert (engine.data_root / "overlay2" / "layer").is_file() and decoy_dockerd.poll() is None


def test_a_data_root_with_a_mount_in_it_is_refused(tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    engine.record.unlink()
    merged = str(engine.data_root / "overlay2" / "a b" / "merged").replace(" ", "\\040")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 1 0:21 / /proc rw - proc proc rw\n"
                         f"90 22 0:50 / {merged} rw - overlay overlay rw,lowerdir=x\n")
    with pytest.raises(EngineError, match=r"overlay2/a b/merged is still mounted"):
        engine.remove_data_root(engine.netns, mountinfo=mountinfo)
    assert (engine.data_root / "overlay2" / "layer").is_file()
    assert dn.mounts_under(engine.data_root.parent / "unrelated", mountinfo) == []


def test_stop_records_the_data_root_of_a_dockerd_started_before_the_record_existed(tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    engine.data_root_record.unlink()  # written by an older lab: only engine.json names the data root
    assert engine.stop(lambda _: None) == []
    assert json.loads(engine.data_root_record.read_text()) == {"data_root": str(engine.data_root)}
    assert engine.remove_data_root(engine.netns, lambda _: None) == engine.data_root


def test_start_records_the_data_root_before_it_makes_it(tmp_path: Path, monkeypatch) -> None:
    """The real start(), with every command it runs answered by a fake and dockerd failing to
    launch: data-root.json already names the data root it made (and the failed start undoes
    the rest)."""
    calls: list[list[str]] = []

    def fake_run(argv, *args, **kwargs):
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")

    def no_dockerd(argv, *args, **kwargs):
        assert (engine.data_root_record.exists() and engine.data_root.is_dir()), "recorded and made before launch"
        raise OSError("dockerd cannot start in this test")

    engine = DockerEngine(tmp_path / "one" / ".lab" / "docker", lab_data_root(tmp_path / "one" / ".lab"),
                          netns=lab_id(tmp_path / "one" / ".lab"))
    monkeypatch.setattr(dn.os, "geteuid", lambda: 0)
    monkeypatch.setattr(dn.shutil, "which", lambda name, *a, **k: f"/usr/bin/{name}")
    monkeypatch.setattr(dn, "quirks", lambda: Quirks(no_sys_resource=False, no_lib_modules=False))
    monkeypatch.setattr(dn.subprocess, "run", fake_run)
    monkeypatch.setattr(dn.subprocess, "Popen", no_dockerd)
    with pytest.raises(OSError, match="cannot start"):
        engine.start(lambda _: None)
    assert json.loads(engine.data_root_record.read_text()) == {"data_root": str(engine.data_root)}
    assert not engine.managed
    assert ["ip", "netns", "delete", engine.netns] in calls, "the failed start removes the namespace it added"


# -- any recorded path ---------------------------------------------------------------------------
PARTS = st.sampled_from(["LAB", "other", "..", ".", "", "docker-data", "scheduler-lab"])


@settings(max_examples=150, deadline=None)
@given(anchor=st.sampled_from(["parent", "cache", "elsewhere"]), parts=st.lists(PARTS, max_size=4))
def test_only_this_labs_own_data_root_is_ever_deleted(anchor: str, parts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(base / "cache")  # restored by the autouse fixture
        workdir = base / "one" / ".lab"
        engine = LabEngine(workdir)
        engine.ensure()
        engine.record.unlink()
        sentinels = others(base / "cache" / "scheduler-lab") + [base / "elsewhere"]
        (base / "elsewhere").mkdir()
        (base / "elsewhere" / "keep").write_text("x\n")
        start = {"parent": docker_data_parent(), "cache": base / "cache", "elsewhere": base / "elsewhere"}[anchor]
        recorded = "/".join([str(start), *(engine.netns if p == "LAB" else p for p in parts)])
        engine.data_root_record.write_text(json.dumps({"data_root": recorded}) + "\n")
        # The same directory, spelled with "." or "//" (which Path itself collapses), counts;
        # ".." never does (a symlink on the way could lead anywhere).
        exact = ".." not in recorded.split("/") and os.path.normpath(recorded) == str(engine.data_root)
        try:
            removed = engine.remove_data_root(engine.netns, lambda _: None)
        except EngineError as exc:
            assert not exact and "\n" not in str(exc)
            removed = None
        assert (removed == engine.data_root) == exact
        assert os.path.lexists(engine.data_root) != exact
        assert all((d / "keep").is_file() for d in sentinels)


# -- the scheduler image tag on a machine's own Docker ---------------------------------------------
def test_wipe_on_the_machines_docker_untags_only_this_labs_scheduler_image(spec, tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab", machine_docker=True)
    p, said = kind_lab(spec, tmp_path, engine)
    p.down(wipe=True)
    removals = [c for c in p.run.calls if c[1:3] == ["image", "rm"] or c[1:2] == ["rmi"]]
    assert removals == [["docker", "image", "rm", py_scheduler_build_image(p.cluster_name)]]
    assert f"removed this lab's image tag {py_scheduler_build_image(p.cluster_name)}" in said


def test_wipe_of_the_labs_own_dockerd_removes_no_image_by_name(spec, tmp_path: Path) -> None:
    engine = LabEngine(tmp_path / "one" / ".lab")
    engine.ensure()
    p, _ = kind_lab(spec, tmp_path, engine)
    p.down(wipe=True)
    assert not [c for c in p.run.calls if "rm" in c[1:3] or c[1:2] == ["rmi"]]
    assert not os.path.lexists(engine.data_root), "its images went with the data root"
