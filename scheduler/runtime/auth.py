"""Delegated authentication and authorization of the scheduler's HTTP endpoints.

What kube-scheduler v1.29's secure port does (k8s.io/apiserver, DelegatingAuthenticationOptions and
DelegatingAuthorizationOptions), with the same defaults:

* Authentication: a bearer token (`Authorization: Bearer <token>`) is checked with a TokenReview
  (authentication.k8s.io/v1). No token, or an Authorization header that is not a bearer token, is the
  anonymous user (system:anonymous, group system:unauthenticated). A token the API server does not
  accept, or a review that fails, is an authentication failure (HTTP 401), whatever the path.
  Answers (accepted or not) are cached for 10 s (CacheTTL); failed reviews are not cached.
* Authorization, first match wins: members of system:masters are allowed everything; the
  always-allow paths (default /healthz, /readyz, /livez; exact matches, or a prefix when the entry
  ends in `*`, a leading `/` optional, as k8s.io/apiserver/pkg/authorization/path) are allowed for
  everyone; anything else is asked with a SubjectAccessReview (authorization.k8s.io/v1) carrying the
  user and the non-resource attributes path (the URL path, no query) and verb (the lower-cased HTTP
  method). Allowed answers are cached 10 s, denied ones 10 s (AllowCacheTTL / DenyCacheTTL); a failed
  review is not cached and is an internal error (HTTP 500), as the apiserver's WithAuthorization does.

The reviews go through `Reviewer`, a callable that POSTs a JSON object to an API path and returns
the decoded answer (KubeClient.request in the scheduler, a fake in tests).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["ALWAYS_ALLOW_GROUPS", "ANONYMOUS", "AuthError", "DEFAULT_ALWAYS_ALLOW_PATHS", "Decision", "DelegatedAuth", "go_quote", "sanitize",
           "PathMatcher", "Reviewer", "UserInfo", "status_body"]

AUTHN_CACHE_TTL = 10.0  # DelegatingAuthenticationOptions.CacheTTL
AUTHZ_ALLOW_TTL = 10.0  # DelegatingAuthorizationOptions.AllowCacheTTL
AUTHZ_DENY_TTL = 10.0  # DelegatingAuthorizationOptions.DenyCacheTTL
REVIEW_TIMEOUT = 10.0  # TokenRequestTimeout / ClientTimeout
CACHE_ENTRIES = 1024  # the webhook authorizer's LRU size; bounds memory whatever the callers send
DEFAULT_ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")
ALWAYS_ALLOW_GROUPS = ("system:masters",)
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class Reviewer(Protocol):
    def __call__(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


class AuthError(Exception):
    """A review could not be made (the API server did not answer, or answered an error)."""


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


ANONYMOUS = UserInfo("system:anonymous", groups=("system:unauthenticated",))

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class _TTLCache(Generic[K, V]):
    """A small LRU whose entries expire; thread-safe."""

    clock: Callable[[], float]
    entries: int = CACHE_ENTRIES
    _data: OrderedDict[K, tuple[float, V]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] <= self.clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        with self._lock:
            self._data[key] = (self.clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)


class PathMatcher:
    """k8s.io/apiserver's path authorizer: exact paths, or prefixes for entries ending in `*`."""

    def __init__(self, always_allow: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        for entry in always_allow:
            entry = entry.removeprefix("/")
            if not entry:
                self.exact.add(entry)  # "/" itself
                continue
            if "*" in entry[:-1]:
                raise ValueError(f"only trailing * allowed in {entry!r}")
            if entry.endswith("*"):
                self.prefixes.append(entry[:-1])
            else:
                self.exact.add(entry)

    def allows(self, path: str) -> bool:
        path = path.removeprefix("/")
        return path in self.exact or any(path.startswith(p) for p in self.prefixes)


def go_quote(text: str) -> str:
    """Go's %q for the strings in the apiserver's messages: double-quoted, backslash escapes for
    quotes, backslashes and non-printable characters."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def sanitize(message: str) -> str:
    """The apiserver's responsewriters sanitizer, applied to Forbidden and InternalError texts."""
    return message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_body(code: int, reason: str, message: str) -> bytes:
    """A metav1.Status byte for byte as kube-scheduler's secure port writes it: indented by two
    spaces, no final newline, HTML characters escaped like Go's encoding/json (Forbidden carries
    details {})."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason}
    if reason == "Forbidden":
        status["details"] = {}
    status["code"] = code
    text = json.dumps(status, indent=2, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class DelegatedAuth:
    """Authenticate a request's Authorization header and authorize (user, verb, path)."""

    def __init__(self, reviewer: Reviewer | None, *, always_allow_paths: Iterable[str] = DEFAULT_ALWAYS_ALLOW_PATHS,
                 always_allow_groups: Iterable[str] = ALWAYS_ALLOW_GROUPS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # reviewer None: no API server to ask (kube-scheduler without authn/authz kubeconfigs): every
        # token fails and only the always-allow paths are served.
        self.reviewer = reviewer
        self.paths = PathMatcher(always_allow_paths)
        self.groups = frozenset(always_allow_groups)
        self._tokens: _TTLCache[str, tuple[UserInfo | None]] = _TTLCache(clock)  # (None,): refused
        self._decisions: _TTLCache[tuple[UserInfo, str, str], Decision] = _TTLCache(clock)

    # -- authentication ------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> UserInfo | None:
        """The user of a request, ANONYMOUS without a bearer token, None when the token is refused
        or cannot be reviewed (the caller answers 401)."""
        token = _bearer_token(authorization)
        if token is None:
            return ANONYMOUS
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()  # never keep the token
        cached = self._tokens.get(key)
        if cached is not None:
            return cached[0]
        try:
            user = self._review_token(token)
        except AuthError:
            return None  # not cached: the next request asks again
        self._tokens.put(key, (user,), AUTHN_CACHE_TTL)
        return user

    def _review_token(self, token: str) -> UserInfo | None:
        if self.reviewer is None:
            return None
        answer = _review(self.reviewer, TOKEN_REVIEWS, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        groups = [str(g) for g in user.get("groups") or []]
        if "system:authenticated" not in groups:  # group.NewAuthenticatedGroupAdder
            groups.append("system:authenticated")
        extra = tuple(sorted((str(k), tuple(str(x) for x in v or ())) for k, v in (user.get("extra") or {}).items()))
        return UserInfo(str(user.get("username") or ""), str(user.get("uid") or ""), tuple(groups), extra)

    # -- authorization -------------------------------------------------------------------------
    def authorize(self, user: UserInfo, verb: str, path: str) -> Decision:
        """Allowed or not; raises AuthError when the SubjectAccessReview fails (answer 500)."""
        if self.groups & set(user.groups):
            return Decision(True)
        if self.paths.allows(path):
            return Decision(True)
        if self.reviewer is None:
            return Decision(False)
        key = (user, verb, path)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups),
                                "nonResourceAttributes": {"path": path, "verb": verb}}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        answer = _review(self.reviewer, SUBJECT_ACCESS_REVIEWS, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
        status = answer.get("status") or {}
        decision = Decision(bool(status.get("allowed")) and not status.get("denied"), str(status.get("reason") or ""))
        self._decisions.put(key, decision, AUTHZ_ALLOW_TTL if decision.allowed else AUTHZ_DENY_TTL)
        return decision


def _bearer_token(authorization: str | None) -> str | None:
    """k8s.io/apiserver's bearertoken authenticator: `Bearer <token>` (scheme case-insensitive); any
    other header, or an empty token, leaves the request to the anonymous authenticator."""
    value = (authorization or "").strip()
    parts = value.split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def _review(reviewer: Reviewer, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        answer = reviewer(path, body)
    except Exception as exc:  # noqa: BLE001 - any transport or API error: the review failed
        raise AuthError(f"{body.get('kind')}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(answer, Mapping):
        raise AuthError(f"{body.get('kind')}: unexpected answer")
    return answer
