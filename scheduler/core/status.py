"""A plugin call's result: ``Status`` and its codes (``framework/interface.go`` of v1.29).

Its own module so that the event texts (``messages``), the framework and the plugins all read it
from below them instead of from each other.
"""

from __future__ import annotations

# Status codes (framework/interface.go).
SUCCESS = "Success"
ERROR = "Error"
UNSCHEDULABLE = "Unschedulable"
UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
WAIT = "Wait"
SKIP = "Skip"


class Status:
    """Result of a plugin call; ``None`` is used for success on the hot paths."""

    __slots__ = ("code", "reasons", "plugin")

    def __init__(self, code: str, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = list(reasons)
        self.plugin = plugin

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code == SUCCESS

    def is_skip(self) -> bool:
        return self.code == SKIP

    def is_unschedulable(self) -> bool:
        return self.code in (UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE)

    def __repr__(self) -> str:
        return f"Status({self.code}, {self.reasons!r}, plugin={self.plugin!r})"


def code_of(status: Status | None) -> str:
    return SUCCESS if status is None else status.code
