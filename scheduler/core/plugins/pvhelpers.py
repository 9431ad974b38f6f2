"""PersistentVolume and claim helpers VolumeBinding decides with, as
``component-helpers/storage/volume/{helpers,pv_helpers}.go`` v0.29.15 words them: sizes, binding state,
node affinity, the smallest matching PV (``FindMatchingVolume``), topology terms and whether a
generic ephemeral volume's claim was made for the pod (``VolumeIsForPod``)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping

from scheduler.core.plugins.helper import compile_label_selector, compile_node_selector_term
from scheduler.core.podutil import meta_of, pod_name, pod_namespace, spec_of
from scheduler.core.resources import QuantityError, parse_quantity
from scheduler.core.volumecache import ANN_BIND_COMPLETED, pv_class, pvc_class

Obj = Mapping[str, Any]


def annotations_of(obj: Obj) -> Mapping[str, str]:
    return meta_of(obj).get("annotations") or {}


def _storage(quantities: Mapping[str, Any] | None) -> Fraction:
    raw = (quantities or {}).get("storage")
    if raw is None:
        return Fraction(0)
    try:
        return parse_quantity(raw)
    except QuantityError:
        return Fraction(0)


def claim_request(pvc: Obj) -> Fraction:
    return _storage((spec_of(pvc).get("resources") or {}).get("requests"))


def pv_capacity(pv: Obj) -> Fraction:
    return _storage(spec_of(pv).get("capacity"))


def is_pvc_fully_bound(pvc: Obj) -> bool:
    """``isPVCFullyBound``: a volume name and the PV controller's bind-completed annotation."""
    return bool(spec_of(pvc).get("volumeName")) and ANN_BIND_COMPLETED in annotations_of(pvc)


def check_node_affinity(pv: Obj, node_labels: Mapping[str, str]) -> bool:
    """``volume.CheckNodeAffinity``: the node is built from labels alone, so a matchFields term
    (metadata.name) never matches, exactly as upstream."""
    affinity = spec_of(pv).get("nodeAffinity")
    if not affinity:
        return True
    required = affinity.get("required")
    if required is None:
        return True
    return any(compile_node_selector_term(term)(node_labels, "")
               for term in required.get("nodeSelectorTerms") or ())


def is_volume_bound_to_claim(pv: Obj, pvc: Obj) -> bool:
    """``IsVolumeBoundToClaim``: claimRef names the claim (and its uid, when the ref has one)."""
    ref = spec_of(pv).get("claimRef")
    if not ref:
        return False
    meta = meta_of(pvc)
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def _access_modes_ok(pvc: Obj, pv: Obj) -> bool:
    have = set(spec_of(pv).get("accessModes") or ())
    return all(mode in have for mode in spec_of(pvc).get("accessModes") or ())


def _volume_mode(spec: Mapping[str, Any]) -> str:
    return spec.get("volumeMode") or "Filesystem"


def find_matching_volume(pvc: Obj, pvs: Iterable[Obj], node_labels: Mapping[str, str],
                         excluded: Mapping[str, Obj]) -> Obj | None:
    """``volume.FindMatchingVolume`` on the scheduler path (node set, delayBinding true)."""
    requested = claim_request(pvc)
    requested_class = pvc_class(pvc)
    selector_spec = spec_of(pvc).get("selector")
    selector: Callable[[Mapping[str, str]], bool] | None = (
        compile_label_selector(selector_spec) if selector_spec is not None else None)
    smallest: Obj | None = None
    smallest_qty = Fraction(0)
    for pv in pvs:
        meta = meta_of(pv)
        if meta.get("name") in excluded:
            continue
        if spec_of(pv).get("claimRef") and not is_volume_bound_to_claim(pv, pvc):
            continue
        qty = pv_capacity(pv)
        if qty < requested:
            continue
        if _volume_mode(spec_of(pvc)) != _volume_mode(spec_of(pv)):
            continue
        if meta.get("deletionTimestamp") is not None:
            continue
        affinity_ok = check_node_affinity(pv, node_labels)
        if is_volume_bound_to_claim(pv, pvc):
            # A PV pre-bound to this claim is the only candidate: it fits this node or nothing does.
            return pv if affinity_ok else None
        if (pv.get("status") or {}).get("phase") != "Available":
            continue
        if selector is not None and not selector(meta.get("labels") or {}):
            continue
        if pv_class(pv) != requested_class:
            continue
        if not affinity_ok:
            continue
        if not _access_modes_ok(pvc, pv):
            continue
        if smallest is None or smallest_qty > qty:
            smallest, smallest_qty = pv, qty
    return smallest


def match_topology(terms: list[Mapping[str, Any]] | None, labels: Mapping[str, str]) -> bool:
    """``v1helper.MatchTopologySelectorTerms``: no terms match all; an empty term matches nothing."""
    if not terms:
        return True
    for term in terms:
        exprs = term.get("matchLabelExpressions") or ()
        if not exprs:
            continue
        if all(e.get("key") in labels and labels[e.get("key")] in (e.get("values") or ()) for e in exprs):
            return True
    return False


def _controlled_by(obj: Obj, owner: Obj) -> bool:
    """``metav1.IsControlledBy``: the first controller reference carries the owner's uid."""
    for ref in meta_of(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return bool(ref.get("uid")) and ref.get("uid") == meta_of(owner).get("uid")
    return False


def volume_is_for_pod(pod: Obj, pvc: Obj) -> str | None:
    """``ephemeral.VolumeIsForPod`` (a generic ephemeral volume's claim): the error text, or None."""
    pod_ns = pod_namespace(pod)
    pvc_ns = pod_namespace(pvc)
    if pvc_ns != pod_ns or not _controlled_by(pvc, pod):
        return (f"PVC {pvc_ns}/{meta_of(pvc).get('name', '')} was not created for pod "
                f"{pod_ns}/{pod_name(pod)} (pod is not owner)")
    return None
