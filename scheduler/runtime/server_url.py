"""Whether a kubeconfig's `server` is a URL the scheduler can connect to.

Checked before either kubeconfig reader (connection.py's or the client library's) sees the file:
without it a server such as `localhost:6443`, `https://`, `https://h:99999` or `http://[::1`
reached the HTTP layer and ended in a traceback there. A usable server is `http://` or `https://`,
an ASCII host name or IP address (IPv6 in brackets), an optional port 1-65535 and an optional path;
no user info, query, fragment, white space or control characters. (client-go would prepend
`https://` to a server without a scheme; the scheduler asks for the scheme instead of guessing.)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from scheduler.core.validation.kubeconfig import KubeConfigValidationError, read_kubeconfig
from scheduler.core.validation.text import quote

__all__ = ["ServerURLError", "check_kubeconfig_server", "server_url_problem"]

_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")


class ServerURLError(ValueError):
    """One line naming the kubeconfig, the cluster and context, and the field `server`."""


def server_url_problem(server: Any) -> str | None:
    """None when `server` is usable, else what is wrong with it (a short phrase)."""
    if not isinstance(server, str) or not server:
        return "no server given"
    if not server.isascii():
        return "contains non-ASCII characters"
    if any(ch.isspace() or not ch.isprintable() for ch in server):
        return "contains white space or control characters"
    if "://" not in server:
        return "no scheme (expected https://HOST[:PORT])"
    try:
        parts = urlsplit(server)
        port = parts.port
    except ValueError as exc:  # bad IPv6 brackets, a port that is not a number or out of range
        return f"not a URL: {exc}"
    if parts.scheme not in ("https", "http"):
        return f"scheme {quote(parts.scheme)} is neither https nor http"
    if parts.username is not None or parts.password is not None:
        return "user info is not allowed in the server URL"
    if parts.query or parts.fragment or server.endswith(("?", "#")):
        return "a query or fragment is not allowed in the server URL"
    host = parts.hostname
    if not host:
        return "empty host"
    if port == 0 or (":" in parts.netloc.rsplit("]", 1)[-1] and port is None):
        return "port must be 1-65535"
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return f"invalid IPv6 address {quote(host)}"
    elif not _HOST_NAME.match(host):
        return f"invalid host {quote(host)}"
    return None


def _named(entries: Any, name: Any) -> Mapping[str, Any] | None:
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return entry
    return None


def check_kubeconfig_server(path: str, shown: str) -> None:
    """Raise ServerURLError when the current context's cluster has an unusable server. A file that
    cannot be read or has another problem is left to the kubeconfig readers (they word it)."""
    try:
        doc = read_kubeconfig(path)
    except (KubeConfigValidationError, OSError):
        return
    context_name = doc.get("current-context")
    context = (_named(doc.get("contexts"), context_name) or {}).get("context")
    if not isinstance(context, Mapping):
        return
    cluster_name = context.get("cluster")
    index = next((i for i, c in enumerate(doc.get("clusters") or []) if isinstance(c, Mapping)
                  and c.get("name") == cluster_name), None)
    if index is None:
        return
    cluster = doc["clusters"][index].get("cluster") or {}
    server = cluster.get("server") if isinstance(cluster, Mapping) else None
    problem = server_url_problem(server)
    if problem is not None:
        raise ServerURLError(
            f"kubeconfig {shown}: clusters[{index}] (cluster {quote(cluster_name)}, context {quote(context_name)}): "
            f"server {quote(server) if server else '(empty)'}: {problem}")
