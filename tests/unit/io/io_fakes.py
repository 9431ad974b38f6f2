"""Fakes shared by the I/O shell's unit tests (no cluster, no network, no sleeping)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from scheduler.runtime.kube import ApiError, TokenBucket


class FakeKube:
    """Stands in for KubeClient: records requests, answers from a script or a responder."""

    def __init__(self, responder: Callable[[str, str, Any], Any] | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.script: dict[str, list[Any]] = {}
        self.responder = responder
        self.bucket = TokenBucket(0, 1)  # unlimited
        self.lock = threading.RLock()

    def answer(self, path_suffix: str, *outcomes: Any) -> None:
        """Queue outcomes (a dict, or an exception to raise) for requests whose path ends with it."""
        self.script.setdefault(path_suffix, []).extend(outcomes)

    def request(self, method: str, path: str, *, query=None, body=None, content_type: str = "application/json",
                timeout=None, rate_limited: bool = True) -> dict:
        scripted = False
        with self.lock:
            self.requests.append((method, path, body))
            for suffix, outcomes in self.script.items():
                if path.endswith(suffix) and outcomes:
                    outcome, scripted = outcomes.pop(0), True
                    break
        if not scripted:  # outside the lock: a responder that blocks (a hung bind) blocks only its caller
            outcome = self.responder(method, path, body) if self.responder else {}
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def calls(self, method: str, suffix: str) -> list[tuple[str, str, Any]]:
        with self.lock:
            return [r for r in self.requests if r[0] == method and r[1].endswith(suffix)]


def conflict() -> ApiError:
    return ApiError(409, 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n"')


def derive_self(kube: FakeKube) -> FakeKube:
    """Let SchedulerApp derive its event and lease clients from one fake."""
    kube.derive = lambda **kwargs: kube  # type: ignore[attr-defined]
    return kube
