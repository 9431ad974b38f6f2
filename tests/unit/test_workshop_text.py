"""What a participant reads in docs/labs can be trusted: shown YAML is whole and valid (or says it is a
fragment, and of which file), output is trimmed only with the doc test's wildcard line ``...``, and no
step refers to a document the participant does not have (the source labs are named once, in README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "labs"
STEP_FILES = sorted(DOCS.glob("[0-9][0-9]-*.md"))
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
FRAGMENT = re.compile(r"^# fragment of (?P<path>\S+)")
# Ways of trimming output other than a "..." line: an ellipsis character, "(12 lines not shown)", ...
OTHER_TRIMS = re.compile(r"…|\(\d+ (?:more )?lines?\b|\btrimmed\b|\bomitted\b|\bnot shown\b", re.IGNORECASE)
# Documents participants do not have. The steps being rewritten by others (05, 06, 10, 11) are left to them.
UNFOLLOWABLE = re.compile(r"\boriginal lab|\bPMK\b|\bDay 66\b|\bLab 03\b|\bsource labs?\b|\bthe seeds?\b",
                          re.IGNORECASE)
OWNED_ELSEWHERE = ("05-", "06-", "10-", "11-")


def blocks(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line of the opening fence, language, body lines with the fence's indentation removed)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, str, list[str]]] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            indent = len(m.group("indent"))
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            found.append((i + 1, m.group("lang"), [ln[indent:] for ln in lines[i + 1:end]]))
            i = end
        i += 1
    return found


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


@pytest.mark.parametrize("path", STEP_FILES, ids=_ids(STEP_FILES))
def test_shown_yaml_is_whole_and_valid_or_a_marked_fragment(path: Path) -> None:
    for line, lang, body in blocks(path):
        if lang != "yaml":
            continue
        where = f"{path.relative_to(ROOT)}:{line}"
        docs = [d for d in yaml.safe_load_all("\n".join(body)) if d is not None]  # raises if invalid
        assert docs, f"{where}: an empty yaml block"
        fragment = FRAGMENT.match(body[0]) if body else None
        if fragment:
            assert (ROOT / fragment.group("path")).is_file(), f"{where}: no such file {fragment.group('path')}"
            continue
        for doc in docs:
            assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), (
                f"{where}: neither a whole object (apiVersion, kind) nor marked '# fragment of FILE'")


@pytest.mark.parametrize("path", STEP_FILES, ids=_ids(STEP_FILES))
def test_output_is_trimmed_only_with_a_wildcard_line(path: Path) -> None:
    for line, lang, body in blocks(path):
        if lang != "text":
            continue
        for k, text in enumerate(body):
            assert not OTHER_TRIMS.search(text), (
                f"{path.relative_to(ROOT)}:{line + 1 + k}: trim output with a line '...', not {text.strip()!r}")


def test_step_07s_score_tables_are_shown_in_full() -> None:
    # A table whose size is known ("feasible 3": three rows) shows every row; only where the number of
    # feasible nodes itself varies (kind: "feasible ...") may rows be left to a "..." line.
    (path,) = DOCS.glob("07-*.md")
    tables = 0
    for line, lang, body in blocks(path):
        if lang != "text":
            continue
        for k, text in enumerate(body):
            size = re.search(r"feasible (\d+)\]$", text.strip())
            if not size or k + 1 >= len(body) or not body[k + 1].strip().startswith("node "):
                continue
            tables += 1
            rows = body[k + 2:k + 2 + int(size.group(1))]
            assert len(rows) == int(size.group(1)) and all("worker" in r for r in rows), (
                f"{path.name}:{line + 1 + k}: the table of {text.strip()!r} does not show its "
                f"{size.group(1)} rows")
    assert tables >= 6  # spread and pack, three pods each


@pytest.mark.parametrize("path", [p for p in STEP_FILES if not p.name.startswith(OWNED_ELSEWHERE)],
                         ids=_ids([p for p in STEP_FILES if not p.name.startswith(OWNED_ELSEWHERE)]))
def test_no_step_refers_to_a_document_the_participant_does_not_have(path: Path) -> None:
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert not UNFOLLOWABLE.search(text), f"{path.relative_to(ROOT)}:{n}: {text.strip()}"


def test_the_index_names_the_source_labs_and_maps_the_filter_plugin_to_step_09() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for lab in ("PMK", "Day 66", "Lab 03", "Custom Kubernetes Scheduler"):
        assert f"| {lab}" in index
    assert "| Day 66 | Write a Filter plugin | [09](09-a-filter-plugin.md)" in index
    assert "not yet" not in index.split("## Where the workshop comes from")[1].split("## For maintainers")[0]
