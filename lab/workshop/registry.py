"""Which steps have a challenge: ``lab/workshop/challenges/sNN.py`` defines ``CHALLENGE``."""
from __future__ import annotations

import importlib

from lab.workshop.challenge import Challenge

STEPS = tuple(f"{n:02d}" for n in range(1, 15))


class ChallengeError(Exception):
    """Bad input or a step without a challenge: one line for the participant."""


def step_number(text: str) -> str:
    """"5", "05" or "005" -> "05"; a ChallengeError naming the valid steps for anything else."""
    if not (text.isascii() and text.isdigit()) or f"{int(text):02d}" not in STEPS:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise ChallengeError(f"no step {shown!r}: steps are {STEPS[0]}..{STEPS[-1]}")
    return f"{int(text):02d}"


def load(step: str) -> Challenge:
    """The step's Challenge; ChallengeError when the step has none."""
    name = f"lab.workshop.challenges.s{step}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ChallengeError(f"no challenge: lab/workshop/challenges/s{step}.py does not exist") from None
    challenge = getattr(module, "CHALLENGE", None)
    if not isinstance(challenge, Challenge) or challenge.step != step:
        raise ChallengeError(f"lab/workshop/challenges/s{step}.py: CHALLENGE is not a Challenge for step {step}")
    return challenge


def has_challenge(step: str) -> bool:
    try:
        load(step)
    except ChallengeError:
        return False
    return True
