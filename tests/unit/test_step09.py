"""Step 09 (a Filter plugin): the guided part's check, the challenge's grading, and the background
helper that starts and stops the step's scheduler by its record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lab.host.procs import OwnedProcess
from lab.workshop import background, checks
from lab.workshop.challenges import s09
from lab.cluster import LabCluster

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker-node01", "worker-node02", "worker-node03")
SCHED = "maintenance-aware-scheduler"


# -- check_09, on canned API answers -----------------------------------------------------------


class FakeLab(LabCluster):
    """LabCluster without a cluster: pods, nodes and events from lists; label selectors k=v honoured."""

    def __init__(self, workdir: Path, pods: list[dict], labels: dict[str, str] | None = None,
                 deployment: bool = True) -> None:
        from lab.spec import load_spec

        self.workdir = workdir
        self.spec = load_spec()
        self._names = None
        self._pods = pods
        self._deployment = deployment
        self._nodes = [{"metadata": {"name": n.name, "labels": ({"maintenance": labels[n.name]}
                                                                 if labels and n.name in labels else {})}}
                       for n in self.spec.nodes]

    @staticmethod
    def _select(items: list[dict], selector: str) -> list[dict]:
        if not selector:
            return items
        key, value = selector.split("=", 1)
        return [i for i in items if (i["metadata"].get("labels") or {}).get(key) == value]

    def find(self, path: str, **query: str) -> dict | None:
        if path == "/api/v1/nodes":
            return {"items": self._select(self._nodes, query.get("labelSelector", ""))}
        if path == "/api/v1/namespaces/default/pods":
            return {"items": self._select(self._pods, query.get("labelSelector", ""))}
        if path.startswith("/api/v1/namespaces/default/pods/"):
            return next((p for p in self._pods if p["metadata"]["name"] == path.rsplit("/", 1)[1]), None)
        if path == "/api/v1/namespaces/default/events":
            name = dict(kv.split("=", 1) for kv in query["fieldSelector"].split(","))["involvedObject.name"]
            return {"items": [{"involvedObject": {"name": name, "uid": f"uid-{name}"}, "reason": "Scheduled",
                               "reportingComponent": SCHED}]}
        if path.endswith("/deployments/maintenance-demo"):
            return {} if self._deployment else None
        return None


def pod(name: str, node: str | None, app: str = "maintenance-demo", scheduler: str = SCHED) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": app}},
            "spec": {"schedulerName": scheduler, **({"nodeName": node} if node else {})}}


def done_pods(demo_nodes: tuple[str, ...] = ("worker-node02", "worker-node03", "worker-node02")) -> list[dict]:
    return [pod(f"maintenance-demo-{i}", n) for i, n in enumerate(demo_nodes)] + [
        pod("nowhere-to-go", "worker-node01", app="nowhere-to-go")]


def test_check_09_passes_on_the_state_the_step_leaves(tmp_path: Path) -> None:
    assert checks.check_09(FakeLab(tmp_path, done_pods())) == []


def test_check_09_says_what_is_missing_on_a_lab_that_has_not_started(tmp_path: Path) -> None:
    assert checks.check_09(FakeLab(tmp_path, [], deployment=False)) == [
        "deployment default/maintenance-demo does not exist: kubectl apply -f docs/labs/files/09-maintenance-demo.yaml",
        "pod default/nowhere-to-go does not exist: kubectl apply -f docs/labs/files/09-nowhere-to-go.yaml",
    ]


def test_check_09_notices_a_pod_on_the_node_under_maintenance_and_labels_left(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, done_pods(("worker-node01", "worker-node02", "worker-node03")),
                  labels={"worker-node02": "true", "worker-node03": "false"})
    problems = checks.check_09(lab)
    assert problems == [
        "pod default/maintenance-demo-0 runs on worker-node01, the node under maintenance: "
        "was the label set before the Deployment was applied?",
        "still under maintenance: worker-node02 (kubectl label nodes -l maintenance=true maintenance-)",
    ]


def test_check_09_wants_the_pending_pod_bound_and_the_scheduler_stopped(tmp_path: Path) -> None:
    pods = done_pods()[:-1] + [pod("nowhere-to-go", None, app="nowhere-to-go")]
    (tmp_path / "workshop").mkdir()
    OwnedProcess.of(__import__("os").getpid()).save(tmp_path / "workshop" / checks.STEP_09_PID)
    problems = checks.check_09(FakeLab(tmp_path, pods))
    assert problems[0].startswith("pod default/nowhere-to-go is not bound to a node yet")
    assert problems[1:] == ["the step's scheduler still runs: python -m lab.workshop.background stop avoid-maintenance"]


# -- the challenge: grading the participant's plugin with simulate -----------------------------


def variant(tmp_path: Path, old: str, new: str) -> Path:
    source = s09.REFERENCE_FILE.read_text()
    assert old in source
    path = tmp_path / "avoid_maintenance.py"
    path.write_text(source.replace(old, new))
    return path


def test_the_reference_solution_passes() -> None:
    assert s09.grade(s09.REFERENCE_FILE) == []


def test_the_unchanged_start_file_fails_with_the_plugins_own_error() -> None:
    (problem,) = s09.grade(s09.START_FILE)
    assert problem.startswith(f"{s09.START_FILE}: scheduler simulate: Pod default/")
    assert problem.endswith("raised NotImplementedError in filter() at "
                            f"{s09.START_FILE.relative_to(ROOT)}:34: AvoidMaintenance.filter() is yours to write")


def test_unschedulable_is_caught_as_a_rejection_preemption_would_try_to_fix(tmp_path: Path) -> None:
    plugin = variant(tmp_path, "return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, REASON)",
                     "return Status(UNSCHEDULABLE, REASON)")
    plugin.write_text(plugin.read_text().replace("import UNSCHEDULABLE_AND_UNRESOLVABLE", "import UNSCHEDULABLE"))
    (problem,) = s09.grade(plugin)
    assert "preemption still looks for pods to evict" in problem and "UNSCHEDULABLE_AND_UNRESOLVABLE" in problem


def test_any_maintenance_label_is_not_the_same_as_maintenance_true(tmp_path: Path) -> None:
    plugin = variant(tmp_path, 'node.labels.get(MAINTENANCE_LABEL) == "true"', "MAINTENANCE_LABEL in node.labels")
    assert s09.grade(plugin) == [f"{plugin}: a node labelled maintenance=false gets no pod: only the value "
                                 '"true" means under maintenance']


def test_a_filter_that_rejects_nothing_or_everything_is_told_so(tmp_path: Path) -> None:
    lets_all = variant(tmp_path, 'node.labels.get(MAINTENANCE_LABEL) == "true"', "False")
    problems = s09.grade(lets_all)
    assert "still puts a pod there" in problems[0] and "still placed on one" in problems[-1]
    rejects_all = variant(tmp_path, 'node.labels.get(MAINTENANCE_LABEL) == "true"', "True")
    assert "finds no node" in s09.grade(rejects_all)[0]


def test_a_missing_file_says_how_to_get_the_start_file(tmp_path: Path) -> None:
    assert s09.grade(tmp_path / "nope.py") == [
        f"{tmp_path / 'nope.py'} does not exist: lab reset 09 puts the unfinished plugin there"]


def test_solution_copies_the_reference_where_check_looks(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, [])
    s09.solution(lab)
    s09.solution(lab)  # idempotent
    assert s09.plugin_path(lab).read_text() == s09.REFERENCE_FILE.read_text()
    assert s09.check(lab) == []
    assert s09.CHALLENGE.step == "09" and s09.CHALLENGE.kind == "task" and len(s09.CHALLENGE.hints) >= 3


# -- the background helper ---------------------------------------------------------------------


def test_background_start_records_and_stop_stops_only_that_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    workshop = tmp_path / ".lab" / "workshop"
    # It runs until stop signals it (signal.pause: no timer involved).
    assert background.start("sleeper", [sys.executable, "-c", "import signal; print('up', flush=True); "
                                        "signal.pause()"], workshop) == 0
    record = OwnedProcess.load(workshop / "sleeper.pid")
    assert record is not None and record.is_same() and record.create_time is not None
    assert background.start("sleeper", ["true"], workshop) == 1  # never a second copy
    assert background.stop("sleeper", workshop) == "sleeper stopped"
    assert not record.is_same() and not (workshop / "sleeper.pid").exists()
    assert background.stop("sleeper", workshop).startswith("sleeper is not running")


def test_background_stop_never_signals_a_pid_whose_start_time_differs(tmp_path: Path) -> None:
    import os
    from dataclasses import replace

    mine = OwnedProcess.of(os.getpid())
    replace(mine, start_ticks=mine.start_ticks - 1000).save(tmp_path / "reused.pid")
    assert background.stop("reused", tmp_path) == "reused had already exited"  # and this test still runs


@pytest.mark.parametrize("argv", [["start", "Bad_Name", "--", "true"], ["start", "x"]])
def test_background_bad_input_is_one_line(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        background.main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("python -m lab.workshop.background: error:")
