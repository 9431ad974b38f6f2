"""Step 14's challenge (prediction): what is left on master-node after the cleanup."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.predict import first_number, judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "14"
WORKSHOP_NAMESPACE = "default"


def pods_after_cleanup(lab: "LabCluster") -> str:
    """Pods on master-node that are not the workshop's (its pods all live in default)."""
    master = lab.master
    pods = (lab.find("/api/v1/pods", fieldSelector=f"spec.nodeName={master}") or {}).get("items", [])
    return str(sum(1 for p in pods
                   if p["metadata"]["namespace"] != WORKSHOP_NAMESPACE
                   and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")))


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, pods_after_cleanup(lab), normalise=first_number,
                      how_to_see="python -m lab status after the cleanup")


def solution(lab: "LabCluster") -> None:
    save_answer(lab.workdir, STEP, pods_after_cleanup(lab))


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("Before you clean up: how many pods will python -m lab status count on master-node afterwards? "
              "Answer with a number."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "The workshop's pods all live in namespace default; the cleanup deletes only those.",
        "kubectl get pods -A -o wide --field-selector spec.nodeName=master-node lists what runs there now.",
        "Count the ones outside default.",
    ),
)
