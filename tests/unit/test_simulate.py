"""`scheduler simulate` end to end on the 4-node lab state, and its one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from scheduler.core.simulate import main

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAB = os.path.join(ROOT, "examples", "states", "lab-4-nodes.yaml")
CONFIGS = os.path.join(ROOT, "examples", "configs")
WORKERS = {"worker-node01", "worker-node02", "worker-node03"}


def simulate_json(capsys, *args):
    assert main(["--output", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_most_allocated_packs_onto_the_most_allocated_worker(capsys):
    out = simulate_json(capsys, "--config", os.path.join(CONFIGS, "seed000-most-allocated.yaml"),
                        "--cluster", LAB, "--seed", "1")
    assert [d["pod"] for d in out] == [f"default/sample-{i}" for i in range(1, 5)]
    # worker-node02 already runs metrics-server, so it is the most allocated worker and keeps winning
    assert {d["node"] for d in out} == {"worker-node02"}
    first = out[0]
    assert set(first["scores"]) == WORKERS  # master-node is filtered by its taint
    assert first["scores"]["worker-node02"]["NodeResourcesFit"] == 28
    assert first["scores"]["worker-node02"]["total"] == 417
    assert first["message"] == "Successfully assigned default/sample-1 to worker-node02"


def test_least_allocated_spreads(capsys):
    out = simulate_json(capsys, "--config", os.path.join(CONFIGS, "least-allocated.yaml"), "--cluster", LAB,
                        "--seed", "1")
    nodes = [d["node"] for d in out]
    assert set(nodes[:3]) == WORKERS
    assert nodes[2] == "worker-node02"  # the pre-loaded worker is chosen last


def test_same_seed_same_decisions(capsys):
    args = ["--config", os.path.join(CONFIGS, "least-allocated.yaml"), "--cluster", LAB, "--seed", "9"]
    assert simulate_json(capsys, *args) == simulate_json(capsys, *args)


def test_unschedulable_pods_get_the_failed_scheduling_text(tmp_path, capsys):
    state = tmp_path / "state.yaml"
    with open(LAB) as fh:
        text = fh.read()
    state.write_text(text.replace("cpu: 300m", "cpu: '3'"))
    out = simulate_json(capsys, "--config", os.path.join(CONFIGS, "seed000-most-allocated.yaml"),
                        "--cluster", str(state))
    assert all(d["node"] is None for d in out)
    assert out[0]["message"] == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "3 Insufficient cpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod..")


def test_table_output_and_skipped_pods(capsys):
    assert main(["--cluster", LAB, "--seed", "1", "--top", "2"]) == 0  # default config: no custom-k8s-scheduler
    out = capsys.readouterr().out
    assert "skipped default/sample-1: no profile for schedulerName 'custom-k8s-scheduler'" in out
    assert main(["--config", os.path.join(CONFIGS, "seed000-most-allocated.yaml"), "--cluster", LAB, "--seed", "1",
                 "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "default/sample-1 -> worker-node02" in out and "Fitx1" in out and "total" in out
    assert "... 1 more scored node(s)" in out


def test_directory_and_kind_list(tmp_path, capsys):
    nodes = {"kind": "List", "apiVersion": "v1", "items": [
        {"kind": "Node", "metadata": {"name": f"n{i}"}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi",
                                                                                  "pods": "10"}}}
        for i in range(2)]}
    (tmp_path / "a-nodes.json").write_text(json.dumps(nodes))
    (tmp_path / "b-pods.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, image: nginx}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: y, namespace: team}\nspec:\n  priority: 10\n"
        "  containers: [{name: c, image: nginx}]\n")
    out = simulate_json(capsys, "--cluster", str(tmp_path), "--seed", "3")
    assert [d["pod"] for d in out] == ["team/y", "default/x"]  # PrioritySort: higher priority first
    assert all(d["node"] in ("n0", "n1") for d in out)


@pytest.mark.parametrize("args,expected", [
    (["--cluster", "/nonexistent/state.yaml"], "scheduler simulate: /nonexistent/state.yaml: no such file or directory"),
    (["--config", "/nonexistent/c.yaml", "--cluster", LAB], "scheduler simulate: /nonexistent/c.yaml: no such file"),
])
def test_bad_input_is_one_line_exit_1(args, expected, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == expected + "\n"


def test_invalid_yaml_and_bad_objects(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Node\nmetadata: [\n")
    assert main(["--cluster", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"scheduler simulate: {bad}: invalid YAML: line ")
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("kind: Node\nmetadata: {}\n")
    assert main(["--cluster", str(nameless)]) == 1
    assert "nameless.yaml: Node: metadata.name: Required value" in capsys.readouterr().err
    quantity = tmp_path / "q.yaml"
    quantity.write_text("kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: lots}}\n")
    assert main(["--cluster", str(quantity)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'Node n: status.allocatable["cpu"]: invalid quantity "lots"' in err


CLI_CASES = [
    ("seed002-v1beta1", 'apiVersion: "kubescheduler.config.k8s.io/v1beta1" is not supported'),
    ("healthz", "healthzBindAddress: unknown field"),
    ("typo", "profiles[0].plugins.score.enabeld: unknown field"),
]


@pytest.mark.parametrize("case,needle", CLI_CASES)
def test_cli_bad_configs_exit_non_zero_with_exactly_one_stderr_line(case, needle, tmp_path):
    head = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
    texts = {
        "healthz": head + "healthzBindAddress: 0.0.0.0:10252\n",
        "typo": head + "profiles:\n- plugins:\n    score:\n      enabeld: []\n",
    }
    if case in texts:
        config = tmp_path / "config.yaml"
        config.write_text(texts[case])
    else:
        config = os.path.join(ROOT, "tests", "unit", "fixtures", "seed002-v1beta1.yaml")
    proc = subprocess.run([sys.executable, "-c", "import sys; from scheduler.core.simulate import main; sys.exit(main())",
                           "--config", str(config), "--cluster", LAB], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_usage_errors_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--output", "xml", "--cluster", LAB])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err


def test_random_scheduler_on_the_states_directory(capsys):
    out = simulate_json(capsys, "--config", os.path.join(CONFIGS, "random-scheduler.yaml"),
                        "--cluster", os.path.join(ROOT, "examples", "states"), "--seed", "1")
    assert [d["pod"] for d in out] == ["default/nginx", "default/sleep-5c78857b77-jdfnp"]
    for d in out:
        assert d["node"] in WORKERS
        assert all(set(s) == {"Random", "total"} for s in d["scores"].values())
