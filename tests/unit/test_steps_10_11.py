"""Steps 10 and 11's checks on canned API answers (no cluster)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lab.workshop import checks
from tests.unit.test_steps_parser import FakeLab, lab_with, pod, scheduled

DEP = "/apis/apps/v1/namespaces/default/deployments/"


@pytest.mark.parametrize("image, ok", [
    ("workshop/py-scheduler:dev", True), ("py-scheduler:1", True), ("scheduler-lab/py-scheduler:0.1.0", True),
    ("localhost:5000/me/py-scheduler@sha256:ab", True), ("py-scheduler", True),
    ("workshop/py-schedulerx:dev", False), ("nginx:1.27", False), ("py-scheduler.io/other:1", False),
])
def test_which_images_are_the_python_scheduler(image: str, ok: bool) -> None:
    assert checks.is_py_scheduler_image(image) is ok


def _step_10(tmp_path: Path, args: list[str], image: str = "workshop/py-scheduler:dev", node: str = "worker-node02",
             maintenance: str = "worker-node01") -> FakeLab:
    picky = pod("picky", "my-py-scheduler", node)
    lab = lab_with(tmp_path, [picky], [scheduled(picky, "my-py-scheduler")])
    lab.objects[DEP + "my-py-scheduler"] = {
        "spec": {"template": {"spec": {"containers": [{"image": image, "command": ["python", "-m", "scheduler"],
                                                        "args": args}]}}},
        "status": {"readyReplicas": 1}}
    for n in ("worker-node01", "worker-node02", "worker-node03"):
        labels = {"maintenance": "true"} if n == maintenance else {}
        lab.objects[f"/api/v1/nodes/{n}"] = {"metadata": {"name": n, "labels": labels}}
    return lab


BOTH = ["--plugin=/plugins/most_available_cpu.py:MostAvailableCPU", "--plugin", "/plugins/a.py:AvoidMaintenance"]


def test_check_10_passes_with_both_plugins_and_a_pod_off_the_maintenance_node(tmp_path: Path) -> None:
    assert checks.check_10(_step_10(tmp_path, BOTH)) == []


def test_check_10_names_a_missing_plugin_a_wrong_image_and_a_pod_under_maintenance(tmp_path: Path) -> None:
    problems = checks.check_10(_step_10(tmp_path, BOTH[:1], image="nginx:1.27", node="worker-node01"))
    assert any("does not load AvoidMaintenance" in p for p in problems)
    assert any("runs image 'nginx:1.27'" in p for p in problems)
    assert any("worker-node01, a node under maintenance" in p for p in problems)


def test_check_10_fails_on_an_empty_cluster(tmp_path: Path) -> None:
    assert checks.check_10(lab_with(tmp_path, [])) == [
        "deployment default/my-py-scheduler does not exist: " + checks.STEP_10_APPLY,
        "pod default/picky does not exist: kubectl apply -f docs/labs/files/10-picky-pod.yaml",
    ]


def _step_11(tmp_path: Path, fixed: bool) -> FakeLab:
    p = pod("via-serviceaccount", "kubeconfig-scheduler", "worker-node03")
    lab = lab_with(tmp_path, [p], [scheduled(p, "kubeconfig-scheduler")])
    template = ({"serviceAccountName": "kubeconfig-scheduler"} if fixed else
                {"automountServiceAccountToken": False,
                 "volumes": [{"name": "kubeconfig", "configMap": {"name": "scheduler-kubeconfig"}}]})
    lab.objects[DEP + "kubeconfig-scheduler"] = {"spec": {"template": {"spec": template}},
                                                 "status": {"readyReplicas": 1}}
    if not fixed:
        lab.objects["/api/v1/namespaces/default/configmaps/scheduler-kubeconfig"] = {"data": {}}
        lab.objects["/api/v1/namespaces/default/serviceaccounts/handmade-token"] = {"metadata": {}}
    return lab


def test_check_11_passes_only_once_the_credential_is_gone(tmp_path: Path) -> None:
    assert checks.check_11(_step_11(tmp_path, fixed=True)) == []
    problems = checks.check_11(_step_11(tmp_path, fixed=False))
    assert len(problems) == 4
    assert any("still mounts ConfigMap scheduler-kubeconfig" in p for p in problems)
    assert any("handmade-token still exists" in p for p in problems)


def test_check_14_reports_what_steps_10_and_11_left(tmp_path: Path) -> None:
    lab = _step_10(tmp_path, BOTH)
    lab.objects["/api/v1/nodes"] = {"items": [{"metadata": {"name": "worker-node01",
                                                            "labels": {"maintenance": "true"}}}]}
    lab.pods = lambda namespace, selector="": []  # type: ignore[method-assign]
    problems = checks.check_14(lab)
    assert "deployment default/my-py-scheduler still exists" in problems
    assert any("worker-node01 still carries the label maintenance" in p for p in problems)


def test_the_challenges_of_steps_10_and_11_follow_the_contract() -> None:
    from lab.workshop.challenges import s10, s11

    assert (s10.CHALLENGE.step, s10.CHALLENGE.kind) == ("10", "task")
    assert (s11.CHALLENGE.step, s11.CHALLENGE.kind) == ("11", "prediction")
    assert s10.CHALLENGE.hints and s11.CHALLENGE.hints
    assert s11._verbs("Get, LIST and watch; also patch?") == {"get", "list", "watch", "patch"}


def test_check_11_without_an_answer_asks_for_one_before_touching_the_cluster(tmp_path: Path) -> None:
    from lab.workshop.challenges import s11

    assert s11.check(FakeLab(tmp_path, {}))[0].startswith("no prediction yet")
