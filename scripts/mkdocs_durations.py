"""MkDocs hook (mkdocs.yml `hooks:`): under each workshop step's title, how long its guided part
takes, as the doc test measured it (e2e/test_workshop.py writes docs/labs/durations.json, seconds
per step per provider). A step the doc test has not measured yet gets no line."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

STEP_PAGE = re.compile(r"^labs/(\d\d)-[^/]+\.md$")
TITLE = re.compile(r"^# .*$", re.MULTILINE)


def load_durations(path: Path) -> dict[str, dict[str, float]]:
    """{provider: {step: seconds}}; empty when the file is missing or not that shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {p: {s: float(v) for s, v in steps.items() if isinstance(v, (int, float))}
            for p, steps in data.items() if isinstance(steps, dict)}


def duration_line(step: str, durations: dict[str, dict[str, float]]) -> str | None:
    measured = {p: steps[step] for p, steps in durations.items() if step in steps}
    if not measured:
        return None
    minutes = max(1, math.ceil(max(measured.values()) / 60))
    where = " and ".join(sorted(measured))
    return f"*Takes about {minutes} minute{'s' if minutes != 1 else ''} (measured by the doc test on {where}).*"


def add_duration(markdown: str, src_uri: str, durations: dict[str, dict[str, float]]) -> str:
    """The page with the duration line after its title (unchanged for other pages)."""
    page = STEP_PAGE.match(src_uri)
    line = duration_line(page.group(1), durations) if page else None
    title = TITLE.search(markdown)
    if line is None or title is None:
        return markdown
    return markdown[: title.end()] + "\n\n" + line + markdown[title.end():]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    durations = load_durations(Path(config.docs_dir) / "labs" / "durations.json")
    return add_duration(markdown, page.file.src_uri, durations)
