"""Putting user-supplied text into one-line messages and table cells safely."""

from __future__ import annotations

from typing import Any

MAX_QUOTED = 80

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def safe_text(text: str) -> str:
    """``text`` with control, line-separator and unpaired-surrogate characters escaped.

    The result is printable on any UTF-8 terminal and never contains a line break, so a
    name such as ``"n1\\nfake line"`` cannot forge an extra output line.
    """
    if text.isprintable() and "\\" not in text:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
    return "".join(out)


def truncate(text: str, limit: int = MAX_QUOTED) -> str:
    """Escape, then cut to about ``limit`` characters (with a note of the full length)."""
    if len(text) > limit * 4:
        text = text[:limit * 4]  # escaping can only grow the text; no need to look further
        cut = True
    else:
        cut = False
    text = safe_text(text)
    if len(text) > limit or cut:
        return f"{text[:limit]}... (truncated)"
    return text


def quote(value: Any, limit: int = MAX_QUOTED) -> str:
    """A value for a message: strings double-quoted, everything truncated and escaped."""
    if isinstance(value, str):
        return f'"{truncate(value, limit)}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = str(value) if not isinstance(value, int) or value.bit_length() < 200 else "a very large integer"
        return truncate(text, limit)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return truncate(type(value).__name__, limit)


def describe(value: Any) -> str:
    """``string "x"``, ``number 3``, ``null``, ``a list``... for "expected X, got Y" messages."""
    if isinstance(value, str):
        return f"string {quote(value)}"
    if isinstance(value, bool):
        return f"boolean {quote(value)}"
    if isinstance(value, (int, float)):
        return f"number {quote(value)}"
    return quote(value)
