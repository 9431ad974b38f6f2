"""Step 02's challenge (task): the same pod, placed by the default scheduler."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.objects import NAMESPACE, WORKSHOP_LABEL, apply_files, wait_scheduled
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "02"
POD = "nginx-default"
SOLUTION_FILE = "docs/labs/files/02-nginx-default.yaml"


def check(lab: "LabCluster") -> Problems:
    pod = lab.find_pod(NAMESPACE, POD)
    if pod is None:
        return [f"pod default/{POD} does not exist: copy manifests/samples/nginx-my-scheduler.yaml, "
                "rename the pod and apply it"]
    problems: Problems = []
    labels = pod["metadata"].get("labels") or {}
    if labels.get(WORKSHOP_LABEL) != STEP:
        problems.append(f"pod default/{POD} lacks the label {WORKSHOP_LABEL}={STEP} (lab reset finds "
                        "challenge objects by it)")
    name = pod["spec"].get("schedulerName")
    if name != "default-scheduler":
        problems.append(f"pod default/{POD} asks for scheduler {name!r}: nobody runs that one here")
    elif not pod["spec"].get("nodeName"):
        problems.append(f"pod default/{POD} is not bound yet: kubectl describe pod {POD}")
    elif lab.scheduled_by(pod) != "default-scheduler":
        problems.append(f"pod default/{POD} has no Scheduled event from default-scheduler")
    return problems


def solution(lab: "LabCluster") -> None:
    apply_files(lab.workdir, SOLUTION_FILE)
    wait_scheduled(lab.workdir, POD)


CHALLENGE = Challenge(
    step=STEP,
    kind="task",
    question=(f"Create a pod {POD} like nginx (same image and requests) that the default scheduler places "
              f"within seconds, labelled {WORKSHOP_LABEL}={STEP}. Leave nginx waiting."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "Start from a copy: cp manifests/samples/nginx-my-scheduler.yaml .lab/workshop/nginx-default.yaml",
        "Two fields decide it: metadata.name, and spec.schedulerName (which scheduler a pod waits for).",
        "Remove spec.schedulerName altogether, or set it to default-scheduler; add the label under "
        "metadata.labels, with the value in quotes (\"02\").",
    ),
)
