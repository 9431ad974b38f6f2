"""The node image's binaries, built from the Go module proxy (and pause from its C source).

Each binary is built once and cached in ``~/.cache/scheduler-lab/kind-bins-<versions>/`` like
the local lab's (lab/build.py); the control plane (kube-apiserver, -controller-manager,
-scheduler, kubectl) is the local lab's multi-call binary itself, so it is never built twice.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lab import build
from lab.images.kindimage import versions as V
from lab.images.kindimage.cachelock import cache_lock
from lab.spec import LabSpec

HERE = Path(__file__).parent
K8S_MODULE = HERE / "gomod"
ETCD_MODULE = HERE / "etcdmod"


@dataclass(frozen=True)
class GoBuild:
    """One `go build`/`go install`: ``target`` is a package path (in ``module``) or pkg@version."""

    name: str
    target: str
    module: Path | None = None
    k8s_version_flags: bool = False
    toolchain: str = ""  # a newer Go than lab.yaml's, fetched by GOTOOLCHAIN from the module proxy


GO_BUILDS = (
    GoBuild("kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy", K8S_MODULE, True),
    GoBuild("kubeadm", "k8s.io/kubernetes/cmd/kubeadm", K8S_MODULE, True),
    GoBuild("kubelet", "k8s.io/kubernetes/cmd/kubelet", K8S_MODULE, True),
    GoBuild("etcd", ".", ETCD_MODULE),
    # The proxy serves only cri-tools v1.34.0+, which needs Go >= 1.24.1.
    GoBuild("crictl", f"sigs.k8s.io/cri-tools/cmd/crictl@{V.CRICTL}", toolchain="go1.24.1"),
    GoBuild("coredns", f"github.com/coredns/coredns@{V.COREDNS}"),
    GoBuild("local-path-provisioner", f"github.com/rancher/local-path-provisioner@{V.LOCAL_PATH_PROVISIONER}"),
    GoBuild("kind", f"sigs.k8s.io/kind@{V.KIND}"),
)


def bins_dir(spec: LabSpec) -> Path:
    # Module directories by name, not by absolute path: every checkout (worktree, clone) of the
    # same sources must find the same cache, or kubelet and kubeadm are compiled once per checkout.
    builds = [(g.name, g.target, g.module.name if g.module else None, g.k8s_version_flags) for g in GO_BUILDS]
    h = hashlib.sha256(repr(builds).encode())
    for module in (K8S_MODULE, ETCD_MODULE):
        for p in sorted(module.glob("go.*")):
            h.update(p.read_bytes())
    tag = f"kind-bins-{V.KUBERNETES}_go{spec.versions.go_toolchain}_{h.hexdigest()[:10]}"
    return build.cache_root() / tag


def kind_binary(spec: LabSpec) -> Path:
    """Where `lab build --kind-node-image` puts kind itself (the pinned v0.27.0)."""
    return bins_dir(spec) / "kind"


def ensure_go_bins(spec: LabSpec, log: Path, say: Callable[[str], None] = print) -> Path:
    """Build what is missing; return the directory holding every binary by its own name."""
    out = bins_dir(spec)
    out.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    go = None
    with cache_lock("kind-bins", say), open(log, "a") as logf:
        for item in GO_BUILDS:
            if (out / item.name).exists():
                continue
            go = go or build.find_go(spec.versions.go_toolchain)
            _go(go, item, out, logf, log, say)
        if not (out / "pause").exists():
            _pause(build.find_go(spec.versions.go_toolchain), out, logf, log, say)
        # The control plane is the local lab's multi-call binary (dispatches on argv[0]).
        lab_bins = build.ensure_binaries(spec, log.parent, say)
        shutil.copy2(lab_bins.path("k8s"), out / "k8s")
    return out


def _run(args: list[str], cwd: Path, logf, log: Path, what: str, env: dict[str, str], say) -> None:
    logf.write(f"\n$ {' '.join(args)}\n")
    logf.flush()
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        raise build.BuildError(f"building {what} failed (exit {proc.returncode}); see {log}")
    say(f"  built {what} in {time.monotonic() - t0:.0f}s")


def _go(go: Path, item: GoBuild, out: Path, logf, log: Path, say) -> None:
    ldflags = build._version_ldflags(V.KUBERNETES) if item.k8s_version_flags else "-s -w"
    partial = out / f"{item.name}.partial"
    if item.module is not None:
        args = [str(go), "build", "-tags", "providerless", "-ldflags", ldflags, "-o", str(partial), item.target]
        env = build._go_env()
        _run(args, item.module, logf, log, item.name, env, say)
    else:
        gobin = out / f".gobin-{item.name}"
        shutil.rmtree(gobin, ignore_errors=True)
        # `go install pkg@version` ignores the working module; -mod=readonly does not apply.
        env = build._go_env({"GOBIN": str(gobin), "GOFLAGS": "-trimpath -buildvcs=false",
                             **({"GOTOOLCHAIN": item.toolchain} if item.toolchain else {})})
        _run([str(go), "install", "-ldflags", ldflags, item.target], out, logf, log, item.name, env, say)
        built = next(gobin.iterdir())
        built.rename(partial)
        shutil.rmtree(gobin)
    partial.rename(out / item.name)


def _pause(go: Path, out: Path, logf, log: Path, say) -> None:
    """pause from k8s.io/kubernetes' own C source, static, as build/pause/Makefile does."""
    src = module_dir("k8s.io/kubernetes", V.KUBERNETES) / "build" / "pause" / "linux" / "pause.c"
    gcc = shutil.which("gcc")
    if gcc is None:
        raise build.BuildError("gcc is needed to build the pause image (apt-get install gcc libc6-dev)")
    version = f"{V.PAUSE_TAGS[0]}-scheduler-lab"
    _run([gcc, "-Os", "-Wall", "-Werror", "-static", f'-DVERSION="{version}"', "-o", str(out / "pause.partial"),
          str(src)], out, logf, log, "pause", build._go_env(), say)
    (out / "pause.partial").rename(out / "pause")


def module_dir(module: str, version: str) -> Path:
    """A module's source in the Go module cache (downloaded from the proxy if needed)."""
    go = shutil.which("go", path=str(Path(sys.executable).parent)) or shutil.which("go") or "go"
    args = [go, "mod", "download", "-json", f"{module}@{version}"]
    where = build.cache_root()
    where.mkdir(parents=True, exist_ok=True)
    # Outside any module, so no go.sum here is touched (it keys the binaries' cache).
    proc = subprocess.run(args, capture_output=True, text=True, cwd=where,
                          env=build._go_env({"GOFLAGS": ""}), check=True)
    return Path(build._json_field(proc.stdout, "Dir"))
