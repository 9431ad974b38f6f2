"""Label selectors, node selectors and pod (anti-)affinity as the v1.29 API server validates them
(``ValidateLabelSelector``, ``ValidateNodeSelector``, ``validateAffinity``): the checks pods, workloads,
PersistentVolumes and NodeAffinity's plugin args use."""

from __future__ import annotations

import re
from typing import Any

from scheduler.core.validation.names import dns1123_label, label_value, qualified_name
from scheduler.core.validation.schema import MAX_INT64, enum, fail, i32, lst, obj, s, strmap, supported
from scheduler.core.validation.text import quote

_INT_RE = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)

SELECTOR_OPS = ("DoesNotExist", "Exists", "In", "NotIn")
NODE_SELECTOR_OPS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")


def label_key(value: Any, path: str) -> None:
    s(value, path)
    err = qualified_name(value)
    if err:
        fail(path, f"Invalid value: {quote(value)}: {err}")


def _requirement_basics(value: dict[str, Any], path: str) -> tuple[Any, list[Any]]:
    """What label and node selector requirements check alike (the rest differs upstream too):
    key and operator present, values present for In/NotIn and absent for Exists/DoesNotExist."""
    if value.get("key") is None:
        fail(f"{path}.key", "Required value")
    if value.get("operator") is None:
        fail(f"{path}.operator", "Required value")
    op, values = value["operator"], value.get("values") or []
    if op in ("In", "NotIn") and not values:
        fail(f"{path}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
    if op in ("Exists", "DoesNotExist") and values:
        fail(f"{path}.values", "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    return op, values


def _selector_requirement_hook(value: dict[str, Any], path: str) -> None:
    """``ValidateLabelSelectorRequirement`` (metav1 validation)."""
    op, values = _requirement_basics(value, path)
    for i, val in enumerate(values):
        err = label_value(val)
        if err:
            fail(f"{path}.values[{i}]", f"Invalid value: {quote(val)}: {err}")


label_selector = obj({
    "matchLabels": strmap(qualified_name, label_value),
    "matchExpressions": lst(obj({"key": label_key, "operator": enum(*SELECTOR_OPS), "values": lst(s)},
                                _selector_requirement_hook)),
})


def _node_requirement_hook(value: dict[str, Any], path: str) -> None:
    """``ValidateNodeSelectorRequirement`` (pkg/apis/core/validation).

    The API server checks neither the values' grammar nor that a Gt/Lt value is an integer
    (the scheduler's lazy-error node selector then matches nothing); ``_parsed_requirement_hook``
    adds those checks where upstream parses eagerly (NodeAffinityArgs.addedAffinity).
    """
    op, values = _requirement_basics(value, path)
    if op in ("Gt", "Lt") and len(values) != 1:
        fail(f"{path}.values", "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'")


def _parsed_requirement_hook(value: dict[str, Any], path: str) -> None:
    """``nodeaffinity.NewNodeSelector``'s parse (``labels.NewRequirement``): values are label values and a
    Gt/Lt value is an integer."""
    _node_requirement_hook(value, path)
    values = value.get("values") or []
    if value["operator"] in ("Gt", "Lt"):
        if not _INT_RE.fullmatch(values[0]) or not -MAX_INT64 - 1 <= int(values[0]) <= MAX_INT64:
            fail(f"{path}.values[0]", f"Invalid value: {quote(values[0])}: must be an integer when `operator` "
                                      "is 'Lt' or 'Gt'")
        return
    for i, val in enumerate(values):
        err = label_value(val)
        if err:
            fail(f"{path}.values[{i}]", f"Invalid value: {quote(val)}: {err}")


def _node_field_requirement_hook(value: dict[str, Any], path: str) -> None:
    _node_requirement_hook(value, path)
    if value["key"] != "metadata.name":
        fail(f"{path}.key", f"Invalid value: {quote(value['key'])}: not a valid field selector key")
    if value["operator"] not in ("In", "NotIn"):
        fail(f"{path}.operator", supported(value["operator"], ("In", "NotIn")))
    if len(value.get("values") or []) != 1:
        fail(f"{path}.values", "Required value: must be only one value when `operator` is 'In' or 'NotIn' for "
                               "node field selector")


node_selector_term = obj({
    "matchExpressions": lst(obj({"key": label_key, "operator": enum(*NODE_SELECTOR_OPS), "values": lst(s)},
                                _node_requirement_hook)),
    "matchFields": lst(obj({"key": s, "operator": enum(*NODE_SELECTOR_OPS), "values": lst(s)},
                           _node_field_requirement_hook)),
})
parsed_node_selector_term = obj({
    "matchExpressions": lst(obj({"key": label_key, "operator": enum(*NODE_SELECTOR_OPS), "values": lst(s)},
                                _parsed_requirement_hook)),
    "matchFields": lst(obj({"key": s, "operator": enum(*NODE_SELECTOR_OPS), "values": lst(s)},
                           _node_field_requirement_hook)),
})


def _node_selector_hook(value: dict[str, Any], path: str) -> None:
    if not value.get("nodeSelectorTerms"):
        fail(f"{path}.nodeSelectorTerms", "Required value: must have at least one node selector term")


node_selector = obj({"nodeSelectorTerms": lst(node_selector_term)}, _node_selector_hook)


def _weight_hook(value: dict[str, Any], path: str) -> None:
    weight = value.get("weight")
    if weight is None or not 1 <= weight <= 100:
        fail(f"{path}.weight", f"Invalid value: {quote(weight)}: must be in the range 1-100")


def _preference_hook(value: dict[str, Any], path: str) -> None:
    _weight_hook(value, path)
    if value.get("preference") is None:
        fail(f"{path}.preference", "Required value")


def topology_key(value: Any, path: str) -> None:
    s(value, path)
    if not value:
        fail(path, "Required value: can not be empty")
    label_key(value, path)


def _affinity_term_hook(value: dict[str, Any], path: str) -> None:
    if not value.get("topologyKey"):
        fail(f"{path}.topologyKey", "Required value: can not be empty")


def _namespace_name(value: Any, path: str) -> None:
    s(value, path)
    err = dns1123_label(value)
    if err:
        fail(path, f"Invalid value: {quote(value)}: {err}")


pod_affinity_term = obj({
    "labelSelector": label_selector, "namespaceSelector": label_selector, "namespaces": lst(_namespace_name),
    "topologyKey": topology_key, "matchLabelKeys": lst(label_key), "mismatchLabelKeys": lst(label_key),
}, _affinity_term_hook)


def _weighted_term_hook(value: dict[str, Any], path: str) -> None:
    _weight_hook(value, path)
    if value.get("podAffinityTerm") is None:
        fail(f"{path}.podAffinityTerm", "Required value")


pod_affinity = obj({
    "requiredDuringSchedulingIgnoredDuringExecution": lst(pod_affinity_term),
    "preferredDuringSchedulingIgnoredDuringExecution": lst(obj({"weight": i32, "podAffinityTerm": pod_affinity_term},
                                                               _weighted_term_hook)),
})

node_affinity = obj({
    "requiredDuringSchedulingIgnoredDuringExecution": node_selector,
    "preferredDuringSchedulingIgnoredDuringExecution": lst(obj({"weight": i32, "preference": node_selector_term},
                                                               _preference_hook)),
})

affinity = obj({"nodeAffinity": node_affinity, "podAffinity": pod_affinity, "podAntiAffinity": pod_affinity})
