"""VolumeBinding (PreFilter, Filter, Reserve/Unreserve, PreBind) as kube-scheduler v1.29.15 runs it.

Source: pkg/scheduler/framework/plugins/volumebinding/{volume_binding,binder}.go and
component-helpers/storage/volume/{helpers,pv_helpers}.go at v1.29.15 (read from the Go module
cache, k8s.io/kubernetes@v1.29.15 and k8s.io/component-helpers@v0.29.15).

* PreFilter: every PVC the pod names (``persistentVolumeClaim`` or a generic ``ephemeral`` volume)
  must exist, not be lost or deleting; unbound claims of an Immediate (or class-less) class fail
  the pod; the PVs of the classes of unbound WaitForFirstConsumer claims are listed once.
* Filter: bound claims' PVs must exist and their node affinity match the node; unbound delayed
  claims need a static PV (smallest fit: class, access modes, capacity, volume mode, selector,
  node affinity, not claimed by another PVC, phase Available) or dynamic provisioning (a class
  with a real provisioner whose allowedTopologies admit the node).
* Reserve assumes the choice in ``state.volumes`` (a PV's claimRef, a claim's selected-node
  annotation) so the next pod does not take the same PV; Unreserve restores it.
* PreBind returns a ``VolumeBindingPlan``: the API updates to make (``bindAPIUpdate``). The I/O
  shell makes them and then polls ``check_bindings`` (``checkBindings``) until the PV controller
  has bound every claim, or ``bindTimeoutSeconds`` passes.

The PV and claim predicates (sizes, binding state, node affinity, ``FindMatchingVolume``) are in
``scheduler.core.plugins.pvhelpers``.

Not done (differences from upstream): CSIStorageCapacity checks ("node(s) did not have enough free
storage" never appears: there is no CSIDriver/CSIStorageCapacity informer), in-tree-to-CSI PV
translation for node affinity (only in-tree PV types on nodes whose CSINode lists migrated
plugins), and the alpha VolumeCapacityPriority score.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from scheduler.core.podutil import meta_of, namespaced_key, pod_namespace, spec_of
from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.pvhelpers import (
    annotations_of, check_node_affinity, claim_request, find_matching_volume, is_pvc_fully_bound,
    is_volume_bound_to_claim, match_topology, volume_is_for_pod,
)
from scheduler.core.state import NodeInfo
from scheduler.core.status import ERROR, SKIP, UNSCHEDULABLE_AND_UNRESOLVABLE, Status
from scheduler.core.volumecache import (
    ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, NOT_SUPPORTED_PROVISIONER,
    VolumeCache, VolumeCacheError, pvc_class, resource_version,
)

Obj = Mapping[str, Any]

# binder.go ConflictReasons, appended in this order (FindPodVolumes' deferred function).
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_REASON_NOT_ENOUGH_SPACE = "node(s) did not have enough free storage"
ERR_REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
# volume_binding.go PreFilter.
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

DEFAULT_BIND_TIMEOUT_SECONDS = 600
STATE_KEY = "VolumeBinding"


class VolumeBindingError(Exception):
    """An error status (framework.AsStatus(err)): the text is upstream's error text."""


def pod_claims(pod: Obj) -> list[tuple[str, bool]]:
    """(claim name, is a generic ephemeral volume) of every PVC-backed volume, in spec order."""
    out = []
    for vol in spec_of(pod).get("volumes") or ():
        if vol.get("persistentVolumeClaim") is not None:
            out.append((str(vol["persistentVolumeClaim"].get("claimName") or ""), False))
        elif vol.get("ephemeral") is not None:
            out.append((f"{meta_of(pod).get('name', '')}-{vol.get('name', '')}", True))  # ephemeral.VolumeClaimName
    return out





# ------------------------------------------------------------------ the binder's decisions

def pod_has_pvcs(volumes: VolumeCache, pod: Obj) -> tuple[bool, str | None]:
    """``VolumeBinding.podHasPVCs`` (with the PVC lister, i.e. the informer's objects)."""
    has = False
    for name, ephemeral in pod_claims(pod):
        has = True
        pvc = volumes.pvc(pod_namespace(pod), name)
        if pvc is None:
            if ephemeral:
                return has, f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{name}"'
            return has, f'persistentvolumeclaim "{name}" not found'
        if (pvc.get("status") or {}).get("phase") == "Lost":
            return has, (f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume '
                         f'"{spec_of(pvc).get("volumeName") or ""}"')
        if meta_of(pvc).get("deletionTimestamp") is not None:
            return has, f'persistentvolumeclaim "{name}" is being deleted'
        if ephemeral:
            err = volume_is_for_pod(pod, pvc)
            if err:
                return has, err
    return has, None


def _is_volume_bound(volumes: VolumeCache, pod: Obj, name: str, ephemeral: bool) -> tuple[bool, Obj]:
    """``isVolumeBound`` / ``isPVCBound`` on the assume cache (assumed claims count)."""
    key = f"{pod_namespace(pod)}/{name}"
    pvc = volumes.pvcs.get(key)
    if pvc is None:
        raise VolumeBindingError(f'error getting PVC "{key}": {volumes.pvcs.not_found(key)}')
    if ephemeral:
        err = volume_is_for_pod(pod, pvc)
        if err:
            raise VolumeBindingError(err)
    return is_pvc_fully_bound(pvc), pvc


def is_delay_binding_mode(volumes: VolumeCache, pvc: Obj) -> bool:
    """``volume.IsDelayBindingMode``: a class that is missing counts as Immediate."""
    name = pvc_class(pvc)
    if not name:
        return False
    cls = volumes.storage_class(name)
    if cls is None:
        return False
    mode = cls.get("volumeBindingMode")
    if mode is None:
        raise VolumeBindingError(f'VolumeBindingMode not set for StorageClass "{name}"')
    return bool(mode == "WaitForFirstConsumer")


@dataclass
class PodVolumeClaims:
    bound: list[Obj] = field(default_factory=list)
    unbound_delay: list[Obj] = field(default_factory=list)
    unbound_immediate: list[Obj] = field(default_factory=list)
    # storage class -> its PVs (latest versions), listed once in PreFilter
    unbound_volumes: dict[str, list[Obj]] = field(default_factory=dict)


def get_pod_volume_claims(volumes: VolumeCache, pod: Obj) -> PodVolumeClaims:
    """``GetPodVolumeClaims``."""
    claims = PodVolumeClaims()
    for name, ephemeral in pod_claims(pod):
        bound, pvc = _is_volume_bound(volumes, pod, name, ephemeral)
        if bound:
            claims.bound.append(pvc)
        elif is_delay_binding_mode(volumes, pvc) and not spec_of(pvc).get("volumeName"):
            claims.unbound_delay.append(pvc)
        else:  # immediate binding, or pre-bound by the user: the PV controller's job
            claims.unbound_immediate.append(pvc)
    for pvc in claims.unbound_delay:
        cls = pvc_class(pvc)
        claims.unbound_volumes[cls] = volumes.list_pvs(cls)
    return claims


@dataclass
class BindingInfo:
    pvc: Obj
    pv: Obj


@dataclass
class PodVolumes:
    static_bindings: list[BindingInfo] = field(default_factory=list)
    dynamic_provisions: list[Obj] = field(default_factory=list)


def _check_bound_claims(volumes: VolumeCache, claims: list[Obj], labels: Mapping[str, str]) -> tuple[bool, bool]:
    """``checkBoundClaims``: (node affinity satisfied, every PV found)."""
    for pvc in claims:
        pv = volumes.pvs.get(str(spec_of(pvc).get("volumeName") or ""))
        if pv is None:
            return True, False
        if not check_node_affinity(pv, labels):
            return False, True
    return True, True


def _check_volume_provisions(volumes: VolumeCache, claims: list[Obj],
                             labels: Mapping[str, str]) -> tuple[bool, bool, list[Obj]]:
    """``checkVolumeProvisions``: (provisioning possible, enough storage, claims to provision).

    Storage capacity is not checked (no CSIStorageCapacity informer): always "enough".
    """
    provisions: list[Obj] = []
    for pvc in claims:
        name = pvc_class(pvc)
        if not name:
            raise VolumeBindingError(f'no class for claim "{namespaced_key(pvc)}"')
        cls = volumes.storage_class(name)
        if cls is None:
            raise VolumeBindingError(f'failed to find storage class "{name}"')
        provisioner = cls.get("provisioner") or ""
        if not provisioner or provisioner == NOT_SUPPORTED_PROVISIONER:
            return False, True, []
        if not match_topology(cls.get("allowedTopologies"), labels):
            return False, True, []
        provisions.append(pvc)
    return True, True, provisions


def find_pod_volumes(volumes: VolumeCache, claims: PodVolumeClaims, node: str,
                     labels: Mapping[str, str]) -> tuple[PodVolumes, list[str]]:
    """``FindPodVolumes``: the node's volume plan and the conflict reasons (raises on errors)."""
    found = PodVolumes()
    bound_ok = unbound_ok = storage_ok = pvs_found = True
    if claims.bound:
        bound_ok, pvs_found = _check_bound_claims(volumes, claims.bound, labels)
    if claims.unbound_delay:
        to_match: list[Obj] = []
        to_provision: list[Obj] = []
        fast_fail = False
        for pvc in claims.unbound_delay:
            selected = annotations_of(pvc).get(ANN_SELECTED_NODE)
            if selected is not None:
                if selected != node:
                    unbound_ok, fast_fail = False, True  # provisioning already started elsewhere
                    break
                to_provision.append(pvc)
            else:
                to_match.append(pvc)
        if not fast_fail:
            if to_match:
                # findMatchingVolumes: smallest requests first, each chosen PV excluded after.
                chosen: dict[str, Obj] = {}
                for pvc in sorted(to_match, key=claim_request):
                    pv = find_matching_volume(pvc, claims.unbound_volumes.get(pvc_class(pvc), ()), labels, chosen)
                    if pv is None:
                        to_provision.append(pvc)
                        unbound_ok = False
                        continue
                    chosen[str(meta_of(pv).get("name"))] = pv
                    found.static_bindings.append(BindingInfo(pvc=pvc, pv=pv))
            if to_provision:
                unbound_ok, storage_ok, found.dynamic_provisions = _check_volume_provisions(
                    volumes, to_provision, labels)
    reasons = []
    if not bound_ok:
        reasons.append(ERR_REASON_NODE_CONFLICT)
    if not unbound_ok:
        reasons.append(ERR_REASON_BIND_CONFLICT)
    if not storage_ok:
        reasons.append(ERR_REASON_NOT_ENOUGH_SPACE)
    if not pvs_found:
        reasons.append(ERR_REASON_PV_NOT_EXIST)
    return found, reasons


def claim_reference(pvc: Obj) -> dict[str, Any]:
    """``reference.GetReference(scheme, claim)``, empty fields left out (omitempty)."""
    meta = meta_of(pvc)
    ref = {"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace") or "default",
           "name": meta.get("name"), "uid": meta.get("uid"), "apiVersion": "v1",
           "resourceVersion": meta.get("resourceVersion")}
    return {k: v for k, v in ref.items() if v}


def bind_volume_to_claim(pv: Obj, pvc: Obj) -> tuple[dict[str, Any], bool]:
    """``volume.GetBindVolumeToClaim``: a copy of the PV bound to the claim, and whether it changed."""
    set_bound_by_controller = not is_volume_bound_to_claim(pv, pvc)
    clone: dict[str, Any] = copy.deepcopy(dict(pv))
    dirty = False
    ref = spec_of(pv).get("claimRef") or None
    meta = meta_of(pvc)
    if (ref is None or ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace")
            or ref.get("uid") != meta.get("uid")):
        clone.setdefault("spec", {})["claimRef"] = claim_reference(pvc)
        dirty = True
    clone_meta = clone.setdefault("metadata", {})
    if set_bound_by_controller and ANN_BOUND_BY_CONTROLLER not in (clone_meta.get("annotations") or {}):
        clone_meta["annotations"] = {**(clone_meta.get("annotations") or {}), ANN_BOUND_BY_CONTROLLER: "yes"}
        dirty = True
    return clone, dirty


def are_pod_volumes_bound(volumes: VolumeCache, pod: Obj) -> bool:
    for name, ephemeral in pod_claims(pod):
        try:
            bound, _ = _is_volume_bound(volumes, pod, name, ephemeral)
        except VolumeBindingError:
            return False
        if not bound:
            return False
    return True


def revert_assumed(volumes: VolumeCache, plan: PodVolumes) -> None:
    """``RevertAssumedPodVolumes``."""
    for binding in plan.static_bindings:
        volumes.pvs.restore(str(meta_of(binding.pv).get("name")))
    for pvc in plan.dynamic_provisions:
        volumes.pvcs.restore(namespaced_key(pvc))


def assume_pod_volumes(volumes: VolumeCache, pod: Obj, node: str, plan: PodVolumes) -> bool:
    """``AssumePodVolumes``: True when every claim is bound already (nothing to do at PreBind).

    On success ``plan`` holds the assumed objects (what PreBind writes)."""
    if are_pod_volumes_bound(volumes, pod):
        return True
    new_bindings: list[BindingInfo] = []
    for binding in plan.static_bindings:
        new_pv, dirty = bind_volume_to_claim(binding.pv, binding.pvc)
        if dirty:
            try:
                volumes.pvs.assume(new_pv)
            except VolumeCacheError:
                revert_assumed(volumes, PodVolumes(new_bindings))
                raise
        new_bindings.append(BindingInfo(pvc=binding.pvc, pv=new_pv))
    provisioned: list[Obj] = []
    for pvc in plan.dynamic_provisions:
        clone: dict[str, Any] = copy.deepcopy(dict(pvc))
        clone_meta = clone.setdefault("metadata", {})
        clone_meta["annotations"] = {**(clone_meta.get("annotations") or {}), ANN_SELECTED_NODE: node}
        try:
            volumes.pvcs.assume(clone)
        except VolumeCacheError:
            revert_assumed(volumes, PodVolumes(new_bindings, provisioned))
            raise
        provisioned.append(clone)
    plan.static_bindings, plan.dynamic_provisions = new_bindings, provisioned
    return False


@dataclass
class VolumeBindingPlan:
    """What PreBind has to do for one pod: write these objects (``bindAPIUpdate``: each PV with its
    claimRef, then each claim with its selected-node annotation, as HTTP PUTs), then wait until
    ``check_bindings`` says every claim is bound, for at most ``timeout_seconds``."""

    pod: Obj
    node: str
    volumes: PodVolumes
    timeout_seconds: int


def check_bindings(volumes: VolumeCache, plan: VolumeBindingPlan, node_labels: Mapping[str, str] | None,
                   pod_exists: bool) -> bool:
    """``checkBindings`` on the informers' (API) objects: True when all bound, False to keep
    waiting; raises ``VolumeBindingError`` when scheduling must be retried."""
    node = plan.node
    if node_labels is None:
        raise VolumeBindingError(f'failed to get node "{node}": node "{node}" not found')
    if not pod_exists:
        raise VolumeBindingError(f'pod does not exist any more: pod "{meta_of(plan.pod).get("name", "")}" not found')
    for binding in plan.volumes.static_bindings:
        pv_name = str(meta_of(binding.pv).get("name"))
        pv = volumes.pvs.get_api(pv_name)
        if pv is None:
            raise VolumeBindingError(f"failed to check binding: {volumes.pvs.not_found(pv_name)}")
        pvc_key = namespaced_key(binding.pvc)
        pvc = volumes.pvcs.get_api(pvc_key)
        if pvc is None:
            raise VolumeBindingError(f"failed to check binding: {volumes.pvcs.not_found(pvc_key)}")
        if resource_version(binding.pv) > resource_version(pv):
            return False  # our own update has not come back through the informer yet
        if not check_node_affinity(pv, node_labels):
            raise VolumeBindingError(f'pv "{pv_name}" node affinity doesn\'t match node "{node}": '
                                     "no matching NodeSelectorTerms")
        ref = spec_of(pv).get("claimRef")
        if not ref or not ref.get("uid"):
            raise VolumeBindingError(f'ClaimRef got reset for pv "{pv_name}"')
        if not is_pvc_fully_bound(pvc):
            return False
    for claim in plan.volumes.dynamic_provisions:
        key = namespaced_key(claim)
        pvc = volumes.pvcs.get_api(key)
        if pvc is None:
            raise VolumeBindingError(f"failed to check provisioning pvc: {volumes.pvcs.not_found(key)}")
        if resource_version(claim) > resource_version(pvc):
            return False
        name = meta_of(pvc).get("name", "")
        annotations = annotations_of(pvc)
        if not annotations:
            raise VolumeBindingError(f'selectedNode annotation reset for PVC "{name}"')
        if annotations.get(ANN_SELECTED_NODE, "") != node:
            raise VolumeBindingError(f'provisioning failed for PVC "{name}"')
        volume_name = spec_of(pvc).get("volumeName")
        if volume_name:
            pv = volumes.pvs.get_api(str(volume_name))
            if pv is None:
                return False  # the PV may not have reached the informer yet
            if not check_node_affinity(pv, node_labels):
                raise VolumeBindingError(f'pv "{volume_name}" node affinity doesn\'t match node "{node}": '
                                         "no matching NodeSelectorTerms")
        if not is_pvc_fully_bound(pvc):
            return False
    return True


# ------------------------------------------------------------------ the plugin

class _StateData:
    """``stateData``: shared by reference between a cycle and its clones, as upstream's Clone."""

    __slots__ = ("all_bound", "claims", "by_node")

    def __init__(self, claims: PodVolumeClaims | None = None) -> None:
        self.all_bound = False
        self.claims = claims
        self.by_node: dict[str, PodVolumes] = {}

    def clone(self) -> "_StateData":
        return self


class VolumeBinding(Plugin):
    name = "VolumeBinding"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.bind_timeout_seconds = int((args or {}).get("bindTimeoutSeconds", DEFAULT_BIND_TIMEOUT_SECONDS))

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        volumes = cycle.state.volumes
        has, err = pod_has_pvcs(volumes, pod)
        if err:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, err)
        if not has:
            cycle.data[STATE_KEY] = _StateData()
            return Status(SKIP)
        try:
            claims = get_pod_volume_claims(volumes, pod)
        except VolumeBindingError as exc:
            return Status(ERROR, str(exc))
        if claims.unbound_immediate:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_UNBOUND_IMMEDIATE)
        cycle.data[STATE_KEY] = _StateData(claims)
        return None

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        data = cycle.data.get(STATE_KEY)
        if data is None or data.claims is None:
            return Status(ERROR, f'error reading "{STATE_KEY}" from cycleState: not found')
        try:
            found, reasons = find_pod_volumes(cycle.state.volumes, data.claims, node.name, node.labels)
        except VolumeBindingError as exc:
            return Status(ERROR, str(exc))
        if reasons:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, *reasons)
        data.by_node[node.name] = found
        return None

    def pre_score(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> Status | None:
        return Status(SKIP)  # no scorer without the alpha VolumeCapacityPriority gate: 0 everywhere

    def score(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> int:
        return 0

    def reserve(self, cycle: CycleState, pod: Mapping[str, Any], node_name: str) -> Status | None:
        data = cycle.data.get(STATE_KEY)
        if data is None:
            return Status(ERROR, f'error reading "{STATE_KEY}" from cycleState: not found')
        found = data.by_node.get(node_name)
        if found is None:  # the pod names no PVC
            data.all_bound = True
            return None
        try:
            data.all_bound = assume_pod_volumes(cycle.state.volumes, pod, node_name, found)
        except VolumeCacheError as exc:
            return Status(ERROR, str(exc))
        return None

    def unreserve(self, cycle: CycleState, pod: Mapping[str, Any], node_name: str) -> None:
        data = cycle.data.get(STATE_KEY)
        found = data.by_node.get(node_name) if data is not None else None
        if found is not None:
            revert_assumed(cycle.state.volumes, found)

    def pre_bind(self, cycle: CycleState, pod: Mapping[str, Any], node_name: str) -> VolumeBindingPlan | Status | None:
        data = cycle.data.get(STATE_KEY)
        if data is None:
            return Status(ERROR, f'error reading "{STATE_KEY}" from cycleState: not found')
        if data.all_bound:
            return None
        found = data.by_node.get(node_name)
        if found is None:
            return Status(ERROR, f'no pod volumes found for node "{node_name}"')
        return VolumeBindingPlan(pod=pod, node=node_name, volumes=found, timeout_seconds=self.bind_timeout_seconds)
