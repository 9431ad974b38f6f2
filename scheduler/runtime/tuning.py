"""The scheduler process's sizes and process-wide tuning: bind and event workers, the client's
connection pool, the bind timeout, the cyclic collector's thresholds.

Kept apart from the wiring (app.py) so that the command line can size the API client, and start
the informers' first lists with it, before the rest of the process is imported (firstlists.py)."""

from __future__ import annotations

import gc

# kube-scheduler binds each pod in its own goroutine, so with the client rate limit lifted hundreds
# of binds wait in the API server at once. A bind worker is a thread that mostly waits on a socket,
# and how many are in flight sets the throughput once the API server is the bottleneck: it splits
# its CPU between the binds and its other clients' writes (kubelets' status updates) by how many
# of each are waiting. Measured in alternation with kube-scheduler v1.29.15 (500 kwok nodes, 2,000
# pods, 2 cores, qps lifted, 2 runs of 3 rounds): 64 workers bound 185-263 pods/s, 192 bound
# 282-313 in all 6 rounds, 384 bound 248-286 at more CPU per pod (2.3-2.8 ms against 1.8-2.1:
# thread switching); kube-scheduler 201-306. Threads start only as binds arrive (ThreadPoolExecutor).
BIND_WORKERS = 192
# Unary connections kept alive: one per bind worker, plus the reflectors' watches. A worker finding
# the pool short opens a new connection: a full TLS handshake costs the API server an RSA signature,
# one resuming the pool's session (http11.TlsSessions) only an ECDHE exchange.
CLIENT_POOL_SIZE = BIND_WORKERS + 8
# client-go's recorder writes every event in its own goroutine. With 8 threads, the 500-node
# benchmark's 2,000-pod burst had 271-313 Scheduled events written when the last pod was bound
# (kube-scheduler: 1,886-2,000), and the 1,000-event backlog overflowed: under load an event write
# waits as long as a bind, so events need as many writes in flight as binds.
EVENT_WORKERS = BIND_WORKERS
BIND_TIMEOUT = 10.0  # the whole bind request, connect and read

# The cyclic collector's thresholds for the scheduler process (CPython's default: 700, 10, 10).
# Every watch event decodes into a few hundred containers, so the default runs a young collection
# every few pods and a full one — a walk over every cached pod and node — every few hundred: in
# the 500-node benchmark 0.2 ms of CPU per pod. Reference counting frees all of that anyway (JSON
# objects hold no cycles); only the rare cycles (exceptions with their frames) wait a bit longer.
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """Collect cycles less often (see GC_THRESHOLDS); decisions do not depend on it."""
    gc.set_threshold(*GC_THRESHOLDS)


# Start-up builds the whole cache at once: the first node and pod lists decode into some millions
# of containers (5,000 nodes: a 20 MB answer), and the cache adds its own for every node and pod.
# With the collector on, every 10,000 of them start a young collection and every 50 of those a
# walk over all that survived, each time finding nothing to free (a list holds no cycles).
# Measured live at 5,000 nodes: one such walk took 206-318 ms just before "Caches are synced",
# with the process on its way to its first bind. So the collector stays off from the process's
# start until the caches are synced, and then everything start-up built is frozen (gc.freeze):
# moved where no collection walks it again. Frozen objects are still freed by
# reference counting when the cache lets go of them; only a cycle created before the sync and
# still uncollected then would never be freed (the start-up's imports leave a few hundred objects).
_paused_for_start_up = False


def pause_collector_for_start_up() -> None:
    """The cyclic collector off until `collect_after_start_up` (the caches are synced)."""
    global _paused_for_start_up
    if gc.isenabled():
        gc.disable()
        _paused_for_start_up = True


def collect_after_start_up() -> None:
    """Freeze what start-up built and turn the collector back on; nothing unless
    `pause_collector_for_start_up` turned it off (a scheduler run in a test process)."""
    global _paused_for_start_up
    if _paused_for_start_up:
        _paused_for_start_up = False
        gc.freeze()
        gc.enable()
