"""The challenge framework without a cluster: registry, progress, grading, the commands' output and
exit codes (with a fake lab and fake challenges), and what counts as a recorded workshop process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.workshop import commands, progress, registry
from lab.workshop.challenge import Challenge
from lab.workshop.predict import first_number, judge
from lab.workshop.processes import RECORD_WINDOW, recorded
from lab.workshop.replay import PIECES, pieces_before

MINE = ("01", "02", "03", "04", "07", "08", "12", "13", "14")


# -- the registry --------------------------------------------------------------------------------

@pytest.mark.parametrize("step", MINE)
def test_each_written_challenge_loads_and_has_hints(step: str) -> None:
    challenge = registry.load(step)
    assert challenge.step == step
    assert challenge.kind in ("task", "prediction")
    assert len(challenge.hints) >= 2 and all(h.strip() for h in challenge.hints)
    assert challenge.question.strip()


def test_every_step_has_a_challenge() -> None:
    missing = [s for s in registry.STEPS if not registry.has_challenge(s)]
    assert missing == [], f"steps without lab/workshop/challenges/sNN.py: {missing}"


def test_a_missing_challenge_is_one_line_naming_its_file() -> None:
    # No step 99 exists, so its module does not either: the message a missing sNN.py gives.
    with pytest.raises(registry.ChallengeError, match=r"^no challenge: lab/workshop/challenges/s99\.py does not exist$"):
        registry.load("99")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=30))
def test_step_numbers_are_normalised_or_refused(text: str) -> None:
    try:
        step = registry.step_number(text)
    except registry.ChallengeError as exc:
        assert "\n" not in str(exc) and "steps are 01..14" in str(exc)
    else:
        assert step in registry.STEPS and int(text) == int(step)


# -- progress and grading ------------------------------------------------------------------------

@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=800).filter(lambda t: t.strip()))
def test_answers_round_trip_as_one_line(tmp_path: Path, text: str) -> None:
    stored = progress.save_answer(tmp_path, "07", text)
    assert progress.answer(tmp_path, "07") == stored
    assert "\n" not in stored and len(stored) <= progress.MAX_ANSWER


def test_judge_says_what_is_missing_or_wrong() -> None:
    assert "no prediction yet" in judge(None, "07", "worker-node02", how_to_see="x")[0]
    assert "cannot tell yet" in judge("worker-node02", "07", None, how_to_see="apply it")[0]
    assert "not what the cluster shows (worker-node02)" in judge("worker-node01", "07", "worker-node02",
                                                                 how_to_see="x")[0]
    assert judge(" Worker-Node02 ", "07", "worker-node02", how_to_see="x") == []
    assert first_number("3 nodes") == "3" and first_number("03") == "3"


def test_prediction_truths() -> None:
    from lab.workshop.challenges import s08, s13

    assert s08.normalized() == str(400 * 100 // 1600)
    assert s13.truth() == "worker-node02"


def _node(name: str, taint: str | None = None, ready: bool = True) -> dict:
    return {"metadata": {"name": name},
            "spec": {"taints": [{"key": taint, "effect": "NoSchedule"}] if taint else []},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_step_01_counts_ready_untainted_nodes(tmp_path: Path) -> None:
    from lab.workshop.challenges import s01

    nodes = [_node("m", taint="node-role.kubernetes.io/control-plane"), _node("a"), _node("b"),
             _node("c", ready=False)]
    lab = SimpleNamespace(workdir=tmp_path, find=lambda path, **q: {"items": nodes})
    assert s01.check(lab)  # no answer yet
    progress.save_answer(tmp_path, "01", "3")
    assert s01.check(lab) and "(2)" in s01.check(lab)[0]
    s01.solution(lab)
    assert s01.check(lab) == []


# -- the commands, with fakes --------------------------------------------------------------------

def _fake(kind: str = "task", problems: list[str] | None = None) -> Challenge:
    state = {"solved": False}

    def check(lab: object) -> list[str]:
        return [] if state["solved"] else list(problems or ["pod default/x does not exist"])

    def solution(lab: object) -> None:
        state["solved"] = True

    return Challenge("07", kind, "Where does it go?", check, solution, lambda lab: None, ("first", "second"))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Challenge:
    challenge = _fake()
    monkeypatch.setattr(commands, "load", lambda step: challenge)
    return challenge


def test_check_fails_then_passes_after_the_solution(fake: Challenge, tmp_path: Path, capsys) -> None:
    lab = lambda workdir: SimpleNamespace(workdir=workdir)  # noqa: E731
    assert commands.check(tmp_path, "7", open_lab=lab) == 1
    assert capsys.readouterr().out == "step 07: pod default/x does not exist\n"
    assert commands.solution(tmp_path, "07", open_lab=lab) == 0
    assert "applied the reference solution" in capsys.readouterr().out
    assert commands.check(tmp_path, "07", open_lab=lab) == 0
    assert capsys.readouterr().out == "step 07: challenge passed\n"


def test_hints_come_one_at_a_time_and_then_say_so(fake: Challenge, tmp_path: Path, capsys) -> None:
    outs = []
    for _ in range(3):
        assert commands.hint(tmp_path, "07") == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == "step 07: hint 1 of 2: first\n"
    assert outs[1] == "step 07: hint 2 of 2: second\n"
    assert "no more hints" in outs[2]


def test_a_task_takes_no_answer(fake: Challenge, tmp_path: Path, capsys) -> None:
    assert commands.answer(tmp_path, "07", "worker-node02") == 2
    assert "is a task" in capsys.readouterr().err


def test_a_prediction_stores_its_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(commands, "load", lambda step: _fake(kind="prediction"))
    assert commands.answer(tmp_path, "07", "  worker-node02 \n") == 0
    assert progress.answer(tmp_path, "07") == "worker-node02"
    assert commands.answer(tmp_path, "07", "   ") == 2


def test_a_lab_that_is_not_up_is_one_line(tmp_path: Path, capsys) -> None:
    assert commands.check(tmp_path, "01") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the lab is not up" in err[0]


def test_a_cluster_error_is_one_line(fake: Challenge, tmp_path: Path, capsys) -> None:
    def broken(workdir: Path) -> object:
        raise ConnectionRefusedError("connection refused\nmore")

    assert commands.check(tmp_path, "07", open_lab=broken) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the cluster" in err[0]


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(step=st.text(max_size=12), text=st.text(max_size=40))
def test_any_arguments_give_an_exit_code_never_a_traceback(tmp_path: Path, step: str, text: str) -> None:
    for code in (commands.hint(tmp_path, step), commands.answer(tmp_path, step, text),
                 commands.check(tmp_path, step), commands.reset(tmp_path, step)):
        assert code in (0, 1, 2)


def test_the_cli_refuses_a_step_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "lab", "--workdir", str(tmp_path), "check", "99"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "lab: no step '99': steps are 01..14"


# -- recorded processes ---------------------------------------------------------------------------

def test_a_pid_file_written_at_the_start_records_its_process(tmp_path: Path) -> None:
    # A process that runs until it is signalled (it waits for nothing: signal.pause).
    proc = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
    try:
        pidfile = tmp_path / "x.pid"
        pidfile.write_text(f"{proc.pid}\n")
        record = recorded(pidfile)
        assert record is not None and record.pid == proc.pid
        # The same pid in a file written long after the process started: not a record of it.
        later = time.time() + RECORD_WINDOW + 60
        os.utime(pidfile, (later, later))
        assert recorded(pidfile) is None
    finally:
        proc.kill()
        proc.wait()
        proc.wait()


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "12 34", "99999999"])
def test_garbage_pid_files_record_nothing(tmp_path: Path, text: str) -> None:
    pidfile = tmp_path / "x.pid"
    pidfile.write_text(text)
    assert recorded(pidfile) is None


# -- replay ---------------------------------------------------------------------------------------

def test_replay_is_cumulative_ordered_and_per_provider() -> None:
    assert pieces_before("02", "local") == []
    local = [p.step for p in pieces_before("14", "local")]
    assert local == sorted(local) and "07" not in local  # step 07 deletes its pods at once
    assert "13" in local and "13" in [p.step for p in pieces_before("14", "kind")]
    assert all(p.step < "08" for p in pieces_before("08", "local"))
    assert {p.step for p in PIECES} >= {"02", "03", "04", "05", "06", "08", "12", "13"}


def test_replaying_step_05_waits_until_both_replicas_of_its_scheduler_are_ready(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Step 06 opens by showing both replicas Running; the replay of 05 must leave them so, as step
    # 05's own `kubectl rollout status` does (kind's CI caught one still in ContainerCreating).
    from lab.workshop import objects, replay

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(objects, "kubectl", lambda _workdir, *args, **_kw: calls.append(args) or "")
    (piece,) = [p for p in PIECES if p.step == "05"]
    replay.replay(SimpleNamespace(workdir=tmp_path), piece, {})  # type: ignore[arg-type]
    verbs = [c[0] for c in calls]
    assert verbs == ["apply", "rollout", "wait"], calls
    rollout = calls[1]
    assert rollout[rollout.index("-n") + 1] == "kube-system" and "deployment/my-kube-scheduler" in rollout


def test_replaying_step_13_places_pvc_py_before_pvc_upstream_exists(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Step 13 applies pvc-py and waits for it before it applies pvc-upstream. Together, the two
    # schedulers race for the volumes and the 2Gi claim can be left with none (the local CI run saw it).
    from lab.workshop import objects, replay

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(objects, "kubectl", lambda _workdir, *args, **_kw: calls.append(args) or "")
    for piece in pieces_before("14", "local"):
        if piece.step == "13":
            replay.replay(SimpleNamespace(workdir=tmp_path), piece, {})  # type: ignore[arg-type]
    applied = [i for i, c in enumerate(calls) if c[0] == "apply"]
    upstream = next(i for i in applied if "docs/labs/files/13-pvc-pod-upstream.yaml" in calls[i])
    waited_py = next(i for i, c in enumerate(calls) if c[0] == "wait" and "pod/pvc-py" in c)
    assert waited_py < upstream, calls
