"""The volume I/O shell: informer events into the state and the queue, and PreBind's writes and wait."""

from __future__ import annotations

import random
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the core tests' builders, run alone too

from sched_builders import default_profile  # noqa: E402
from test_volumebinding import pv, pvc, sc, state_of, with_claims  # noqa: E402

from scheduler.runtime.binder import PreBindError  # noqa: E402
from scheduler.runtime.kube import ApiError  # noqa: E402
from scheduler.runtime.volumes import VolumeEventHandler, VolumePreBinder  # noqa: E402


class FakeQueue:
    def __init__(self) -> None:
        self.events: list[str] = []

    def move_all_to_active_or_backoff(self, event: str, only_plugins=None) -> int:
        self.events.append(event)
        return 0


def test_events_match_upstream_labels_and_storage_class_add_only_for_late_binding():
    state, queue, changed = state_of(), FakeQueue(), threading.Condition()
    classes = VolumeEventHandler(state, queue, "StorageClass", changed)
    classes.on_add(sc("immediate", mode="Immediate"))
    classes.on_add(sc("late"))
    classes.on_update(sc("late"), sc("late"))
    volumes = VolumeEventHandler(state, queue, "Pv", changed)
    volumes.on_add(pv("pv-1"))
    volumes.on_update(pv("pv-1"), pv("pv-1", rv="6"))
    volumes.on_delete(pv("pv-1"))
    assert queue.events == ["StorageClassAdd", "StorageClassUpdate", "PvAdd", "PvUpdate"]
    assert set(state.volumes.classes) == {"immediate", "late"} and len(state.volumes.pvs) == 0


def reserved_plan(state, p):
    profile = default_profile()
    result = profile.schedule(state, p, random.Random(0))
    state.assume_pod(p, result.node)
    assert profile.run_reserve(result.cycle, p, result.node) is None
    plans, failure = profile.run_pre_bind(result.cycle, p, result.node)
    assert failure is None
    return plans[0][1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5  # every look at the clock moves it: a wait can never hang a test
        return self.now


def test_prebind_writes_the_pv_then_waits_for_the_pv_controller():
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1"))
    p = with_claims("p1", "a")
    plan = reserved_plan(state, p)
    writes = []

    def write(method, path, body):
        writes.append((method, path, body))
        answer = dict(body, metadata=dict(body["metadata"], resourceVersion="20"))
        # The API server answers; the informer and the PV controller follow.
        state.add_object(answer)
        state.add_object(pvc("a", volume="pv-1", bound=True, rv="21"))
        return answer

    binder = VolumePreBinder(state, write=write, pod_exists=lambda pod: True, changed=threading.Condition(),
                             stopping=threading.Event(), clock=FakeClock(), poll_interval=0.0)
    binder.run("VolumeBinding", plan)
    (method, path, body), = writes
    assert (method, path) == ("PUT", "/api/v1/persistentvolumes/pv-1")
    assert body["kind"] == "PersistentVolume" and body["spec"]["claimRef"]["name"] == "a"
    assert body["metadata"]["resourceVersion"] == "5"  # optimistic concurrency on the informer's version


def test_prebind_times_out_with_upstreams_text():
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1"))
    plan = reserved_plan(state, with_claims("p1", "a"))
    plan.timeout_seconds = 3
    # The update's answer (version 99) never comes back through the informer.
    answer = {"metadata": {"name": "pv-1", "resourceVersion": "99"}}
    binder = VolumePreBinder(state, write=lambda m, path, body: answer, pod_exists=lambda pod: True,
                             changed=threading.Condition(), stopping=threading.Event(), clock=FakeClock(),
                             poll_interval=0.0)
    with pytest.raises(PreBindError) as err:
        binder.run("VolumeBinding", plan)
    assert str(err.value) == 'running PreBind plugin "VolumeBinding": binding volumes: context deadline exceeded'


def test_prebind_update_conflict_is_reported_as_the_api_says():
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1"))
    plan = reserved_plan(state, with_claims("p1", "a"))
    text = ('Operation cannot be fulfilled on persistentvolumes "pv-1": the object has been modified; please apply '
            'your changes to the latest version and try again')

    def write(method, path, body):
        raise ApiError(409, text, reason="Conflict")

    binder = VolumePreBinder(state, write=write, pod_exists=lambda pod: True, changed=threading.Condition(),
                             stopping=threading.Event(), clock=FakeClock(), poll_interval=0.0)
    with pytest.raises(PreBindError) as err:
        binder.run("VolumeBinding", plan)
    assert str(err.value) == f'running PreBind plugin "VolumeBinding": {text}'


def test_prebind_dynamic_provisioning_puts_the_claim_with_selected_node():
    state = state_of(sc("csi", provisioner="csi.example.com"), pvc("a", cls="csi"))
    p = with_claims("p1", "a")
    plan = reserved_plan(state, p)
    writes = []

    def write(method, path, body):
        writes.append((method, path, body))
        bound = pvc("a", cls="csi", volume="pvc-123", bound=True, rv="30",
                    annotations={"volume.kubernetes.io/selected-node": plan.node})
        state.add_object(bound)
        state.add_object(pv("pvc-123", cls="csi", hostname=plan.node, phase="Bound"))
        return bound

    binder = VolumePreBinder(state, write=write, pod_exists=lambda pod: True, changed=threading.Condition(),
                             stopping=threading.Event(), clock=FakeClock(), poll_interval=0.0)
    binder.run("VolumeBinding", plan)
    (method, path, body), = writes
    assert (method, path) == ("PUT", "/api/v1/namespaces/default/persistentvolumeclaims/a")
    assert body["metadata"]["annotations"] == {"volume.kubernetes.io/selected-node": plan.node}
