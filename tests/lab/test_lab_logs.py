"""`lab logs APP`: every replica's log under a `== <replica>` header, the same on every provider."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import logs
from tests.lab.test_lab_cli import lab, one_line_error


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
