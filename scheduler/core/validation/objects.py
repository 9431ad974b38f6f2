"""Kubernetes objects in a cluster state, validated as the v1.29 API server would, for what scheduling reads.

Two layers, like the API server:

* types and enums of the v1.29 OpenAPI schema for every field the scheduler reads (a field
  the scheduler never reads is not checked; ``tests/unit/validation/test_schema_parity.py``
  compares these types and enums with the v1.29 OpenAPI schema of ``kubernetes-validate``);
* the semantic rules the schema cannot express (``pkg/apis/core/validation/validation.go``):
  quantity grammar and limits, no negative quantities, requests <= limits, whole numbers for
  extended resources, label and name grammars, selector / node-affinity / toleration operator
  rules, ``maxSkew >= 1``, required ``topologyKey``, duplicate taints / spread constraints /
  container names.  Unique object names per kind and namespace are checked by the caller,
  across files.

The checks are built with the schema engine of ``scheduler.core.validation.schema`` (also what the
scheduler's configuration is decoded with); selectors and affinity are in
``scheduler.core.validation.selectors``; this module holds the rest of the Kubernetes rules.

``validate_object(obj)`` raises ``ObjectError`` (``.path`` the field path, ``.message`` one line)
for the first problem.  ``null`` means "unset" for optional fields, as in JSON decoding.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from scheduler.core.resources import QuantityError, parse_quantity
from scheduler.core.validation.names import dns1123_label, dns1123_subdomain, label_value, qualified_name
from scheduler.core.validation.schema import ObjectError as ObjectError  # callers catch it from here too
from scheduler.core.validation.schema import (
    Check, b, enum, fail, i32, i64, key_path, lst, obj, s, strmap, supported, ts,
)
from scheduler.core.validation.selectors import NODE_SELECTOR_OPS as NODE_SELECTOR_OPS
from scheduler.core.validation.selectors import SELECTOR_OPS as SELECTOR_OPS
from scheduler.core.validation.selectors import affinity, label_key, label_selector, node_selector, topology_key
from scheduler.core.validation.text import describe, quote

# ------------------------------------------------------------------ resources

NATIVE_CONTAINER = ("cpu", "memory", "ephemeral-storage")
NATIVE_NODE = ("cpu", "memory", "ephemeral-storage", "pods", "storage")


def _is_extended(name: str) -> bool:
    """``IsExtendedResourceName``: outside the kubernetes.io namespace and not requests.*."""
    if "/" not in name or name.startswith("requests."):
        return False
    return not (name.startswith("kubernetes.io/") or ".kubernetes.io/" in name.split("/")[0] + "/")


def _resource_name(name: str, path: str, native: tuple[str, ...], what: str) -> None:
    err = qualified_name(name)
    if err:
        fail(path, f"Invalid value: {quote(name)}: {err}")
    if "/" not in name and name not in native and not name.startswith("hugepages-"):
        fail(path, f"Invalid value: {quote(name)}: must be a standard resource for {what}")


_GOOD_QUANTITIES: set[tuple[str, str]] = set()


def quantities(what: str, native: tuple[str, ...]) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            fail(path, f"expected an object of resource quantities, got {describe(value)}")
        for name, qty in value.items():
            if not isinstance(name, str):
                fail(path, f"resource names must be strings, got {describe(name)}")
            if isinstance(qty, str) and (name, qty) in _GOOD_QUANTITIES:
                continue
            sub = key_path(path, name)
            _resource_name(name, sub, native, what)
            if qty is None:
                fail(sub, "expected a quantity, got null")
            try:
                amount = parse_quantity(qty)
            except QuantityError as exc:
                fail(sub, str(exc))
            if amount < 0:
                fail(sub, f"Invalid value: {quote(qty if isinstance(qty, str) else str(qty))}: must be greater "
                          "than or equal to 0")
            if _is_extended(name) and amount.denominator != 1:
                fail(sub, f"Invalid value: {quote(str(qty))}: must be an integer")
            if isinstance(qty, str) and len(_GOOD_QUANTITIES) < 65536 and name in native:
                _GOOD_QUANTITIES.add((name, qty))  # the same "32" / "128Gi" repeats on every node
    return check


def _resources_hook(value: dict[str, Any], path: str) -> None:
    """``ValidateResourceRequirements``: requests <= limits; extended resources need equal limits."""
    requests = value.get("requests") or {}
    limits = value.get("limits") or {}
    for name, qty in requests.items():
        if name in limits and parse_quantity(qty) > parse_quantity(limits[name]):
            fail(key_path(f"{path}.requests", name), f"Invalid value: {quote(str(qty))}: must be less than or "
                                                     f"equal to {name} limit of {quote(str(limits[name]))}")
        if _is_extended(name):
            if name not in limits:
                fail(f"{path}.limits", f"Required value: Limit must be set for non overcommitable resources "
                                       f"({quote(name)})")
            if parse_quantity(qty) != parse_quantity(limits[name]):
                fail(key_path(f"{path}.requests", name), f"Invalid value: {quote(str(qty))}: must be equal to "
                                                         f"{name} limit of {quote(str(limits[name]))}")


container_resources = obj({
    "requests": quantities("containers", NATIVE_CONTAINER),
    "limits": quantities("containers", NATIVE_CONTAINER),
}, _resources_hook)



# ------------------------------------------------------------------ taints, tolerations, spread

TAINT_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")


def _taint_hook(value: dict[str, Any], path: str) -> None:
    """``validateNodeTaints``."""
    if value.get("key") is None:
        fail(f"{path}.key", "Required value")
    if value.get("effect") is None:
        fail(f"{path}.effect", "Required value")
    err = label_value(value.get("value") or "")
    if err:
        fail(f"{path}.value", f"Invalid value: {quote(value.get('value'))}: {err}")


def _taints_hook(value: Any, path: str) -> None:
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(value):
        ident = (taint["key"], taint["effect"])
        if ident in seen:
            fail(f"{path}[{i}]", f"Duplicate value: taints must be unique by key and effect pair "
                                 f"({quote(ident[0])}, {ident[1]})")
        seen.add(ident)


def _taint_list(value: Any, path: str) -> None:
    lst(obj({"key": label_key, "value": s, "effect": enum(*TAINT_EFFECTS), "timeAdded": ts}, _taint_hook))(value, path)
    _taints_hook(value, path)


def _toleration_hook(value: dict[str, Any], path: str) -> None:
    """``ValidateTolerations``."""
    key = value.get("key") or ""
    op = value.get("operator") or "Equal"
    val = value.get("value") or ""
    if key:
        err = qualified_name(key)
        if err:
            fail(f"{path}.key", f"Invalid value: {quote(key)}: {err}")
    elif op != "Exists":
        fail(f"{path}.operator", f"Invalid value: {quote(op)}: operator must be Exists when `key` is empty, which "
                                 "means \"match all values and all keys\"")
    if value.get("tolerationSeconds") is not None and value.get("effect") != "NoExecute":
        fail(f"{path}.effect", f"Invalid value: {quote(value.get('effect') or '')}: effect must be 'NoExecute' "
                               "when `tolerationSeconds` is set")
    if op == "Equal":
        err = label_value(val)
        if err:
            fail(f"{path}.operator", f"Invalid value: {quote(val)}: {err}")
    elif val:
        fail(f"{path}.operator", f"Invalid value: {quote(val)}: value must be empty when `operator` is 'Exists'")


toleration = obj({"key": s, "operator": enum("Equal", "Exists"), "value": s, "effect": enum(*TAINT_EFFECTS),
                  "tolerationSeconds": i64}, _toleration_hook)


def _spread_hook(value: dict[str, Any], path: str) -> None:
    """``validateTopologySpreadConstraints`` (one constraint)."""
    skew = value.get("maxSkew")
    if skew is None or skew <= 0:
        fail(f"{path}.maxSkew", f"Invalid value: {quote(skew or 0)}: must be greater than zero")
    if not value.get("topologyKey"):
        fail(f"{path}.topologyKey", "Required value: can not be empty")
    if value.get("whenUnsatisfiable") is None:
        fail(f"{path}.whenUnsatisfiable", supported("", ("DoNotSchedule", "ScheduleAnyway")))
    min_domains = value.get("minDomains")
    if min_domains is not None:
        if min_domains <= 0:
            fail(f"{path}.minDomains", f"Invalid value: {min_domains}: must be greater than 0")
        if value["whenUnsatisfiable"] != "DoNotSchedule":
            fail(f"{path}.minDomains", f"Invalid value: {min_domains}: can only use minDomains if "
                                       "whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway")
    selector_keys = set(((value.get("labelSelector") or {}).get("matchLabels") or {}))
    selector_keys |= {e.get("key") for e in ((value.get("labelSelector") or {}).get("matchExpressions") or [])}
    for i, key in enumerate(value.get("matchLabelKeys") or ()):
        if key in selector_keys:
            fail(f"{path}.matchLabelKeys[{i}]", f"Invalid value: {quote(key)}: exists in both matchLabelKeys and "
                                                "labelSelector")


spread_constraint = obj({
    "maxSkew": i32, "topologyKey": topology_key, "whenUnsatisfiable": enum("DoNotSchedule", "ScheduleAnyway"),
    "labelSelector": label_selector, "minDomains": i32, "nodeAffinityPolicy": enum("Honor", "Ignore"),
    "nodeTaintsPolicy": enum("Honor", "Ignore"), "matchLabelKeys": lst(label_key),
}, _spread_hook)


def _spread_list(value: Any, path: str) -> None:
    lst(spread_constraint)(value, path)
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(value):
        ident = (c["topologyKey"], c["whenUnsatisfiable"])
        if ident in seen:
            fail(f"{path}[{i}]", f"Duplicate value: {{{quote(ident[0])}, {ident[1]}}}")
        seen.add(ident)


# ------------------------------------------------------------------ containers, pods, nodes

def _port_hook(value: dict[str, Any], path: str) -> None:
    port = value.get("containerPort")
    if port is None or not 1 <= port <= 65535:
        fail(f"{path}.containerPort", f"Invalid value: {quote(port)}: must be between 1 and 65535, inclusive")
    host = value.get("hostPort")
    if host is not None and host != 0 and not 1 <= host <= 65535:
        fail(f"{path}.hostPort", f"Invalid value: {host}: must be between 1 and 65535, inclusive")


def _ip(value: Any, path: str) -> None:
    s(value, path)
    if not value:
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        fail(path, f"Invalid value: {quote(value)}: must be a valid IP address")


container_port = obj({"containerPort": i32, "hostPort": i32, "protocol": enum("SCTP", "TCP", "UDP"),
                      "hostIP": _ip, "name": s}, _port_hook)


def _container_hook(value: dict[str, Any], path: str) -> None:
    name = value.get("name")
    if not name:
        fail(f"{path}.name", "Required value")
    err = dns1123_label(name)
    if err:
        fail(f"{path}.name", f"Invalid value: {quote(name)}: {err}")
    image = value.get("image")
    if not image:
        fail(f"{path}.image", "Required value")
    if image != image.strip():
        fail(f"{path}.image", f"Invalid value: {quote(image)}: must not have leading or trailing whitespace")


_CONTAINER_FIELDS = {"name": s, "image": s, "resources": container_resources, "ports": lst(container_port)}
container = obj(_CONTAINER_FIELDS, _container_hook)
init_container = obj({**_CONTAINER_FIELDS, "restartPolicy": enum("Always")}, _container_hook)


def _owner_hook(value: dict[str, Any], path: str) -> None:
    for key in ("apiVersion", "kind", "name", "uid"):
        if not value.get(key):
            fail(f"{path}.{key}", "Required value")


def _metadata(name_rule: Callable[[str], str | None], namespaced: bool) -> Check:
    def hook(value: dict[str, Any], path: str) -> None:
        name = value.get("name")
        if not name:
            fail(f"{path}.name", "Required value: name or generateName is required")
        err = name_rule(name)
        if err:
            fail(f"{path}.name", f"Invalid value: {quote(name)}: {err}")
        ns = value.get("namespace")
        if namespaced and ns:
            err = dns1123_label(ns)
            if err:
                fail(f"{path}.namespace", f"Invalid value: {quote(ns)}: {err}")
    return obj({
        "name": s, "namespace": s, "uid": s, "labels": strmap(qualified_name, label_value),
        "annotations": strmap(qualified_name), "creationTimestamp": ts, "deletionTimestamp": ts,
        "ownerReferences": lst(obj({"apiVersion": s, "kind": s, "name": s, "uid": s, "controller": b},
                                   _owner_hook)),
    }, hook)


def _claim_hook(value: dict[str, Any], path: str) -> None:
    if not value.get("claimName"):
        fail(f"{path}.claimName", "Required value")


def _pod_spec_hook(value: dict[str, Any], path: str) -> None:
    if not value.get("containers"):
        fail(f"{path}.containers", "Required value")
    seen: set[str] = set()
    for field_name in ("initContainers", "containers"):
        for i, c in enumerate(value.get(field_name) or ()):
            if c["name"] in seen:
                fail(f"{path}.{field_name}[{i}].name", f"Duplicate value: {quote(c['name'])}")
            seen.add(c["name"])
    gates: set[str] = set()
    for i, gate in enumerate(value.get("schedulingGates") or ()):
        name = gate.get("name")
        if not name:
            fail(f"{path}.schedulingGates[{i}].name", "Required value")
        err = qualified_name(name)
        if err:
            fail(f"{path}.schedulingGates[{i}].name", f"Invalid value: {quote(name)}: {err}")
        if name in gates:
            fail(f"{path}.schedulingGates[{i}].name", f"Duplicate value: {quote(name)}")
        gates.add(name)
    for field_name in ("schedulerName", "priorityClassName"):
        text = value.get(field_name)
        if text:
            err = dns1123_subdomain(text)
            if err:
                fail(f"{path}.{field_name}", f"Invalid value: {quote(text)}: {err}")
    node_name = value.get("nodeName")
    if node_name:
        err = dns1123_subdomain(node_name)
        if err:
            fail(f"{path}.nodeName", f"Invalid value: {quote(node_name)}: {err}")


pod_spec = obj({
    "containers": lst(container), "initContainers": lst(init_container), "overhead": quantities("overhead",
                                                                                               NATIVE_CONTAINER),
    "nodeName": s, "schedulerName": s, "priority": i32, "priorityClassName": s,
    "preemptionPolicy": enum("Never", "PreemptLowerPriority"),
    "nodeSelector": strmap(qualified_name, label_value), "affinity": affinity, "tolerations": lst(toleration),
    "topologySpreadConstraints": _spread_list, "schedulingGates": lst(obj({"name": s})),
    "volumes": lst(obj({"name": s, "persistentVolumeClaim": obj({"claimName": s, "readOnly": b}, _claim_hook)})),
    "hostNetwork": b,
}, _pod_spec_hook)

pod_status = obj({"phase": enum("Failed", "Pending", "Running", "Succeeded", "Unknown"), "nominatedNodeName": s})

node_spec = obj({"taints": _taint_list, "unschedulable": b, "podCIDR": s})
node_status = obj({
    "allocatable": quantities("nodes", NATIVE_NODE), "capacity": quantities("nodes", NATIVE_NODE),
    "images": lst(obj({"names": lst(s), "sizeBytes": i64})),
})

_SELECTOR_MAP = strmap(qualified_name, label_value)

# ------------------------------------------------------------------ volumes (what the volume plugins read)

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
VOLUME_BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
STORAGE_ONLY = ("storage",)


def _access_modes_hook(value: dict[str, Any], path: str) -> None:
    """``ValidatePersistentVolume(Claim)Spec``: at least one mode; ReadWriteOncePod stands alone."""
    modes = value.get("accessModes") or []
    if not modes:
        fail(f"{path}.accessModes", "Required value: at least 1 access mode is required")
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        fail(f"{path}.accessModes", "Forbidden: may not use ReadWriteOncePod with other access modes")


def _storage_class_name(value: dict[str, Any], path: str) -> None:
    name = value.get("storageClassName")
    if name:
        err = dns1123_subdomain(name)
        if err:
            fail(f"{path}.storageClassName", f"Invalid value: {quote(name)}: {err}")


def _pvc_spec_hook(value: dict[str, Any], path: str) -> None:
    _access_modes_hook(value, path)
    _storage_class_name(value, path)
    if "storage" not in ((value.get("resources") or {}).get("requests") or {}):
        fail(f"{path}.resources[storage]", "Required value")


def _pv_spec_hook(value: dict[str, Any], path: str) -> None:
    _access_modes_hook(value, path)
    _storage_class_name(value, path)
    if "storage" not in (value.get("capacity") or {}):
        fail(f"{path}.capacity", "Required value: must specify storage")


def _node_affinity_hook(value: dict[str, Any], path: str) -> None:
    if value.get("required") is None:
        fail(f"{path}.required", "Required value: must specify required node constraints")


pvc_spec = obj({
    "accessModes": lst(enum(*ACCESS_MODES)), "storageClassName": s, "volumeName": s,
    "volumeMode": enum(*VOLUME_MODES), "selector": label_selector,
    "resources": obj({"requests": quantities("persistentvolumeclaims", STORAGE_ONLY),
                      "limits": quantities("persistentvolumeclaims", STORAGE_ONLY)}),
}, _pvc_spec_hook)

pv_spec = obj({
    "accessModes": lst(enum(*ACCESS_MODES)), "storageClassName": s, "volumeMode": enum(*VOLUME_MODES),
    "capacity": quantities("persistentvolumes", STORAGE_ONLY),
    "claimRef": obj({"name": s, "namespace": s, "uid": s, "resourceVersion": s}),
    "nodeAffinity": obj({"required": node_selector}, _node_affinity_hook),
}, _pv_spec_hook)


def _storage_class_hook(value: dict[str, Any], path: str) -> None:
    if not value.get("provisioner"):
        fail("provisioner", "Required value")


topology_term = obj({"matchLabelExpressions": lst(obj({"key": label_key, "values": lst(s)}))})

KIND_SCHEMAS: dict[str, Check] = {
    "Node": obj({"metadata": _metadata(dns1123_subdomain, False), "spec": node_spec, "status": node_status}),
    "Pod": obj({"metadata": _metadata(dns1123_subdomain, True), "spec": pod_spec, "status": pod_status},
               lambda value, path: value.get("spec") is None and fail("spec.containers", "Required value")),
    "Service": obj({"metadata": _metadata(dns1123_label, True), "spec": obj({"selector": _SELECTOR_MAP})}),
    "ReplicationController": obj({"metadata": _metadata(dns1123_subdomain, True),
                                  "spec": obj({"selector": _SELECTOR_MAP})}),
    "ReplicaSet": obj({"metadata": _metadata(dns1123_subdomain, True), "spec": obj({"selector": label_selector})}),
    "StatefulSet": obj({"metadata": _metadata(dns1123_subdomain, True), "spec": obj({"selector": label_selector})}),
    "Namespace": obj({"metadata": _metadata(dns1123_label, False)}),
    "PersistentVolumeClaim": obj({"metadata": _metadata(dns1123_subdomain, True), "spec": pvc_spec,
                                  "status": obj({"phase": enum("Bound", "Lost", "Pending")})},
                                 lambda value, path: value.get("spec") is None and fail("spec.accessModes",
                                                                                         "Required value")),
    "PersistentVolume": obj({"metadata": _metadata(dns1123_subdomain, False), "spec": pv_spec,
                             "status": obj({"phase": enum("Available", "Bound", "Failed", "Pending", "Released")})},
                            lambda value, path: value.get("spec") is None and fail("spec.accessModes",
                                                                                    "Required value")),
    "StorageClass": obj({"metadata": _metadata(dns1123_subdomain, False), "provisioner": s,
                         "volumeBindingMode": enum(*VOLUME_BINDING_MODES), "allowedTopologies": lst(topology_term)},
                        _storage_class_hook),
    "CSINode": obj({"metadata": _metadata(dns1123_subdomain, False), "spec": obj({"drivers": lst(obj({
        "name": s, "nodeID": s, "allocatable": obj({"count": i32}), "topologyKeys": lst(s)}))})}),
}

CLUSTER_SCOPED = ("Node", "Namespace", "PersistentVolume", "StorageClass", "CSINode")
API_VERSIONS = {"Node": "v1", "Pod": "v1", "Service": "v1", "ReplicationController": "v1", "Namespace": "v1",
                "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "PersistentVolumeClaim": "v1",
                "PersistentVolume": "v1", "StorageClass": "storage.k8s.io/v1", "CSINode": "storage.k8s.io/v1"}


def validate_object(value: Any) -> None:
    """Validate one object of a kind scheduling reads (others are ignored); raises ``ObjectError``."""
    check = KIND_SCHEMAS.get(value.get("kind"))
    if check is not None:
        api_version = value.get("apiVersion")
        if api_version is not None:  # absent is accepted: List items often leave it out
            s(api_version, "apiVersion")
            want = API_VERSIONS[value["kind"]]
            if api_version != want:
                fail("apiVersion", f"Invalid value: {quote(api_version)}: {value['kind']} is served as {want} in "
                                   "v1.29")
        if value.get("metadata") is None:
            fail("metadata.name", "Required value: name or generateName is required")
        check(value, "")
