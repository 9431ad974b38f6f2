"""`lab down --wipe` deletes only what the lab made, and the lab never writes into a directory it did not make."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.host import labdir
from tests.lab.test_lab_cli import lab, one_line_error


def a_home(root: Path) -> Path:
    """A directory the lab did not make, holding what `lab down --wipe` used to delete by name."""
    home = root / "home"
    for sub in ("bin", "etcd", "pki", "kubeconfigs", "run", "deploy"):
        (home / sub).mkdir(parents=True)
        (home / sub / "mine").write_text("the user's\n")
    (home / "kubeconfig").write_text("the user's kubeconfig\n")
    (home / "state.json").write_text("{}\n")
    return home


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", ["--workdir", "LAB_DIR"])
def test_wipe_refuses_a_directory_the_lab_did_not_make(tmp_path: Path, how: str) -> None:
    home = a_home(tmp_path)
    before = snapshot(home)
    if how == "LAB_DIR":
        proc = lab("down", "--wipe", env_extra={"LAB_DIR": str(home)})
    else:
        proc = lab("--workdir", str(home), "down", "--wipe")
    line = one_line_error(proc)
    assert proc.returncode == 1
    assert str(home) in line and labdir.MARKER in line
    assert snapshot(home) == before, "a directory the lab did not make was changed"


def test_up_refuses_to_write_into_a_directory_the_lab_did_not_make(tmp_path: Path) -> None:
    home = a_home(tmp_path)
    before = snapshot(home)
    line = one_line_error(lab("--workdir", str(home), "up", "--provider", "local"))
    assert str(home) in line and "did not make it" in line
    assert snapshot(home) == before and not (home / labdir.MARKER).exists()
    line = one_line_error(lab("--workdir", str(home), "build"))
    assert str(home) in line and snapshot(home) == before


def test_wipe_deletes_only_what_the_marker_lists(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    outside = tmp_path / "cache"
    outside.mkdir()
    (outside / "kubectl").write_text("a binary\n")
    with labdir.recording(workdir):
        (workdir / "etcd").mkdir()
        (workdir / "etcd" / "db").write_text("x")
        (workdir / "bin").symlink_to(outside)
        (workdir / "state.json").write_text("{}")
    assert labdir.require_owned(workdir) == {"etcd", "bin", "state.json"}
    (workdir / "pki").mkdir()  # put there by someone else after the lab made the directory
    (workdir / "notes.txt").write_text("mine")
    removed = labdir.remove_owned(workdir, ["etcd", "bin", "pki", "notes.txt", "state.json", "../cache"])
    assert sorted(removed) == ["bin", "etcd", "state.json"]
    assert sorted(p.name for p in workdir.iterdir()) == [labdir.MARKER, "notes.txt", "pki"]
    assert (outside / "kubectl").read_text() == "a binary\n", "a symlink's target was deleted"
    assert labdir.require_owned(workdir) == frozenset()


def test_claim_accepts_a_new_or_empty_directory_and_records_what_appears(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with labdir.recording(empty):
        (empty / "run").mkdir()
    with labdir.recording(empty):  # a second command adds what it made
        (empty / "deploy").mkdir()
    assert labdir.require_owned(empty) == {"run", "deploy"}
    data = json.loads((empty / labdir.MARKER).read_text())
    assert data["made_directory"] is False and data["workdir"] == str(empty)
    fresh = tmp_path / "a" / "b"
    labdir.claim(fresh)
    assert json.loads((fresh / labdir.MARKER).read_text())["made_directory"] is True


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(labdir.NotALabDirectory, match="not a directory"):
        labdir.claim(tmp_path / "f")


def test_a_directory_an_older_lab_made_is_adopted(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "etcd").mkdir(parents=True)
    (old / "notes.txt").write_text("mine")
    (old / "provider.json").write_text(json.dumps({"provider": "local"}) + "\n")
    assert labdir.require_owned(old) == {"etcd", "provider.json"}
    labdir.remove_owned(old, ["etcd", "notes.txt"])
    assert (old / "notes.txt").exists() and not (old / "etcd").exists()


def test_a_look_alike_provider_json_is_not_a_lab(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "provider.json").write_text(json.dumps({"provider": "local", "name": "someone's"}))
    with pytest.raises(labdir.NotALabDirectory):
        labdir.require_owned(other)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12),
                max_size=6))
def test_remove_owned_never_leaves_the_directory(tmp_path: Path, names: list[str]) -> None:
    root = tmp_path / f"r{os.urandom(4).hex()}"
    workdir = root / "lab"
    (root / "keep").mkdir(parents=True)
    with labdir.recording(workdir):
        (workdir / "etcd").mkdir()
    labdir.remove_owned(workdir, [*names, "..", ".", "", "../keep"])
    assert (root / "keep").is_dir() and workdir.is_dir() and (workdir / labdir.MARKER).exists()


def test_a_directory_an_older_lab_build_made_is_adopted(tmp_path: Path) -> None:
    built = tmp_path / "built"
    (built / "logs").mkdir(parents=True)
    (built / "logs" / "build.log").write_text("building Kubernetes\n")
    assert labdir.require_owned(built) == {"logs"}
    other = tmp_path / "other"
    (other / "logs").mkdir(parents=True)
    (other / "logs" / "build.log").write_text("x")
    (other / "notes.txt").write_text("mine")
    with pytest.raises(labdir.NotALabDirectory):
        labdir.claim(other)


def test_a_directory_an_older_kind_build_made_is_adopted(tmp_path: Path) -> None:
    built = tmp_path / "built"
    (built / "logs").mkdir(parents=True)
    (built / "logs" / "kind-build.log").write_text("building the node image\n")
    (built / "docker").mkdir()
    assert labdir.require_owned(built) == {"logs", "docker"}
