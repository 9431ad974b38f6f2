"""Step 13's challenge (prediction): a claim decides where its pod runs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.predict import judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "13"


def truth() -> str:
    """The node of the volume data-upstream gets (lab.workshop.checks.STEP_10_PODS, which check_13 uses too)."""
    from lab.workshop.checks import STEP_10_PODS

    return next(node for pod, *_rest, node in STEP_10_PODS if pod == "pvc-upstream")


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, truth(), how_to_see="kubectl get pod pvc-upstream -o wide")


def solution(lab: "LabCluster") -> None:
    save_answer(lab.workdir, STEP, truth())


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("Before you apply pvc-upstream: on which worker will it run, whatever custom-k8s-scheduler's "
              "scores say? Answer with the node's name."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "pvc-upstream mounts the claim data-upstream; which volume can that claim get (size, class)?",
        "A local PersistentVolume exists on one node only: its nodeAffinity in "
        "docs/labs/files/13-local-storage.yaml says which.",
        "VolumeBinding's filter removes every node where no fitting volume lives: only one is left.",
    ),
)
