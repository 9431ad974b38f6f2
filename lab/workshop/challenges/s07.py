"""Step 07's challenge (prediction): which worker does MostAllocated fill?"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.objects import NAMESPACE, apply_files, wait_scheduled
from lab.workshop.predict import judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "07"
FILE = "docs/labs/files/07-most-allocated-pods.yaml"


def lab_name(lab: "LabCluster", real: str) -> str:
    """The lab's name of a node (on kind the cluster's own name differs)."""
    return next((n.name for n in lab.spec.nodes if lab.real_name(n.name) == real), real)


def pack_node(lab: "LabCluster") -> str | None:
    pod = lab.find_pod(NAMESPACE, "pack-1")
    node = (pod or {}).get("spec", {}).get("nodeName")
    return lab_name(lab, node) if node else None


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, pack_node(lab),
                      how_to_see=f"kubectl apply -f {FILE} and see where pack-1 goes")


def solution(lab: "LabCluster") -> None:
    apply_files(lab.workdir, FILE)
    wait_scheduled(lab.workdir, "pack-1", "pack-2", "pack-3")
    node = pack_node(lab)
    assert node is not None  # wait_scheduled returned: it is bound
    save_answer(lab.workdir, STEP, node)


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("Before you apply the pack pods: on which worker will custom-k8s-scheduler (MostAllocated) put "
              "pack-1? Answer with the node's name, e.g. worker-node01."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "MostAllocated scores a node higher the larger the share of its CPU and memory already requested.",
        "python -m lab status shows each worker's requested share now; the fullest worker that still fits "
        "400m wins.",
        "Or ask simulate, as the step does: its first line names pack-1's node.",
    ),
)
