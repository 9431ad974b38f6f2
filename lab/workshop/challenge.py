"""What a workshop step's challenge is: the contract between the step modules and `lab check`.

Every step NN has one module ``lab/workshop/challenges/sNN.py`` that defines ``CHALLENGE``, a
:class:`Challenge`. The framework (``lab check|hint|solution|reset|answer NN`` and the doc test)
only reads these fields; nothing else about a step is known to it.

* ``check(lab)`` grades the participant's work: the problems still open, each one line that says
  what is wrong and what to change ([] = passed). It must fail on the state ``reset`` leaves.
* ``solution(lab)`` applies the reference solution (idempotent), so that ``check`` then passes.
* ``reset(lab)`` puts the cluster where step NN starts from, in seconds, whatever state it is in:
  delete what later steps or a broken attempt left, re-apply what the step needs.
* ``hints`` are given one at a time by ``lab hint NN`` (the next one each call).
* A prediction (``kind="prediction"``) is answered with ``lab answer NN <text>``; the answer is
  kept under the lab directory and ``check`` compares it with what the cluster shows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lab.cluster import LabCluster

Problems = list[str]


@dataclass(frozen=True)
class Challenge:
    step: str                                   # "09"
    kind: Literal["task", "prediction"]
    question: str                               # one paragraph, as the step file words it
    check: Callable[["LabCluster"], Problems]
    solution: Callable[["LabCluster"], None]
    reset: Callable[["LabCluster"], None]
    hints: tuple[str, ...] = field(default=())
