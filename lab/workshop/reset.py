"""``lab reset NN``: the cluster where step NN starts, from any state, in seconds.

Three primitives, in this order: stop the background processes workshop steps started and recorded
(lab.workshop.processes), delete every workshop object (lab.workshop.objects) and the step files'
scratch directory .lab/workshop, then replay what the guided parts of the steps before NN leave
(lab.workshop.replay). A challenge's own ``reset`` is ``reset_to(lab, "NN")`` plus forgetting the
step's answer; steps without a challenge module yet reset the same way."""
from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab.workshop import my_scheduler
from lab.workshop.objects import delete_workshop_objects
from lab.workshop.processes import stop_recorded, workshop_dir
from lab.workshop.progress import forget_answer
from lab.workshop.replay import pieces_before, replay, replay_env

if TYPE_CHECKING:
    from lab.cluster import LabCluster

PROXY_PORT = 9090  # step 03's kubectl proxy


@dataclass
class ResetReport:
    step: str
    done: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def clean(lab: "LabCluster", report: ResetReport) -> None:
    """Everything the workshop started or created, gone (the state step 14 leaves)."""
    report.done += stop_recorded(lab.workdir)
    if _listening(PROXY_PORT):
        report.warnings.append(f"something the workshop did not record still listens on 127.0.0.1:{PROXY_PORT} "
                               "(a kubectl proxy of an earlier attempt?): stop it by its process id")
    my_scheduler.remove(lab.workdir)  # step 05's scheduler lives in kube-system, out of the objects below
    deleted = delete_workshop_objects(lab.workdir)
    report.done += deleted
    scratch = workshop_dir(lab.workdir)
    if scratch.exists():
        shutil.rmtree(scratch)
        report.done.append(f"removed {scratch}")


def reset_to(lab: "LabCluster", step: str) -> ResetReport:
    """Clean, then replay the guided parts of the steps before ``step``."""
    from lab.providers import recorded_provider

    t0 = time.monotonic()
    report = ResetReport(step)
    clean(lab, report)
    provider = recorded_provider(lab.workdir)
    env = replay_env(lab.workdir, provider)
    for piece in pieces_before(step, provider):
        report.done += [f"step {piece.step}: {line}" for line in replay(lab, piece, env)]
    forget_answer(lab.workdir, step)
    report.seconds = time.monotonic() - t0
    return report


# The report of the latest reset per step, for `lab reset NN` to print (Challenge.reset returns None).
LAST: dict[str, ResetReport] = {}


def resetter(step: str) -> Callable[["LabCluster"], None]:
    """The ``reset`` of a step's Challenge: ``reset_to`` that step."""

    def reset(lab: "LabCluster") -> None:
        LAST[step] = reset_to(lab, step)

    return reset
