"""DefaultBinder (Bind). The binding itself (POST pods/binding) is done by the scheduler's I/O shell."""

from __future__ import annotations

from typing import Any

from scheduler.core.framework import Plugin


class DefaultBinder(Plugin):
    name = "DefaultBinder"

    def bind(self, *args: Any) -> None:
        """Marker: binding is I/O and lives outside the pure core."""
        return None
