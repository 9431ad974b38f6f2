"""The objects the workshop creates in the cluster, and removing them.

Everything a step's guided part or a challenge creates is either in one of the files below, one of
the named pods, or carries the label WORKSHOP_LABEL (what challenges create): that is all reset
deletes, in the order step 14 does (Deployments and their pods first, then RBAC, then pods, then
claims and storage)."""
from __future__ import annotations

from pathlib import Path

from lab.workshop.kubectl import kubectl

WORKSHOP_LABEL = "scheduler-lab.dev/workshop"
NAMESPACE = "default"

DEPLOYMENT_FILES = ("manifests/samples/sleep.yaml", "docs/labs/files/09-maintenance-demo.yaml",
                    "docs/labs/files/10-my-scheduler.yaml", "docs/labs/files/11-scheduler-with-kubeconfig.yaml",
                    "docs/labs/files/11-scheduler-with-serviceaccount.yaml",
                    "docs/labs/files/12-workshop-scheduler.yaml")
RBAC_FILES = ("docs/labs/files/10-my-scheduler-rbac.yaml", "docs/labs/files/11-kubeconfig-scheduler-rbac.yaml",
              "docs/labs/files/11-handmade-token.yaml", "docs/labs/files/12-workshop-scheduler-rbac.yaml")
POD_NAMES = ("nginx", "mine", "after-failover", "nowhere-to-go", "picky", "via-configmap", "via-serviceaccount", "spread-1", "spread-2", "spread-3", "pack-1", "pack-2",
             "pack-3", "cpu-hungry", "custom-scheduler-pod", "pvc-py", "pvc-upstream")
# ConfigMaps steps 10 and 11 make with `kubectl create configmap` (no file to delete them by).
CREATED_CONFIGMAPS = ("my-py-scheduler-plugins", "scheduler-kubeconfig")
STORAGE_FILES = ("docs/labs/files/13-claims.yaml", "docs/labs/files/13-local-storage.yaml")
# What challenges label: namespaced kinds in default, then cluster-scoped ones.
LABELLED_NAMESPACED = "deployments,pods,configmaps,serviceaccounts,rolebindings,roles,persistentvolumeclaims"
LABELLED_CLUSTER = "clusterrolebindings,clusterroles,persistentvolumes,storageclasses"

_DELETE = ("delete", "--ignore-not-found", "--wait=true")


def _files(*paths: str) -> list[str]:
    return [arg for p in paths for arg in ("-f", p)]


def delete_workshop_objects(workdir: Path) -> list[str]:
    """Delete every workshop object; the kubectl lines saying what was deleted."""
    out = [
        kubectl(workdir, *_DELETE, "--cascade=foreground", *_files(*DEPLOYMENT_FILES)),
        kubectl(workdir, *_DELETE, "-n", NAMESPACE, LABELLED_NAMESPACED, "-l", WORKSHOP_LABEL),
        kubectl(workdir, *_DELETE, *_files(*RBAC_FILES)),
        kubectl(workdir, *_DELETE, "-n", NAMESPACE, "configmap", *CREATED_CONFIGMAPS),
        kubectl(workdir, *_DELETE, "-n", NAMESPACE, "--grace-period=1", "pod", *POD_NAMES),
        kubectl(workdir, *_DELETE, *_files(*STORAGE_FILES)),
        kubectl(workdir, *_DELETE, LABELLED_CLUSTER, "-l", WORKSHOP_LABEL),
        # Steps 09 and 10 put workers under maintenance.
        kubectl(workdir, "label", "node", "--all", "maintenance-"),
    ]
    return [line for text in out for line in text.splitlines() if line.strip()]


def apply_files(workdir: Path, *paths: str) -> list[str]:
    return [ln for ln in kubectl(workdir, "apply", *_files(*paths)).splitlines() if ln.strip()]


def bind(workdir: Path, pod: str, node: str, namespace: str = NAMESPACE) -> None:
    """What a scheduler does to place a pod: POST its binding subresource."""
    import json

    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
    kubectl(workdir, "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/binding", "-f", "-",
            stdin=json.dumps(body))


def wait_scheduled(workdir: Path, *pods: str, timeout: int = 60) -> None:
    kubectl(workdir, "wait", "-n", NAMESPACE, "--for=condition=PodScheduled", f"--timeout={timeout}s",
            *(f"pod/{p}" for p in pods), timeout=timeout + 10)


def wait_rollout(workdir: Path, deployment: str, timeout: int = 60, namespace: str = NAMESPACE) -> None:
    """Until every replica of the Deployment is updated and available (Ready), as ``kubectl rollout status``."""
    kubectl(workdir, "rollout", "status", "-n", namespace, f"deployment/{deployment}", f"--timeout={timeout}s",
            timeout=timeout + 10)
