"""The workshop's step files (docs/labs/NN-*.md) as the doc test reads them.

``parse_step`` turns a step's Markdown into what e2e/test_workshop.py runs: every ```bash block is
a command, the ```text blocks after it are its expected output, the ``Check: make verify STEP=NN``
line is where ``lab verify NN`` runs.

**Which provider a block is for** is said by Material's content tabs (pymdownx.tabbed), the same
thing the reader sees and clicks::

    === "local"

        ```bash
        make lab-up
        ```

    === "kind"

        ```bash
        make lab-up PROVIDER=kind
        ```

A block inside ``=== "kind"`` is for kind only; a block outside every tab is for all providers.
Tab titles are the names in ``TAB_PROVIDERS`` (``vagrant`` covers the Vagrant lab and its
container stand-in); a tab's content is indented 4 spaces, as pymdownx.tabbed wants it, and
tabs do not nest.

An HTML comment right before a block changes how the test treats it:
``<!-- test: skip (why) -->`` (not run: needs Docker, Vagrant, ...),
``<!-- test: timeout 180 -->`` (seconds for that command),
``<!-- test: any-order -->`` (the expected lines may appear in any order),
``<!-- test: example (why) -->`` (an illustration of output too variable to compare; counted), and
``<!-- test: only kind,vagrant -->`` (the older way of saying what a tab says, for step files not
converted to tabs yet; not allowed inside a tab).

Every problem is a ``StepFileError`` whose text is one line: file:line, then what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "labs"
DEFAULT_TIMEOUT = 120.0  # seconds a command block may take unless its marker says otherwise

STEP_FILE = re.compile(r"^(\d\d)-[a-z0-9-]+\.md$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<body>.*?)\s*-->\s*$")
CHECK = re.compile(r"^\s*Check:\s.*?\bmake verify STEP=(?P<step>\d\d)\b")
# pymdownx.tabbed: `=== "Title"`; `===!` starts a new set of tabs, `===+` selects the tab.
TAB = re.compile(r'^(?P<indent> *)===(?P<flags>[!+]{0,2})(?=\s|$)(?:\s+"(?P<title>[^"]*)")?\s*(?P<rest>.*)$')
TAB_INDENT = 4  # pymdownx.tabbed's content indentation
# A tab title -> the lab providers (lab.providers.PROVIDERS) its blocks are for.
TAB_PROVIDERS: dict[str, frozenset[str]] = {
    "local": frozenset({"local"}),
    "kind": frozenset({"kind"}),
    "vagrant": frozenset({"vagrant", "vagrant-containers"}),
}
SHOWN_ONLY = {"yaml", "python", "json", "go", "diff", "ini", "toml", "dockerfile", "ruby", "markdown", "mermaid"}
REFUSED = {
    "": "say what the block is: ```bash for commands, ```text for output",
    "sh": "use ```bash for commands",
    "shell": "use ```bash for commands",
    "console": "use ```bash for commands and ```text for their output",
}


class StepFileError(ValueError):
    """A step file the doc test cannot read as intended; str() names the file and line."""


def known_providers() -> tuple[str, ...]:
    """The lab providers an ``only`` marker may name (lab/cli.py's --provider choices)."""
    from lab.providers import PROVIDERS

    return PROVIDERS


@dataclass(frozen=True)
class Expected:
    text: str
    line: int
    any_order: bool = False
    example: str | None = None  # why this block is only an illustration (not compared)
    only: frozenset[str] | None = None  # the providers whose output this is (None: every provider)

    def applies_to(self, provider: str) -> bool:
        return self.only is None or provider in self.only


@dataclass
class Command:
    code: str
    line: int
    skip: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    expected: list[Expected] = field(default_factory=list)
    only: frozenset[str] | None = None  # the providers this command is for (None: every provider)

    def runs_on(self, provider: str) -> bool:
        return self.skip is None and (self.only is None or provider in self.only)


@dataclass(frozen=True)
class CheckPoint:
    step: str
    line: int


Item = Union[Command, CheckPoint]


@dataclass
class Step:
    number: str
    title: str
    path: Path
    items: list[Item]

    @property
    def commands(self) -> list[Command]:
        return [i for i in self.items if isinstance(i, Command)]


@dataclass(frozen=True)
class _Tab:
    """The tab a line is in: its title, the header's line number and indentation."""

    title: str
    line: int
    indent: int

    @property
    def content_indent(self) -> int:
        return self.indent + TAB_INDENT


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _markers(bodies: list[str], where: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for body in bodies:
        if m := re.fullmatch(r"skip\s*\((?P<why>[^)]+)\)", body):
            out["skip"] = m["why"].strip()
        elif m := re.fullmatch(r"timeout\s+(?P<s>\d+(?:\.\d+)?)", body):
            out["timeout"] = float(m["s"])
        elif body == "any-order":
            out["any_order"] = True
        elif m := re.fullmatch(r"example\s*\((?P<why>[^)]+)\)", body):
            out["example"] = m["why"].strip()
        elif m := re.fullmatch(r"only(?:\s+(?P<names>.*))?", body):
            if "only" in out:
                raise StepFileError(f"{where}: two 'only' markers on one block: name every provider in one")
            out["only"] = _only_providers(m["names"] or "", where)
        else:
            raise StepFileError(
                f"{where}: unknown test marker {body!r} "
                "(known: skip (why), timeout SECONDS, any-order, example (why), only PROVIDER,...)"
            )
    if "skip" in out and "only" in out:
        raise StepFileError(f"{where}: a block is either skipped or only for some providers, not both")
    return out


def _only_providers(names: str, where: str) -> frozenset[str]:
    """``kind,vagrant`` -> {"kind", "vagrant"}; every name must be a lab provider."""
    known = known_providers()
    listed = [n.strip() for n in names.split(",")]
    if not names.strip() or any(not n for n in listed):
        raise StepFileError(
            f"{where}: 'only' needs providers separated by commas, e.g. only kind,vagrant "
            f"(providers: {', '.join(known)})"
        )
    unknown = [n for n in listed if n not in known]
    if unknown:
        raise StepFileError(
            f"{where}: 'only' names {', '.join(repr(n) for n in unknown)}, not a lab provider "
            f"(providers: {', '.join(known)})"
        )
    if len(set(listed)) != len(listed):
        raise StepFileError(f"{where}: 'only' names a provider twice: {names.strip()}")
    return frozenset(listed)


class _Tabs:
    """Which tab the parser is in, and the titles seen in the current set of tabs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: _Tab | None = None
        self.set_titles: dict[str, int] = {}  # title -> header line, in the current set of tabs
        self.awaiting_content = False  # a header was read, its content not yet

    def header(self, match: re.Match[str], number: int) -> None:
        where = f"{self.path}:{number}"
        indent = len(match["indent"])
        if match["title"] is None or match["rest"]:
            raise StepFileError(f'{where}: a tab is === "TITLE" with the title in double quotes, e.g. === "kind"')
        title = match["title"]
        current = self.current
        if current is not None and indent >= current.content_indent:
            raise StepFileError(
                f'{where}: tab "{title}" inside tab "{current.title}" (line {current.line}): '
                "provider tabs do not nest"
            )
        if current is not None and self.awaiting_content:
            self._empty(current)
        if title not in TAB_PROVIDERS:
            raise StepFileError(
                f"{where}: tab {title!r} is not a provider "
                f"(tabs of a step file: {', '.join(repr(t) for t in TAB_PROVIDERS)})"
            )
        if current is None or current.indent != indent or "!" in match["flags"]:
            self.set_titles = {}
        if title in self.set_titles:
            raise StepFileError(
                f'{where}: tab "{title}" twice in one set of tabs (first at line {self.set_titles[title]})'
            )
        self.set_titles[title] = number
        self.current = _Tab(title, number, indent)
        self.awaiting_content = True

    def line(self, line: str, number: int) -> None:
        """A line that is no tab header: does it continue the current tab, or end it?"""
        tab = self.current
        if tab is None or not line.strip():
            return
        indent = _indent(line)
        if indent >= tab.content_indent:
            self.awaiting_content = False
            return
        if indent > tab.indent:
            raise StepFileError(
                f'{self.path}:{number}: this line of tab "{tab.title}" (line {tab.line}) is indented '
                f"{indent - tab.indent} spaces; tab content is indented {TAB_INDENT}"
            )
        if self.awaiting_content:
            self._empty(tab)
        self.current = None  # a line as far left as the header ends the tab and its set

    def _empty(self, tab: _Tab) -> None:
        raise StepFileError(
            f'{self.path}:{tab.line}: tab "{tab.title}" is empty '
            f"(its content follows the header, indented {TAB_INDENT} spaces)"
        )

    def finish(self) -> None:
        if self.current is not None and self.awaiting_content:
            self._empty(self.current)

    @property
    def providers(self) -> frozenset[str] | None:
        return TAB_PROVIDERS[self.current.title] if self.current is not None else None


def parse_step(text: str, path: Path) -> Step:
    """Read one step file. Raises StepFileError (one line: file, line, what is wrong)."""
    m = STEP_FILE.match(path.name)
    if not m:
        raise StepFileError(f"{path}: step files are named NN-words.md (e.g. 05-second-scheduler.md)")
    number = m[1]
    lines = text.splitlines()
    title = ""
    items: list[Item] = []
    pending: list[str] = []  # marker bodies waiting for the next block
    pending_line = 0
    tabs = _Tabs(path)
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{path}:{i + 1}"
        if not title and line.startswith("# "):
            title = re.sub(rf"^(Step\s+)?{number}\s*[·:.—-]*\s*", "", line[2:].strip())
        tab_header = TAB.match(line)
        if tab_header:
            if pending:
                raise StepFileError(f"{path}:{pending_line}: a test marker must come right before a ``` block")
            tabs.header(tab_header, i + 1)
            i += 1
            continue
        tabs.line(line, i + 1)
        marker = MARKER.match(line)
        if marker:
            pending.append(marker["body"])
            pending_line = i + 1
            i += 1
            continue
        check = CHECK.match(line)
        if check:
            if tabs.current is not None:
                raise StepFileError(
                    f'{where}: the Check line is inside tab "{tabs.current.title}" (line {tabs.current.line}); '
                    "it belongs to every provider, outside the tabs"
                )
            if check["step"] != number:
                raise StepFileError(f"{where}: the check says STEP={check['step']} in step {number}'s file")
            items.append(CheckPoint(number, i + 1))
        fence = FENCE.match(line)
        if not fence:
            if line.strip() and pending:
                raise StepFileError(f"{path}:{pending_line}: a test marker must come right before a ``` block")
            i += 1
            continue
        lang, indent = fence["lang"].lower(), len(fence["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            if tabs.current is not None and lines[i].strip() and _indent(lines[i]) < tabs.current.content_indent:
                raise StepFileError(
                    f"{path}:{i + 1}: this line of the ``` block at line {start + 1} leaves tab "
                    f'"{tabs.current.title}" (line {tabs.current.line}): indent it {TAB_INDENT} spaces too'
                )
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i >= len(lines):
            raise StepFileError(f"{path}:{start + 1}: the ``` block is never closed")
        if tabs.current is not None and _indent(lines[i]) < tabs.current.content_indent:
            raise StepFileError(
                f"{path}:{i + 1}: the ``` closing the block at line {start + 1} leaves tab "
                f'"{tabs.current.title}" (line {tabs.current.line}): indent it {TAB_INDENT} spaces too'
            )
        i += 1
        opts = _markers(pending, f"{path}:{pending_line}")
        if tabs.current is not None and "only" in opts:
            raise StepFileError(
                f'{path}:{pending_line}: an \'only\' marker inside tab "{tabs.current.title}" '
                f"(line {tabs.current.line}): the tab already says which providers the block is for"
            )
        only = tabs.providers if tabs.current is not None else opts.get("only")
        pending = []
        content = "\n".join(body)
        if lang in REFUSED:
            raise StepFileError(f"{path}:{start + 1}: {REFUSED[lang]}")
        if lang == "bash":
            if set(opts) & {"any_order", "example"}:
                raise StepFileError(f"{path}:{start + 1}: any-order and example apply to ```text blocks")
            items.append(
                Command(
                    content,
                    start + 1,
                    skip=opts.get("skip"),  # type: ignore[arg-type]
                    timeout=float(opts.get("timeout", DEFAULT_TIMEOUT)),  # type: ignore[arg-type]
                    only=only,  # type: ignore[arg-type]
                )
            )
        elif lang == "text":
            if set(opts) - {"any_order", "example", "only"}:
                raise StepFileError(
                    f"{path}:{start + 1}: only any-order, example and only apply to ```text blocks"
                )
            last = items[-1] if items else None
            if not isinstance(last, Command):
                raise StepFileError(
                    f"{path}:{start + 1}: a ```text block must follow the ```bash block whose output it shows"
                )
            if not content.strip():
                raise StepFileError(f"{path}:{start + 1}: an empty ```text block checks nothing")
            if only is not None and last.only is not None and not only <= last.only:
                raise StepFileError(
                    f"{path}:{start + 1}: this output is for {', '.join(sorted(only - last.only))}, "
                    f"but the command at line {last.line} runs only on {', '.join(sorted(last.only))}"
                )
            last.expected.append(
                Expected(
                    content,
                    start + 1,
                    bool(opts.get("any_order")),
                    opts.get("example"),  # type: ignore[arg-type]
                    only,  # type: ignore[arg-type]
                )
            )
        elif lang not in SHOWN_ONLY:
            raise StepFileError(
                f"{path}:{start + 1}: unknown block language {lang!r} "
                f"(bash, text, or one of {', '.join(sorted(SHOWN_ONLY))})"
            )
        elif opts:
            raise StepFileError(f"{path}:{start + 1}: test markers apply to ```bash and ```text blocks only")
    tabs.finish()
    if pending:
        raise StepFileError(f"{path}:{pending_line}: a test marker at the end of the file marks nothing")
    if not title:
        raise StepFileError(f"{path}: no '# ' title line")
    checks = [it for it in items if isinstance(it, CheckPoint)]
    if len(checks) != 1:
        raise StepFileError(f"{path}: needs exactly one 'Check: make verify STEP={number}' line, found {len(checks)}")
    return Step(number, title, path, items)


def load_steps(docs: Path = DOCS) -> list[Step]:
    """All step files in order; numbers must run 01, 02, ... without gaps."""
    files = sorted(p for p in docs.glob("[0-9][0-9]-*.md"))
    steps = [parse_step(p.read_text(encoding="utf-8"), p) for p in files]
    for want, step in enumerate(steps, start=1):
        if step.number != f"{want:02d}":
            raise StepFileError(f"{step.path}: expected step {want:02d} here (steps are numbered without gaps)")
    return steps


def as_json(steps: list[Step]) -> str:
    """The parsed workshop (for debugging the doc test: python -c 'from lab.workshop import stepfile; ...')."""
    return json.dumps(
        [
            {
                "step": s.number,
                "title": s.title,
                "commands": [
                    {
                        "line": c.line,
                        "skip": c.skip,
                        "only": sorted(c.only) if c.only is not None else None,
                        "timeout": c.timeout,
                        "expected": [e.line for e in c.expected],
                    }
                    for c in s.commands
                ],
            }
            for s in steps
        ],
        indent=2,
    )
