"""Step 06's challenge (prediction): the longest time a hard-killed leader's Lease takes to move."""
from __future__ import annotations

from lab.workshop.reset import resetter

import re
from typing import TYPE_CHECKING

import yaml

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.progress import answer, save_answer

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "06"
CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/my-kube-scheduler-config"


def _seconds(value: object, default: float) -> float:
    """A duration of the configuration ("15s", "1m30s" is not used here) in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(value or "").strip())
    return float(m.group(1)) if m else default


def bounds(lab: "LabCluster") -> tuple[float, float] | None:
    """(leaseDuration, leaseDuration + retryPeriod) from the ConfigMap in the cluster, None if absent.

    A leader that dies without releasing its Lease stops renewing it; the standby may take it
    leaseDuration after the last renewal, on its next try (every retryPeriod)."""
    cm = lab.find(CONFIGMAP)
    if cm is None:
        return None
    config = yaml.safe_load((cm.get("data") or {}).get("config.yaml") or "") or {}
    le = config.get("leaderElection") or {}
    duration = _seconds(le.get("leaseDuration"), 15.0)
    return duration, duration + _seconds(le.get("retryPeriod"), 2.0)


def check(lab: "LabCluster") -> Problems:
    limits = bounds(lab)
    if limits is None:
        return ["configmap kube-system/my-kube-scheduler-config does not exist: do step 05 first"]
    given = answer(lab.workdir, STEP)
    if given is None:
        return ["no answer yet: python -m lab answer 06 <seconds>"]
    m = re.search(r"\d+(?:\.\d+)?", given)
    if m is None:
        return [f"answer {given!r} has no number of seconds: python -m lab answer 06 <seconds>"]
    low, high = limits
    if not low <= float(m.group()) <= high:
        return [
            f"{m.group()}s is not it: read leaseDuration and retryPeriod in the ConfigMap "
            "kube-system/my-kube-scheduler-config (a leader that crashed never releases its Lease)"
        ]
    return []


def solution(lab: "LabCluster") -> None:
    limits = bounds(lab) or (15.0, 17.0)
    save_answer(lab.workdir, STEP, f"{limits[1]:g}")


def reset(lab: "LabCluster") -> None:
    # Step 06 starts with step 05 done (replayed from its solution files), no answer given yet.
    resetter(STEP)(lab)


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=(
        "The leader of my-kube-scheduler crashes (its node loses power: it cannot release the Lease). "
        "At most how many seconds after its last renewal does the other replica hold the Lease? "
        "Answer with python -m lab answer 06 <seconds>."
    ),
    check=check,
    solution=solution,
    reset=reset,
    hints=(
        "kubectl get configmap -n kube-system my-kube-scheduler-config -o yaml: the leaderElection section.",
        "The standby may take the Lease once it has not been renewed for leaseDuration; it looks every retryPeriod.",
    ),
)
