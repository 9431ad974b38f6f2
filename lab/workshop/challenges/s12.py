"""Step 12's challenge (prediction): what a scheduler without its ClusterRoleBinding says."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.predict import judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "12"
TRUTH = "forbidden"  # the API's answer (HTTP 403) to a request no RBAC rule allows


def _keyword(text: str) -> str:
    return TRUTH if TRUTH in text.lower() else text.lower().strip()


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, TRUTH, normalise=_keyword,
                      how_to_see="kubectl delete clusterrolebinding workshop-scheduler, then kubectl logs")


def solution(lab: "LabCluster") -> None:
    save_answer(lab.workdir, STEP, TRUTH)


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("The workshop-scheduler runs; now its ClusterRoleBinding is deleted. Which word will the new "
              "error lines of kubectl logs deployment/workshop-scheduler contain?"),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "The ServiceAccount still authenticates: the API knows who is asking.",
        "Without a binding, no rule allows it anything: the API refuses with HTTP 403.",
        "Try it: kubectl delete clusterrolebinding workshop-scheduler; kubectl logs deployment/workshop-scheduler "
        "| tail; then kubectl apply -f docs/labs/files/12-workshop-scheduler-rbac.yaml",
    ),
)
