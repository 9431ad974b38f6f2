"""Private keys, tokens and kubeconfigs are 0600 from the moment the file exists."""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.host import secretfile
from lab.host.pki import Pki
from lab.host.secretfile import write_secret

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_modes(monkeypatch) -> Iterator[list[int]]:
    """Under umask 0, the mode of every file write_secret opens, taken right after os.open."""
    modes: list[int] = []
    real_open = os.open

    def open_and_stat(path, flags, mode=0o777, *args, **kwargs):
        fd = real_open(path, flags, mode, *args, **kwargs)
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    monkeypatch.setattr(secretfile.os, "open", open_and_stat)
    old = os.umask(0)
    try:
        yield modes
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_never_wider_than_0600(tmp_path: Path, open_modes: list[int]) -> None:
    path = write_secret(tmp_path / "d" / "token", "s3cret")
    assert open_modes == [0o600] and mode(path) == 0o600 and path.read_text() == "s3cret"


def test_an_existing_wider_file_is_replaced_not_rewritten(tmp_path: Path, open_modes: list[int]) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("old")
    path.chmod(0o644)
    write_secret(path, b"new")
    assert mode(path) == 0o600 and path.read_bytes() == b"new" and open_modes == [0o600]
    assert [p.name for p in tmp_path.iterdir()] == ["kubeconfig"], "a partial file was left"


def test_a_symlink_in_the_way_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not the lab's")
    link = tmp_path / "kubeconfig"
    link.symlink_to(target)
    write_secret(link, "secret")
    assert not link.is_symlink() and link.read_text() == "secret" and mode(link) == 0o600
    assert target.read_text() == "not the lab's"


def test_the_lab_pki_writes_every_private_key_0600(tmp_path: Path, open_modes: list[int]) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure({"admin": ("kubernetes-admin", "system:masters")}, serving_ips=["127.0.0.1"])
    keys = sorted(pki.dir.glob("*.key"))
    assert len(keys) == 4  # ca, sa, apiserver, admin
    assert open_modes == [0o600] * 4 and all(mode(k) == 0o600 for k in keys)


def test_no_secret_is_written_first_and_narrowed_afterwards() -> None:
    """The old pattern (write_text / copyfile, then chmod(0o600)) leaves the file readable in between."""
    offenders = []
    for path in sorted((ROOT / "lab").rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"chmod\(0o600\)|copyfile\([^)]*kubeconfig", text):
            offenders.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    assert offenders == []


def test_the_local_lab_writes_kubeconfigs_0600(tmp_path: Path, open_modes: list[int]) -> None:
    from lab.providers.local import CLIENTS, LocalProvider
    from lab.spec import load_spec

    provider = LocalProvider(load_spec(), tmp_path, say=lambda _: None)
    provider.pki.ensure(CLIENTS, serving_ips=["127.0.0.1"])
    del open_modes[:]
    path = provider.write_kubeconfig(tmp_path / "kubeconfig", "admin")
    assert open_modes == [0o600] and mode(path) == 0o600 and "client-key-data" in path.read_text()
