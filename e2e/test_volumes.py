"""Volumes end to end: a WaitForFirstConsumer claim is scheduled and started by both schedulers.

Two identical node sets of three kwok nodes are made, one for the lab's own kube-scheduler v1.29.15
(``default-scheduler``, the oracle) and one for a Python scheduler this test starts; each pod has
a nodeSelector for its set. The StorageClass is ``kubernetes.io/no-provisioner`` with
``WaitForFirstConsumer`` (kwok nodes have no kubelet, so no provisioner could make a volume); the
static local PVs of each set are

    node 0: none                    -> "node(s) didn't find available persistent volumes to bind"
    node 1: 10Gi and 2Gi            -> the claim (1Gi) fits; the smallest fitting PV (2Gi) is chosen
    node 2: 500Mi                   -> too small

Each scheduler must pick node 1 and the 2Gi PV; the real kube-controller-manager's PV controller
completes the binding after PreBind wrote the claimRef, and kwok starts the pod. Then the
messages of the cases a pod cannot be scheduled in (missing claim, unbound Immediate claim, no
PV, bound PV on another node) must be the live kube-scheduler's, word for word.

The nodes of a set are in zones ``<set>-a|b|c``: VolumeZone's test binds claims to PVs labelled
with a zone (GA or beta label, or a zone no node has); NodeVolumeLimits' test gives each node a
CSINode allowing one volume of a fake CSI driver and a pod (bound directly) using one such volume.
"""
from __future__ import annotations

import uuid

import pytest

from e2e.harness import SuiteCluster, NotYet, wait_for
from e2e.parity import _apply, _node, _pod, _ready
from e2e.pyscheduler import SchedulerFleet, scheduler_config, unique_name

HOST = "kubernetes.io/hostname"
TAGS = ("up", "py")


def _storage_class(name: str, mode: str) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": mode}


def _pv(name: str, cls: str, size: str, node: str, claim: dict | None = None) -> dict:
    spec = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
            "persistentVolumeReclaimPolicy": "Retain", "local": {"path": f"/mnt/disks/{name}"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": HOST, "operator": "In", "values": [node]}]}]}}}
    if claim:
        spec["claimRef"] = claim
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def _pvc(name: str, cls: str, size: str = "1Gi") -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "resources": {"requests": {"storage": size}}}}


def _claim_pod(name: str, claim: str, scheduler: str, state: str) -> dict:
    return _pod(name, {"app": name}, "100m", "64Mi", scheduler=scheduler, nodeSelector={"parity-state": state},
                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}])


def _make_set(cluster: SuiteCluster, run: str, tag: str) -> list[str]:
    sid = f"vol{tag}{run}"
    # One zone per node (topology.kubernetes.io/zone = <sid>-a|b|c): VolumeZone's cases need them,
    # the others ignore them.
    nodes = [_node(run, sid, f"vol-{run}-{tag}-{i}", "abc"[i], "2", "4Gi", "110", {}, []) for i in range(3)]
    _apply(cluster, nodes)
    names = [n["metadata"]["name"] for n in nodes]

    def ready() -> None:
        if not all(_ready(cluster.get(f"/api/v1/nodes/{n}")) for n in names):
            raise NotYet("nodes not Ready and untainted")

    wait_for(ready, timeout=120, what=f"volume node set {tag} Ready")
    return names


def _delete(cluster: SuiteCluster, kind: str, names: list[str]) -> None:
    if names:
        cluster.kubectl("delete", kind, "--ignore-not-found", "--wait=false", *names, check=False)


@pytest.fixture
def volume_lab(cluster: SuiteCluster, namespace: str, fleet: SchedulerFleet):
    """Two node sets, the classes, a running Python scheduler; everything cluster-scoped removed after."""
    cluster.requires("kwok_nodes")  # it creates its own nodes and local PVs on them
    run = uuid.uuid4().hex[:5]
    name = unique_name("e2e-volumes")
    created: dict[str, list[str]] = {"storageclass": [], "pv": [], "node": [], "csinode": []}
    try:
        late, immediate = f"vol-wffc-{run}", f"vol-immediate-{run}"
        _apply(cluster, [_storage_class(late, "WaitForFirstConsumer"), _storage_class(immediate, "Immediate")])
        created["storageclass"] += [late, immediate]
        sets = {}
        for tag in TAGS:
            sets[tag] = _make_set(cluster, run, tag)
            created["node"] += sets[tag]
        fleet.start(scheduler_config(name=name, lease_namespace=namespace, lease_name=name))
        yield {"run": run, "scheduler": {"up": "default-scheduler", "py": name}, "nodes": sets,
               "late": late, "immediate": immediate, "created": created, "namespace": namespace}
    finally:
        cluster.kubectl("delete", "pods,pvc", "--all", "-n", namespace, "--wait=false", check=False)
        _delete(cluster, "pv", created["pv"])
        _delete(cluster, "csinode", created["csinode"])
        _delete(cluster, "storageclass", created["storageclass"])
        if created["node"]:  # waited for: the next test's messages count the nodes
            cluster.kubectl("delete", "node", "--ignore-not-found", *created["node"], check=False)


def _bound_and_running(cluster: SuiteCluster, namespace: str, pod: str) -> dict:
    p = cluster.pod(namespace, pod)
    if (p.get("status") or {}).get("phase") != "Running":
        raise NotYet(f"{pod} is {(p.get('status') or {}).get('phase')} on {p['spec'].get('nodeName')!r}")
    return p


def test_wait_for_first_consumer_claim_is_scheduled_and_started_by_both_schedulers(
        cluster: SuiteCluster, volume_lab: dict) -> None:
    lab, ns = volume_lab, volume_lab["namespace"]
    run, late = lab["run"], lab["late"]
    pvs, claims, pods = [], [], []
    for tag in TAGS:
        nodes = lab["nodes"][tag]
        pvs += [_pv(f"vol-{run}-{tag}-big", late, "10Gi", nodes[1]), _pv(f"vol-{run}-{tag}-fit", late, "2Gi", nodes[1]),
                _pv(f"vol-{run}-{tag}-tiny", late, "500Mi", nodes[2])]
        claims.append(_pvc(f"data-{tag}", late))
        pods.append(_claim_pod(f"app-{tag}", f"data-{tag}", lab["scheduler"][tag], f"vol{tag}{run}"))
    _apply(cluster, pvs)
    lab["created"]["pv"] += [p["metadata"]["name"] for p in pvs]

    def available() -> None:
        for pv in pvs:
            phase = (cluster.get(f"/api/v1/persistentvolumes/{pv['metadata']['name']}").get("status") or {}).get("phase")
            if phase != "Available":
                raise NotYet(f"{pv['metadata']['name']} is {phase}")

    wait_for(available, timeout=60, what="the PV controller to make the PVs Available")
    _apply(cluster, claims, ns)
    _apply(cluster, pods, ns)

    for tag in TAGS:
        p = wait_for(lambda: _bound_and_running(cluster, ns, f"app-{tag}"), timeout=180,
                     what=f"app-{tag} scheduled by {lab['scheduler'][tag]} and Running")
        assert p["spec"]["nodeName"] == lab["nodes"][tag][1], (tag, p["spec"]["nodeName"])
        claim = cluster.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data-{tag}")
        assert claim["status"]["phase"] == "Bound"
        assert claim["spec"]["volumeName"] == f"vol-{run}-{tag}-fit", (tag, claim["spec"]["volumeName"])
        pv = cluster.get(f"/api/v1/persistentvolumes/vol-{run}-{tag}-fit")
        assert pv["spec"]["claimRef"]["name"] == f"data-{tag}" and pv["spec"]["claimRef"]["uid"] == \
            claim["metadata"]["uid"]
        # A static match is bound through the PV (claimRef), never with the provisioning annotation.
        assert "volume.kubernetes.io/selected-node" not in (claim["metadata"].get("annotations") or {})
        scheduled = [e for e in cluster.events_for(ns, f"app-{tag}") if e.get("reason") == "Scheduled"]
        assert scheduled and scheduled[0]["reportingController"] == lab["scheduler"][tag]


def _failed_scheduling(cluster: SuiteCluster, namespace: str, pod: str) -> str:
    notes = [e.get("note") or "" for e in cluster.events_for(namespace, pod) if e.get("reason") == "FailedScheduling"]
    if not notes:
        raise NotYet(f"no FailedScheduling event for {pod} yet")
    return notes[0]


CASES = ("missing-claim", "unbound-immediate", "no-pv", "bound-elsewhere")


def test_unschedulable_volume_messages_are_kube_schedulers(cluster: SuiteCluster, volume_lab: dict) -> None:
    lab, ns = volume_lab, volume_lab["namespace"]
    run, late, immediate = lab["run"], lab["late"], lab["immediate"]
    pvs, claims, pods = [], [], []
    for tag in TAGS:
        nodes, scheduler, state = lab["nodes"][tag], lab["scheduler"][tag], f"vol{tag}{run}"
        # no-pv: the only PV of the class is on a node outside the set.
        pvs.append(_pv(f"vol-{run}-{tag}-away", late, "5Gi", lab["nodes"]["up" if tag == "py" else "py"][0]))
        # bound-elsewhere: a PV pre-bound to its claim (the PV controller binds it at once), on a node
        # outside the set.
        other = lab["nodes"]["up" if tag == "py" else "py"][2]
        pvs.append(_pv(f"vol-{run}-{tag}-pinned", late, "1Gi", other,
                       claim={"namespace": ns, "name": f"pinned-{tag}"}))
        claims += [_pvc(f"immediate-{tag}", immediate), _pvc(f"nopv-{tag}", late, size="50Gi"),
                   _pvc(f"pinned-{tag}", late)]
        pods += [_claim_pod(f"missing-claim-{tag}", f"nothere-{tag}", scheduler, state),
                 _claim_pod(f"unbound-immediate-{tag}", f"immediate-{tag}", scheduler, state),
                 _claim_pod(f"no-pv-{tag}", f"nopv-{tag}", scheduler, state),
                 _claim_pod(f"bound-elsewhere-{tag}", f"pinned-{tag}", scheduler, state)]
        del nodes
    _apply(cluster, pvs)
    lab["created"]["pv"] += [p["metadata"]["name"] for p in pvs]
    _apply(cluster, claims, ns)

    def pinned_bound() -> None:
        for tag in TAGS:
            claim = cluster.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/pinned-{tag}")
            if (claim.get("status") or {}).get("phase") != "Bound":
                raise NotYet(f"pinned-{tag} not bound yet")

    wait_for(pinned_bound, timeout=60, what="the PV controller to bind the pre-bound PVs")
    _apply(cluster, pods, ns)

    for case in CASES:
        theirs = wait_for(lambda: _failed_scheduling(cluster, ns, f"{case}-up"), timeout=120,
                          what=f"kube-scheduler's FailedScheduling for {case}")
        ours = wait_for(lambda: _failed_scheduling(cluster, ns, f"{case}-py"), timeout=120,
                        what=f"the Python scheduler's FailedScheduling for {case}")
        assert ours.replace("-py", "-up") == theirs, (case, ours, theirs)
        for tag in TAGS:
            assert not cluster.pod(ns, f"{case}-{tag}")["spec"].get("nodeName"), (case, tag)


# ------------------------------------------------------------------ VolumeZone and NodeVolumeLimits

ZONE = "topology.kubernetes.io/zone"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"


def _prebound_pv(name: str, cls: str, claim: str, namespace: str, labels: dict | None = None,
                 csi: dict | None = None) -> dict:
    """A PV pre-bound to its claim (the PV controller binds the pair at once), no node affinity."""
    source = {"csi": csi} if csi else {"hostPath": {"path": f"/tmp/{name}"}}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": namespace, "name": claim},
                     **source}}


def _prebound_pvc(name: str, cls: str, volume: str) -> dict:
    claim = _pvc(name, cls)
    claim["spec"]["volumeName"] = volume
    return claim


def _wait_bound(cluster: SuiteCluster, namespace: str, claims: list[str]) -> None:
    def bound() -> None:
        for name in claims:
            claim = cluster.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}")
            if (claim.get("status") or {}).get("phase") != "Bound":
                raise NotYet(f"{name} not bound yet")

    wait_for(bound, timeout=90, what="the PV controller to bind the pre-bound claims")


def _scheduled_node(cluster: SuiteCluster, namespace: str, pod: str) -> str:
    node = cluster.pod(namespace, pod)["spec"].get("nodeName")
    if not node:
        raise NotYet(f"{pod} not scheduled yet")
    return node


def test_volume_zone_matches_bound_pvs_zone_labels_like_kube_scheduler(cluster: SuiteCluster, volume_lab: dict) -> None:
    """Bound PVs labelled with a zone: the pod goes to the node of that zone (a beta PV label matches the
    node's GA label), and a zone no node has gives kube-scheduler's "no available volume zone" text."""
    lab, ns = volume_lab, volume_lab["namespace"]
    run, immediate = lab["run"], lab["immediate"]
    pvs, claims, pods = [], [], []
    for tag in TAGS:
        sid, scheduler = f"vol{tag}{run}", lab["scheduler"][tag]
        for case, labels in (("zoned", {ZONE: f"{sid}-b"}), ("beta", {BETA_ZONE: f"{sid}-c"}),
                             ("nozone", {ZONE: f"{sid}-x"})):
            pv_name = f"zone-{run}-{tag}-{case}"
            pvs.append(_prebound_pv(pv_name, immediate, f"{case}-{tag}", ns, labels=labels))
            claims.append(_prebound_pvc(f"{case}-{tag}", immediate, pv_name))
            pods.append(_claim_pod(f"{case}-{tag}", f"{case}-{tag}", scheduler, sid))
    _apply(cluster, pvs)
    lab["created"]["pv"] += [p["metadata"]["name"] for p in pvs]
    _apply(cluster, claims, ns)
    _wait_bound(cluster, ns, [c["metadata"]["name"] for c in claims])
    _apply(cluster, pods, ns)

    for tag in TAGS:
        nodes = lab["nodes"][tag]
        assert wait_for(lambda: _scheduled_node(cluster, ns, f"zoned-{tag}"), timeout=120,
                        what=f"zoned-{tag} scheduled") == nodes[1], tag
        assert wait_for(lambda: _scheduled_node(cluster, ns, f"beta-{tag}"), timeout=120,
                        what=f"beta-{tag} scheduled") == nodes[2], tag
    theirs = wait_for(lambda: _failed_scheduling(cluster, ns, "nozone-up"), timeout=120,
                      what="kube-scheduler's FailedScheduling for nozone")
    ours = wait_for(lambda: _failed_scheduling(cluster, ns, "nozone-py"), timeout=120,
                    what="the Python scheduler's FailedScheduling for nozone")
    assert "3 node(s) had no available volume zone" in theirs, theirs
    assert ours == theirs, (ours, theirs)
    for tag in TAGS:
        assert not cluster.pod(ns, f"nozone-{tag}")["spec"].get("nodeName"), tag


def test_csi_volume_limit_from_csinode_like_kube_scheduler(cluster: SuiteCluster, volume_lab: dict) -> None:
    """Every node of a set has a CSINode allowing one volume of a fake driver and a pod using one: a
    new CSI volume exceeds the limit everywhere (kube-scheduler's text), the volume already attached
    on node 1 does not (counted once), so that pod goes to node 1."""
    lab, ns = volume_lab, volume_lab["namespace"]
    run, immediate = lab["run"], lab["immediate"]
    driver = f"fake-{run}.csi.example.com"
    csi_nodes, pvs, claims, holders, pods = [], [], [], [], []
    for tag in TAGS:
        sid, scheduler, nodes = f"vol{tag}{run}", lab["scheduler"][tag], lab["nodes"][tag]
        for i, node in enumerate(nodes):
            csi_nodes.append({"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": node},
                              "spec": {"drivers": [{"name": driver, "nodeID": node, "topologyKeys": None,
                                                    "allocatable": {"count": 1}}]}})
        for vol in ("0", "1", "2", "new"):
            pv_name = f"csi-{run}-{tag}-{vol}"
            pvs.append(_prebound_pv(pv_name, immediate, f"csi-{tag}-{vol}", ns,
                                    csi={"driver": driver, "volumeHandle": f"handle-{tag}-{vol}"}))
            claims.append(_prebound_pvc(f"csi-{tag}-{vol}", immediate, pv_name))
        for i, node in enumerate(nodes):  # already on the node (no scheduler involved)
            holders.append(_pod(f"holder-{tag}-{i}", {"app": "holder"}, "100m", "64Mi", node=node,
                                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": f"csi-{tag}-{i}"}}]))
        pods += [_claim_pod(f"over-{tag}", f"csi-{tag}-new", scheduler, sid),
                 _claim_pod(f"shared-{tag}", f"csi-{tag}-1", scheduler, sid)]
    _apply(cluster, csi_nodes)
    lab["created"]["csinode"] += [c["metadata"]["name"] for c in csi_nodes]
    _apply(cluster, pvs)
    lab["created"]["pv"] += [p["metadata"]["name"] for p in pvs]
    _apply(cluster, claims, ns)
    _wait_bound(cluster, ns, [c["metadata"]["name"] for c in claims])
    _apply(cluster, holders, ns)
    for holder in holders:
        wait_for(lambda: _bound_and_running(cluster, ns, holder["metadata"]["name"]), timeout=120,
                 what=f"{holder['metadata']['name']} Running")
    _apply(cluster, pods, ns)

    theirs = wait_for(lambda: _failed_scheduling(cluster, ns, "over-up"), timeout=120,
                      what="kube-scheduler's FailedScheduling for the volume over the limit")
    ours = wait_for(lambda: _failed_scheduling(cluster, ns, "over-py"), timeout=120,
                    what="the Python scheduler's FailedScheduling for the volume over the limit")
    assert "3 node(s) exceed max volume count" in theirs, theirs
    assert ours == theirs, (ours, theirs)
    for tag in TAGS:
        assert not cluster.pod(ns, f"over-{tag}")["spec"].get("nodeName"), tag
        assert wait_for(lambda: _scheduled_node(cluster, ns, f"shared-{tag}"), timeout=120,
                        what=f"shared-{tag} scheduled") == lab["nodes"][tag][1], tag
