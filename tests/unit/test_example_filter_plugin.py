"""The AvoidMaintenance Filter plugin example (issue 23), its participants' start file and its config,
run through ``simulate`` on the 4-node lab state with workers labelled ``maintenance=true``."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scheduler.core.profiles import load_config
from scheduler.core.simulate import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "configs" / "avoid-maintenance.yaml"
START_FILE = ROOT / "examples" / "plugins" / "avoid_maintenance_start.py"
LAB_STATE = ROOT / "examples" / "states" / "lab-4-nodes.yaml"
WORKERS = ("worker-node01", "worker-node02", "worker-node03")
PROFILE = "maintenance-aware-scheduler"
# kube-scheduler v1.29's FitError text for this cluster: master-node fails TaintToleration first, the
# three workers fail AvoidMaintenance; all four are UnschedulableAndUnresolvable, so DefaultPreemption
# finds no candidate ("4 Preemption is not helpful"). Reasons are counted and sorted as plain strings.
ALL_WORKERS_MESSAGE = (
    "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
    "3 node(s) are under maintenance. preemption: 0/4 nodes are available: "
    "4 Preemption is not helpful for scheduling.")


def lab_state(tmp_path: Path, in_maintenance: tuple[str, ...]) -> Path:
    """The lab state with its four pending pods asking for the maintenance-aware profile and the given
    nodes labelled maintenance=true."""
    docs = list(yaml.safe_load_all(LAB_STATE.read_text()))
    for doc in docs:
        if doc["kind"] == "Node" and doc["metadata"]["name"] in in_maintenance:
            doc["metadata"]["labels"]["maintenance"] = "true"
        if doc["kind"] == "Pod" and not doc["spec"].get("nodeName"):
            doc["spec"]["schedulerName"] = PROFILE
    path = tmp_path / "state.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def simulate_json(capsys: pytest.CaptureFixture[str], config: Path, state: Path) -> list[dict]:
    assert main(["--config", str(config), "--cluster", str(state), "-o", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_config_adds_the_filter_after_the_defaults() -> None:
    profile = load_config(str(CONFIG)).profile(PROFILE)
    filters = profile.plugins["filter"]
    assert filters[-1] == "AvoidMaintenance"
    assert {"NodeResourcesFit", "TaintToleration", "NodeAffinity"} <= set(filters[:-1])


@pytest.mark.parametrize("in_maintenance", [c for n in range(len(WORKERS)) for c in itertools.combinations(WORKERS, n)])
def test_pods_never_land_on_a_node_under_maintenance(capsys, tmp_path, in_maintenance) -> None:
    decisions = simulate_json(capsys, CONFIG, lab_state(tmp_path, in_maintenance))
    assert len(decisions) == 4
    nodes = {d["node"] for d in decisions}
    assert None not in nodes  # two workers hold 4 x 300m
    assert nodes.isdisjoint(in_maintenance) and "master-node" not in nodes
    if not in_maintenance:  # the same state without labels does use worker-node01: the filter is what moved them
        assert "worker-node01" in nodes


def test_all_workers_under_maintenance_gives_kube_schedulers_message(capsys, tmp_path) -> None:
    decisions = simulate_json(capsys, CONFIG, lab_state(tmp_path, WORKERS))
    assert [d["node"] for d in decisions] == [None] * 4
    assert [d["message"] for d in decisions] == [ALL_WORKERS_MESSAGE] * 4
    assert not any("nominatedNode" in d for d in decisions)


def test_unschedulable_instead_would_send_preemption_to_the_workers(capsys, tmp_path) -> None:
    # Why the example returns UnschedulableAndUnresolvable: with plain Unschedulable, DefaultPreemption
    # considers the three workers as candidates and looks (in vain) for pods to evict there. The wording
    # matches the lab's kube-scheduler v1.29.15 for an in-tree Unschedulable filter (a pod asking for 3
    # CPUs: "... 3 Insufficient cpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for
    # scheduling, 3 No preemption victims found for incoming pod.").
    source = (ROOT / "examples" / "plugins" / "avoid_maintenance.py").read_text()
    rejection = "return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, REASON)"
    assert rejection in source
    variant = tmp_path / "avoid_maintenance_unschedulable.py"
    variant.write_text(source.replace(rejection, "return Status(UNSCHEDULABLE, REASON)")
                       .replace("import UNSCHEDULABLE_AND_UNRESOLVABLE", "import UNSCHEDULABLE"))
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.read_text().replace("../plugins/avoid_maintenance.py", str(variant)))
    (decision,) = simulate_json(capsys, config, lab_state(tmp_path, WORKERS))[:1]
    assert decision["message"] == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "3 node(s) are under maintenance. preemption: 0/4 nodes are available: "
        "1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.")


def start_config(tmp_path: Path) -> Path:
    config = tmp_path / "start.yaml"
    config.write_text(CONFIG.read_text().replace("../plugins/avoid_maintenance.py", str(START_FILE)))
    return config


def test_start_file_is_one_line_naming_the_plugin(tmp_path) -> None:
    # From the real command line: exit 1, one line on stderr, no traceback, nothing on stdout.
    proc = subprocess.run([sys.executable, "-m", "scheduler", "simulate", "--config", str(start_config(tmp_path)),
                           "--cluster", str(lab_state(tmp_path, ("worker-node01",)))],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    line = f"{os.path.relpath(START_FILE, ROOT)}:"
    assert proc.stderr.startswith(
        'scheduler simulate: Pod default/sample-1: plugin "AvoidMaintenance" raised NotImplementedError in '
        f"filter() at {line}")
    assert proc.stderr.endswith(": AvoidMaintenance.filter() is yours to write\n")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_an_out_of_tree_plugins_value_error_names_the_plugin_too(capsys, tmp_path) -> None:
    # ValueError used to read as bad input ("Pod default/p: ..."); raised by a plugin, it is the plugin's.
    plugin = tmp_path / "broken.py"
    plugin.write_text("from scheduler.core.framework import Plugin\n\n\nclass Broken(Plugin):\n"
                      "    name = 'Broken'\n\n    def score(self, cycle, pod, node):\n"
                      "        return int('many')\n")
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.read_text().replace("filter:", "score:").replace("AvoidMaintenance", "Broken")
                      .replace("../plugins/avoid_maintenance.py", str(plugin)))
    assert main(["--config", str(config), "--cluster", str(lab_state(tmp_path, ()))]) == 1
    err = capsys.readouterr().err
    assert err.startswith('scheduler simulate: Pod default/sample-1: plugin "Broken" raised ValueError in score() at ')
    assert err.endswith("broken.py:8: invalid literal for int() with base 10: 'many'\n")


def test_the_scheduler_command_builds_a_profile_with_an_import_path_plugin(capsys, tmp_path) -> None:
    # `python -m scheduler --config avoid-maintenance.yaml` used to stop at building the profiles
    # ("internal error: KeyError: 'AvoidMaintenance'"); now it gets as far as the (missing) kubeconfig.
    from scheduler.cli import main as scheduler_main

    missing = tmp_path / "no-such-kubeconfig"
    assert scheduler_main(["--config", str(CONFIG), "--kubeconfig", str(missing), "--secure-port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scheduler: ") and str(missing) in err and "internal error" not in err, err
