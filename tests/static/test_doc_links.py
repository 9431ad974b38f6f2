"""Every relative link in README.md and docs/ resolves: the target file or directory exists, and a
`#anchor` into a Markdown file names one of its headings (GitHub's slugs) or an explicit HTML id.
Links inside fenced code blocks and inline code are not links and are skipped."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.static.conftest import REPO

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), with an optional "title"; nested brackets in the text allowed.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
ATTR_ID = re.compile(r"\{[^}]*#([\w-]+)[^}]*\}\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("``", line)))
    return lines


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: its rendered text lower-cased, every character that is not a
    letter, digit, space, hyphen or underscore dropped, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text)                          # inline HTML tags render as nothing
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)              # _emphasis_, not snake_case
    text = "".join(ch for ch in text.lower() if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in `path`: heading slugs (repeats get -1, -2, ... as on GitHub)
    and ids given explicitly (HTML id/name attributes, attr_list `{#id}`)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ID.findall(line))
        heading = HEADING.match(line)
        if not heading:
            continue
        explicit = ATTR_ID.search(heading.group(2))
        if explicit:
            found.add(explicit.group(1))
        slug = github_slug(ATTR_ID.sub("", heading.group(2)).strip())
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """One line per relative link in `path` that does not resolve, naming file, line and target."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if EXTERNAL.match(target):
                continue
            where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{number}"
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
            if not resolved.exists():
                problems.append(f"{where}: {target}: no such file {resolved}")
                continue
            if anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
                problems.append(f"{where}: {target}: no heading or id '{anchor}' in {resolved.name}")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_reports_missing_files_and_anchors(tmp_path: Path) -> None:
    """The check can fail: a missing file, a missing anchor, and a good link next to them."""
    (tmp_path / "other.md").write_text("# Parity with kube-scheduler v1.29.15\n\n## Tests\n## Tests\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#parity-with-kube-scheduler-v12915)\n"
        "[ok](other.md#tests-1) [ok](#local) [ok](https://example.invalid/x)\n"
        "<a id=\"local\"></a>\n"
        "[gone](missing.md) [bad anchor](other.md#nope)\n"
        "`[not a link](nowhere.md)`\n"
        "```\n[not a link](nowhere.md)\n```\n"
    )
    problems = broken_links(page)
    assert [p.split(": ", 1)[1].split(":")[0] for p in problems] == ["missing.md", "other.md#nope"]


@pytest.mark.parametrize(("heading", "slug"), [
    ("Security: what the lab touches, and what the scheduler's port serves",
     "security-what-the-lab-touches-and-what-the-schedulers-port-serves"),
    ("Parity with kube-scheduler v1.29.15", "parity-with-kube-scheduler-v12915"),
    ("The kind lab, with or without a registry", "the-kind-lab-with-or-without-a-registry"),
    ("`make doctor` and the `lab_id()`", "make-doctor-and-the-lab_id"),
    ("Step 5 — kube-scheduler as a second scheduler", "step-5--kube-scheduler-as-a-second-scheduler"),
])
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug
