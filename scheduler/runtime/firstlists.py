"""The informers' first lists of nodes and pods, asked for as soon as the API client exists.

A Go kube-scheduler sends its first lists a moment after it starts. This process first imports and
builds the rest of itself (the wiring, the binder, the elector, the HTTP server, the metrics), about
a third of a second on 2 cores, and at 5,000 nodes the API server then needs a while longer to
answer the node list (20 MB of JSON). Asking first lets the API server work while the rest is
built. The reflector takes the answer as its first list (KubeListWatch): the same request, with the
same query, that it would have sent itself a little later. The watch still starts from that
answer's resourceVersion, so no event is lost or seen twice.

Measured live (5,000 kwok nodes, 1,000 pending pods, one lab, runs alternated): the node list was
in the cache 2.43-2.73 s after the process started, against 3.03-3.15 s when it was asked for by the
reflector; the first bind came 2.56-2.76 s after the start against 3.07-3.24 s. Most of what is
left is the API server's: it starts answering a 20 MB JSON node list after about 1.5 s, and the
same list as protobuf (kube-scheduler's choice) after about 0.4 s (docs/performance.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from scheduler.runtime.informer import NODES_PATH, NON_TERMINAL_PODS, PODS_PATH, first_list_query
from scheduler.runtime.kube import KubeClient

__all__ = ["FirstListsInFlight", "SCHEDULER_FIRST_LISTS"]

# The two lists that grow with the cluster; the other informers' lists are small.
SCHEDULER_FIRST_LISTS = ((NODES_PATH, first_list_query(None)), (PODS_PATH, first_list_query(NON_TERMINAL_PODS)))

_Key = tuple[str, tuple[tuple[str, str], ...]]


def _key(path: str, query: Mapping[str, Any]) -> _Key:
    return path, tuple(sorted((str(k), str(v)) for k, v in query.items()))


class _Answer:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.body: dict[str, Any] | None = None
        self.error: BaseException | None = None


class FirstListsInFlight:
    """Lists sent at once, each on its own thread; `take` hands an answer over once."""

    def __init__(self, kube: KubeClient, lists: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        self._lock = threading.Lock()
        self._answers: dict[_Key, _Answer] = {}
        for path, query in lists:
            answer = _Answer()
            self._answers[_key(path, query)] = answer
            threading.Thread(target=self._ask, args=(kube, path, dict(query), answer),
                             name=f"first-list {path}", daemon=True).start()

    @staticmethod
    def _ask(kube: KubeClient, path: str, query: dict[str, Any], answer: _Answer) -> None:
        try:
            answer.body = kube.request("GET", path, query=query)
        except BaseException as exc:  # handed to the reflector, which handles it as its own list's
            answer.error = exc
        finally:
            answer.done.set()

    def take(self, path: str, query: Mapping[str, Any]) -> dict[str, Any] | None:
        """The answer to this exact list, waiting for it if it is still on its way, or None when it
        was not asked for here (or was taken already). A failed list raises what it raised."""
        with self._lock:
            answer = self._answers.pop(_key(path, query), None)
        if answer is None:
            return None
        answer.done.wait()
        if answer.error is not None:
            raise answer.error
        return answer.body
