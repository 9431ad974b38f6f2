"""The kind lab's images, built on this machine with no image registry (`lab build --kind-node-image`).

Inputs come only from package registries: Debian (debootstrap, apt), the Go module proxy
(Kubernetes, etcd, CoreDNS, crictl, local-path-provisioner, kind) and PyPI (the scheduler's
wheels). Every step is cached under ``~/.cache/scheduler-lab``: a second run builds nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lab.build import cache_root
from lab.host.docker_netns import DockerEngine, quirks
from lab.images.kindimage.cachelock import cache_lock
from lab.images.kindimage.docker import DockerCLI
from lab.images.kindimage.gobins import ensure_go_bins
from lab.images.kindimage.images import ImageMaker
from lab.images.kindimage.nodeimage import build_node_image
from lab.images.kindimage.rootfs import RootfsBuilder
from lab.spec import LabSpec


@dataclass(frozen=True)
class KindImages:
    node_image: str
    python_base: str
    bins: Path


def ensure_kind_images(spec: LabSpec, engine: DockerEngine, log_dir: Path,
                       say: Callable[[str], None] = print) -> KindImages:
    """Build (or find cached) the node image and the Python base image in ``engine``'s Docker."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "kind-build.log"
    t0 = time.monotonic()
    say(f"building the kind node image offline (cached; the first build takes 15-40 minutes; log: {log})")
    # One build at a time writes the shared work directory and archives (a second checkout waits,
    # then loads what the first made); the build container is named after this lab.
    with cache_lock("kind-images", say):
        bins = ensure_go_bins(spec, log, say)
        docker = DockerCLI(engine.env(), log)
        maker = ImageMaker(docker, RootfsBuilder(cache_root() / "rootfs", log, say), bins,
                           cache_root() / "kind-images", say)
        node = build_node_image(docker, maker, quirks().no_sys_resource, say,
                                container=f"{engine.netns}-kind-node-build")
        python = maker.python_base()
    say(f"  kind images ready in {time.monotonic() - t0:.0f}s: {node}, {python}")
    return KindImages(node_image=node, python_base=python, bins=bins)
