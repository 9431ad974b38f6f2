"""The live kube-scheduler v1.29.15 is the oracle: generated states, same answers (see e2e/parity.py).

Per profile (default, the seed's MostAllocated, a custom-weight RequestedToCapacityRatio one) at
least 54 generated states — bound, unschedulable, preemption (with and without PodDisruptionBudgets)
and ``preemptionPolicy: Never`` cases — are decided by the lab's own kube-scheduler binary, and the
Python core must agree on every one: the node (within upstream's tie set, with equal total scores),
the FailedScheduling text, the PodScheduled condition, the nominated node (within the preemption
tie set) and the exact victims.
"""
from __future__ import annotations

import uuid

import pytest

from e2e.harness import LabCluster
from e2e.parity import (
    PRIORITY_CLASSES, Tally, UpstreamScheduler, compare, ensure_priority_classes, generate, make_namespace,
    run_pending, setup_batch, snapshot_state, teardown_batch,
)

STATES_PER_PROFILE = 54  # a multiple of len(parity.KINDS): every kind of state six times
BATCH = 27


@pytest.fixture(scope="module")
def upstream(cluster: LabCluster, tmp_path_factory: pytest.TempPathFactory):
    if cluster.provider != "local":
        pytest.skip("needs the local lab's kube-scheduler v1.29.15 binary (local provider)")
    ensure_priority_classes(cluster)
    sched = UpstreamScheduler(cluster, tmp_path_factory.mktemp("upstream-parity"))
    sched.start()
    try:
        yield sched
    finally:
        sched.stop()
        cluster.kubectl("delete", "priorityclass", *[name for name, _, _ in PRIORITY_CLASSES], check=False)


@pytest.mark.parametrize("profile", ["parity-default", "parity-most", "parity-custom"])
def test_python_core_decides_like_kube_scheduler(cluster: LabCluster, upstream: UpstreamScheduler,
                                                 profile: str) -> None:
    from scheduler.core.config import load_config
    from scheduler.core.framework import build_profiles

    profiles = build_profiles(load_config(str(upstream.config)))
    short = profile.split("-")[1][0]
    base_seed = {"parity-default": 1000, "parity-most": 2000, "parity-custom": 3000}[profile]
    tally = Tally()
    for start in range(0, STATES_PER_PROFILE, BATCH):
        run = uuid.uuid4().hex[:6]
        states = [generate(run, f"{short}{i}", base_seed + i, profile) for i in range(start, start + BATCH)]
        namespace = make_namespace(cluster, f"parity-{short}")
        try:
            setup_batch(cluster, namespace, run, states)
            core_state = snapshot_state(cluster)
            observed = run_pending(cluster, namespace, upstream, states)
            compare(profiles, core_state, upstream, states, observed, tally)
        finally:
            teardown_batch(cluster, namespace, run)
    print(f"{profile}: {tally.line()}")
    assert not tally.differences, f"{profile}: {tally.line()}\n" + "\n".join(tally.differences)
    assert tally.states == STATES_PER_PROFILE
    # The generator must really have produced every kind of outcome, or agreement means little.
    assert tally.unschedulable >= 3 and tally.preempted >= 3 and tally.bound >= 10, tally.line()
