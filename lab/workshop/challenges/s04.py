"""Step 04's challenge (task): more replicas, every one placed by random-scheduler."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.kubectl import kubectl
from lab.workshop.objects import NAMESPACE, apply_files, wait_rollout
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "04"
REPLICAS = 4


def check(lab: "LabCluster") -> Problems:
    dep = lab.find("/apis/apps/v1/namespaces/default/deployments/sleep")
    if dep is None:
        return ["deployment default/sleep does not exist: kubectl apply -f manifests/samples/sleep.yaml"]
    if int(dep["spec"].get("replicas") or 0) != REPLICAS:
        return [f"deployment default/sleep asks for {dep['spec'].get('replicas')} replicas, not {REPLICAS}"]
    problems: Problems = []
    pods = [p for p in lab.pods(NAMESPACE, "app=sleep") if not p["metadata"].get("deletionTimestamp")]
    if len(pods) != REPLICAS:
        problems.append(f"deployment default/sleep has {len(pods)} pods, not {REPLICAS} (yet?)")
    for p in pods:
        name = p["metadata"]["name"]
        if not p["spec"].get("nodeName"):
            problems.append(f"pod default/{name} is not bound yet (is py-scheduler leading? python -m lab status)")
        elif (by := lab.scheduled_by(p)) != "random-scheduler":
            problems.append(f"pod default/{name} has no Scheduled event from random-scheduler"
                            + (f" (it has one from {by})" if by else ""))
    return problems


def solution(lab: "LabCluster") -> None:
    apply_files(lab.workdir, "manifests/samples/sleep.yaml")
    kubectl(lab.workdir, "scale", "-n", "default", "deployment/sleep", f"--replicas={REPLICAS}")
    wait_rollout(lab.workdir, "sleep")


CHALLENGE = Challenge(
    step=STEP,
    kind="task",
    question=(f"Run {REPLICAS} replicas of sleep instead of 2, and show that random-scheduler placed every one "
              "(not only the first two)."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "A Deployment's replica count is one field: kubectl scale changes it.",
        f"kubectl scale deployment/sleep --replicas={REPLICAS}, then kubectl rollout status deployment/sleep",
        "The new pods come from the same template, so they ask for the same scheduler: "
        "kubectl describe pods -l app=sleep | grep -w Scheduled shows who placed each.",
    ),
)
