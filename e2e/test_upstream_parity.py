"""The live kube-scheduler v1.29.15 is the oracle: generated states, same answers (see e2e/parity.py).

Per profile (default, the seed's MostAllocated, a custom-weight RequestedToCapacityRatio one) 54
generated states — bound, unschedulable, preemption (with and without PodDisruptionBudgets) and
``preemptionPolicy: Never`` cases — are decided by the lab's own kube-scheduler binary, and the
Python core must agree on every one: the node (within upstream's tie set, with equal total scores),
the FailedScheduling text, the PodScheduled condition, the nominated node (within the preemption
tie set) and the exact victims. The three profiles share batches, so the whole run needs three.
"""
from __future__ import annotations

import time
import uuid

import pytest

from e2e.harness import SuiteCluster
from e2e.parity import (
    PRIORITY_CLASSES, Tally, UpstreamScheduler, compare, ensure_priority_classes, generate, make_namespace,
    run_pending, setup_batch, snapshot_state, sweep, teardown_batch,
)

PROFILES = {"parity-default": 1000, "parity-most": 2000, "parity-custom": 3000}  # name -> base seed
STATES_PER_PROFILE = 54  # a multiple of len(parity.KINDS): every kind of state six times
PER_BATCH = 18  # states of each profile per batch


@pytest.fixture(scope="module")
def upstream(cluster: SuiteCluster, tmp_path_factory: pytest.TempPathFactory):
    cluster.requires("parity_oracle")
    sweep(cluster)  # nodes an interrupted run left would change every message's node count
    ensure_priority_classes(cluster)
    sched = UpstreamScheduler(cluster, tmp_path_factory.mktemp("upstream-parity"))
    sched.start()
    try:
        yield sched
    finally:
        sched.stop()
        sweep(cluster)
        cluster.kubectl("delete", "priorityclass", *[name for name, _, _ in PRIORITY_CLASSES], check=False)


# Three batches of ~300 kwok nodes and pods: a few minutes on an idle machine, far more on two cores
# shared with builds; the suite's 600 s per-test guard against hangs is too tight for that.
@pytest.mark.timeout(2400)
def test_python_core_decides_like_kube_scheduler(cluster: SuiteCluster, upstream: UpstreamScheduler) -> None:
    from scheduler.core.profiles import build_profiles, load_config

    profiles = build_profiles(load_config(str(upstream.config)))
    tallies = {name: Tally() for name in PROFILES}
    for start in range(0, STATES_PER_PROFILE, PER_BATCH):
        run = uuid.uuid4().hex[:6]
        states = {name: [generate(run, f"{name.split('-')[1][0]}{i}", seed + i, name)
                         for i in range(start, start + PER_BATCH)] for name, seed in PROFILES.items()}
        everything = [s for batch in states.values() for s in batch]
        namespace = make_namespace(cluster, "parity")
        t0 = time.monotonic()
        try:
            took = setup_batch(cluster, namespace, run, everything)
            t1 = time.monotonic()
            core_state = snapshot_state(cluster)
            observed = run_pending(cluster, namespace, upstream, everything)
            t2 = time.monotonic()
            for name, batch in states.items():
                compare(profiles, core_state, upstream, batch, observed, tallies[name])
        finally:
            teardown_batch(cluster, namespace, run)
        print(f"batch {start // PER_BATCH}: {len(everything)} states, "
              f"setup {t1 - t0:.0f}s ({', '.join(f'{k} {v:.0f}s' for k, v in took.items())}), "
              f"upstream decisions {t2 - t1:.0f}s, "
              f"compare+teardown {time.monotonic() - t2:.0f}s")
    report = "\n".join(f"{name}: {t.line()}" for name, t in tallies.items())
    print(report)
    differences = [d for t in tallies.values() for d in t.differences]
    assert not differences, report + "\n" + "\n".join(differences)
    for name, tally in tallies.items():
        assert tally.states == STATES_PER_PROFILE, report
        # The generator must really have produced every kind of outcome, or agreement means little.
        assert tally.unschedulable >= 3 and tally.preempted >= 3 and tally.bound >= 10, f"{name}: {tally.line()}"
