"""The schema engine for input at the boundary: checks (``Check``: value and field path in, an
``ObjectError`` naming the path out) and the combinators that build them (``obj``, ``strict_obj``,
``lst``, ``strmap``, ``enum``).

Kubernetes objects (``scheduler.core.validation.objects``: lenient, fields scheduling never reads are
ignored) and the scheduler's configuration (``scheduler.core.config.schema``: strict, as kube-scheduler
decodes it) are both described with these. ``null`` means "unset": combinators never check a null field.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any, Callable, Mapping, NoReturn

from scheduler.core.validation.text import describe, quote, safe_text

Check = Callable[[Any, str], None]

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class ObjectError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


def fail(path: str, message: str) -> NoReturn:
    raise ObjectError(path, message)


def supported(value: Any, values: tuple[str, ...]) -> str:
    return f"Unsupported value: {quote(value)}: supported values: " + ", ".join(f'"{v}"' for v in values)


# ------------------------------------------------------------------ type checks (OpenAPI layer)

def s(value: Any, path: str) -> None:
    if not isinstance(value, str):
        fail(path, f"expected a string, got {describe(value)}")


def integer(bits: int, shown: Callable[[int], str] = quote) -> Check:
    """A whole number of ``bits`` bits (not a bool); ``shown`` writes a value out of range in the message."""
    limit = MAX_INT32 if bits == 32 else MAX_INT64

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, f"expected an integer, got {describe(value)}")
        if not -limit - 1 <= value <= limit:
            fail(path, f"{shown(value)} does not fit in a {bits}-bit integer")
    return check


i32 = integer(32)
i64 = integer(64)


def number(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(path, f"expected a number, got {describe(value)}")


def b(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        fail(path, f"expected true or false, got {describe(value)}")


def ts(value: Any, path: str) -> None:
    if not isinstance(value, (str, datetime.datetime, datetime.date)):
        fail(path, f"expected an RFC 3339 timestamp, got {describe(value)}")


def anything(value: Any, path: str) -> None:
    pass


def enum(*values: str) -> Check:
    allowed = frozenset(values)

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str) or value not in allowed:
            fail(path, supported(value, values))
    return check


def obj(fields: Mapping[str, Check], hook: Callable[[dict[str, Any], str], object] | None = None) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            fail(path, f"expected an object, got {describe(value)}")
        for key, val in value.items():
            sub = fields.get(key) if isinstance(key, str) else None
            if sub is not None and val is not None:
                sub(val, f"{path}.{key}" if path else key)
        if hook is not None:
            hook(value, path)
    return check


def _string_keyed(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """An object's items, after checking it is an object whose keys are strings (the first wrong one fails)."""
    if not isinstance(value, dict):
        fail(path, f"expected an object, got {describe(value)}")
    for key, val in value.items():
        if not isinstance(key, str):
            fail(path, f"keys must be strings, got {describe(key)}")
        yield key, val


def strict_obj(fields: Mapping[str, Check], hints: Mapping[str, str] | None = None) -> Check:
    """An object whose every field is known (strict decoding, as kube-scheduler reads its configuration):
    a key that is not a string, or one not in ``fields``, is an error naming the fields known there
    (and ``hints[key]`` when there is one, e.g. where a removed field went)."""
    known = ", ".join(fields)

    def check(value: Any, path: str) -> None:
        for key, val in _string_keyed(value, path):
            sub = fields.get(key)
            if sub is None:
                hint = hints.get(key) if hints else None
                shown = safe_text(key[:80])
                fail(f"{path}.{shown}" if path else shown,
                     "unknown field" + (f" ({hint})" if hint else "") + f"; known fields here: {known}")
            if val is not None:
                sub(val, f"{path}.{key}" if path else key)
    return check


def lst(item: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            fail(path, f"expected a list, got {describe(value)}")
        for i, val in enumerate(value):
            if val is None:
                fail(f"{path}[{i}]", "expected a value, got null")
            item(val, f"{path}[{i}]")
    return check


def key_path(path: str, key: str) -> str:
    return f"{path}[{quote(key, 60)}]"


def strmap(key_rule: Callable[[str], str | None] | None = None,
           value_rule: Callable[[str], str | None] | None = None) -> Check:
    def check(value: Any, path: str) -> None:
        for key, val in _string_keyed(value, path):
            if not isinstance(val, str):
                fail(key_path(path, key), f"expected a string, got {describe(val)}")
            if key_rule is None and value_rule is None:
                continue
            if key_rule is not None:
                err = key_rule(key)
                if err:
                    fail(path, f"Invalid value: {quote(key)}: {err}")
            if value_rule is not None:
                err = value_rule(val)
                if err:
                    fail(key_path(path, key), f"Invalid value: {quote(val)}: {err}")
    return check
