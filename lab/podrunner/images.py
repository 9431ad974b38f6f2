"""Which images podrunner runs, and the local command an image's container becomes.

A container image is a filesystem and an entrypoint; podrunner has neither, only the programs
the lab already has: the kube-scheduler binary it built, and this checkout's venv Python with the
``scheduler`` package (the participant's working copy). An image is run here when one of those
is what it contains; the pod's command/args are kept, with the image's own paths mapped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KUBE_SCHEDULER_IMAGE = "registry.k8s.io/kube-scheduler:v1.29.15"
# A participant's own build runs too, whatever its registry and tag: the repository ends in
# /py-scheduler (scheduler-lab/py-scheduler:0.1.0, localhost:5000/me/py-scheduler:dev) or is it.
PY_SCHEDULER_REPOSITORY = re.compile(r"^(?:.+/)?py-scheduler$")
# The annotation the local lab puts on the pods that stand for its own control-plane processes
# (lab/providers/local.py): those are never run, kwok keeps faking them.
STANDS_FOR = "scheduler-lab.dev/stands-for"

# The images' entrypoints (their Dockerfiles): what runs when a container gives no command.
ENTRYPOINTS = {
    "kube-scheduler": (["/usr/local/bin/kube-scheduler"], []),
    "py-scheduler": (["python", "-m", "scheduler"], ["--help"]),
}
# Program paths inside each image, mapped to what the lab has.
KUBE_SCHEDULER_PATHS = ("/usr/local/bin/kube-scheduler", "kube-scheduler")
PYTHON_PATHS = ("python", "python3", "/usr/local/bin/python", "/usr/local/bin/python3", "/usr/bin/python3")


class ImageError(ValueError):
    """A container asks for a program the image (as emulated) does not have; str() is one line."""


@dataclass(frozen=True)
class Programs:
    """The programs of this lab that the known images stand for."""

    kube_scheduler: Path  # the kube-scheduler binary the local lab built
    python: Path          # this checkout's venv Python (runs `-m scheduler` from the working copy)


def repository(image: str) -> str:
    """The image name without its digest and tag ("reg:5000/a/b:t@sha256:x" -> "reg:5000/a/b")."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    return name


def kind_of(image: str) -> str | None:
    """"kube-scheduler", "py-scheduler", or None for an image podrunner leaves to kwok."""
    if image == KUBE_SCHEDULER_IMAGE:
        return "kube-scheduler"
    if PY_SCHEDULER_REPOSITORY.match(repository(image)):
        return "py-scheduler"
    return None


def runs_here(pod: dict) -> bool:
    """Whether podrunner runs ``pod``: every container (init ones too) has an image the lab knows."""
    meta = pod.get("metadata") or {}
    if STANDS_FOR in (meta.get("annotations") or {}):
        return False
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    return bool(containers) and all(kind_of(c.get("image", "")) is not None for c in containers)


def kwok_excluded_query() -> str:
    """A gojq expression that is true exactly when ``runs_here`` is (kwok's stage selectors use it).

    Kept beside runs_here so both say the same thing; tests/unit compare them on sample pods."""
    scheduler = re.escape(KUBE_SCHEDULER_IMAGE).replace("\\", "\\\\")
    return ('(.metadata.annotations["' + STANDS_FOR + '"] == null) and '
            '([(.spec.containers // []), (.spec.initContainers // [])] | add | length > 0) and '
            '([(.spec.containers // []), (.spec.initContainers // [])] | add | all(.image | '
            f'test("^{scheduler}$") or (split("@")[0] | sub(":[^:/]*$"; "") | test("^(.+/)?py-scheduler$"))))')


def command_for(container: dict, programs: Programs) -> list[str]:
    """The local argv for ``container``: its command and args (or the image's), programs mapped."""
    kind = kind_of(container.get("image", ""))
    if kind is None:
        raise ImageError(f"image {container.get('image')!r} is not one podrunner runs")
    entrypoint, default_args = ENTRYPOINTS[kind]
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command:
        command = list(entrypoint)
        args = args or list(default_args)
    program, rest = command[0], command[1:]
    if kind == "kube-scheduler" and program in KUBE_SCHEDULER_PATHS:
        return [str(programs.kube_scheduler), *rest, *args]
    if kind == "py-scheduler" and program in PYTHON_PATHS:
        return [str(programs.python), *rest, *args]
    raise ImageError(f"container {container.get('name')!r}: {program!r} is not a program of image "
                     f"{container.get('image')!r} as the local lab runs it (it has "
                     f"{', '.join(KUBE_SCHEDULER_PATHS if kind == 'kube-scheduler' else PYTHON_PATHS)})")


def bind_to(argv: list[str], pod_ip: str) -> list[str]:
    """``argv`` with the scheduler's --bind-address set to the pod's own IP.

    In a cluster each pod has its own network namespace, so two replicas can both listen on
    0.0.0.0:10259. Here every pod shares the host's network (no network namespace: it would cut
    the process off from the API server on the host's loopback), so each pod gets its own loopback
    address instead and the flag that says where to listen is pointed at it: both replicas then
    listen on <their pod IP>:10259 without clashing, and probes and clients reach them there."""
    out: list[str] = []
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word.startswith("--bind-address="):
            continue
        if word == "--bind-address" and i + 1 < len(argv):
            skip = True
            continue
        out.append(word)
    return [*out, f"--bind-address={pod_ip}"]
