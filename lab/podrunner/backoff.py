"""The kubelet's CrashLoopBackOff: 10s after the first exit, doubling to 5 minutes, reset after
10 minutes of running without an exit."""
from __future__ import annotations

INITIAL, MAXIMUM, RESET_AFTER = 10.0, 300.0, 600.0


def delay(restarts: int) -> float:
    """Seconds to wait before restart number ``restarts`` (1-based) of a container."""
    if restarts <= 0:
        return 0.0
    return min(INITIAL * 2 ** (restarts - 1), MAXIMUM)


def next_restarts(restarts: int, ran_for: float) -> int:
    """The back-off counter after an exit: a container that ran long enough starts over."""
    return 1 if ran_for >= RESET_AFTER else restarts + 1
