"""Step 10's challenge (task): your image, both plugins, and a pod that avoids the maintenance node
and lands on the freest of the other workers. The participant puts the freest worker under
maintenance first, so the scorer alone would pick exactly the node the filter must rule out
(``reset`` leaves no node labelled: the step's guided part starts from it too)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.challenges.cluster_ops import ROOT, delete_step_objects, kubectl
from lab.workshop.objects import NAMESPACE

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "10"
POD = "picky"
FILES = ("docs/labs/files/10-my-scheduler.yaml", "docs/labs/files/10-my-scheduler-rbac.yaml",
         "docs/labs/files/10-picky-pod.yaml")
PLUGINS_CONFIGMAP = "my-py-scheduler-plugins"
PLUGIN_FILES = ("most_available_cpu.py", "avoid_maintenance.py")
# The image `make lab-up` loaded onto every node (kind) or that the local lab maps to the working copy.
LAB_IMAGE = "scheduler-lab/py-scheduler:0.1.0"


def free_millicpu(lab: "LabCluster", leave_out: str = "") -> dict[str, int]:
    """Free (unrequested) millicores per worker not under maintenance; ``leave_out``: a pod whose
    request is not counted (the one being judged)."""
    from lab.cluster import pod_requests
    from lab.workshop.checks import MAINTENANCE_LABEL

    labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {}
              for n in (lab.find("/api/v1/nodes") or {}).get("items", [])}
    judged = lab.find_pod(NAMESPACE, leave_out) if leave_out else None
    free: dict[str, int] = {}
    for view in lab.nodes_view():
        if view.name not in lab.workers or labels.get(view.name, {}).get(MAINTENANCE_LABEL) == "true":
            continue
        requested = view.requested.get("cpu", 0.0)
        if judged is not None and judged["spec"].get("nodeName") == view.name:
            requested -= pod_requests(judged).get("cpu", 0.0)
        free[view.name] = round((view.allocatable.get("cpu", 0.0) - requested) * 1000)
    return free


def check(lab: "LabCluster") -> Problems:
    from lab.workshop.checks import check_10

    from lab.workshop.checks import MAINTENANCE_LABEL

    under = [n["metadata"]["name"] for n in (lab.find("/api/v1/nodes") or {}).get("items", [])
             if (n["metadata"].get("labels") or {}).get(MAINTENANCE_LABEL) == "true"]
    if not under:
        return ["no node is under maintenance: put the freest worker under maintenance first "
                f"(kubectl label node NODE {MAINTENANCE_LABEL}=true)"]
    problems = check_10(lab)
    if problems:
        return problems
    node = (lab.find_pod(NAMESPACE, POD) or {})["spec"]["nodeName"]
    free = free_millicpu(lab, leave_out=POD)
    best = max(free.values(), default=0)
    if free.get(node, -1) < best:
        freest = ", ".join(f"{n} {m}m" for n, m in sorted(free.items()))
        problems.append(f"pod default/{POD} is on {node}, not on the worker with the most free CPU "
                        f"({freest}): is MostAvailableCPU the only scorer? delete the pod and apply it again")
    return problems


def solution(lab: "LabCluster") -> None:
    from lab.workshop.checks import MAINTENANCE_LABEL

    if not any((n["metadata"].get("labels") or {}).get(MAINTENANCE_LABEL) == "true"
               for n in (lab.find("/api/v1/nodes") or {}).get("items", [])):
        free = free_millicpu(lab, leave_out=POD)
        freest = max(sorted(free), key=lambda n: free[n])
        kubectl(lab.workdir, "label", "node", freest, f"{MAINTENANCE_LABEL}=true", "--overwrite")
    src = ROOT / "examples" / "plugins"
    manifest = kubectl(lab.workdir, "create", "configmap", PLUGINS_CONFIGMAP, "--dry-run=client", "-o", "json",
                       *(f"--from-file={src / f}" for f in PLUGIN_FILES)).stdout
    obj = json.loads(manifest)
    obj["metadata"]["labels"] = {"scheduler-lab.dev/workshop": STEP}
    kubectl(lab.workdir, "apply", "-f", "-", stdin=json.dumps(obj))
    kubectl(lab.workdir, "apply", "-f", FILES[1])
    # The step's file with the lab's image in place of the participant's build (one apply, no
    # second rollout).
    manifest = (ROOT / FILES[0]).read_text(encoding="utf-8").replace("image: workshop/py-scheduler:dev",
                                                                      f"image: {LAB_IMAGE}")
    kubectl(lab.workdir, "apply", "-f", "-", stdin=manifest)
    kubectl(lab.workdir, "rollout", "status", "deployment/my-py-scheduler", "--timeout=120s", timeout=130)
    pod = lab.find_pod(NAMESPACE, POD)
    if pod is not None and check(lab):
        kubectl(lab.workdir, "delete", "pod", POD, "--grace-period=1", "--wait=true")
    kubectl(lab.workdir, "apply", "-f", FILES[2])
    kubectl(lab.workdir, "wait", f"pod/{POD}", "--for=condition=PodScheduled", "--timeout=60s", timeout=70)


def reset(lab: "LabCluster") -> None:
    from lab.workshop.checks import MAINTENANCE_LABEL

    delete_step_objects(lab.workdir, STEP, FILES, (PLUGINS_CONFIGMAP,), (POD,))
    kubectl(lab.workdir, "label", "node", "--all", f"{MAINTENANCE_LABEL}-")


CHALLENGE = Challenge(
    step=STEP,
    kind="task",
    question=("Put the freest worker under maintenance (maintenance=true). Deploy your scheduler from your image "
              "with both plugins (MostAvailableCPU and AvoidMaintenance) and create the pod picky "
              "(docs/labs/files/10-picky-pod.yaml) so that it avoids the node under maintenance and lands on the "
              "freest of the remaining workers."),
    check=check,
    solution=solution,
    reset=reset,
    hints=(
        "kubectl get nodes -L maintenance shows which node is under maintenance; python -m lab status shows how "
        "much CPU each worker has left.",
        "The plugins reach the pod through the ConfigMap my-py-scheduler-plugins (kubectl create configmap "
        "--from-file=...); the Deployment mounts it at /plugins and names each class with --plugin FILE:CLASS.",
        "A filter only runs when the profile enables it: plugins.filter.enabled AvoidMaintenance; the scorer is "
        "plugins.score.enabled MostAvailableCPU with every default scorer disabled.",
        "On kind, an image the nodes do not have gives ErrImageNeverPull: kind load docker-image IMAGE "
        '--name "$KIND_CLUSTER_NAME".',
    ),
)
