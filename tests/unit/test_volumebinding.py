"""VolumeBinding: every PreFilter/Filter outcome and message, Reserve/Unreserve, the PreBind plan and
checkBindings, on plain data (no cluster).

The reason texts are upstream's constants (volumebinding/binder.go and volume_binding.go of
v1.29.15); e2e/test_volumes.py checks the FailedScheduling texts they make against the lab's live
kube-scheduler v1.29.15.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sched_builders import cluster, default_profile, node, pod

from scheduler.core.framework import CycleState
from scheduler.core.plugins.volumebinding import (
    ERR_REASON_BIND_CONFLICT, ERR_REASON_NODE_CONFLICT, ERR_REASON_PV_NOT_EXIST, ERR_UNBOUND_IMMEDIATE,
    VolumeBinding, VolumeBindingError, VolumeBindingPlan, check_bindings,
)
from scheduler.core.status import ERROR, SKIP, UNSCHEDULABLE_AND_UNRESOLVABLE
from scheduler.core.volumecache import ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE

HOST = "kubernetes.io/hostname"


def sc(name: str, mode: str | None = "WaitForFirstConsumer", provisioner: str = "kubernetes.io/no-provisioner",
       topologies: list | None = None) -> dict:
    obj = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
           "provisioner": provisioner}
    if mode is not None:
        obj["volumeBindingMode"] = mode
    if topologies is not None:
        obj["allowedTopologies"] = topologies
    return obj


def pvc(name: str, cls: str | None = "local", size: str = "1Gi", modes=("ReadWriteOnce",), volume: str = "",
        bound: bool = False, rv: str = "10", annotations: dict | None = None, ns: str = "default", **extra) -> dict:
    spec: dict = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    spec.update(extra)
    ann = dict(annotations or {})
    if bound:
        ann[ANN_BIND_COMPLETED] = "yes"
    meta = {"name": name, "namespace": ns, "uid": f"uid-{name}", "resourceVersion": rv}
    if ann:
        meta["annotations"] = ann
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec,
            "status": {"phase": "Bound" if bound else "Pending"}}


def pv(name: str, cls: str = "local", size: str = "1Gi", modes=("ReadWriteOnce",), hostname: str | None = None,
       phase: str = "Available", claim: dict | None = None, rv: str = "5", labels: dict | None = None, **extra) -> dict:
    spec: dict = {"accessModes": list(modes), "capacity": {"storage": size}, "storageClassName": cls}
    if hostname is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": HOST, "operator": "In", "values": [hostname]}]}]}}
    if claim is not None:
        spec["claimRef"] = claim
    spec.update(extra)
    meta: dict = {"name": name, "resourceVersion": rv}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta, "spec": spec,
            "status": {"phase": phase}}


def with_claims(name: str, *claims: str, **kw) -> dict:
    return pod(name, volumes=[{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                              for i, c in enumerate(claims)], **kw)


def state_of(*objects: dict, nodes=("n1", "n2", "n3")):
    state = cluster([node(n) for n in nodes])
    for obj in objects:
        assert state.add_object(obj)
    return state


def run(state, p):
    """(PreFilter status, {node: None | (code, reasons)}) for VolumeBinding alone."""
    return run_plugin(VolumeBinding({"bindTimeoutSeconds": 600}), state, p)


def run_plugin(plugin, state, p):
    """(PreFilter (code, reasons) or None, {node: None | (code, reasons)} or None) for one plugin."""
    cycle = CycleState(state, p, random.Random(0))
    pre = plugin.pre_filter(cycle, p)
    if pre is not None:
        return (pre.code, pre.reasons), None
    out = {}
    for ni in state.node_list():
        st = plugin.filter(cycle, p, ni)
        out[ni.name] = None if st is None else (st.code, st.reasons)
    return None, out


# ------------------------------------------------------------------ PreFilter

def test_pod_without_claims_skips():
    (code, reasons), _ = run(state_of(), pod("p"))
    assert code == SKIP


def test_missing_claim_is_unresolvable_with_the_lister_error():
    (code, reasons), _ = run(state_of(), with_claims("p", "data"))
    assert (code, reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, ['persistentvolumeclaim "data" not found'])


def test_missing_ephemeral_claim_waits_for_the_controller():
    p = pod("p", volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}])
    (code, reasons), _ = run(state_of(), p)
    assert reasons == ['waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"']


def test_ephemeral_claim_not_owned_by_the_pod():
    p = pod("p", volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}])
    (code, reasons), _ = run(state_of(sc("local"), pvc("p-scratch")), p)
    assert reasons == ["PVC default/p-scratch was not created for pod default/p (pod is not owner)"]


def test_lost_and_deleting_claims():
    lost = pvc("data", volume="pv-gone")
    lost["status"]["phase"] = "Lost"
    (_, reasons), _ = run(state_of(lost), with_claims("p", "data"))
    assert reasons == ['persistentvolumeclaim "data" bound to non-existent persistentvolume "pv-gone"']
    deleting = pvc("data")
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    (_, reasons), _ = run(state_of(deleting), with_claims("p", "data"))
    assert reasons == ['persistentvolumeclaim "data" is being deleted']


@pytest.mark.parametrize("objects", [
    [sc("fast", mode="Immediate"), pvc("data", cls="fast")],  # Immediate class, not bound yet
    [pvc("data", cls="nonexistent")],  # a missing class counts as Immediate
    [pvc("data", cls=None)],  # no class at all
    [sc("local"), pvc("data", volume="pv-1")],  # pre-bound by the user, not bound yet
])
def test_unbound_immediate_claims(objects):
    (code, reasons), _ = run(state_of(*objects), with_claims("p", "data"))
    assert (code, reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_UNBOUND_IMMEDIATE])


def test_class_without_binding_mode_is_an_error():
    (code, reasons), _ = run(state_of(sc("local", mode=None), pvc("data")), with_claims("p", "data"))
    assert (code, reasons) == (ERROR, ['VolumeBindingMode not set for StorageClass "local"'])


# ------------------------------------------------------------------ Filter: bound claims

def test_bound_claim_checks_its_pv_node_affinity():
    objs = [sc("local"), pvc("data", volume="pv-1", bound=True), pv("pv-1", hostname="n2", phase="Bound")]
    pre, out = run(state_of(*objs), with_claims("p", "data"))
    assert pre is None
    assert out == {"n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_NODE_CONFLICT]), "n2": None,
                   "n3": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_NODE_CONFLICT])}


def test_bound_claim_whose_pv_is_gone():
    _, out = run(state_of(sc("local"), pvc("data", volume="pv-1", bound=True)), with_claims("p", "data"))
    assert list(out.values()) == [(UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_PV_NOT_EXIST])] * 3


def test_bound_pv_with_match_fields_never_matches_like_upstream():
    # CheckNodeAffinity builds a node from labels only: metadata.name is empty.
    volume = pv("pv-1", phase="Bound")
    volume["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}
    _, out = run(state_of(pvc("data", volume="pv-1", bound=True), volume), with_claims("p", "data"))
    assert out["n1"] == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_NODE_CONFLICT])


# ------------------------------------------------------------------ Filter: WaitForFirstConsumer, static PVs

def test_static_pv_on_one_node():
    _, out = run(state_of(sc("local"), pvc("data"), pv("pv-1", hostname="n3")), with_claims("p", "data"))
    assert out == {"n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT]),
                   "n2": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT]), "n3": None}


@pytest.mark.parametrize("volume", [
    pv("pv-1", cls="other", hostname="n1"),  # another class
    pv("pv-1", size="500Mi", hostname="n1"),  # too small
    pv("pv-1", modes=("ReadOnlyMany",), hostname="n1"),  # access mode missing
    pv("pv-1", hostname="n1", phase="Pending"),  # not Available yet
    pv("pv-1", hostname="n1", phase="Released"),
    pv("pv-1", hostname="n1", volumeMode="Block"),  # volume mode differs
    pv("pv-1", hostname="n1", claim={"name": "other", "namespace": "default", "uid": "u"}),  # claimed
    pv("pv-1", hostname="n1", labels={"tier": "slow"}),  # the claim's selector wants tier=fast
])
def test_static_pv_that_does_not_match(volume):
    claim = pvc("data", selector={"matchLabels": {"tier": "fast"}})
    if volume["metadata"].get("labels") is None:
        volume["metadata"]["labels"] = {"tier": "fast"}
    _, out = run(state_of(sc("local"), claim, volume), with_claims("p", "data"))
    assert out["n1"] == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT])


def test_deleting_pv_is_skipped():
    volume = pv("pv-1", hostname="n1")
    volume["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    _, out = run(state_of(sc("local"), pvc("data"), volume), with_claims("p", "data"))
    assert out["n1"] == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT])


def test_smallest_fitting_pv_wins_and_two_claims_need_two_pvs():
    objs = [sc("local"), pvc("small", size="1Gi"), pvc("big", size="5Gi"),
            pv("pv-10g", size="10Gi", hostname="n1"), pv("pv-2g", size="2Gi", hostname="n1"),
            pv("pv-6g", size="6Gi", hostname="n1"), pv("pv-n2", size="10Gi", hostname="n2")]
    state = state_of(*objs)
    p = with_claims("p", "big", "small")
    plugin = VolumeBinding({})
    cycle = CycleState(state, p, random.Random(0))
    assert plugin.pre_filter(cycle, p) is None
    assert plugin.filter(cycle, p, state.get_node_info("n1")) is None
    plan = cycle.data["VolumeBinding"].by_node["n1"]
    # sorted by request: small first takes the 2Gi PV, big then the 6Gi one
    assert [(b.pvc["metadata"]["name"], b.pv["metadata"]["name"]) for b in plan.static_bindings] == [
        ("small", "pv-2g"), ("big", "pv-6g")]
    # n2 has one PV for two claims: the second claim finds none
    st = plugin.filter(cycle, p, state.get_node_info("n2"))
    assert (st.code, st.reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT])


def test_pv_pre_bound_to_the_claim_is_taken_even_if_larger():
    claim = pvc("data")
    objs = [sc("local"), claim, pv("pv-small", hostname="n1"),
            pv("pv-mine", size="9Gi", hostname="n1", claim={"name": "data", "namespace": "default"})]
    state = state_of(*objs)
    p = with_claims("p", "data")
    plugin = VolumeBinding({})
    cycle = CycleState(state, p, random.Random(0))
    plugin.pre_filter(cycle, p)
    assert plugin.filter(cycle, p, state.get_node_info("n1")) is None
    assert cycle.data["VolumeBinding"].by_node["n1"].static_bindings[0].pv["metadata"]["name"] == "pv-mine"


def test_bound_and_unbound_conflicts_are_reported_together_in_upstream_order():
    objs = [sc("local"), pvc("a", volume="pv-a", bound=True), pv("pv-a", hostname="n2", phase="Bound"), pvc("b")]
    _, out = run(state_of(*objs), with_claims("p", "a", "b"))
    assert out["n1"] == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_NODE_CONFLICT, ERR_REASON_BIND_CONFLICT])


# ------------------------------------------------------------------ Filter: dynamic provisioning

def test_dynamic_provisioning_with_allowed_topologies():
    topo = [{"matchLabelExpressions": [{"key": HOST, "values": ["n2", "n3"]}]}]
    _, out = run(state_of(sc("csi", provisioner="csi.example.com", topologies=topo), pvc("data", cls="csi")),
                 with_claims("p", "data"))
    assert out == {"n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT]), "n2": None, "n3": None}


def test_selected_node_annotation_pins_the_claim():
    claim = pvc("data", cls="csi", annotations={ANN_SELECTED_NODE: "n2"})
    _, out = run(state_of(sc("csi", provisioner="csi.example.com"), claim), with_claims("p", "data"))
    assert out == {"n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT]), "n2": None,
                   "n3": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_BIND_CONFLICT])}


def test_class_deleted_after_prefilter_is_an_error():
    state = state_of(sc("csi", provisioner="csi.example.com"), pvc("data", cls="csi"))
    p = with_claims("p", "data")
    plugin = VolumeBinding({})
    cycle = CycleState(state, p, random.Random(0))
    plugin.pre_filter(cycle, p)
    state.remove_object(sc("csi"))
    st = plugin.filter(cycle, p, state.get_node_info("n1"))
    assert (st.code, st.reasons) == (ERROR, ['failed to find storage class "csi"'])


# ------------------------------------------------------------------ the whole cycle, Reserve, PreBind

def test_failed_scheduling_message_and_preemption_not_helpful():
    state = state_of(sc("local"), pvc("data"), pv("pv-1", hostname="elsewhere"))
    result = default_profile().schedule(state, with_claims("p", "data"), random.Random(0))
    assert result.message == ("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind. "
                              "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def test_missing_claim_message():
    result = default_profile().schedule(state_of(), with_claims("p", "data"), random.Random(0))
    assert result.message == ('0/3 nodes are available: persistentvolumeclaim "data" not found. preemption: 0/3 '
                              'nodes are available: 3 Preemption is not helpful for scheduling.')


def test_filter_error_fails_the_cycle():
    state = state_of(sc("csi", provisioner="csi.example.com"), pvc("data", cls="csi"))
    profile = default_profile()
    plugin = next(pl for pl in profile.filter_plugins if pl.name == "VolumeBinding")
    original = plugin.filter

    def vanish_then_filter(cycle, p, ni):  # the class is deleted between PreFilter and Filter
        state.volumes.classes.pop("csi", None)
        return original(cycle, p, ni)

    plugin.filter = vanish_then_filter
    result = profile.schedule(state, with_claims("p", "data"), random.Random(0))
    assert (result.status, result.message) == (
        "error", 'running "VolumeBinding" filter plugin: failed to find storage class "csi"')


def reserve(state, p, profile=None):
    profile = profile or default_profile()
    result = profile.schedule(state, p, random.Random(0))
    assert result.node is not None, result.message
    state.assume_pod(p, result.node)
    assert profile.run_reserve(result.cycle, p, result.node) is None
    return profile, result


def test_reserve_assumes_the_pv_so_a_second_pod_cannot_take_it():
    state = state_of(sc("local"), pvc("a"), pvc("b"), pv("pv-1", hostname="n1"))
    profile, result = reserve(state, with_claims("p1", "a"))
    assert result.node == "n1"
    assumed = state.volumes.pvs.get("pv-1")
    assert assumed["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "a",
                                           "uid": "uid-a", "apiVersion": "v1", "resourceVersion": "10"}
    assert assumed["metadata"]["annotations"] == {ANN_BOUND_BY_CONTROLLER: "yes"}
    assert state.volumes.pvs.get_api("pv-1")["spec"].get("claimRef") is None  # the informer's copy is untouched
    second = profile.schedule(state, with_claims("p2", "b"), random.Random(0))
    assert second.node is None and "3 node(s) didn't find available persistent volumes to bind" in second.message
    # Unreserve gives it back.
    profile.run_unreserve(result.cycle, with_claims("p1", "a"), "n1")
    assert state.volumes.pvs.get("pv-1")["spec"].get("claimRef") is None
    assert profile.schedule(state, with_claims("p2", "b"), random.Random(0)).node == "n1"


def test_prebind_plan_for_a_static_pv_and_check_bindings():
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1"))
    p = with_claims("p1", "a")
    profile, result = reserve(state, p)
    plans, failure = profile.run_pre_bind(result.cycle, p, "n1")
    assert failure is None and [name for name, _ in plans] == ["VolumeBinding"]
    plan: VolumeBindingPlan = plans[0][1]
    assert plan.timeout_seconds == 600 and plan.node == "n1" and not plan.volumes.dynamic_provisions
    binding = plan.volumes.static_bindings[0]
    assert binding.pv["spec"]["claimRef"]["name"] == "a"
    labels = state.get_node_info("n1").labels
    # The PUT answered with resourceVersion 6; the informer has not caught up: keep waiting.
    binding.pv = dict(binding.pv, metadata=dict(binding.pv["metadata"], resourceVersion="6"))
    assert check_bindings(state.volumes, plan, labels, pod_exists=True) is False
    # The informer sees our PV, then the PV controller binds the claim.
    state.add_object(binding.pv)
    assert check_bindings(state.volumes, plan, labels, pod_exists=True) is False
    state.add_object(pvc("a", volume="pv-1", bound=True, rv="11"))
    assert check_bindings(state.volumes, plan, labels, pod_exists=True) is True


@pytest.mark.parametrize("change,message", [
    ("pod", 'pod does not exist any more: pod "p1" not found'),
    ("node", 'failed to get node "n1": node "n1" not found'),
    ("claimref", 'ClaimRef got reset for pv "pv-1"'),
    ("pv", 'failed to check binding: could not find v1.PersistentVolume "pv-1"'),
])
def test_check_bindings_errors(change, message):
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1"))
    p = with_claims("p1", "a")
    profile, result = reserve(state, p)
    plan = profile.run_pre_bind(result.cycle, p, "n1")[0][0][1]
    labels = state.get_node_info("n1").labels
    if change == "claimref":
        reset = pv("pv-1", hostname="n1", rv="7")
        state.add_object(reset)
    elif change == "pv":
        state.remove_object(pv("pv-1"))
    with pytest.raises(VolumeBindingError) as err:
        check_bindings(state.volumes, plan, None if change == "node" else labels, pod_exists=change != "pod")
    assert str(err.value) == message


def test_prebind_plan_for_dynamic_provisioning_sets_selected_node():
    state = state_of(sc("csi", provisioner="csi.example.com"), pvc("a", cls="csi"))
    p = with_claims("p1", "a")
    profile, result = reserve(state, p)
    plan = profile.run_pre_bind(result.cycle, p, result.node)[0][0][1]
    claim = plan.volumes.dynamic_provisions[0]
    assert claim["metadata"]["annotations"] == {ANN_SELECTED_NODE: result.node}
    assert state.volumes.pvcs.get("default/a")["metadata"]["annotations"][ANN_SELECTED_NODE] == result.node
    labels = state.get_node_info(result.node).labels
    # provisioner gave up: it removed the annotation
    state.add_object(pvc("a", cls="csi", rv="12", annotations={"x": "y"}))
    with pytest.raises(VolumeBindingError, match='provisioning failed for PVC "a"'):
        check_bindings(state.volumes, plan, labels, pod_exists=True)
    state.add_object(pvc("a", cls="csi", rv="13"))
    with pytest.raises(VolumeBindingError, match='selectedNode annotation reset for PVC "a"'):
        check_bindings(state.volumes, plan, labels, pod_exists=True)


def test_all_bound_claims_need_no_prebind():
    state = state_of(sc("local"), pvc("data", volume="pv-1", bound=True), pv("pv-1", hostname="n2", phase="Bound"))
    p = with_claims("p", "data")
    profile, result = reserve(state, p)
    assert result.node == "n2"
    assert profile.run_pre_bind(result.cycle, p, "n2") == ([], None)


def test_pods_without_volumes_need_no_prebind():
    state = state_of()
    p = pod("p")
    profile, result = reserve(state, p)
    assert profile.run_pre_bind(result.cycle, p, result.node) == ([], None)


def test_informer_does_not_undo_an_assumption_with_an_older_version():
    state = state_of(sc("local"), pvc("a"), pv("pv-1", hostname="n1", rv="5"))
    reserve(state, with_claims("p1", "a"))
    state.add_object(pv("pv-1", hostname="n1", rv="5"))  # a re-list delivers the same version
    assert state.volumes.pvs.get("pv-1")["spec"]["claimRef"]["name"] == "a"
    state.add_object(pv("pv-1", hostname="n1", rv="9"))  # a newer version replaces it
    assert state.volumes.pvs.get("pv-1")["spec"].get("claimRef") is None


# ------------------------------------------------------------------ VolumeRestrictions

def test_restrictions_missing_claim_fails_first_with_the_same_text():
    from scheduler.core.plugins.volumes import VolumeRestrictions

    state = state_of()
    p = with_claims("p", "data")
    st = VolumeRestrictions({}).pre_filter(CycleState(state, p, random.Random(0)), p)
    assert (st.code, st.reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, ['persistentvolumeclaim "data" not found'])
    result = default_profile().schedule(state, p, random.Random(0))
    assert result.unschedulable_plugins == {"VolumeRestrictions"}


def test_read_write_once_pod_claim_in_use_rejects_every_node():
    from scheduler.core.plugins.volumes import ERR_REASON_RWOP_CONFLICT

    objs = [sc("local"), pvc("solo", modes=("ReadWriteOncePod",), volume="pv-1", bound=True),
            pv("pv-1", modes=("ReadWriteOncePod",), phase="Bound")]
    state = state_of(*objs)
    user = with_claims("user", "solo", node_name="n1")
    state.add_pod(user)
    result = default_profile().schedule(state, with_claims("p", "solo"), random.Random(0))
    assert result.node is None
    assert result.message.startswith(f"0/3 nodes are available: 3 {ERR_REASON_RWOP_CONFLICT}. preemption: ")
    state.remove_pod(user)
    assert default_profile().schedule(state, with_claims("p", "solo"), random.Random(0)).node is not None


def test_inline_disk_conflict():
    from scheduler.core.plugins.volumes import ERR_REASON_DISK_CONFLICT

    disk = [{"name": "d", "gcePersistentDisk": {"pdName": "disk-1"}}]
    state = state_of()
    state.add_pod(pod("user", node_name="n1", volumes=disk))
    profile = default_profile()
    result = profile.schedule(state, pod("p", volumes=disk, node_selector={HOST: "n1"}), random.Random(0))
    assert result.node is None and f"1 {ERR_REASON_DISK_CONFLICT}" in result.message
    read_only = [{"name": "d", "gcePersistentDisk": {"pdName": "disk-1", "readOnly": True}}]
    state2 = state_of()
    state2.add_pod(pod("user", node_name="n1", volumes=read_only))
    assert profile.schedule(state2, pod("p", volumes=read_only, node_selector={HOST: "n1"}),
                            random.Random(0)).node == "n1"


# ------------------------------------------------------------------ simulate

FIXTURE = Path(__file__).parent / "fixtures" / "volumes-wffc.yaml"


def test_simulate_reserves_the_pv_for_the_first_pod(capsys):
    from scheduler.core.simulate import main

    assert main(["--cluster", str(FIXTURE), "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(d["pod"], d["node"]) for d in out] == [("default/p1", "n2"), ("default/p2", None)]
    assert out[1]["message"].startswith(f"0/2 nodes are available: 2 {ERR_REASON_BIND_CONFLICT}. ")


def test_simulate_names_file_object_and_field_of_a_bad_claim(tmp_path, capsys):
    from scheduler.core.simulate import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(FIXTURE.read_text().replace("accessModes: [ReadWriteOnce], storageClassName: local, resources",
                                               "accessModes: [ReadWriteMost], storageClassName: local, resources", 1))
    assert main(["--cluster", str(bad)]) == 1
    assert capsys.readouterr().err == (
        f'scheduler simulate: {bad}: document 5: PersistentVolumeClaim default/a: spec.accessModes[0]: Unsupported '
        'value: "ReadWriteMost": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", '
        '"ReadWriteOncePod"\n')
