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

import re
from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml: ~10x faster than the pure-Python reader
    _Loader: type = yaml.CSafeLoader
    HAVE_LIBYAML = True
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader
    HAVE_LIBYAML = False

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
                    raise YAMLLoadError(f"line {mark.line + 1}: nested deeper than {limit} levels "
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
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    from scheduler.core.validation.text import truncate
    return f"invalid YAML: {where}{truncate(str(problem), 120)}"


def load_yaml_documents(text: str | bytes, limits: YAMLLimits = DEFAULT_LIMITS) -> list[Any]:
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
        if _depth_bound(text) > _SAFE_BOUND:
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
