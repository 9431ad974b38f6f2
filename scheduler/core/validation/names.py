"""Name grammars of ``k8s.io/apimachinery/pkg/util/validation`` (v0.29): IsQualifiedName,
IsValidLabelValue, IsDNS1123Subdomain, IsDNS1123Label.  Each returns ``None`` when valid or
the upstream message."""

from __future__ import annotations

import re
from functools import lru_cache

_QNAME_CHAR = r"[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", re.ASCII)
_DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)

QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                      "end with an alphanumeric character")


@lru_cache(maxsize=65536)
def dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character")
    return None


@lru_cache(maxsize=65536)
def dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL_RE.fullmatch(value):
        return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character")
    return None


@lru_cache(maxsize=65536)
def qualified_name(value: str) -> str | None:
    """``IsQualifiedName``: ``[prefix/]name``, prefix a DNS subdomain, name at most 63 characters."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return "prefix part must be non-empty"
        err = dns1123_subdomain(prefix)
        if err:
            return f"prefix part {err}"
    else:
        return ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character with an optional DNS subdomain prefix and '/'")
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        return QUALIFIED_NAME_MSG
    return None


@lru_cache(maxsize=65536)
def label_value(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if value and not _QUALIFIED_NAME_RE.fullmatch(value):
        return ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character")
    return None
