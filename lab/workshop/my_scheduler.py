"""Step 05/06's own scheduler (my-kube-scheduler) in the cluster: apply its files, remove it.

Its objects live in kube-system (where a scheduler's Lease and the built-in Roles are), carry the
label scheduler-lab.dev/workshop=05, and the Lease is written by the scheduler itself."""
from __future__ import annotations

from pathlib import Path

from lab.deploy import kubectl

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "docs" / "labs" / "files" / "05-deploy-your-own-scheduler"
SOLUTION = FILES / "solution"
NAME = "my-kube-scheduler"
LABEL = "scheduler-lab.dev/workshop=05"
_DELETE = ("delete", "--ignore-not-found", "--wait=true")


def apply_solution(workdir: Path) -> None:
    """The completed files of step 05 (idempotent: kubectl apply), and then until the scheduler has
    taken its Lease and bound its pod: what step 05's check looks at is there when this returns."""
    kc = workdir / "kubeconfig"
    kubectl(workdir, kc, "apply", "-f", str(SOLUTION))
    kubectl(workdir, kc, "rollout", "status", "-n", "kube-system", f"deployment/{NAME}", "--timeout=90s")
    kubectl(workdir, kc, "wait", "-n", "default", "--for=condition=PodScheduled", "pod/mine", "--timeout=90s")


def remove(workdir: Path) -> None:
    """Everything step 05 created (Deployment first, so no replica renews the Lease afterwards)."""
    kc = workdir / "kubeconfig"
    kubectl(workdir, kc, *_DELETE, "-n", "kube-system", "deployment", "-l", LABEL)
    kubectl(workdir, kc, *_DELETE, "-n", "kube-system",
            "configmaps,serviceaccounts,roles,rolebindings,lease", "-l", LABEL)
    kubectl(workdir, kc, *_DELETE, "clusterrolebindings,clusterroles", "-l", LABEL)
    kubectl(workdir, kc, *_DELETE, "-n", "kube-system", "lease", NAME)
    kubectl(workdir, kc, *_DELETE, "-n", "default", "pod", "mine", "after-failover")
