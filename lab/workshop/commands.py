"""``lab check|hint|solution|reset|answer NN``: what each prints and its exit code.

Every function prints lines ``step NN: ...`` and returns the exit code: 0 done, 1 the challenge
is not passed (or the cluster cannot be read), 2 bad input. ``open_lab`` is how they reach the
cluster; tests hand in a fake."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lab.workshop import progress
from lab.workshop.challenge import Challenge
from lab.workshop.kubectl import KubectlError
from lab.workshop.registry import ChallengeError, load, step_number

if TYPE_CHECKING:
    from lab.cluster import LabCluster

OpenLab = Callable[[Path], "LabCluster"]


class LabNotUp(ChallengeError):
    pass


def open_real_lab(workdir: Path) -> "LabCluster":
    from lab.cluster import LabCluster

    if not (workdir / "kubeconfig").exists():
        raise LabNotUp(f"the lab is not up ({workdir / 'kubeconfig'} does not exist): make lab-up")
    return LabCluster(workdir)


def _say(step: str, text: str, err: bool = False) -> None:
    print(f"step {step}: {text}", file=sys.stderr if err else sys.stdout)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _guarded(step_text: str, action: Callable[[str], int]) -> int:
    """Bad input and cluster trouble as one line each, never a traceback."""
    try:
        step = step_number(step_text)
    except ChallengeError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    try:
        return action(step)
    except ChallengeError as exc:
        _say(step, str(exc), err=True)
        return 2 if not isinstance(exc, LabNotUp) else 1
    except KubectlError as exc:
        _say(step, f"{exc}", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - unreachable API, expired credentials, ...
        _say(step, f"cannot read the cluster ({_one_line(exc)}): is the lab up? python -m lab status", err=True)
        return 1


def check(workdir: Path, step_text: str, open_lab: OpenLab = open_real_lab) -> int:
    def run(step: str) -> int:
        challenge = load(step)
        problems = challenge.check(open_lab(workdir))
        for p in problems:
            _say(step, p)
        if problems:
            return 1
        _say(step, "challenge passed")
        return 0

    return _guarded(step_text, run)


def hint(workdir: Path, step_text: str) -> int:
    def run(step: str) -> int:
        challenge = load(step)
        given = progress.hints_given(workdir, step)
        total = len(challenge.hints)
        if given >= total:
            _say(step, f"no more hints ({total} given); python -m lab solution {step} applies the reference solution")
            return 0
        _say(step, f"hint {given + 1} of {total}: {challenge.hints[given]}")
        progress.record_hint(workdir, step, given + 1)
        return 0

    return _guarded(step_text, run)


def solution(workdir: Path, step_text: str, open_lab: OpenLab = open_real_lab) -> int:
    def run(step: str) -> int:
        challenge = load(step)
        challenge.solution(open_lab(workdir))
        if challenge.kind == "prediction":
            _say(step, f"stored the reference answer {progress.answer(workdir, step)!r} "
                       f"(python -m lab check {step} now passes)")
        else:
            _say(step, f"applied the reference solution of: {challenge.question}")
        return 0

    return _guarded(step_text, run)


def reset(workdir: Path, step_text: str, open_lab: OpenLab = open_real_lab) -> int:
    def run(step: str) -> int:
        from lab.workshop import reset as resets

        lab = open_lab(workdir)
        t0 = time.monotonic()
        challenge: Challenge | None
        try:
            challenge = load(step)
        except ChallengeError:
            challenge = None  # every step can be reset, challenge or not
        if challenge is not None:
            challenge.reset(lab)
        else:
            resets.LAST[step] = resets.reset_to(lab, step)
        seconds = time.monotonic() - t0
        report = resets.LAST.pop(step, None)
        for warning in report.warnings if report else []:
            _say(step, f"warning: {warning}")
        done = len(report.done) if report else 0
        _say(step, f"reset in {seconds:.1f}s ({done} actions): the cluster is where step {step} starts")
        return 0

    return _guarded(step_text, run)


def answer(workdir: Path, step_text: str, text: str) -> int:
    def run(step: str) -> int:
        challenge = load(step)
        if challenge.kind != "prediction":
            raise ChallengeError(f"the challenge is a task, there is nothing to answer: python -m lab check {step}")
        if not text.strip():
            raise ChallengeError("an empty answer: python -m lab answer " + step + " YOUR-ANSWER")
        stored = progress.save_answer(workdir, step, text)
        _say(step, f"answer stored: {stored!r} (python -m lab check {step} grades it once you have tried it)")
        return 0

    return _guarded(step_text, run)
