"""The throughput benchmark's watchers: when each pod was first seen bound, and first seen with its
Scheduled event (a scheduler is only stopped once every pod has one)."""

from __future__ import annotations

import threading

from bench.throughput import _bound_pod, _FirstSeen, _scheduled_event_pod


def _pod(name: str, node: str | None = None) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": node} if node else {}}


def test_a_pod_counts_once_from_the_first_time_it_is_seen_bound() -> None:
    bound = _FirstSeen(_bound_pod)
    bound.on_add(_pod("a"))
    assert not bound.wait_count(1, 0.01)  # pending pods do not count
    bound.on_update(_pod("a"), _pod("a", "n1"))
    first = bound.seen_at["a"]
    bound.on_update(_pod("a", "n1"), _pod("a", "n1"))
    assert bound.seen_at == {"a": first}


def test_only_scheduled_events_count_and_a_waiter_wakes_when_the_last_arrives() -> None:
    events = _FirstSeen(_scheduled_event_pod)
    events.on_add({"reason": "FailedScheduling", "regarding": {"name": "a"}})
    assert events.seen_at == {}
    late = threading.Timer(0.05, events.on_add, args=({"reason": "Scheduled", "regarding": {"name": "b"}},))
    late.start()
    try:
        assert events.wait_count(1, 30)
    finally:
        late.join()
    assert list(events.seen_at) == ["b"]


def test_peak_rss_is_the_childs_own_not_its_parents() -> None:
    """wait4's ru_maxrss of a child forked from a large process is at least that process's size;
    peak_rss_kib reads the child's own high-water mark."""
    import subprocess
    import sys

    from bench.throughput import peak_rss_kib

    ballast = bytearray(200 * 1024 * 1024)  # this process's RSS grows by 200 MiB ...
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        own = peak_rss_kib(child.pid)  # Popen returns once the child has exec'd: its own mm from here
    finally:
        child.communicate(b"")
    assert own is not None and own < 100 * 1024, f"{own} KiB: a bare interpreter, not the 200 MiB of its parent"
    assert peak_rss_kib(child.pid) is None  # reaped: nothing to read
    del ballast
