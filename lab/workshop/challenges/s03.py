"""Step 03's challenge (task): be the scheduler yourself, with one binding."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.objects import NAMESPACE, apply_files, bind
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "03"
POD = "by-hand"
NODE = "worker-node02"
FILE = "docs/labs/files/03-by-hand.yaml"


def check(lab: "LabCluster") -> Problems:
    pod = lab.find_pod(NAMESPACE, POD)
    if pod is None:
        return [f"pod default/{POD} does not exist: kubectl apply -f {FILE}"]
    if pod["spec"].get("schedulerName") != "my-scheduler":
        return [f"pod default/{POD} must ask for my-scheduler (nobody runs it: you are the scheduler); "
                f"kubectl delete pod {POD} and apply {FILE} as it is"]
    node = pod["spec"].get("nodeName")
    if not node:
        return [f"pod default/{POD} is not bound yet: POST a Binding to its binding subresource"]
    if node != lab.real_name(NODE):
        return [f"pod default/{POD} is bound to {node}, not {NODE}: a binding cannot be undone; "
                f"kubectl delete pod {POD}, apply it again and bind it to {NODE}"]
    by = lab.scheduled_by(pod)
    if by:
        return [f"pod default/{POD} was placed by {by}: bind it yourself, with no scheduler"]
    return []


def solution(lab: "LabCluster") -> None:
    if lab.find_pod(NAMESPACE, POD) is None:
        apply_files(lab.workdir, FILE)
    pod = lab.find_pod(NAMESPACE, POD) or {}
    if not pod.get("spec", {}).get("nodeName"):
        bind(lab.workdir, POD, lab.real_name(NODE))


CHALLENGE = Challenge(
    step=STEP,
    kind="task",
    question=(f"No scheduler this time: apply {FILE} (a pod for my-scheduler) and place it on {NODE} "
              "yourself, with the one API call the script makes for each pod."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "Look for the POST in scripts/random-scheduler.sh: which URL, which body?",
        "The body is a Binding: {\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"by-hand\"},"
        "\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"worker-node02\"}}",
        "kubectl can POST it without a proxy: echo 'BINDING' | kubectl create --raw "
        "/api/v1/namespaces/default/pods/by-hand/binding -f -",
    ),
)
