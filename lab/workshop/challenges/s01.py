"""Step 01's challenge (prediction): on how many nodes can an ordinary pod run?"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.predict import first_number, judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "01"


def placeable_nodes(lab: "LabCluster") -> str:
    """Ready, schedulable nodes without a NoSchedule/NoExecute taint: where a pod that tolerates
    nothing and selects nothing may go."""
    count = 0
    for node in (lab.find("/api/v1/nodes") or {}).get("items", []):
        spec = node.get("spec", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in node.get("status", {}).get("conditions", []))
        tainted = any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or [])
        if ready and not tainted and not spec.get("unschedulable"):
            count += 1
    return str(count)


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, placeable_nodes(lab), normalise=first_number,
                      how_to_see="kubectl get nodes shows them")


def solution(lab: "LabCluster") -> None:
    save_answer(lab.workdir, STEP, placeable_nodes(lab))


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("A pod that tolerates no taint and selects no node: on how many of the lab's nodes can the "
              "default scheduler place it? Answer with a number."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "Count the nodes first: kubectl get nodes.",
        "A taint with effect NoSchedule keeps every pod off a node unless the pod tolerates it: "
        "look at the TAINTS column of the custom-columns command above.",
        "master-node carries node-role.kubernetes.io/control-plane:NoSchedule; the workers carry nothing.",
    ),
)
