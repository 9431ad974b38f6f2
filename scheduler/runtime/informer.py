"""An informer-style reflector: list, then watch from the list's resourceVersion, forever.

The official client's `Watch.stream` is not a reflector (python-client.md §3.1): it retries a 410
only once with the same stale resourceVersion, ignores bookmarks in v29 and never re-lists. This
module owns the whole loop instead, like client-go's Reflector:

1. list (the first one from the API server's watch cache in one answer, as client-go does; re-lists
   paged and consistent) and diff the result into the local store, firing add/update/delete
   handlers, so a re-list after an outage reports exactly what changed while we were away;
2. watch from the list's resourceVersion with bookmarks, a server-side `timeoutSeconds` (so the
   stream rotates) and a client read timeout (so a dead connection cannot hang us);
3. a clean end of the stream or a read timeout resumes the watch from the last resourceVersion;
4. 410 Gone (the resourceVersion was compacted away) re-lists;
5. other failures back off exponentially (with jitter) and retry, re-listing after repeated ones.

Handlers are called on the reflector's thread, in event order. Objects are plain JSON dicts.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from scheduler.core.podutil import resource_version
from scheduler.runtime.klog import V, kv, log_s
from scheduler.runtime.kube import ApiError, KubeClient, loads

__all__ = [
    "EventHandler",
    "ListWatchApi",
    "KubeListWatch",
    "Reflector",
    "object_key",
    "NON_TERMINAL_PODS",
    "NODES_PATH",
    "PODS_PATH",
    "PAGE_SIZE",
    "first_list_query",
]

log = logging.getLogger("scheduler.runtime.informer")

# kube-scheduler's pod informer sees every pod that still occupies (or may occupy) a node.
NON_TERMINAL_PODS = "status.phase!=Succeeded,status.phase!=Failed"
NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
PAGE_SIZE = 500  # client-go's pager: the limit of a list's pages


def first_list_query(field_selector: str | None, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """The query of a reflector's first list, like client-go's (relistResourceVersion "0"): served
    from the API server's watch cache in one answer, not paged out of etcd; the watch from its
    resourceVersion then brings everything newer. Re-lists stay consistent reads."""
    query: dict[str, Any] = {"limit": page_size, "resourceVersion": "0"}
    if field_selector:
        query["fieldSelector"] = field_selector
    return query


def _drop_managed_fields(obj: Mapping[str, Any]) -> None:
    """Nothing in the scheduler reads metadata.managedFields (upstream's isPodUpdated strips them
    too), and on a kwok node they are about half of its JSON: kept, they were half of the cache
    (5,000 nodes and 1,000 pods: 100 MiB of decoded objects, 49 MiB without them, by tracemalloc).
    A client-go informer gets the same trim from a TransformFunc."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


class EventHandler(Protocol):
    def on_add(self, obj: dict[str, Any]) -> None: ...
    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None: ...
    def on_delete(self, obj: dict[str, Any]) -> None: ...

    # Optional: `on_delete_final_state_unknown(obj)` takes deletes a re-list found (tombstones).


class ListWatchApi(Protocol):
    """The two calls a reflector needs; faked in unit tests."""

    def list(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]: ...

    def watch(self, path: str, query: Mapping[str, Any], read_timeout: float) -> Iterator[dict[str, Any]]:
        """Yield decoded watch events ({"type": ..., "object": {...}}) until the stream ends."""
        ...


class FirstLists(Protocol):
    """Answers to lists asked for before the reflectors started (firstlists.py)."""

    def take(self, path: str, query: Mapping[str, Any]) -> dict[str, Any] | None: ...


class KubeListWatch:
    """ListWatchApi over a real API server; a list already asked for by `first_lists` is taken from
    there (once) instead of asked again."""

    def __init__(self, kube: KubeClient, first_lists: FirstLists | None = None) -> None:
        self._kube = kube
        self._first_lists = first_lists

    def list(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        if self._first_lists is not None:
            answer = self._first_lists.take(path, query)
            if answer is not None:
                return answer
        return self._kube.request("GET", path, query=query)

    def watch(self, path: str, query: Mapping[str, Any], read_timeout: float) -> Iterator[dict[str, Any]]:
        response = self._kube.open_stream(path, query=query, read_timeout=read_timeout)
        try:
            yield from _events(_lines(response))
        except ApiError:
            raise
        except Exception as exc:  # urllib3 read timeouts, protocol errors, resets
            raise ApiError(0, f"{type(exc).__name__}: {exc}") from None
        finally:
            response.release_conn()


def _lines(response: Any) -> Iterator[bytes]:
    # One split per chunk: splitting a line off at a time would copy the rest of the chunk each time.
    pending = b""
    for chunk in response.stream(2**16, decode_content=False):
        lines = (pending + chunk if pending else chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _events(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            event = loads(line)
        except ValueError:
            raise ApiError(0, "undecodable watch event") from None
        if isinstance(event, dict):
            yield event


class WatchExpired(Exception):
    """410 Gone: the resourceVersion we watch from is no longer available."""


class Reflector:
    """Keeps `store` equal to the API server's view of one resource and reports every change."""

    def __init__(
        self,
        api: ListWatchApi,
        *,
        name: str,
        path: str,
        handler: EventHandler,
        field_selector: str | None = None,
        page_size: int = PAGE_SIZE,
        watch_timeout: tuple[int, int] = (240, 480),
        read_timeout: float = 90.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 8.0,
        rng: random.Random | None = None,
        wait: Callable[[float], bool] | None = None,
        kind: str | None = None,
        optional_on: frozenset[int] = frozenset(),
    ) -> None:
        self.api = api
        self.name = name
        self.path = path
        self.handler = handler
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.read_timeout = read_timeout
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.stop_event = threading.Event()
        # Injected in tests so that no test ever really sleeps; returns True when stopping.
        self._wait = wait or self.stop_event.wait
        self.store: dict[str, dict[str, Any]] = {}
        self.synced = threading.Event()
        self.resource_version = ""
        self.lists = 0  # how many (re-)lists ran: observable in tests and logs
        self._failures = 0
        # List items carry no `kind`; handlers that dispatch on it get it stamped in.
        self.kind = kind
        # Statuses that mark an optional resource we may not read (403 from RBAC, 404 for an API
        # the server lacks): the reflector then counts as synced with what it has, so scheduling
        # can start, but it keeps retrying like client-go's reflectors, which never stop. An API
        # server answers 403 for a moment after a restart, before its RBAC cache is warm: giving up
        # there blinded the volume and workload informers for good.
        self.optional_on = optional_on
        self.denied = False  # the last list or watch was answered with one of optional_on

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"reflector-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """List and watch until stopped. Never raises."""
        need_list = True
        while not self.stop_event.is_set():
            try:
                if need_list:
                    self.relist()
                    need_list = False
                if self.watch_once() == 0 and not self.stop_event.is_set():
                    # A stream that ends without a single event (not even a bookmark) may be a
                    # server going away: do not hammer it.
                    if self._wait(self.initial_backoff * (1.0 + self.rng.random())):
                        return
            except WatchExpired:
                log_s(log, V(2), "Watch expired, re-listing", reflector=self.name,
                                 resourceVersion=self.resource_version)
                need_list = True
            except ApiError as exc:
                if exc.status in self.optional_on:
                    if not self.denied:
                        log.warning(kv("Optional resource not readable; counting it as synced and retrying",
                                       reflector=self.name, err=str(exc)))
                    self.denied = True
                    self.synced.set()
                self._failures += 1
                # After a few failures in a row the resourceVersion may be stale: list afresh.
                need_list = need_list or self._failures >= 5
                # A 429/5xx with Retry-After: not before the server asked (client-go's rest client
                # waits it out before its next try; ours is the reflector's).
                delay = max(self._backoff(), float(exc.retry_after or 0))
                log.warning(kv("Watch or list failed, retrying", reflector=self.name, err=str(exc),
                               retryIn=round(delay, 2)))
                if self._wait(delay):
                    return
            except Exception:  # a bug in a handler must not kill the cache
                log.exception(kv("Reflector loop error", reflector=self.name))
                need_list = True
                if self._wait(self._backoff()):
                    return

    def _backoff(self) -> float:
        base = min(self.max_backoff, self.initial_backoff * 2 ** max(0, self._failures - 1))
        return base * (1.0 + self.rng.random())  # jitter factor 1, as client-go's backoff manager

    # -- list --------------------------------------------------------------------------------

    def relist(self) -> None:
        """List everything (paged) and diff it into the store."""
        items, listed_rv = self._list_all()
        fresh = {object_key(item): item for item in items}
        # Order: deletions first frees capacity before additions claim it. A delete found by a
        # re-list is client-go's DeletedFinalStateUnknown: the object we hold may be stale (a pod
        # assumed, then bound and deleted during the gap), so handlers that can take a tombstone
        # get one and clean up whatever they hold for it (eventhandlers.go, the cache's FilterFunc).
        on_tombstone = getattr(self.handler, "on_delete_final_state_unknown", None) or self.handler.on_delete
        for key in [k for k in self.store if k not in fresh]:
            old = self.store.pop(key)
            self._dispatch(on_tombstone, old)
        for key, item in fresh.items():
            old = self.store.get(key)
            self.store[key] = item
            if old is None:
                self._dispatch(self.handler.on_add, item)
            elif resource_version(old) != resource_version(item):
                self._dispatch(self.handler.on_update, old, item)
        self.resource_version = listed_rv
        self.lists += 1
        log_s(log, V(2), "Listed", reflector=self.name, items=len(fresh), resourceVersion=listed_rv)
        self.denied = False
        self.synced.set()

    def _list_all(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            if not self.lists and not token:
                query = first_list_query(self.field_selector, self.page_size)
            else:
                query = {"limit": self.page_size}
                if self.field_selector:
                    query["fieldSelector"] = self.field_selector
            if token:
                query["continue"] = token
            try:
                page = self.api.list(self.path, query)
            except ApiError as exc:
                if exc.status == 410 and token:
                    # The continue token expired mid-listing: start over.
                    items, token = [], None
                    continue
                raise
            batch = page.get("items") or []
            for item in batch:
                _drop_managed_fields(item)
                if self.kind:
                    item.setdefault("kind", self.kind)
            items.extend(batch)
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    # -- watch -------------------------------------------------------------------------------

    def watch_once(self) -> int:
        """One watch request from `resource_version` until the server ends it or it times out.

        Returns how many events arrived.
        """
        query: dict[str, Any] = {
            "watch": True,
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self.rng.randint(*self.watch_timeout),
        }
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        received = 0
        try:
            for event in self.api.watch(self.path, query, self.read_timeout):
                if self.stop_event.is_set():
                    return received
                self._apply(event)
                received += 1
                self._failures = 0
        except ApiError as exc:
            if exc.status == 410:
                raise WatchExpired() from None
            if exc.status == 0 and "ReadTimeout" in exc.message:
                # A quiet stream: nothing lost, resume from the last resourceVersion at once.
                log_s(log, V(4), "Watch read timeout, resuming", reflector=self.name)
                return max(received, 1)
            raise
        return received

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise WatchExpired()
            raise ApiError(code, str(obj.get("message") or "watch error"), reason=str(obj.get("reason") or ""))
        rv = resource_version(obj)
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        key = object_key(obj)
        _drop_managed_fields(obj)
        if kind in ("ADDED", "MODIFIED"):
            old = self.store.get(key)
            self.store[key] = obj
            if old is None:
                self._dispatch(self.handler.on_add, obj)
            else:
                self._dispatch(self.handler.on_update, old, obj)
        elif kind == "DELETED":
            old = self.store.pop(key, None)
            if old is not None:
                self._dispatch(self.handler.on_delete, obj)
        else:
            log_s(log, V(4), "Ignoring unknown watch event", reflector=self.name, type=str(kind))
            return
        if rv:
            self.resource_version = rv

    def get(self, key: str) -> dict[str, Any] | None:
        """The last object seen under `namespace/name` (the informer's lister). Safe from any thread:
        the store is only assigned to key by key on the reflector's thread."""
        return self.store.get(key)

    def _dispatch(self, fn: Callable[..., None], *args: dict[str, Any]) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception(kv("Event handler failed", reflector=self.name, object=object_key(args[-1])))
