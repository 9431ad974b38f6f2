"""scheduler/runtime/auth.py and the server's guard and connection pool, against a fake API server.

What the live kube-scheduler v1.29.15 answers is compared in e2e/test_secure_port.py; here: the
upstream rules one by one (path matching, bearer parsing, which review is asked with what, cache
lifetimes, failures) and the bounded pool of connection handlers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from tenacity import Retrying, stop_after_delay, wait_fixed

from scheduler.runtime import server as server_module
from scheduler.runtime.auth import (
    ANONYMOUS, AUTHN_CACHE_TTL, AUTHZ_ALLOW_TTL, AUTHZ_DENY_TTL, DelegatedAuth, PathMatcher, UserInfo,
)
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.server import Checks, ProbeServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeAPI:
    """TokenReview: `good`/`reader` are known users; SubjectAccessReview: `reader` may get /metrics."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = False

    def __call__(self, path: str, body: Any) -> dict:
        self.calls.append((path, body))
        if self.fail:
            raise OSError("connection refused")
        if body["kind"] == "TokenReview":
            token = body["spec"]["token"]
            if token in ("good", "reader"):
                return {"status": {"authenticated": True, "user": {
                    "username": f"system:serviceaccount:ns:{token}", "uid": "u-1", "groups": ["system:serviceaccounts"],
                    "extra": {"authentication.kubernetes.io/pod-name": ["p"]}}}}
            return {"status": {"authenticated": False, "error": "invalid bearer token"}}
        spec = body["spec"]
        allowed = spec["user"].endswith(":reader") and spec["nonResourceAttributes"] == {"path": "/metrics",
                                                                                          "verb": "get"}
        return {"status": {"allowed": allowed}}

    def kinds(self) -> list[str]:
        return [b["kind"] for _, b in self.calls]


def test_always_allow_paths_match_like_the_apiserver_path_authorizer() -> None:
    m = PathMatcher(["/healthz", "readyz", "/debug/*", "/"])
    assert m.allows("/healthz") and m.allows("/readyz") and m.allows("/")
    assert not m.allows("/healthz/ping"), "exact entries match exactly"
    assert not m.allows("/healthzz") and not m.allows("/metrics")
    assert m.allows("/debug/") and m.allows("/debug/pprof/heap")
    assert not m.allows("/debug"), "a prefix entry needs what precedes its *"
    with pytest.raises(ValueError):
        PathMatcher(["/a*/b"])


@pytest.mark.parametrize("header", [None, "", "   ", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "Token good"])
def test_no_bearer_token_is_the_anonymous_user(header: str | None) -> None:
    api = FakeAPI()
    assert DelegatedAuth(api).authenticate(header) == ANONYMOUS
    assert api.calls == []


def test_token_reviews_are_cached_ten_seconds_and_failures_are_not() -> None:
    api, clock = FakeAPI(), Clock()
    auth = DelegatedAuth(api, clock=clock)
    user = auth.authenticate("bearer good")  # the scheme is case-insensitive
    assert user is not None and user.name == "system:serviceaccount:ns:good"
    assert user.groups == ("system:serviceaccounts", "system:authenticated")
    assert api.calls[0] == ("/apis/authentication.k8s.io/v1/tokenreviews",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "good"}})
    assert auth.authenticate("Bearer bad") is None
    assert len(api.calls) == 2
    clock.now += AUTHN_CACHE_TTL - 0.5
    assert auth.authenticate("Bearer good") == user and auth.authenticate("Bearer bad") is None
    assert len(api.calls) == 2, "both answers cached"
    clock.now += 1
    auth.authenticate("Bearer good")
    auth.authenticate("Bearer bad")
    assert len(api.calls) == 4, "asked again after the TTL"
    api.fail = True
    assert auth.authenticate("Bearer other") is None
    assert auth.authenticate("Bearer other") is None
    assert len(api.calls) == 6, "a failed review is not cached"


def test_subject_access_reviews_carry_user_path_and_verb_and_are_cached() -> None:
    api, clock = FakeAPI(), Clock()
    auth = DelegatedAuth(api, clock=clock)
    reader = auth.authenticate("Bearer reader")
    assert reader is not None
    assert auth.authorize(reader, "get", "/metrics").allowed
    path, body = api.calls[-1]
    assert path == "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    assert body["spec"] == {"user": "system:serviceaccount:ns:reader", "uid": "u-1",
                            "groups": ["system:serviceaccounts", "system:authenticated"],
                            "extra": {"authentication.kubernetes.io/pod-name": ["p"]},
                            "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}
    assert not auth.authorize(reader, "head", "/metrics").allowed
    assert not auth.authorize(ANONYMOUS, "get", "/metrics").allowed
    reviews = len(api.calls)
    clock.now += min(AUTHZ_ALLOW_TTL, AUTHZ_DENY_TTL) - 0.5
    assert auth.authorize(reader, "get", "/metrics").allowed and not auth.authorize(ANONYMOUS, "get", "/metrics").allowed
    assert len(api.calls) == reviews
    clock.now += max(AUTHZ_ALLOW_TTL, AUTHZ_DENY_TTL)
    auth.authorize(reader, "get", "/metrics")
    auth.authorize(ANONYMOUS, "get", "/metrics")
    assert len(api.calls) == reviews + 2


def test_health_paths_and_system_masters_need_no_review() -> None:
    api = FakeAPI()
    auth = DelegatedAuth(api)
    for path in ("/healthz", "/readyz", "/livez"):
        assert auth.authorize(ANONYMOUS, "get", path).allowed
    assert auth.authorize(UserInfo("admin", groups=("system:masters",)), "get", "/metrics").allowed
    assert api.calls == []
    assert not DelegatedAuth(None).authorize(ANONYMOUS, "get", "/metrics").allowed, "nobody to ask: forbidden"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def guarded():
    api = FakeAPI()
    server = ProbeServer(SchedulerMetrics(), Checks(), bind_address="127.0.0.1", port=_free_port(),
                         auth=DelegatedAuth(api))
    [url] = server.start()
    yield api, url
    server.stop()


def test_the_server_answers_401_403_200_and_500_like_kube_scheduler(guarded) -> None:
    api, url = guarded
    assert _get(url + "/healthz") == (200, "ok")
    code, body = _get(url + "/metrics")
    assert code == 403 and json.loads(body)["message"] == 'forbidden: User "system:anonymous" cannot get path "/metrics"'
    code, body = _get(url + "/healthz", "bad")
    assert code == 401 and json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                                "status": "Failure", "message": "Unauthorized",
                                                "reason": "Unauthorized", "code": 401}
    assert _get(url + "/metrics", "good")[0] == 403
    code, body = _get(url + "/metrics", "reader")
    assert code == 200 and "scheduler_pending_pods" in body
    assert _get(url + "/readyz/ping", "reader")[0] == 403, "sub-paths of the health paths are authorized"
    assert _get(url + "/nope")[0] == 403, "authorization comes before routing"
    api.fail = True
    assert _get(url + "/metrics?x", "reader")[0] == 200, "the earlier answers are still cached"
    assert _get(url + "/metrics", "another")[0] == 401, "a failed token review is an authentication failure"
    assert _get(url + "/healthz")[0] == 200


def test_a_failed_access_review_is_an_internal_error(guarded) -> None:
    api, url = guarded
    assert _get(url + "/healthz", "good")[0] == 200  # authenticated and cached
    api.fail = True
    code, body = _get(url + "/metrics", "good")
    assert code == 500 and body.startswith("Internal Server Error")


def test_connections_are_served_by_a_fixed_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "WORKERS", 2)
    monkeypatch.setattr(server_module, "PENDING", 2)
    before = set(threading.enumerate())
    server = ProbeServer(SchedulerMetrics(), Checks(), bind_address="127.0.0.1", port=_free_port())
    [url] = server.start()
    port = int(url.rsplit(":", 1)[1])
    silent = []
    try:
        workers = [t for t in threading.enumerate() if t.name.startswith("http-") and t not in before]
        assert len(workers) == 2
        for _ in range(4):  # two hold the workers (they never send a request), two wait in the queue
            silent.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        [listener] = server._servers
        for attempt in Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.1), reraise=True):
            with attempt:
                assert listener.queued() == 2, "the accept loop has not taken all four yet"
        started = time.monotonic()
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(100) == b"", "a connection beyond workers + pending is closed at once"
        except ConnectionResetError:
            pass  # closed with our request unread: also closed at once
        finally:
            extra.close()
        assert time.monotonic() - started < 5, "closed, not left waiting for a worker"
        threads = [t for t in threading.enumerate() if t.name.startswith("http-") and t not in before]
        assert len(threads) == 2, "no thread per connection"
        for sock in silent:
            sock.close()
        silent.clear()

        def healthy() -> bool:
            try:
                return _get(url + "/healthz") == (200, "ok")
            except OSError:
                return False

        for attempt in Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.2), reraise=True):
            with attempt:
                assert healthy(), "served again once the silent connections are gone"
    finally:
        for sock in silent:
            sock.close()
        server.stop()


def test_forbidden_messages_quote_and_sanitize_the_path_like_the_apiserver(guarded) -> None:
    # Measured on kube-scheduler v1.29.15: Go's %q, then its responsewriters' &, <, > replacement,
    # then encoding/json's HTML escapes.
    _, url = guarded
    code, body = _get(url + "/a%22b%5Cc%26d%3Ce%09")
    assert code == 403
    assert body.splitlines()[5] == ('  "message": "forbidden: User \\"system:anonymous\\" cannot get path '
                                    '\\"/a\\\\\\"b\\\\\\\\c\\u0026amp;d\\u0026lt;e\\\\t\\"",')


def test_a_taken_port_is_an_os_error_not_a_crash_of_the_pool() -> None:
    # TCPServer calls server_close() when bind fails, before the worker pool exists: the caller
    # must see the bind's own OSError (the CLI words it as "cannot serve on ...").
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        server = ProbeServer(SchedulerMetrics(), Checks(), bind_address="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(OSError) as caught:
            server.start()
    assert caught.value.errno is not None and "Address already in use" in str(caught.value)
