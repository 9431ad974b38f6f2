"""The scheduler process keeps the cyclic collector off from its start until its caches are synced,
then freezes what start-up built (tuning.py): checked in a fresh interpreter each time, since
gc.freeze and gc.disable are process-wide."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()


def test_the_collector_is_off_during_start_up_and_the_synced_cache_is_frozen() -> None:
    out = _run("""
        import gc
        from scheduler.runtime import tuning
        tuning.pause_collector_for_start_up()
        during = gc.isenabled()
        cache = [{"metadata": {"name": f"node-{i}"}, "status": {}} for i in range(20_000)]
        young = gc.get_count()[0]
        tuning.collect_after_start_up()
        print(during, young >= 20_000, gc.isenabled(), gc.get_freeze_count() >= 20_000, gc.get_count()[0] < 100)
    """)
    # Off during start-up: 20,000 nodes' containers wait uncollected (no young collection ran);
    # after the sync the collector is on and they are frozen, not waiting in the young generation.
    assert out == "False True True True True"


def test_a_collector_nobody_paused_is_left_as_it_was() -> None:
    out = _run("""
        import gc
        from scheduler.runtime import tuning
        tuning.collect_after_start_up()
        enabled_untouched, frozen_untouched = gc.isenabled(), gc.get_freeze_count() == 0
        gc.disable()
        tuning.pause_collector_for_start_up()
        tuning.collect_after_start_up()  # off before start-up: the embedding program's choice stays
        print(enabled_untouched, frozen_untouched, gc.isenabled(), gc.get_freeze_count() == 0)
    """)
    assert out == "True True False True"


def test_the_lifecycle_turns_the_collector_back_on_once_the_caches_are_synced() -> None:
    # Lifecycle.run with stand-in parts: the scheduling loop, started after the sync, sees the
    # collector on and start-up frozen; before the sync (a reflector's start) it was still off.
    out = _run("""
        import gc, threading
        from scheduler.runtime import tuning
        from scheduler.runtime.lifecycle import ExitCode, Lifecycle

        tuning.pause_collector_for_start_up()
        seen = []

        class Part:
            synced = threading.Event()
            def start(self):
                seen.append(("start", gc.isenabled()))
                self.synced.set()
            def run_series_ticker(self, stopping):
                pass

        exit_code = ExitCode()
        def scheduling_loop():
            seen.append(("scheduling", gc.isenabled(), gc.get_freeze_count() > 0))
            exit_code.set(0)

        class State:
            num_nodes = 0

        lifecycle = Lifecycle(state=State(), queue=None, events=Part(), binder=None, server=Part(),
                              reflectors=[Part()], lease_reflector=None, elector=None,
                              scheduling_loop=scheduling_loop, debug_cache=lambda: None,
                              stopping=threading.Event(), exit_code=exit_code)
        print(lifecycle.run(), seen)
    """)
    assert out == "0 [('start', False), ('start', False), ('scheduling', True, True)]"
