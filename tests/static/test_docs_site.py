"""The docs site's own machinery, without a browser: the vendored Mermaid (scripts/vendor_mermaid.py)
is checked against its pinned sha512 and its absence stops the build with one line, and a link to a
repository directory is published with a listing (scripts/mkdocs_repo_files.py)."""
from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.static.conftest import REPO


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_says_in_one_line_that_mermaid_is_not_cached(tmp_path: Path, monkeypatch, capsys) -> None:
    vendor = _load("vendor_mermaid")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert vendor.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "scheduler-lab" / "docs") in err


def test_a_tarball_whose_sha512_is_not_the_pinned_one_is_refused(tmp_path: Path, monkeypatch) -> None:
    vendor = _load("vendor_mermaid")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fake_npm = tmp_path / "npm"  # "npm pack" that hands over a tarball of something else
    fake_npm.write_text(f'#!/bin/sh\necho not mermaid > "{vendor.PACKAGE}-{vendor.VERSION}.tgz"\n')
    fake_npm.chmod(fake_npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(vendor.shutil, "which", lambda name: str(fake_npm) if name == "npm" else None)
    with pytest.raises(SystemExit, match=r"has integrity sha512-\S+, pinned sha512-"):
        vendor.fetch()
    assert not vendor.vendored().exists()  # nothing half-written is left for the build to use


def test_without_npm_fetch_says_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    vendor = _load("vendor_mermaid")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(vendor.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match=r"npm is not installed \(apt-get install npm\)"):
        vendor.fetch()


@pytest.fixture
def mkdocs() -> Path:
    path = Path(sys.executable).with_name("mkdocs")
    if not path.exists():
        pytest.skip("needs MkDocs (pip install -e '.[docs]', or make docs)")
    return path


def test_the_build_stops_with_one_line_when_mermaid_is_not_vendored(tmp_path: Path, mkdocs: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Mermaid 11.17.2 is not vendored" in done.stderr and "python scripts/vendor_mermaid.py" in done.stderr


def test_a_directory_link_is_published_with_a_listing_of_its_files(mkdocs: Path) -> None:
    hook = _load("mkdocs_repo_files")  # imports MkDocs' config classes
    listed = [p.name for p in hook._listed(REPO / "manifests" / "py-scheduler")]
    assert "deployment.yaml" in listed and all(not n.startswith(".") for n in listed)
    page = hook._index("manifests/py-scheduler", ["a.yaml", "<b>.yaml"])
    assert '<a href="a.yaml">a.yaml</a>' in page and "&lt;b&gt;.yaml" in page  # names are escaped
    assert hook._site_target(REPO, "manifests/py-scheduler") == "repo/manifests/py-scheduler/index.html"
    assert hook._site_target(REPO, "manifests/samples/sleep.yaml") == "repo/manifests/samples/sleep.yaml"


def test_each_measured_step_says_how_long_it_takes() -> None:
    hook = _load("mkdocs_durations")
    durations = {"local": {"07": 95.0, "08": 20.0}, "kind": {"07": 130.0}}
    page = "# 07 · Pack or spread\n\nBody.\n"
    out = hook.add_duration(page, "labs/07-pack-or-spread.md", durations)
    assert out.splitlines()[:3] == [
        "# 07 · Pack or spread", "", "*Takes about 3 minutes (measured by the doc test on kind and local).*"]
    assert "about 1 minute (measured by the doc test on local)" in hook.add_duration(
        "# 08 · x\n", "labs/08-x.md", durations)
    assert hook.add_duration(page, "labs/09-x.md", durations) == page  # not measured: no line
    assert hook.add_duration(page, "labs/README.md", durations) == page


def test_unreadable_durations_are_no_durations(tmp_path: Path) -> None:
    hook = _load("mkdocs_durations")
    bad = tmp_path / "durations.json"
    bad.write_text("[1, 2]")
    assert hook.load_durations(bad) == {}
    assert hook.load_durations(tmp_path / "missing.json") == {}
