"""Event series, as client-go's events.k8s.io recorder aggregates them (kube-scheduler v1.29.15).

``k8s.io/client-go/tools/events/event_broadcaster.go`` (v0.29.15), ``recordToSink``: events are keyed
by (action, reason, reportingController, regarding, related, note). The first is created; the
second isomorphic one turns it into a series — ``series: {count: 2, lastObservedTime}`` — and is
written at once as a strategic-merge PATCH of the first event; later ones only bump the count in
memory. ``finishSeries`` writes the final count and forgets a series 6 minutes after it was last
observed (and forgets a lone event 6 minutes after its eventTime); ``refreshExistingEventSeries``
re-writes running series every 30 minutes. A PATCH answered 404 (the event expired) creates it anew.

``kubectl describe pod`` then shows ``(x5 over 2m)`` instead of five lines.

The key holds the whole ``regarding`` reference, resourceVersion included: a retry after the
PodScheduled status patch (new resourceVersion) starts a second event, and the retries after it
form that event's series, exactly as kube-scheduler's FailedScheduling events do
(checked live by e2e/test_events.py).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from scheduler.runtime.leader import micro_time

__all__ = ["EventSeries", "Write", "FINISH_TIME", "REFRESH_TIME"]

FINISH_TIME = 6 * 60.0
REFRESH_TIME = 30 * 60.0


@dataclass(frozen=True)
class Write:
    """One API write the recorder must send."""

    method: str  # POST | PATCH
    path: str
    body: dict[str, Any]


def _key(body: Mapping[str, Any]) -> bytes:
    """``getKey``: action, reason, reportingController, regarding, related, note."""
    parts = [body.get("action"), body.get("reason"), body.get("reportingController"),
             body.get("regarding") or {}, body.get("related") or {}, body.get("note")]
    try:
        return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot encode (lone surrogates in a note)
        return json.dumps(parts, sort_keys=True).encode()


def _collection(body: Mapping[str, Any]) -> str:
    return f"/apis/events.k8s.io/v1/namespaces/{body['metadata']['namespace']}/events"


class _Entry:
    __slots__ = ("body", "count", "last_observed", "created")

    def __init__(self, body: dict[str, Any], now: float) -> None:
        self.body = body
        self.count = 0  # 0: a lone event, no series yet
        self.last_observed = now
        self.created = now

    def due_at(self) -> float:
        """When ``due`` next has work for this entry (finish, or refresh a running series)."""
        if self.count:
            return min(self.last_observed + FINISH_TIME, self.created + REFRESH_TIME)
        return self.created + FINISH_TIME


class EventSeries:
    """Decides, per event, whether to create it, patch its series, or only count it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[bytes, _Entry] = {}
        # No entry is due before this time: ``due`` (called for every event) scans the cache only
        # then, instead of every entry for every event.
        self._next_due = math.inf

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def observe(self, body: dict[str, Any]) -> Write | None:
        """``recordToSink``: the write this event needs now, if any."""
        now = self._clock()
        key = _key(body)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._cache[key] = _Entry(body, now)
                self._next_due = min(self._next_due, entry.due_at())
                return Write("POST", _collection(body), body)
            entry.last_observed = now
            if entry.count:
                entry.count += 1
                return None
            entry.count = 2
            self._next_due = min(self._next_due, entry.due_at())
            return self._series_write(entry)

    def _series_write(self, entry: _Entry) -> Write:
        """``createPatchBytesForSeries``: the two-way merge patch only carries the series."""
        series = {"count": entry.count, "lastObservedTime": micro_time()}
        name = entry.body["metadata"]["name"]
        return Write("PATCH", f"{_collection(entry.body)}/{name}", {"series": series})

    def recreate(self, write: Write) -> Write | None:
        """The PATCH of a series found no event (404): create it with its series (``recordEvent``)."""
        with self._lock:
            for entry in self._cache.values():
                if write.path.endswith("/" + entry.body["metadata"]["name"]):
                    body = {**entry.body, "series": write.body["series"]}
                    body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}
                    return Write("POST", _collection(body), body)
        return None

    def due(self) -> list[Write]:
        """``finishSeries`` + ``refreshExistingEventSeries``: the writes due now; finished entries are dropped."""
        now = self._clock()
        out: list[Write] = []
        with self._lock:
            if now < self._next_due - 1.0:
                # Nothing can be due yet (the margin keeps float rounding on the safe side: the
                # per-entry tests below decide, exactly as before).
                return out
            for key, entry in list(self._cache.items()):
                if entry.count:
                    if now - entry.last_observed > FINISH_TIME:
                        out.append(self._series_write(entry))
                        del self._cache[key]
                    elif now - entry.created > REFRESH_TIME:
                        entry.created = now
                        out.append(self._series_write(entry))
                elif now - entry.created > FINISH_TIME:
                    del self._cache[key]
            self._next_due = min((e.due_at() for e in self._cache.values()), default=math.inf)
        return out
