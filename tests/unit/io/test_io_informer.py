"""Reflector: list + watch, bookmarks, re-list on 410 with a diff, resume after errors."""

from __future__ import annotations

from collections.abc import Iterator

from scheduler.runtime.informer import Reflector, object_key
from scheduler.runtime.kube import ApiError


def obj(name: str, rv: str, ns: str = "ns", **extra) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, **extra}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_add(self, o: dict) -> None:
        self.calls.append(("add", object_key(o), o["metadata"]["resourceVersion"]))

    def on_update(self, old: dict, new: dict) -> None:
        self.calls.append(("update", object_key(new), old["metadata"]["resourceVersion"],
                           new["metadata"]["resourceVersion"]))

    def on_delete(self, o: dict) -> None:
        self.calls.append(("delete", object_key(o)))


class FakeApi:
    """Scripted list pages and watch sessions; each watch session is a list of events or an error."""

    def __init__(self, lists: list[list[dict]], watches: list) -> None:
        self.lists = lists
        self.watches = watches
        self.list_queries: list[dict] = []
        self.watch_queries: list[dict] = []
        self.reflector: Reflector | None = None

    def list(self, path: str, query: dict) -> dict:
        self.list_queries.append(dict(query))
        page = self.lists.pop(0)
        if isinstance(page, Exception):
            raise page
        return page

    def watch(self, path: str, query: dict, read_timeout: float) -> Iterator[dict]:
        self.watch_queries.append(dict(query))
        if not self.watches:
            self.reflector.stop()  # script finished: end the run loop
            return
        session = self.watches.pop(0)
        if isinstance(session, Exception):
            raise session
        for item in session:
            if isinstance(item, Exception):
                raise item
            yield item


def page(items: list[dict], rv: str, cont: str | None = None) -> dict:
    meta = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {"items": items, "metadata": meta}


def make(api: FakeApi, **kwargs) -> tuple[Reflector, Recorder, list[float]]:
    rec, waits = Recorder(), []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    reflector = Reflector(api, name="pods", path="/api/v1/pods", handler=rec, field_selector="x!=y",
                          wait=wait, **kwargs)
    api.reflector = reflector
    return reflector, rec, waits


def test_list_then_watch_from_the_list_resource_version() -> None:
    api = FakeApi(
        [page([obj("a", "5"), obj("b", "6")], "10")],
        [[{"type": "ADDED", "object": obj("c", "11")},
          {"type": "MODIFIED", "object": obj("a", "12")},
          {"type": "DELETED", "object": obj("b", "13")},
          {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}}]],
    )
    reflector, rec, _ = make(api)
    reflector.run()
    assert rec.calls == [("add", "ns/a", "5"), ("add", "ns/b", "6"), ("add", "ns/c", "11"),
                         ("update", "ns/a", "5", "12"), ("delete", "ns/b")]
    first = api.watch_queries[0]
    assert first["resourceVersion"] == "10" and first["allowWatchBookmarks"] is True and first["watch"] is True
    assert first["fieldSelector"] == "x!=y" and 240 <= first["timeoutSeconds"] <= 480
    # The stream ended normally: the next watch resumes from the bookmark, without a re-list.
    assert api.watch_queries[1]["resourceVersion"] == "20"
    assert len(api.list_queries) == 1
    assert reflector.synced.is_set()
    assert sorted(reflector.store) == ["ns/a", "ns/c"]


def test_410_gone_relists_and_reports_only_the_difference() -> None:
    api = FakeApi(
        [page([obj("a", "5"), obj("b", "6"), obj("c", "7")], "10"),
         page([obj("a", "5"), obj("c", "30"), obj("d", "31")], "40")],
        [[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                       "message": "too old resource version: 10 (35)"}}]],
    )
    reflector, rec, _ = make(api)
    reflector.run()
    assert rec.calls[3:] == [("delete", "ns/b"), ("update", "ns/c", "7", "30"), ("add", "ns/d", "31")]
    assert reflector.lists == 2
    assert api.watch_queries[-1]["resourceVersion"] == "40"


def test_410_from_the_watch_request_itself_relists() -> None:
    api = FakeApi([page([], "10"), page([obj("a", "50")], "50")], [ApiError(410, "Expired")])
    reflector, rec, waits = make(api)
    reflector.run()
    assert rec.calls == [("add", "ns/a", "50")]
    assert waits == []  # a re-list, not a backoff


def test_paged_list_follows_continue_tokens() -> None:
    api = FakeApi([page([obj("a", "1")], "9", cont="t1"), page([obj("b", "2")], "9")], [])
    reflector, rec, _ = make(api, page_size=1)
    reflector.run()
    assert [c[1] for c in rec.calls] == ["ns/a", "ns/b"]
    assert api.list_queries[0]["limit"] == 1 and "continue" not in api.list_queries[0]
    assert api.list_queries[1]["continue"] == "t1"


def test_transport_errors_back_off_and_resume_from_the_last_version() -> None:
    api = FakeApi(
        [page([], "10")],
        [[{"type": "ADDED", "object": obj("a", "11")}, ApiError(0, "ProtocolError: connection reset")],
         ApiError(0, "NewConnectionError: connection refused"),
         ApiError(503, "apiserver shutting down"),
         [{"type": "ADDED", "object": obj("b", "12")}]],
    )
    reflector, rec, waits = make(api)
    reflector.run()
    assert [c[1] for c in rec.calls] == ["ns/a", "ns/b"]
    assert [q["resourceVersion"] for q in api.watch_queries[:4]] == ["10", "11", "11", "11"]
    assert len(api.list_queries) == 1
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0


def test_read_timeout_resumes_at_once() -> None:
    api = FakeApi([page([], "10")], [[ApiError(0, "ReadTimeoutError: read timed out")],
                                     [{"type": "ADDED", "object": obj("a", "11")}]])
    reflector, rec, waits = make(api)
    reflector.run()
    assert rec.calls == [("add", "ns/a", "11")]
    assert waits == []


def test_many_failures_in_a_row_force_a_relist() -> None:
    api = FakeApi([page([], "10"), page([obj("z", "99")], "99")], [ApiError(500, "boom")] * 5)
    reflector, rec, _ = make(api)
    reflector.run()
    assert reflector.lists == 2
    assert rec.calls == [("add", "ns/z", "99")]


def test_forbidden_optional_resource_counts_as_synced_and_keeps_retrying() -> None:
    # An API server answers 403 for a moment after a restart (its RBAC cache is not warm yet): the
    # reflector must not give up (it used to, and the volume informers stayed empty for good).
    api = FakeApi([ApiError(403, "forbidden"), page([obj("a", "7")], "7")], [ApiError(403, "forbidden"), []])
    reflector, rec, waits = make(api, optional_on=frozenset({403}))
    seen_synced_while_denied = []
    original = reflector._wait

    def wait(seconds: float) -> bool:
        seen_synced_while_denied.append((reflector.synced.is_set(), reflector.denied))
        return original(seconds)

    reflector._wait = wait
    reflector.run()
    assert seen_synced_while_denied[0] == (True, True)  # synced at once, so scheduling can start
    assert rec.calls == [("add", "ns/a", "7")]  # the retry listed what RBAC now allows
    assert len(api.watch_queries) == 3 and api.watch_queries[-1]["resourceVersion"] == "7"
    assert reflector.lists == 1 and len(waits) >= 2


def test_kind_is_stamped_on_listed_items() -> None:
    api = FakeApi([page([obj("a", "1")], "1")], [])
    reflector, _, _ = make(api, kind="ReplicaSet")
    reflector.run()
    assert reflector.store["ns/a"]["kind"] == "ReplicaSet"


def test_a_failing_handler_does_not_stop_the_reflector() -> None:
    class Boom(Recorder):
        def on_add(self, o: dict) -> None:
            if o["metadata"]["name"] == "bad":
                raise RuntimeError("bug")
            super().on_add(o)

    api = FakeApi([page([obj("bad", "1"), obj("good", "2")], "2")], [[{"type": "ADDED", "object": obj("c", "3")}]])
    rec = Boom()
    reflector = Reflector(api, name="pods", path="/p", handler=rec, wait=lambda s: False)
    api.reflector = reflector
    reflector.run()
    assert [c[1] for c in rec.calls] == ["ns/good", "ns/c"]


def test_first_list_reads_the_watch_cache_and_re_lists_read_etcd() -> None:
    """client-go's relistResourceVersion: "0" for the first list, a consistent read after 410 Gone."""
    api = FakeApi([page([obj("a", "1")], "5", cont="t1"), page([obj("b", "2")], "5"), page([obj("a", "7")], "9")],
                  [[{"type": "ERROR", "object": {"code": 410, "message": "too old"}}]])
    reflector, _, _ = make(api)
    reflector.run()
    assert api.list_queries[0]["resourceVersion"] == "0"
    assert "resourceVersion" not in api.list_queries[1] and api.list_queries[1]["continue"] == "t1"
    assert "resourceVersion" not in api.list_queries[2]


def test_managed_fields_are_not_kept() -> None:
    """The scheduler reads no managedFields: listed and watched objects reach the store and the
    handlers without them (they were about half of each node's memory)."""
    managed = [{"manager": "kwok", "operation": "Update", "fieldsV1": {"f:status": {}}}]
    listed = obj("a", "1")
    listed["metadata"]["managedFields"] = managed
    watched = obj("b", "2")
    watched["metadata"]["managedFields"] = managed
    seen: list[dict] = []

    class Keep(Recorder):
        def on_add(self, o: dict) -> None:
            seen.append(o)

    api = FakeApi([page([listed], "1")], [[{"type": "ADDED", "object": watched}]])
    reflector = Reflector(api, name="nodes", path="/api/v1/nodes", handler=Keep(), wait=lambda s: False)
    api.reflector = reflector
    reflector.run()
    assert [o["metadata"]["name"] for o in seen] == ["a", "b"]
    assert all("managedFields" not in o["metadata"] for o in [*seen, *reflector.store.values()])
