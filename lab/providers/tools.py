"""Finding the command-line tools a provider runs (kind, kubectl, docker, vagrant) and reading
their versions."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Sequence

_VERSION_RE = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = _VERSION_RE.search(text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def find_tool(name: str, env: dict[str, str], override_var: str, extra_dirs: Sequence[Path] = ()
              ) -> str | None:
    """An executable: $override_var if set, else the first of extra_dirs, else PATH (from env)."""
    override = env.get(override_var)
    if override:
        return override if os.access(override, os.X_OK) else None
    for d in extra_dirs:
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name, path=env.get("PATH", ""))
