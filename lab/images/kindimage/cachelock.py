"""File locks on the shared build cache (``~/.cache/scheduler-lab``): two checkouts building kind
images at once take turns instead of writing the same tars and directories together.

The lock is an exclusive ``fcntl.flock`` on ``<cache>/<name>.lock``, released when the holder's
file closes (also when it dies). It is re-entrant within one process, because flock locks belong
to an open file: a nested acquire on a second descriptor would wait for itself.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from lab.build import cache_root

_held: dict[Path, int] = {}


@contextmanager
def cache_lock(name: str, say: Callable[[str], None] = print, root: Path | None = None) -> Iterator[Path]:
    """Hold ``<cache>/<name>.lock`` for the block; say so when another process holds it first."""
    path = (root or cache_root()) / f"{name}.lock"
    if _held.get(path):
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"  waiting for another checkout's build to finish with the shared cache (lock: {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        _held[path] = 1
        try:
            yield path
        finally:
            del _held[path]
    finally:
        os.close(fd)
