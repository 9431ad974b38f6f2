"""kube-scheduler's cache debugger (internal/cache/debugger, SIGUSR2): compare the cache with the
API's current truth, log every difference, then dump the scheduling queue."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from scheduler.core.cachecompare import compare_cache
from scheduler.core.state import ClusterState
from scheduler.runtime.informer import NON_TERMINAL_PODS
from scheduler.runtime.klog import kv
from scheduler.runtime.kube import ApiError, KubeClient
from scheduler.runtime.queue import SchedulingQueue

log = logging.getLogger("scheduler.runtime.app")  # the name the log lines have always had

CACHE_COMPARE_PAGE_SIZE = 500  # the informers' page size (client-go's pager default)


class CacheDebugger:
    def __init__(self, kube: KubeClient, state: ClusterState, queue: SchedulingQueue) -> None:
        self.kube = kube
        self.state = state
        self.queue = queue

    def compare(self) -> list[str]:
        """The cache's differences from the API's current truth (empty when exact)."""
        nodes = self._list_paged("/api/v1/nodes", {})
        pods = self._list_paged("/api/v1/pods", {"fieldSelector": NON_TERMINAL_PODS})
        return compare_cache(self.state, nodes, pods)

    def _list_paged(self, path: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a collection, CACHE_COMPARE_PAGE_SIZE at a time (limit/continue), as the
        informers' lists are: one answer for a large cluster's pods could pass the HTTP client's
        body cap. A continue token that expired mid-list (410) starts the list over, as the
        informer's pager does."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page_query: dict[str, Any] = {**query, "limit": CACHE_COMPARE_PAGE_SIZE}
            if token:
                page_query["continue"] = token
            try:
                page = self.kube.request("GET", path, query=page_query)
            except ApiError as exc:
                if exc.status == 410 and token:
                    items, token = [], None
                    continue
                raise
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    def debug(self) -> list[str]:
        """Log every difference between the cache and the API, then dump the queue
        (CacheDebugger.Compare + Dumper.DumpAll)."""
        log.info("Starting the cache comparison")
        try:
            diffs = self.compare()
        except Exception as exc:
            log.error(kv("Cache comparison failed", err=str(exc)))
            return [f"comparison failed: {exc}"]
        for diff in diffs:
            log.info(kv("Cache mismatch", diff=diff))
        log.info(kv("Cache comparison done", differences=len(diffs)))
        for where, keys in self.queue.dump().items():
            log.info(kv("Dump of scheduling queue", queue=where, pods=",".join(keys)))
        return diffs
