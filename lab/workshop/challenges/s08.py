"""Step 08's challenge (prediction): the score your plugin gives after NormalizeScore."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.predict import first_number, judge_step
from lab.workshop.progress import save_answer
from lab.workshop.reset import resetter

if TYPE_CHECKING:
    from lab.cluster import LabCluster

STEP = "08"
FREE = (1600, 400)  # free millicores of two feasible workers
PLUGIN = Path(__file__).resolve().parents[3] / "examples" / "plugins" / "most_available_cpu.py"


def normalized() -> str:
    """What the project's copy of the step's plugin gives the second worker."""
    spec = importlib.util.spec_from_file_location("workshop_most_available_cpu", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scores = list(FREE)
    module.MostAvailableCPU().normalize_score(None, None, None, scores)
    return str(scores[1])


def check(lab: "LabCluster") -> Problems:
    return judge_step(lab.workdir, STEP, normalized(), normalise=first_number,
                      how_to_see="work it out from normalize_score")


def solution(lab: "LabCluster") -> None:
    save_answer(lab.workdir, STEP, normalized())


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=(f"Two feasible workers have {FREE[0]} and {FREE[1]} millicores free. After NormalizeScore, "
              f"which score does MostAvailableCPU give the one with {FREE[1]}? Answer with a number."),
    check=check,
    solution=solution,
    reset=resetter(STEP),
    hints=(
        "score() returns the free millicores: 1600 and 400 before normalising.",
        "normalize_score gives the best node MAX_NODE_SCORE (100) and every other its share of the best.",
        "Integer division: 400 * 100 // 1600.",
    ),
)
