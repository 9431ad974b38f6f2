"""Vendor Mermaid for the documentation site, so the site never loads it from a CDN.

Material for MkDocs renders ```mermaid blocks with the global `mermaid` when a page already has it
and otherwise fetches https://unpkg.com/mermaid@11 in the reader's browser. The site must work
offline (a workshop room without network, and nothing sent beyond loopback in the tests), so
mkdocs.yml loads `assets/vendor/mermaid.min.js` and scripts/mkdocs_vendored_assets.py publishes it
from the cache this script fills.

Why this way: Mermaid's own build (one 3.5 MB minified file, MIT) comes from the npm registry,
where its authors publish it, by npm, the registry's ordinary client (`npm pack`), at the version
and sha512 pinned below (the tarball's `dist.integrity`, checked here again). It is not committed
(3.5 MB of minified code in every clone and diff), and no PyPI package re-publishing it is better
kept than the upstream release. The cache is shared like the Kubernetes build
($XDG_CACHE_HOME/scheduler-lab, default ~/.cache); `make prefetch` fills it before a day without
network.

    python scripts/vendor_mermaid.py          # fetch once (no-op when cached), print the path
    python scripts/vendor_mermaid.py --check  # exit 1 with one line when it is not cached
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "mermaid"
VERSION = "11.17.2"  # the major version Material 9.8.2 is made for (it would fetch mermaid@11)
INTEGRITY = "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg=="
MEMBERS = {"package/dist/mermaid.min.js": "mermaid.min.js", "package/LICENSE": "LICENSE"}


def cache_dir() -> Path:
    """Next to the lab's Kubernetes build (lab/build.py's cache_root)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scheduler-lab" / "docs" / f"{PACKAGE}-{VERSION}"


def vendored() -> Path:
    """The cached mermaid.min.js (it may not exist yet)."""
    return cache_dir() / "mermaid.min.js"


def _integrity(data: bytes) -> str:
    algorithm = INTEGRITY.split("-", 1)[0]
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def fetch() -> Path:
    """npm pack PACKAGE@VERSION, check its integrity, keep the two files; the path of the script."""
    if vendored().is_file():
        return vendored()
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(f"vendor_mermaid: npm is not installed (apt-get install npm) to fetch {PACKAGE}@{VERSION}")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=tmp,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"vendor_mermaid: npm pack {PACKAGE}@{VERSION} failed: {last}")
        tarball = Path(tmp) / f"{PACKAGE}-{VERSION}.tgz"
        got = _integrity(tarball.read_bytes())
        if got != INTEGRITY:
            raise SystemExit(f"vendor_mermaid: {tarball.name} has integrity {got}, pinned {INTEGRITY}")
        staging = Path(tmp) / "out"
        staging.mkdir()
        with tarfile.open(tarball) as tar:
            for member, name in MEMBERS.items():
                source = tar.extractfile(member)
                if source is None:
                    raise SystemExit(f"vendor_mermaid: {tarball.name} has no file {member}")
                (staging / name).write_bytes(source.read())
        target = cache_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), target)  # whole or not at all: a half-written cache is never used
    return vendored()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is cached")
    args = parser.parse_args(argv)
    if args.check:
        if not vendored().is_file():
            print(f"vendor_mermaid: {vendored()} is missing: python scripts/vendor_mermaid.py", file=sys.stderr)
            return 1
        print(vendored())
        return 0
    print(fetch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
