"""The scheduler process's life: start-up (informers, caches synced, then the Lease or straight to
scheduling), the queue's periodic flushes, and the ways it ends.

Start-up follows kube-scheduler: informers first, caches synced, *then* campaign for the Lease.
Termination:
* SIGTERM/SIGINT: close the fence (no new bind leaves), wait for binds on the wire, release the
  Lease, exit 0 (a standby takes over within about a second);
* Lease lost: the fence is already closed (it closes on its own at renewDeadline); exit 1 at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.core.state import ClusterState
from scheduler.runtime.binder import Binder
from scheduler.runtime.eventrecorder import EventRecorder
from scheduler.runtime.informer import Reflector
from scheduler.runtime.klog import kv
from scheduler.runtime.leader import LeaderElector
from scheduler.runtime.queue import SchedulingQueue
from scheduler.runtime.server import ProbeServer
from scheduler.runtime.tuning import collect_after_start_up

log = logging.getLogger("scheduler.runtime.app")  # the name the log lines have always had

UNSCHEDULABLE_FLUSH_PERIOD = 30.0
BACKOFF_FLUSH_PERIOD = 1.0


@dataclass
class ExitCode:
    """The process's exit code, set once by whichever way of ending comes first."""

    code: int | None = None
    event: threading.Event = field(default_factory=threading.Event)

    def set(self, code: int) -> None:
        if self.code is None:
            self.code = code
        self.event.set()


class Lifecycle:
    def __init__(self, *, state: ClusterState, queue: SchedulingQueue, events: EventRecorder, binder: Binder,
                 server: ProbeServer, reflectors: list[Reflector], lease_reflector: Reflector | None,
                 elector: LeaderElector | None, scheduling_loop: Callable[[], None],
                 debug_cache: Callable[[], object], stopping: threading.Event, exit_code: ExitCode) -> None:
        self.state = state
        self.queue = queue
        self.events = events
        self.binder = binder
        self.server = server
        self.reflectors = reflectors
        self.lease_reflector = lease_reflector
        self.elector = elector
        self.scheduling_loop = scheduling_loop
        self.debug_cache = debug_cache
        self.stopping = stopping
        self.exit = exit_code
        self._scheduling_started = threading.Event()

    # -- start-up ----------------------------------------------------------------------------

    def start_informers(self) -> None:
        for reflector in self.reflectors:
            reflector.start()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for reflector in self.reflectors:
            while not reflector.synced.wait(0.2):
                if self.stopping.is_set() or (deadline is not None and time.monotonic() > deadline):
                    return False
        return True

    def run(self) -> int:
        """Run until terminated; returns the process exit code."""
        self._install_signals()
        self.server.start()
        self.start_informers()
        if not self.wait_for_sync():
            return 0 if self.exit.code is None else self.exit.code
        log.info(kv("Caches are synced", nodes=self.state.num_nodes))
        collect_after_start_up()  # tuning.py: start-up's containers frozen, the collector back on
        threading.Thread(target=self._flush_loop, name="queue-flush", daemon=True).start()
        threading.Thread(target=self.events.run_series_ticker, args=(self.stopping,), name="event-series",
                         daemon=True).start()
        if self.elector is not None:
            if self.lease_reflector is not None:
                self.lease_reflector.start()
            threading.Thread(target=self.elector.run, name="leader-election", daemon=True).start()
        else:
            self.start_scheduling()
        while not self.exit.event.wait(0.5):  # a timed wait keeps signal handlers responsive
            pass
        return self.exit.code or 0

    def start_scheduling(self) -> None:
        """The elector's OnStartedLeading (or start-up without leader election): once."""
        if self._scheduling_started.is_set():
            return
        self._scheduling_started.set()
        threading.Thread(target=self.scheduling_loop, name="scheduler", daemon=True).start()

    def _flush_loop(self) -> None:
        last_unschedulable = time.monotonic()
        while not self.stopping.wait(BACKOFF_FLUSH_PERIOD):
            self.queue.flush_backoff_completed()
            if time.monotonic() - last_unschedulable >= UNSCHEDULABLE_FLUSH_PERIOD:
                self.queue.flush_unschedulable_left_over()
                last_unschedulable = time.monotonic()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.request_stop())
        # kube-scheduler's cache debugger (internal/cache/debugger/signal.go): compare and dump.
        signal.signal(signal.SIGUSR2, lambda signum, frame: threading.Thread(
            target=self.debug_cache, name="cache-debugger", daemon=True).start())

    # -- the end -----------------------------------------------------------------------------

    def stopped_leading(self, requested: bool) -> None:
        """The elector's OnStoppedLeading: after a release we asked for, or the Lease lost."""
        if requested or self.stopping.is_set():
            log.info("Requested to terminate, exiting")
            self.events.flush(1.0)
            self.exit.set(0)
            return
        log.error("Leaderelection lost")
        self.queue.close()
        self.exit.set(1)

    def request_stop(self) -> None:
        """SIGTERM: stop sending binds, let those on the wire finish, then release and exit 0."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("Received termination request, stopping")
        threading.Thread(target=self._terminate, name="terminate", daemon=True).start()

    def _terminate(self) -> None:
        """Drain, then release, within a bounded total: binds on the wire are answered or abandoned
        within the bind timeout, the release round within renewDeadline (client-go bounds it by
        the same context), events get a second."""
        if self.elector is None:
            self._drain()
            self.events.flush(1.0)
            self.exit.set(0)
            return
        self.elector.fence()
        self._drain()
        # Release first, as kube-scheduler's ReleaseOnCancel does the moment its context ends: the
        # standby takes over while our queued events are flushed (in stopped_leading).
        self.elector.stop()  # its thread releases the Lease and calls stopped_leading(True)
        if not self.exit.event.wait(self.elector.renew_deadline + 2.0):
            log.warning("Lease release did not finish in time; exiting anyway")
            self.exit.set(0)

    def _drain(self) -> None:
        self.queue.close()
        if not self.binder.wait_until_nothing_in_flight(self.binder.request_timeout + 1.0):
            log.warning("Binds still in flight after their timeout; exiting anyway")
