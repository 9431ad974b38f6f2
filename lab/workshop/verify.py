"""``lab verify NN`` and ``lab steps``: run a step's check against the lab and say what is missing.

    lab verify NN     is the cluster where step NN leaves it? one line per problem, exit 1 if not
    lab steps         every step with its status (done / not yet), by running each check
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab.workshop.checks import CHECKS
from lab.cluster import LabCluster
from lab.workshop.problems import Problems
from lab.workshop.stepfile import DOCS, StepFileError, parse_step


def problems_for(workdir: Path, step: str) -> Problems:
    """The step's problems; a lab that is not reachable is one problem, never a traceback."""
    kubeconfig = workdir / "kubeconfig"
    if not kubeconfig.exists():
        return [f"the lab is not up ({kubeconfig} does not exist): make lab-up"]
    try:
        return CHECKS[step](LabCluster(workdir))
    except Exception as exc:  # noqa: BLE001 - unreachable API, expired credentials, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return [f"cannot read the cluster ({type(exc).__name__}: {first[:160]}): "
                "is the lab up? python -m lab status"]


def _step_number(step: str) -> str | None:
    return f"{int(step):02d}" if step.isdigit() and f"{int(step):02d}" in CHECKS else None


def verify(workdir: Path, step: str) -> int:
    number = _step_number(step)
    if number is None:
        print(f"lab verify: no step {step!r}; steps are {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    problems = problems_for(workdir, number)
    for p in problems:
        print(f"step {number}: {p}")
    if problems:
        return 1
    print(f"step {number}: done")
    return 0


def _titles() -> dict[str, str]:
    titles: dict[str, str] = {}
    for path in sorted(DOCS.glob("[0-9][0-9]-*.md")):
        try:
            titles[path.name[:2]] = parse_step(path.read_text(encoding="utf-8"), path).title
        except (OSError, StepFileError) as exc:
            titles[path.name[:2]] = f"(unreadable: {exc})"
    return titles


def list_steps(workdir: Path) -> int:
    titles = _titles()
    for number in CHECKS:
        problems = problems_for(workdir, number)
        print(f"{number}  {'done' if not problems else 'not yet':<9}{titles.get(number, '?')}")
        if problems:
            print(f"{'':13}{problems[0]}")
    print()
    print("The steps are docs/labs/NN-*.md; every problem of one step: make verify STEP=NN")
    return 0
