"""Step 09's challenge: write AvoidMaintenance.filter() yourself.

The check never depends on chance or on the live cluster: it runs the participant's plugin with
``python -m scheduler simulate`` (in a child process, so a plugin that hangs or exits cannot take
``lab check`` with it) on fixed copies of the 4-node lab state where the right answer is known:

* ``worker-node01`` labelled ``maintenance=true``: every pending pod is placed, none there;
* ``worker-node01`` labelled ``maintenance=false``: the node is used (only ``"true"`` excludes);
* every worker labelled: no pod is placed, the message counts the plugin's reason for the three
  workers and preemption finds no node worth trying (the rejection is UnschedulableAndUnresolvable).

The unfinished start file raises NotImplementedError, so the first case already fails on it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.stepfile import ROOT

if TYPE_CHECKING:
    from lab.cluster import LabCluster

PLUGIN_FILE = "avoid_maintenance.py"  # under the lab's workshop directory (.lab/workshop/)
PLUGIN_CLASS = "AvoidMaintenance"
START_FILE = ROOT / "examples" / "plugins" / "avoid_maintenance_start.py"
REFERENCE_FILE = ROOT / "examples" / "plugins" / "avoid_maintenance.py"
CONFIG = ROOT / "docs" / "labs" / "files" / "09-avoid-maintenance.yaml"
LAB_STATE = ROOT / "examples" / "states" / "lab-4-nodes.yaml"
PROFILE = "maintenance-aware-scheduler"
WORKERS = ("worker-node01", "worker-node02", "worker-node03")
SIMULATE_TIMEOUT = 60.0  # seconds; one run takes about two on an idle machine

# What the step's live objects are, for reset.
DEMO_DEPLOYMENT = "maintenance-demo"
PENDING_POD = "nowhere-to-go"
BACKGROUND_NAME = "avoid-maintenance"

QUESTION = (
    "Write the Filter yourself. `lab reset 09` puts the unfinished plugin back in "
    f".lab/workshop/{PLUGIN_FILE}: complete its filter() so that no pod ever lands on a node labelled "
    "maintenance=true (any other value, or no label, is fine), with a rejection that preemption does "
    "not try to fix by evicting pods. `lab check 09` runs your file with simulate on fixed cluster "
    "states and says what is still wrong."
)
HINTS = (
    "node.labels is the Node's metadata.labels, a plain dict: node.labels.get(\"maintenance\").",
    "Compare with the string \"true\": a label value is always a string, and maintenance=false must "
    "not exclude the node.",
    "Return None when the node is fine; to reject it return Status(CODE, REASON), with REASON the "
    "constant at the top of the file (the FailedScheduling event counts it: \"3 node(s) are under "
    "maintenance\").",
    "Which code? With UNSCHEDULABLE, DefaultPreemption (the PostFilter) looks for pods to evict on "
    "the node; evicting pods does not remove a label, so use UNSCHEDULABLE_AND_UNRESOLVABLE.",
)


def plugin_path(lab: LabCluster) -> Path:
    return lab.workdir / "workshop" / PLUGIN_FILE


# --------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------


def _state(labels: dict[str, str]) -> list[dict[str, Any]]:
    """The 4-node lab state: its pending pods ask for the profile; ``labels`` maps node -> maintenance value."""
    docs = [d for d in yaml.safe_load_all(LAB_STATE.read_text(encoding="utf-8")) if d]
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "Node" and name in labels:
            doc["metadata"].setdefault("labels", {})["maintenance"] = labels[name]
        if doc["kind"] == "Pod" and not doc["spec"].get("nodeName"):
            doc["spec"]["schedulerName"] = PROFILE
    return docs


def simulate(plugin: Path, labels: dict[str, str], workdir: Path) -> tuple[list[dict[str, Any]] | None, str]:
    """simulate's decisions for the state with ``labels``; (None, first line of the error) if it failed."""
    state = workdir / ("state-" + "-".join(f"{n}={v}" for n, v in sorted(labels.items())) + ".yaml")
    state.write_text(yaml.safe_dump_all(_state(labels)), encoding="utf-8")
    cmd = [sys.executable, "-m", "scheduler", "simulate", "--config", str(CONFIG),
           "--plugin", f"{plugin}:{PLUGIN_CLASS}", "--cluster", str(state), "-o", "json", "--seed", "1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SIMULATE_TIMEOUT, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"simulate did not finish within {SIMULATE_TIMEOUT:.0f}s (does filter() loop forever?)"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return None, (lines[-1] if lines else f"simulate exited with code {proc.returncode}")
    try:
        decisions = json.loads(proc.stdout)
    except ValueError:
        return None, "simulate printed something that is not its JSON (does your plugin print?)"
    return decisions, ""


def grade(plugin: Path) -> Problems:
    """The problems of the plugin in ``plugin`` ([] when it does what the challenge asks)."""
    if not plugin.is_file():
        return [f"{plugin} does not exist: lab reset 09 puts the unfinished plugin there"]
    where = f"{plugin}: "
    with tempfile.TemporaryDirectory(prefix="s09-") as tmp:
        work = Path(tmp)
        one, err = simulate(plugin, {"worker-node01": "true"}, work)
        if one is None:
            return [where + err]
        problems: Problems = []
        placed = [d.get("node") for d in one]
        if "worker-node01" in placed:
            problems.append(where + "with worker-node01 labelled maintenance=true, simulate still puts a pod "
                            "there: filter() must reject a node whose label maintenance is \"true\"")
        if None in placed:
            problems.append(where + "with only worker-node01 under maintenance, a pod finds no node "
                            f"({next(d.get('message', '') for d in one if d.get('node') is None)}): "
                            "filter() rejects more than the nodes labelled maintenance=true")
        other, err = simulate(plugin, {"worker-node01": "false"}, work)
        if other is None:
            return problems + [where + err]
        if "worker-node01" not in [d.get("node") for d in other]:
            problems.append(where + "a node labelled maintenance=false gets no pod: only the value \"true\" "
                            "means under maintenance")
        every, err = simulate(plugin, {w: "true" for w in WORKERS}, work)
        if every is None:
            return problems + [where + err]
        if any(d.get("node") for d in every):
            problems.append(where + "with every worker labelled maintenance=true, a pod is still placed on one")
        else:
            message = every[0].get("message", "")
            if "3 node(s) are under maintenance" not in message:
                problems.append(where + f"the FailedScheduling message does not count your reason: {message!r} "
                                "(reject with the REASON constant of the file)")
            if "4 Preemption is not helpful for scheduling" not in message:
                problems.append(where + "preemption still looks for pods to evict on the nodes under "
                                f"maintenance ({message.split('preemption: ')[-1]!r}): reject with "
                                "UNSCHEDULABLE_AND_UNRESOLVABLE, not UNSCHEDULABLE")
    return problems


def check(lab: LabCluster) -> Problems:
    return grade(plugin_path(lab))


# --------------------------------------------------------------------------------------------
# solution and reset
# --------------------------------------------------------------------------------------------


def _copy(source: Path, lab: LabCluster) -> None:
    target = plugin_path(lab)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def solution(lab: LabCluster) -> None:
    _copy(REFERENCE_FILE, lab)


def reset(lab: LabCluster) -> None:
    """Where step 09 starts: the unfinished plugin, no scheduler of this step running, no node labelled
    maintenance, none of the step's pods."""
    from lab.workshop.background import stop
    from lab.workshop.objects import NAMESPACE
    from lab.workshop.reset import resetter

    resetter("09")(lab)  # everything later steps or an attempt left, and steps 02-08 replayed
    stop(BACKGROUND_NAME, lab.workdir / "workshop")  # its record says which process; nothing else is signalled
    _copy(START_FILE, lab)
    core = lab.core
    for node in core.list_node(label_selector="maintenance").items:
        core.patch_node(node.metadata.name, {"metadata": {"labels": {"maintenance": None}}})
    _delete_ignoring_absent(lambda: lab.apps.delete_namespaced_deployment(
        DEMO_DEPLOYMENT, NAMESPACE, propagation_policy="Foreground"))
    _delete_ignoring_absent(lambda: core.delete_namespaced_pod(PENDING_POD, NAMESPACE, grace_period_seconds=0))


def _delete_ignoring_absent(delete: Any) -> None:
    from kubernetes.client.rest import ApiException

    try:
        delete()
    except ApiException as exc:
        if exc.status != 404:
            raise


CHALLENGE = Challenge(
    step="09",
    kind="task",
    question=QUESTION,
    check=check,
    solution=solution,
    reset=reset,
    hints=HINTS,
)
