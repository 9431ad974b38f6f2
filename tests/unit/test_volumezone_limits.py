"""VolumeZone, NodeVolumeLimits (CSI) and the in-tree EBSLimits / GCEPDLimits / AzureDiskLimits:
every PreFilter/Filter outcome and message, on plain data (no cluster).

The texts are upstream's (v1.29.15): volumezone/volume_zone.go (ErrReasonConflict and its
PreFilter statuses), nodevolumelimits/non_csi.go (ErrReasonMaxVolumeCountExceeded, shared by
csi.go), and client-go's listers' NotFound errors. e2e/test_volumes.py checks the FailedScheduling
texts of a zone conflict, a bound claim whose PV is gone and a reached CSI limit against the lab's
live kube-scheduler v1.29.15.
"""

from __future__ import annotations

import json
import random

import pytest
from sched_builders import default_profile, node, pod
from test_volumebinding import pv, pvc, sc, with_claims
from test_volumebinding import run_plugin as run

from scheduler.core.events import CSI_NODE, EVENTS, EVENTS_TO_REGISTER, worth_requeuing
from scheduler.core.framework import CycleState
from scheduler.core.plugins.nodevolumelimits import (
    ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED, AzureDiskLimits, EBSLimits, GCEPDLimits, NodeVolumeLimits,
    csi_attach_limit_key,
)
from scheduler.core.plugins.volumezone import ERR_REASON_CONFLICT, VolumeZone
from scheduler.core.state import ClusterState
from scheduler.core.status import ERROR, SKIP, UNSCHEDULABLE, UNSCHEDULABLE_AND_UNRESOLVABLE

ZONE, REGION = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
DRIVER = "csi.example.com"


def put(state: ClusterState, obj: dict) -> None:
    if obj["kind"] == "Node":
        state.add_node(obj)
    elif obj["kind"] == "Pod":
        state.add_pod(obj)
    else:
        assert state.add_object(obj)


def state_of(*objects: dict, nodes=("n1", "n2", "n3")) -> ClusterState:
    state = ClusterState()
    for n in nodes:
        state.add_node(node(n))
    for obj in objects:
        put(state, obj)
    return state


def zoned_state(*objects: dict, zones: dict[str, dict] | None = None) -> ClusterState:
    zones = zones if zones is not None else {"n1": {ZONE: "a"}, "n2": {ZONE: "b"}, "n3": {}}
    state = ClusterState()
    for n, labels in zones.items():
        state.add_node(node(n, labels=labels))
    for obj in objects:
        put(state, obj)
    return state




def bound(name: str, volume: str, **kw) -> dict:
    return pvc(name, volume=volume, bound=True, **kw)


# ------------------------------------------------------------------ VolumeZone PreFilter

def test_zone_pod_without_claims_skips():
    assert run(VolumeZone(), zoned_state(), pod("p")) == ((SKIP, []), None)


@pytest.mark.parametrize("objects, claim, reason", [
    ((), "data", 'persistentvolumeclaim "data" not found'),
    ((), "", "PersistentVolumeClaim had no name"),
    ((pvc("data", cls=None),), "data", "PersistentVolumeClaim had no pv name and storageClass name"),
    ((pvc("data", cls="gone"),), "data", 'storageclass.storage.k8s.io "gone" not found'),
    ((sc("nomode", mode=None), pvc("data", cls="nomode")), "data", 'VolumeBindingMode not set for StorageClass "nomode"'),
    ((sc("now", mode="Immediate"), pvc("data", cls="now")), "data", "PersistentVolume had no name"),
    ((bound("data", "pv-gone"),), "data", 'persistentvolume "pv-gone" not found'),
])
def test_zone_prefilter_failures_are_unresolvable_with_upstream_text(objects, claim, reason):
    assert run(VolumeZone(), zoned_state(*objects), with_claims("p", claim)) == (
        (UNSCHEDULABLE_AND_UNRESOLVABLE, [reason]), None)


def test_zone_unbound_wait_for_first_consumer_claim_is_skipped():
    assert run(VolumeZone(), zoned_state(sc("local"), pvc("data")), with_claims("p", "data")) == ((SKIP, []), None)


def test_zone_pv_without_topology_labels_skips():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={"other": "x"}))
    assert run(VolumeZone(), state, with_claims("p", "data")) == ((SKIP, []), None)


def test_zone_filter_compares_pv_and_node_labels():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "a"}))
    conflict = (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT])
    # n3 has no topology label at all: a single-zone cluster, it fits.
    assert run(VolumeZone(), state, with_claims("p", "data")) == (None, {"n1": None, "n2": conflict, "n3": None})


def test_zone_node_with_only_a_region_label_lacks_the_zone():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "a"}),
                        zones={"n1": {REGION: "r1"}, "n2": {ZONE: "a", REGION: "r1"}})
    assert run(VolumeZone(), state, with_claims("p", "data"))[1] == {
        "n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT]), "n2": None}


def test_zone_beta_pv_label_matches_the_nodes_ga_label_and_multi_zone_values():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={BETA_ZONE: "a__c"}),
                        zones={"n1": {ZONE: "a"}, "n2": {ZONE: "b"}, "n3": {BETA_ZONE: "c"}})
    assert run(VolumeZone(), state, with_claims("p", "data"))[1] == {
        "n1": None, "n2": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT]), "n3": None}


def test_zone_unparsable_label_is_ignored():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "a__"}))
    assert run(VolumeZone(), state, with_claims("p", "data")) == ((SKIP, []), None)


def test_zone_every_labelled_pv_must_match():
    state = zoned_state(bound("one", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "a"}),
                        bound("two", "pv-2"), pv("pv-2", phase="Bound", labels={ZONE: "b"}))
    out = run(VolumeZone(), state, with_claims("p", "one", "two"))[1]
    assert out == {"n1": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT]),
                   "n2": (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT]), "n3": None}


def test_zone_filter_without_prefilter_state_computes_it():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "b"}))
    p = with_claims("p", "data")
    cycle = CycleState(state, p, random.Random(0))
    n1 = next(ni for ni in state.node_list() if ni.name == "n1")
    st = VolumeZone().filter(cycle, p, n1)
    assert (st.code, st.reasons) == (UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT])


def test_zone_failed_scheduling_message():
    state = zoned_state(bound("data", "pv-1"), pv("pv-1", phase="Bound", labels={ZONE: "c"}),
                        zones={"n1": {ZONE: "a"}, "n2": {ZONE: "b"}})
    result = default_profile().schedule(state, with_claims("p", "data"), random.Random(0))
    assert result.message == ("0/2 nodes are available: 2 node(s) had no available volume zone. preemption: 0/2 "
                              "nodes are available: 2 Preemption is not helpful for scheduling.")


def test_zone_bound_claim_whose_pv_is_gone_fails_in_prefilter():
    result = default_profile().schedule(zoned_state(bound("data", "pv-gone")), with_claims("p", "data"),
                                        random.Random(0))
    assert result.message == ('0/3 nodes are available: persistentvolume "pv-gone" not found. preemption: 0/3 '
                              'nodes are available: 3 Preemption is not helpful for scheduling.')


def test_zone_and_limits_events_to_register():
    assert EVENTS_TO_REGISTER["VolumeZone"] == (("StorageClass", 1), ("Node", 1 | 8), ("PersistentVolumeClaim", 1),
                                                ("PersistentVolume", 1 | 4 | 8 | 16 | 32))
    assert worth_requeuing({"VolumeZone"}, EVENTS["NodeLabelChange"])
    assert not worth_requeuing({"VolumeZone"}, EVENTS["PvcUpdate"])
    assert worth_requeuing({"NodeVolumeLimits"}, EVENTS["CSINodeAdd"])
    assert not worth_requeuing({"NodeVolumeLimits"}, EVENTS["CSINodeUpdate"])
    assert not worth_requeuing({"NodeVolumeLimits"}, EVENTS["AssignedPodAdd"])
    for name in ("EBSLimits", "GCEPDLimits", "AzureDiskLimits"):
        assert EVENTS_TO_REGISTER[name] == (("Node", 1), ("Pod", 2))
    assert CSI_NODE == "CSINode"


# ------------------------------------------------------------------ NodeVolumeLimits (CSI)

def csi_pv(name: str, handle: str | None = None, driver: str = DRIVER, **kw) -> dict:
    return pv(name, phase="Bound", csi={"driver": driver, "volumeHandle": handle or name}, **kw)


def csi_node(name: str, **counts: int | None) -> dict:
    drivers = []
    for driver, count in counts.items():
        d: dict = {"name": driver.replace("_", "."), "nodeID": name, "topologyKeys": None}
        if count is not None:
            d["allocatable"] = {"count": count}
        drivers.append(d)
    return {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": name},
            "spec": {"drivers": drivers}}


LIMIT2 = "csi_example_com"  # csi_node(**{LIMIT2: 2}) -> csi.example.com, count 2


def limits_state(*objects: dict, with_csi_nodes: bool = True) -> ClusterState:
    volumes = []
    for i in range(1, 5):
        volumes += [bound(f"c{i}", f"pv-{i}"), csi_pv(f"pv-{i}")]
    nodes = [csi_node("n1", **{LIMIT2: 2}), csi_node("n2", other_driver=0)] if with_csi_nodes else []
    return state_of(*volumes, *nodes, *objects, nodes=("n1", "n2"))


def on(name: str, node_name: str, *claims: str, **kw) -> dict:
    return with_claims(name, *claims, node_name=node_name, **kw)


def test_limits_pod_without_claims_skips():
    assert run(NodeVolumeLimits(), limits_state(), pod("p")) == ((SKIP, []), None)
    inline = pod("p", volumes=[{"name": "d", "emptyDir": {}}])
    assert run(NodeVolumeLimits(), limits_state(), inline) == ((SKIP, []), None)


def test_limits_reached_on_the_node_with_the_csinode_count():
    state = limits_state(on("a", "n1", "c1", "c2"), on("b", "n2", "c1", "c2"))
    over = (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])
    # n2's CSINode limits another driver only: no limit for csi.example.com there.
    assert run(NodeVolumeLimits(), state, with_claims("p", "c3")) == (None, {"n1": over, "n2": None})


def test_limits_count_unique_volumes():
    state = limits_state(on("a", "n1", "c1"), on("b", "n1", "c1"))
    # c1 counts once: c1 + c2 = 2, the limit; the new pod's own c1 is already attached.
    assert run(NodeVolumeLimits(), state, with_claims("p", "c1", "c2"))[1]["n1"] is None
    assert run(NodeVolumeLimits(), state, with_claims("p", "c2", "c3"))[1]["n1"] == (
        UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])


def test_limits_same_handle_in_two_pvs_is_one_volume():
    state = limits_state(bound("twin", "pv-twin"), csi_pv("pv-twin", handle="pv-1"), on("a", "n1", "c1", "c2"))
    assert run(NodeVolumeLimits(), state, with_claims("p", "twin"))[1]["n1"] is None


def test_limits_without_csinode_or_allocatable_never_reject():
    state = limits_state(on("a", "n1", "c1", "c2", "c3"), with_csi_nodes=False)
    assert run(NodeVolumeLimits(), state, with_claims("p", "c4")) == (None, {"n1": None, "n2": None})


def test_limits_from_node_allocatable_when_no_csinode():
    key = csi_attach_limit_key(DRIVER)
    state = ClusterState()
    for n in (node("n1", extra={key: "1"}), node("n2")):
        state.add_node(n)
    for obj in (bound("c1", "pv-1"), csi_pv("pv-1"), bound("c2", "pv-2"), csi_pv("pv-2"), on("a", "n1", "c1")):
        put(state, obj)
    assert run(NodeVolumeLimits(), state, with_claims("p", "c2"))[1] == {
        "n1": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED]), "n2": None}


def test_limits_csinode_count_overrides_allocatable_and_driver_without_count_has_none():
    key = csi_attach_limit_key(DRIVER)
    state = ClusterState()
    state.add_node(node("n1", extra={key: "1"}))
    for obj in (bound("c1", "pv-1"), csi_pv("pv-1"), bound("c2", "pv-2"), csi_pv("pv-2"),
                csi_node("n1", **{LIMIT2: 5}), on("a", "n1", "c1")):
        put(state, obj)
    assert run(NodeVolumeLimits(), state, with_claims("p", "c2"))[1] == {"n1": None}
    put(state, csi_node("n1", **{LIMIT2: None}))  # no count: the allocatable (1) limits again
    assert run(NodeVolumeLimits(), state, with_claims("p", "c2"))[1] == {
        "n1": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])}


def test_limits_unbound_claims_count_under_their_class_provisioner():
    state = limits_state(sc("csi", provisioner=DRIVER), pvc("u1", cls="csi"), pvc("u2", cls="csi"),
                         on("a", "n1", "c1", "u1"))
    # n1 holds c1 and u1 (2): u1 again fits (same claim, same random handle), u2 does not.
    assert run(NodeVolumeLimits(), state, with_claims("p", "u1"))[1]["n1"] is None
    assert run(NodeVolumeLimits(), state, with_claims("p", "u2"))[1]["n1"] == (
        UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])


@pytest.mark.parametrize("objects", [
    (pvc("u1", cls=None),),                                     # no class: an Immediate claim, not counted
    (pvc("u1", cls="missing"),),                                 # class not found
    (sc("intree", provisioner="kubernetes.io/aws-ebs"), pvc("u1", cls="intree")),  # migration not on
    (sc("local"), pvc("u1", cls="local", volume="pv-local", bound=True), pv("pv-local", phase="Bound")),  # not CSI
])
def test_limits_claims_that_are_not_counted(objects):
    state = limits_state(*objects, on("a", "n1", "c1", "c2"))
    assert run(NodeVolumeLimits(), state, with_claims("p", "u1"))[1]["n1"] is None


def test_limits_claim_whose_pv_is_not_in_the_informer_falls_back_to_the_class():
    state = limits_state(sc("csi", provisioner=DRIVER), pvc("late", cls="csi", volume="pv-late", bound=True),
                         on("a", "n1", "c1", "c2"))
    assert run(NodeVolumeLimits(), state, with_claims("p", "late"))[1]["n1"] == (
        UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])


def test_limits_migrated_in_tree_provisioner_counts_under_its_csi_driver():
    ebs_node = csi_node("n1", ebs_csi_aws_com=1)
    ebs_node["metadata"]["annotations"] = {"storage.alpha.kubernetes.io/migrated-plugins": "kubernetes.io/aws-ebs"}
    state = state_of(sc("gp2", provisioner="kubernetes.io/aws-ebs"), pvc("u1", cls="gp2"), pvc("u2", cls="gp2"),
                     ebs_node, on("a", "n1", "u1"), nodes=("n1",))
    assert run(NodeVolumeLimits(), state, with_claims("p", "u2"))[1]["n1"] == (
        UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])


def test_limits_generic_ephemeral_volumes():
    owner_uid = "uid-eph"
    claim = pvc("p-scratch", cls="csi")
    claim["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": owner_uid,
                                             "controller": True}]
    eph = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]
    state = limits_state(sc("csi", provisioner=DRIVER), claim, on("a", "n1", "c1", "c2"))
    p = pod("p", volumes=eph)
    p["metadata"]["uid"] = owner_uid
    assert run(NodeVolumeLimits(), state, p)[1]["n1"] == (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])
    stranger = pod("p", volumes=eph)
    stranger["metadata"]["uid"] = "someone-else"
    assert run(NodeVolumeLimits(), state, stranger)[1]["n1"] == (
        ERROR, ["PVC default/p-scratch was not created for pod default/p (pod is not owner)"])


def test_limits_new_pods_missing_claim_is_an_error_existing_pods_is_ignored():
    state = limits_state(on("a", "n1", "c1", "gone"))
    assert run(NodeVolumeLimits(), state, with_claims("p", "nothere"))[1]["n1"] == (
        ERROR, ['looking up PVC default/nothere: persistentvolumeclaim "nothere" not found'])
    assert run(NodeVolumeLimits(), state, with_claims("p", "c2"))[1]["n1"] is None


def test_csi_attach_limit_key_hashes_long_driver_names():
    assert csi_attach_limit_key("csi.example.com") == "attachable-volumes-csi-csi.example.com"
    long = "x" * 40  # 23 + 40 >= 63
    key = csi_attach_limit_key(long)
    assert key.startswith("attachable-volumes-csi-" + "x" * 23) and len(key) == 23 + 23 + 16
    assert key != csi_attach_limit_key("x" * 39 + "y")


def test_limits_failed_scheduling_message():
    state = limits_state(on("a", "n1", "c1", "c2"))
    profile = default_profile()
    p = with_claims("p", "c3", node_selector={"kubernetes.io/hostname": "n1"})
    result = profile.schedule(state, p, random.Random(0))
    assert result.message == ("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 "
                              "node(s) exceed max volume count. preemption: 0/2 nodes are available: 1 No preemption "
                              "victims found for incoming pod, 1 Preemption is not helpful for scheduling.")


# ------------------------------------------------------------------ the in-tree limits

def ebs(volume_id: str) -> dict:
    return {"name": volume_id, "awsElasticBlockStore": {"volumeID": volume_id}}


def test_in_tree_plugins_skip_pods_without_their_volumes():
    for plugin in (EBSLimits(), GCEPDLimits(), AzureDiskLimits()):
        assert run(plugin, state_of(), pod("p", volumes=[{"name": "d", "emptyDir": {}}])) == ((SKIP, []), None)


def test_ebs_inline_volumes_against_the_allocatable_limit():
    state = ClusterState()
    put(state, node("n1", extra={"attachable-volumes-aws-ebs": "2"}))
    put(state, pod("a", node_name="n1", volumes=[ebs("vol-1"), ebs("vol-2")]))
    assert run(EBSLimits(), state, pod("p", volumes=[ebs("vol-2")]))[1] == {"n1": None}
    assert run(EBSLimits(), state, pod("p", volumes=[ebs("vol-3")]))[1] == {
        "n1": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])}


def test_ebs_defers_to_csi_when_the_node_is_migrated():
    state = ClusterState()
    put(state, node("n1", extra={"attachable-volumes-aws-ebs": "1"}))
    put(state, pod("a", node_name="n1", volumes=[ebs("vol-1")]))
    migrated = csi_node("n1")
    migrated["metadata"]["annotations"] = {"storage.alpha.kubernetes.io/migrated-plugins":
                                           "kubernetes.io/gce-pd,kubernetes.io/aws-ebs"}
    put(state, migrated)
    assert run(EBSLimits(), state, pod("p", volumes=[ebs("vol-2")]))[1] == {"n1": None}


def test_ebs_default_limits_nitro_and_env(monkeypatch):
    vols = [ebs(f"vol-{i}") for i in range(30)]
    state = ClusterState()
    put(state, node("plain"))
    put(state, node("nitro", labels={"node.kubernetes.io/instance-type": "m5.large"}))
    monkeypatch.delenv("KUBE_MAX_PD_VOLS", raising=False)
    assert run(EBSLimits(), state, pod("p", volumes=vols))[1] == {
        "plain": None, "nitro": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])}
    monkeypatch.setenv("KUBE_MAX_PD_VOLS", "40")
    assert run(EBSLimits(), state, pod("p", volumes=vols))[1] == {"plain": None, "nitro": None}


def test_gce_pd_and_azure_disk_default_limit_is_16():
    state = ClusterState()
    put(state, node("n1"))
    gce = [{"name": f"g{i}", "gcePersistentDisk": {"pdName": f"pd-{i}"}} for i in range(17)]
    azure = [{"name": f"a{i}", "azureDisk": {"diskName": f"d-{i}", "diskURI": "x"}} for i in range(17)]
    over = {"n1": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])}
    assert run(GCEPDLimits(), state, pod("p", volumes=gce))[1] == over
    assert run(GCEPDLimits(), state, pod("p", volumes=gce[:16]))[1] == {"n1": None}
    assert run(AzureDiskLimits(), state, pod("p", volumes=azure))[1] == over


def test_ebs_counts_claims_bound_to_ebs_pvs_and_unbound_ebs_claims():
    state = state_of(pv("pv-ebs", phase="Bound", awsElasticBlockStore={"volumeID": "vol-9"}),
                     bound("e1", "pv-ebs"), sc("gp2", provisioner="kubernetes.io/aws-ebs"), pvc("u1", cls="gp2"),
                     nodes=("n1",))
    put(state, node("n1", extra={"attachable-volumes-aws-ebs": "2"}))
    put(state, pod("a", node_name="n1", volumes=[ebs("vol-9")]))
    # vol-9 is already attached: e1 adds nothing; u1 (random id) adds one: 2 <= 2.
    assert run(EBSLimits(), state, with_claims("p", "e1", "u1"))[1] == {"n1": None}
    assert run(EBSLimits(), state, pod("p", volumes=[ebs("vol-1"), ebs("vol-2")]))[1] == {
        "n1": (UNSCHEDULABLE, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])}


def test_in_tree_missing_claim_of_the_new_pod_is_an_error():
    state = state_of(nodes=("n1",))
    assert run(GCEPDLimits(), state, with_claims("p", "nothere"))[1] == {
        "n1": (ERROR, ['looking up PVC default/nothere: persistentvolumeclaim "nothere" not found'])}


# ------------------------------------------------------------------ simulate with a CSINode

CSI_STATE = """
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
status: {allocatable: {cpu: "2", memory: 4Gi, pods: "110"}}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: n1}
spec: {drivers: [{name: csi.example.com, nodeID: n1, topologyKeys: null, allocatable: {count: COUNT}}]}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: csi}
provisioner: csi.example.com
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: a}
spec: {accessModes: [ReadWriteOnce], storageClassName: csi, resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: b}
spec: {accessModes: [ReadWriteOnce], storageClassName: csi, resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: p1}
spec: {containers: [{name: c, image: x}], volumes: [{name: d, persistentVolumeClaim: {claimName: a}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec: {containers: [{name: c, image: x}], volumes: [{name: d, persistentVolumeClaim: {claimName: b}}]}
"""


def test_simulate_counts_the_first_pods_volume_against_the_csinode_limit(tmp_path, capsys):
    from scheduler.core.simulate import main

    state = tmp_path / "csi.yaml"
    state.write_text(CSI_STATE.replace("COUNT", "1"))
    assert main(["--cluster", str(state), "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(d["pod"], d["node"]) for d in out] == [("default/p1", "n1"), ("default/p2", None)]
    assert out[1]["message"].startswith(f"0/1 nodes are available: 1 {ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED}. ")
    state.write_text(CSI_STATE.replace("COUNT", "2"))
    assert main(["--cluster", str(state), "--output", "json"]) == 0
    assert [d["node"] for d in json.loads(capsys.readouterr().out)] == ["n1", "n1"]


def test_simulate_rejects_a_csinode_with_a_bad_count(tmp_path, capsys):
    from scheduler.core.simulate import main

    state = tmp_path / "bad.yaml"
    state.write_text(CSI_STATE.replace("COUNT", '"two"'))
    assert main(["--cluster", str(state)]) == 1
    err = capsys.readouterr().err
    assert "CSINode n1: spec.drivers[0].allocatable.count" in err, err
