"""Reading YAML from users: libyaml when present, and budgets that fail fast in one line.

* size: texts larger than ``max_bytes`` (64 MiB by default) are refused before parsing;
* nesting: deeper than ``max_depth`` (100) is refused; a cheap upper bound on the depth is
  computed before libyaml's (recursive, C-stack) composer runs, so no input can crash it;
* aliases: an alias bomb is refused before anything expands it: the nodes reachable through
  aliases are counted on the composed graph (shared, not expanded) against ``max_alias_nodes``;
  recursive aliases are refused;
* keys: mapping keys must be scalars (``? [a]`` is refused) and unique (like the API
  server's strict decoding);
* what the YAML constructor itself raises (an over-long integer, a bad timestamp) becomes
  one line too.

``load_yaml_documents`` returns the documents (``None`` for empty ones) or raises
``YAMLLoadError`` whose ``str()`` is one line without the source name (callers prefix it).
"""

from __future__ import annotations

import json
import os
import re
from itertools import accumulate
from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml: ~10x faster than the pure-Python reader
    _Loader: type = yaml.CSafeLoader
    HAVE_LIBYAML = True
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader
    HAVE_LIBYAML = False

try:  # a Rust YAML reader (~8x faster than libyaml through PyYAML); optional, see _fast_load
    import yaml_rs as _yaml_rs
except ImportError:  # pragma: no cover - the pure path is complete on its own
    _yaml_rs = None  # type: ignore[assignment]

MiB = 1 << 20


@dataclass(frozen=True)
class YAMLLimits:
    max_bytes: int = 64 * MiB
    max_depth: int = 100
    max_alias_nodes: int = 100_000


DEFAULT_LIMITS = YAMLLimits()


class YAMLLoadError(ValueError):
    """One-line description of why a text is not acceptable YAML."""


# A line's leading spaces plus its block indicators ("- ", "? ", ": ") bound the block depth it opens.
_BLOCK_RE = re.compile(r"^([ ]*)((?:[-?:][ ]+)*)", re.MULTILINE)
_FLOW_RE = re.compile(r"[\[\]{}]")
_SAFE_BOUND = 2_000  # libyaml's composer recurses in C; far below where its stack would overflow


def _depth_bound(text: str) -> int:
    """An upper bound on the nesting depth (cheap; exact checks follow on the composed graph)."""
    opens = text.count("[") + text.count("{")
    flow = 0
    if opens:
        if opens < _SAFE_BOUND:
            flow = opens
        else:
            depth = 0
            for match in _FLOW_RE.finditer(text):
                if match.group() in "[{":
                    depth += 1
                    flow = max(flow, depth)
                elif depth:
                    depth -= 1
    block = 0
    for match in _BLOCK_RE.finditer(text):
        indent, markers = match.groups()
        if indent or markers:
            block = max(block, len(indent) + len(markers))
    return flow + block + 1


def _event_depth(text: str, limit: int) -> None:
    """Exact nesting depth from libyaml's (non-recursive) event stream; raises past ``limit``."""
    loader = _Loader(text)
    try:
        depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > limit:
                    mark = event.start_mark
                    line = mark.line + 1 if mark is not None else 0
                    raise YAMLLoadError(f"line {line}: nested deeper than {limit} levels "
                                        "(scheduler-lab's limit; Kubernetes objects need far fewer)")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: "


def _check_graph(root: yaml.Node, limits: YAMLLimits) -> None:
    """Depth, alias budget, recursion, complex and duplicate keys, without expanding anything."""
    # Iterative DFS over the composed graph. A node seen twice is an alias use: it is
    # reached again without being re-walked, and its (memoised) size is charged to the budget.
    size: dict[int, int] = {}
    depth_of: dict[int, int] = {}
    on_path: set[int] = set()
    alias_nodes = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1
            deepest = 0
            for child in _children(node):
                total += size[id(child)]
                deepest = max(deepest, depth_of[id(child)])
            size[key] = total
            depth_of[key] = deepest + 1
            continue
        if key in on_path:
            raise YAMLLoadError(f"{_where(node)}recursive alias (an anchor used inside itself)")
        if key in size:  # an alias to an already-walked node
            alias_nodes += size[key]
            if depth + depth_of[key] - 1 > limits.max_depth:
                raise YAMLLoadError(f"{_where(node)}nested deeper than {limits.max_depth} levels "
                                    "(through an alias)")
            if alias_nodes > limits.max_alias_nodes:
                raise YAMLLoadError(f"{_where(node)}aliases expand to more than {limits.max_alias_nodes} "
                                    "nodes (an alias bomb?); refused before expanding")
            continue
        if depth > limits.max_depth:
            raise YAMLLoadError(f"{_where(node)}nested deeper than {limits.max_depth} levels "
                                "(scheduler-lab's limit; Kubernetes objects need far fewer)")
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YAMLLoadError(f"invalid YAML: {_where(key_node)}a mapping key must be a plain string, "
                                        "not a list or mapping")
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                ident = (key_node.tag, key_node.value)
                if ident in seen:
                    from scheduler.core.validation.text import quote
                    raise YAMLLoadError(f"invalid YAML: {_where(key_node)}duplicate field {quote(key_node.value)}")
                seen.add(ident)
        children = _children(node)
        if not children:
            size[key] = 1
            depth_of[key] = 1
            continue
        on_path.add(key)
        stack.append((node, depth, True))
        for child in children:
            if id(child) in on_path:
                raise YAMLLoadError(f"{_where(child)}recursive alias (an anchor used inside itself)")
            stack.append((child, depth + 1, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    from scheduler.core.validation.text import truncate
    return f"invalid YAML: {where}{truncate(str(problem), 120)}"


# Anything whose meaning could differ between the YAML 1.1 rules PyYAML (and the API server's go-yaml)
# applies and yaml_rs's YAML 1.2 rules, or that needs the budgets above, takes the PyYAML path:
# tags, anchors/aliases, merge keys, complex keys, directives, "..." markers, control characters,
# and plain scalars (values, items, keys, flow entries) such as yes/no/on/off, 0755, 0o7, 0b1,
# 1e3, 1_000, 12:30, timestamps, .inf/.nan.  Each pattern starts with a literal so the scan is fast.
_TOKEN = (
    r"(?=[-+.0-9=<yYnNoO_])(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|=|<<"
    r"|[-+]?0[0-9_]+|[-+]?0[oObBxX][0-9a-fA-F_]*|[-+]?[0-9][0-9_]*(?::[0-9_]+)+(?:\.[0-9_]*)?"
    r"|[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*[eE][-+]?[0-9_]+|[-+]?[0-9]*_[0-9_.a-fA-F]*"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ][^\n]*)?|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)|[-+]?\.[0-9_]*)"
)
_RISKY = (
    re.compile(r": +" + _TOKEN + r"[ \t]*(?:$|[#\r,\]}])", re.MULTILINE),        # mapping values
    re.compile(r"- +" + _TOKEN + r"[ \t]*(?:$|#|\r)", re.MULTILINE),             # sequence items
    # keys: anything that starts like a number, or is a YAML 1.1 boolean word (cheap superset of _TOKEN)
    re.compile(r"\n[ \t]*(?:- +)?(?:[-+]?[._0-9]|=|<<|(?:[yY](?:es|ES)?|[nN](?:o|O)?|[oO](?:n|N|ff|FF))[ \t]*(?::|$))",
               re.MULTILINE),
    re.compile(r"\n[ \t]*\?(?:[ \t]|$)", re.MULTILINE),                           # complex keys
    # characters libyaml refuses (yaml_rs accepts them)
    re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"),
)
_FLOW_RISKY = re.compile(r"[,\[{:?] *" + _TOKEN + r"[ \t]*(?:[,\]}:#\r]|$)|[\[{,] *\?",  # flow entries
                         re.MULTILINE)
_RISKY_LITERALS = (" &", " *", " !", "]:", "}:", "\n%", "\n...", "\t", " |", " >", "\n|", "\n>", "\n&", "\n*", "\n!")
_FLOW_LITERALS = ("[&", "[*", "[!", ",&", ",*", ",!", "{&", "{*", "{!")


def _risky(text: str) -> bool:
    head = "\n" + text[:200]  # the first line has no "\n" before it
    if head.lstrip().startswith(("%", "?", "!", "&", "*", "...")):
        return True
    if any(lit in text or lit in head for lit in _RISKY_LITERALS):
        return True
    if ("[" in text or "{" in text) and (any(lit in text for lit in _FLOW_LITERALS) or _FLOW_RISKY.search(text)):
        return True
    return any(rx.search(head) or rx.search(text) for rx in _RISKY)


_MARKER_RE = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_CONTENT_RE = re.compile(r"^[ \t]*[^\s#]", re.MULTILINE)

FAST_PATH_USED = [0]  # how many texts took the yaml_rs path (for the benchmark's report)


_DEEP_INDENT_RE = re.compile(r"\n {40,}\S")


def _shallow(text: str) -> bool:
    """Cheap proof that the nesting is < 100 levels: block levels need indentation (< 40 columns here),
    compact sequences ("- - ") and flow brackets are absent or few."""
    return ("- - " not in text and text.count("[") + text.count("{") < 40
            and not _DEEP_INDENT_RE.search(text))


def _fast_load(text: str, limits: YAMLLimits) -> list[Any] | None:
    """The documents via yaml_rs when the text needs none of the PyYAML path's rules; None otherwise."""
    if _yaml_rs is None or os.environ.get("SCHEDULER_YAML_READER") == "libyaml" or _risky(text):
        return None
    markers = list(_MARKER_RE.finditer(text)) if "---" in text else []
    head = text[:markers[0].start()] if markers else text
    count = len(markers) + (1 if _CONTENT_RE.search(head) else 0)
    if count == 0:
        return []  # only comments and blank lines: no documents, as PyYAML reads it
    try:
        result = _yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # noqa: BLE001 - the PyYAML path reports the error with its line and column
        return None
    docs: list[Any]
    if count == 1:
        docs = [result]
    elif isinstance(result, list) and len(result) == count:
        docs = result
    else:
        return None
    FAST_PATH_USED[0] += 1
    return docs


_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")  # the PyYAML path reports it with its line and column
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity are not JSON


def _json_load(text: str, limits: YAMLLimits) -> list[Any] | None:
    """A JSON text (``kubectl get -o json``) read by the json module: JSON is YAML, and the API server
    reads it as JSON.  Anything unusual (duplicate keys, NaN, deep nesting) takes the PyYAML path."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    # Running bracket depth, all in C (brackets inside strings can only over-count: then the PyYAML path decides).
    steps = _FLOW_RE.findall(text)
    if steps and max(accumulate(map(_BRACKET_STEP.__getitem__, steps))) > limits.max_depth:
        return None
    try:
        doc = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None
    FAST_PATH_USED[0] += 1
    return [doc]


def load_yaml_documents(text: str | bytes, limits: YAMLLimits = DEFAULT_LIMITS, fast: bool = True) -> list[Any]:
    """All documents of ``text`` (``None`` for empty ones), or ``YAMLLoadError``."""
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise YAMLLoadError(f"{len(text)} bytes is larger than the {limits.max_bytes}-byte limit")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YAMLLoadError(f"not UTF-8 text (byte {exc.start})") from None
    if len(text) > limits.max_bytes:
        raise YAMLLoadError(f"{len(text.encode('utf-8', 'surrogatepass'))} bytes is larger than the "
                            f"{limits.max_bytes}-byte limit")
    if "\x00" in text:
        raise YAMLLoadError("contains a NUL character: not a text file")
    try:
        if fast and os.environ.get("SCHEDULER_YAML_READER") != "libyaml":
            docs = _json_load(text, limits)
            if docs is not None:
                return docs
        if fast and limits.max_depth >= 100 and _shallow(text):
            docs = _fast_load(text, limits)
            if docs is not None:
                return docs
        bound = _depth_bound(text)
        if bound > _SAFE_BOUND:
            _event_depth(text, limits.max_depth)
        loader = _Loader(text)
        try:
            docs = []
            while loader.check_node():
                node = loader.get_node()
                _check_graph(node, limits)
                docs.append(loader.construct_document(node))
            return docs
        finally:
            loader.dispose()
    except YAMLLoadError:
        raise
    except yaml.YAMLError as exc:
        raise YAMLLoadError(_problem(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # constructors: int('9'*5000), bad dates
        from scheduler.core.validation.text import truncate
        raise YAMLLoadError(f"invalid value: {truncate(str(exc).splitlines()[0] if str(exc) else '', 120)}") \
            from None
    except RecursionError:
        raise YAMLLoadError(f"nested deeper than {limits.max_depth} levels") from None
