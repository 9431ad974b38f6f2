"""Step 05's challenge (task): deploy my-kube-scheduler from the starting files, gaps filled in."""
from __future__ import annotations

from lab.workshop.reset import resetter

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop import my_scheduler

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "05"


def check(lab: "LabCluster") -> Problems:
    from lab.workshop.checks import check_05

    return check_05(lab)


def solution(lab: "LabCluster") -> None:
    my_scheduler.apply_solution(lab.workdir)


def reset(lab: "LabCluster") -> None:
    # Step 05 starts with none of its scheduler in the cluster: reset removes it with the rest.
    resetter(STEP)(lab)


CHALLENGE = Challenge(
    step=STEP,
    kind="task",
    question=(
        "Fill in the gaps (GAP 1-8) of the starting files in docs/labs/files/05-deploy-your-own-scheduler/ "
        "and apply them, one by one, so that two replicas of my-kube-scheduler run, one holds the Lease "
        "kube-system/my-kube-scheduler, and the pod mine (5-pod.yaml) is bound by my-kube-scheduler."
    ),
    check=check,
    solution=solution,
    reset=reset,
    hints=(
        "Every gap names a piece of another file: the ServiceAccount's name, the ConfigMap's name and key, the "
        "Lease in leaderElection.resourceName.",
        "A pod stuck in ContainerCreating: kubectl describe pod -n kube-system -l "
        "app.kubernetes.io/name=my-kube-scheduler shows the event (FailedMount: which ConfigMap is missing?).",
        "A pod Running but binding nothing: kubectl logs -n kube-system deployment/my-kube-scheduler; "
        "'forbidden' means a binding is missing (4-rbac.yaml).",
    ),
)
