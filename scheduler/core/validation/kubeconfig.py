"""A kubeconfig file checked before the client library reads it.

The Python client parses kubeconfigs with PyYAML's pure reader and no budgets, and reports
type errors as tracebacks; this check reads the file once with the safe loader (size, depth
and alias budgets) and verifies the shape client-go's ``clientcmd`` expects (``v1.Config``):
named lists of clusters, users and contexts whose entries are mappings of strings.  The
4 MiB size limit is scheduler-lab's (deliberately stricter than client-go, which has none).
"""

from __future__ import annotations

from typing import Any

from scheduler.core.validation.text import describe, quote
from scheduler.core.validation.yamlload import YAMLLimits, YAMLLoadError, load_yaml_documents

KUBECONFIG_LIMITS = YAMLLimits(max_bytes=4 << 20, max_depth=32, max_alias_nodes=10_000)

_STRING_FIELDS = {
    "cluster": ("server", "certificate-authority", "certificate-authority-data", "tls-server-name", "proxy-url"),
    "user": ("client-certificate", "client-certificate-data", "client-key", "client-key-data", "token",
             "tokenFile", "username", "password", "as"),
    "context": ("cluster", "user", "namespace"),
}


class KubeConfigValidationError(ValueError):
    """One line: ``<field path>: <problem>``."""


def _fail(path: str, message: str) -> None:
    raise KubeConfigValidationError(f"{path}: {message}" if path else message)


def check_kubeconfig_data(doc: Any) -> None:
    if not isinstance(doc, dict):
        _fail("", f"expected a kubeconfig (a mapping with clusters, users and contexts), got {describe(doc)}")
    for key, value in doc.items():
        if not isinstance(key, str):
            _fail("", f"keys must be strings, got {describe(key)}")
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        _fail("current-context", f"expected a string, got {describe(current)}")
    for list_name, item in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        entries = doc.get(list_name)
        if entries is None:
            continue
        if not isinstance(entries, list):
            _fail(list_name, f"expected a list, got {describe(entries)}")
        names: set[str] = set()
        for i, entry in enumerate(entries):
            path = f"{list_name}[{i}]"
            if not isinstance(entry, dict):
                _fail(path, f"expected a mapping with name and {item}, got {describe(entry)}")
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                _fail(f"{path}.name", f"Required value: a non-empty string, got {describe(name)}")
            if name in names:
                _fail(f"{path}.name", f"Duplicate value: {quote(name)}")
            names.add(name)
            body = entry.get(item)
            if body is None:
                continue
            if not isinstance(body, dict):
                _fail(f"{path}.{item}", f"expected a mapping, got {describe(body)}")
            for field in _STRING_FIELDS[item]:
                value = body.get(field)
                if value is not None and not isinstance(value, str):
                    _fail(f"{path}.{item}.{field}", f"expected a string, got {describe(value)}")
            skip = body.get("insecure-skip-tls-verify")
            if skip is not None and not isinstance(skip, bool):
                _fail(f"{path}.{item}.insecure-skip-tls-verify", f"expected true or false, got {describe(skip)}")
    if current and isinstance(doc.get("contexts"), list) and \
            current not in {c.get("name") for c in doc["contexts"]}:
        _fail("current-context", f"Invalid value: {quote(current)}: no context with this name")


def check_kubeconfig_text(data: bytes | str) -> dict[str, Any]:
    """Parse and check a kubeconfig text; returns the checked document."""
    try:
        docs = [d for d in load_yaml_documents(data, KUBECONFIG_LIMITS) if d is not None]
    except YAMLLoadError as exc:
        raise KubeConfigValidationError(str(exc)) from None
    if len(docs) != 1:
        _fail("", f"expected one YAML document, got {len(docs)}")
    check_kubeconfig_data(docs[0])
    document: dict[str, Any] = docs[0]
    return document


def read_kubeconfig(path: str) -> dict[str, Any]:
    """Read and check ``path``; returns the checked document. Raises ``KubeConfigValidationError``
    (one line) on any problem."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(KUBECONFIG_LIMITS.max_bytes + 1)
    except OSError as exc:
        raise KubeConfigValidationError(f"cannot read: {exc.strerror or exc}") from None
    return check_kubeconfig_text(data)


def check_kubeconfig(path: str) -> None:
    """Read and check ``path``; raises ``KubeConfigValidationError`` (one line) on any problem."""
    read_kubeconfig(path)
