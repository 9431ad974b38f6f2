"""Grading a prediction: the answer given with ``lab answer NN`` against what the cluster shows."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from lab.workshop.progress import answer

Problems = list[str]


def first_number(text: str) -> str:
    """"3", "3 nodes", "three"? -> "3" (digits only; words are not guessed)."""
    found = re.search(r"\d+", text)
    return str(int(found.group())) if found else text.strip().lower()


def words(text: str) -> str:
    return " ".join(text.lower().split())


def judge(workdir_answer: str | None, step: str, truth: str | None, *, how_to_see: str,
          normalise: Callable[[str], str] = words) -> Problems:
    """[] when the stored answer matches the truth; else one line saying what is missing or wrong."""
    if workdir_answer is None:
        return [f"no prediction yet: decide before you try it, then python -m lab answer {step} YOUR-ANSWER"]
    if truth is None:
        return [f"your prediction is {workdir_answer!r}; the cluster cannot tell yet whether it is right: {how_to_see}"]
    if normalise(workdir_answer) != normalise(truth):
        return [f"your prediction {workdir_answer!r} is not what the cluster shows ({truth}): "
                "find out why (python -m lab hint " + step + "), then answer again"]
    return []


def judge_step(workdir: Path, step: str, truth: str | None, *, how_to_see: str,
               normalise: Callable[[str], str] = words) -> Problems:
    """``judge`` with the answer stored for the step."""
    return judge(answer(workdir, step), step, truth, how_to_see=how_to_see, normalise=normalise)
