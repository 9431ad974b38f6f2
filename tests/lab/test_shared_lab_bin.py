"""One lab directory, two providers: .lab/bin is the local lab's link to its binaries, and a
directory of tool links (kind, kubectl) for the kind lab. Each provider takes it over from the other."""
from __future__ import annotations

from pathlib import Path

import pytest

from lab.build import Binaries
from lab.providers.base import ProviderError
from lab.providers.kind import KindProvider
from lab.providers.local import LocalProvider
from lab.spec import load_spec


def kind_tools(tmp_path: Path) -> Path:
    bins = tmp_path / "kind-bins"
    bins.mkdir()
    for name in ("kind", "k8s"):
        (bins / name).write_text("#!/bin/sh\n")
    return bins


def test_the_local_lab_replaces_the_kind_labs_tool_links(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    KindProvider(load_spec(), workdir)._link_tools(kind_tools(tmp_path))
    assert (workdir / "bin").is_dir() and (workdir / "bin" / "kubectl").is_symlink()
    local_bins = tmp_path / "local-bins"
    local_bins.mkdir()
    LocalProvider(load_spec(), workdir)._link_bin(Binaries(local_bins))
    assert (workdir / "bin").is_symlink() and (workdir / "bin").resolve() == local_bins.resolve()
    assert sorted(p.name for p in (tmp_path / "kind-bins").iterdir()) == ["k8s", "kind"], "targets untouched"


def test_the_kind_lab_never_writes_into_the_local_labs_binaries(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    workdir.mkdir()
    local_bins = tmp_path / "local-bins"
    local_bins.mkdir()
    (workdir / "bin").symlink_to(local_bins)
    KindProvider(load_spec(), workdir)._link_tools(kind_tools(tmp_path))
    assert list(local_bins.iterdir()) == []
    assert not (workdir / "bin").is_symlink() and (workdir / "bin" / "kind").is_symlink()


def test_a_bin_directory_with_real_files_is_left_alone_with_one_line(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    (workdir / "bin").mkdir(parents=True)
    (workdir / "bin" / "notes.txt").write_text("mine\n")
    with pytest.raises(ProviderError, match=r"bin is a directory holding files.*move it away"):
        LocalProvider(load_spec(), workdir)._link_bin(Binaries(tmp_path))
    assert (workdir / "bin" / "notes.txt").read_text() == "mine\n"
