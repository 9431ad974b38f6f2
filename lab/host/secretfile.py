"""Writing the lab's secrets (private keys, tokens, kubeconfigs): mode 0600 from the first byte.

``write_secret`` creates a new file beside the target with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode
0600 (never a wider mode, whatever the umask), writes it, and renames it over the target: no reader
ever sees the secret with another mode or half-written, and a symlink at the target is replaced,
never followed.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

MODE = 0o600


def write_secret(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` readable by its owner only; returns ``path``."""
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, MODE)
    try:
        os.fchmod(fd, MODE)  # a umask may only narrow the mode; the owner must still be able to read it
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(partial, path)
    return path
