"""`lab logs APP`: every replica's log under a `== <replica>` header, the same on every provider."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import logs
from lab.providers.base import ProviderError
from tests.lab.test_lab_cli import lab, one_line_error


def write_local_logs(workdir: Path, texts: dict[str, str]) -> None:
    log_dir = workdir / "deploy" / "logs"
    log_dir.mkdir(parents=True)
    for replica, text in texts.items():
        (log_dir / f"{replica}.log").write_text(text)


def test_local_replicas_are_read_from_their_log_files_in_replica_order(tmp_path: Path) -> None:
    write_local_logs(tmp_path, {"py-scheduler-1": "b1\nb2\n", "py-scheduler-0": "a1\n"})
    got = logs.replica_logs(tmp_path, "local", "py-scheduler")
    assert [(r.replica, r.text) for r in got] == [("py-scheduler-0", "a1\n"), ("py-scheduler-1", "b1\nb2\n")]


def test_a_local_replica_without_a_log_gets_its_header_and_why(tmp_path: Path) -> None:
    write_local_logs(tmp_path, {"custom-k8s-scheduler-0": "up\n"})
    out = logs.render(logs.replica_logs(tmp_path, "local", "custom-k8s-scheduler"))
    assert out.splitlines()[:2] == ["== custom-k8s-scheduler-0", "up"]
    assert out.splitlines()[2].startswith("== custom-k8s-scheduler-1 (no log: no log file ")


def test_no_local_log_at_all_is_an_error_that_says_how_to_deploy(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=r"python -m lab deploy --only py-scheduler"):
        logs.replica_logs(tmp_path, "local", "py-scheduler")


def test_grep_then_tail_apply_to_each_replica_separately() -> None:
    replicas = [
        logs.ReplicaLog("a", "x lease 1\ny\nx lease 2\nx lease 3\n"),
        logs.ReplicaLog("b", "x lease 9\nz\n"),
        logs.ReplicaLog("c", None, "container is waiting to start"),
    ]
    assert logs.render(replicas, re.compile("lease"), 2) == (
        "== a\nx lease 2\nx lease 3\n== b\nx lease 9\n== c (no log: container is waiting to start)\n"
    )
    assert logs.render(replicas[:1], None, 0) == "== a\n"
    assert logs.render(replicas[:1]) == "== a\nx lease 1\ny\nx lease 2\nx lease 3\n"


def test_a_cluster_lab_that_is_not_up_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "provider.json").write_text('{"provider": "existing"}\n')
    line = one_line_error(lab("--workdir", str(tmp_path), "logs", "py-scheduler"))
    assert line == f"lab: the lab is not up ({tmp_path / 'kubeconfig'} does not exist): make lab-up"


@pytest.mark.parametrize(
    "args, message",
    [
        (["logs", "kube-scheduler"], "invalid choice: 'kube-scheduler'"),
        (["logs", "py-scheduler", "--tail", "-1"], 'invalid line count "-1"'),
        (["logs", "py-scheduler", "--grep", "(("], 'invalid regular expression "(("'),
    ],
)
def test_bad_arguments_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in one_line_error(lab("--workdir", str(tmp_path), *args))


def test_the_cli_prints_the_local_logs(tmp_path: Path) -> None:
    write_local_logs(tmp_path, {"py-scheduler-0": "I1 Placed pod [default/a] on worker-node01\nnoise\n",
                                "py-scheduler-1": "noise\n"})
    proc = lab("--workdir", str(tmp_path), "logs", "py-scheduler", "--grep", "Placed pod")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "== py-scheduler-0\nI1 Placed pod [default/a] on worker-node01\n== py-scheduler-1\n"
