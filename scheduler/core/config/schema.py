"""Strict decoding: the document's shape (field names and types), checked by the schema engine of
``scheduler.core.validation.schema`` (the one Kubernetes objects are checked with).

Unknown fields, wrong types and bad Go durations are errors, each a one-line ``ConfigError``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from scheduler.core.config.model import EXTENSION_POINTS, MULTI_POINT, REMOVED_FIELDS, ConfigError
from scheduler.core.validation.schema import (
    Check, ObjectError, anything, b, fail, integer, lst, number, obj, strict_obj,
)
from scheduler.core.validation.schema import s as string
from scheduler.core.validation.text import describe, quote

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``15s``, ``1m30s``, ``1.5h`` or ``0``."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        match = _DURATION_RE.match(s, pos)
        if not match:
            raise ValueError(text)
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not s:
        raise ValueError(text)
    return sign * total


def _duration(value: Any, path: str) -> None:
    if not isinstance(value, str):
        fail(path, f"expected a duration string such as \"15s\", got {describe(value)}")
    try:
        parse_go_duration(value)
    except ValueError:
        fail(path, f"invalid duration {quote(value)}; use Go duration syntax such as 15s, 1m30s, 500ms")


# Leaf checks by the names the schemas below use. An integer out of range is written out in full.
_LEAVES: dict[str, Check] = {
    "str": string, "int": integer(32, shown=str), "number": number, "bool": b, "duration": _duration,
    "any": anything, "object": obj({}),
}


def _compile(schema: Any, hints: Mapping[str, str] | None = None) -> Check:
    """The engine's check for a schema written as data: a dict is an object with exactly these fields,
    a one-item list a list of that item, a string a leaf check."""
    if isinstance(schema, dict):
        return strict_obj({key: _compile(sub) for key, sub in schema.items()}, hints)
    if isinstance(schema, list):
        return lst(_compile(schema[0]))
    return _LEAVES[schema]


def check(value: Any, schema: Check, path: str, source: str) -> None:
    """Check ``value`` against a compiled schema; the first problem is a ConfigError of ``source``."""
    if value is None:
        return  # null means "unset" for every optional field
    try:
        schema(value, path)
    except ObjectError as exc:
        raise ConfigError(source, exc.path, exc.message) from None


_PLUGIN = {"name": "str", "weight": "int"}
_PLUGIN_SET = {"enabled": [_PLUGIN], "disabled": [_PLUGIN]}
_PLUGINS = {point: _PLUGIN_SET for point in (*EXTENSION_POINTS, MULTI_POINT)}
_RESOURCE_SPEC = {"name": "str", "weight": "int"}
_NODE_SELECTOR_REQUIREMENT = {"key": "str", "operator": "str", "values": ["str"]}
_NODE_SELECTOR_TERM = {"matchExpressions": [_NODE_SELECTOR_REQUIREMENT], "matchFields": [_NODE_SELECTOR_REQUIREMENT]}
_LABEL_SELECTOR = {"matchLabels": "object", "matchExpressions": [{"key": "str", "operator": "str",
                                                                  "values": ["str"]}]}
_SPREAD_CONSTRAINT = {
    "maxSkew": "int", "topologyKey": "str", "whenUnsatisfiable": "str", "labelSelector": _LABEL_SELECTOR,
    "minDomains": "int", "nodeAffinityPolicy": "str", "nodeTaintsPolicy": "str", "matchLabelKeys": ["str"],
}
_UTILIZATION_SHAPE = [{"utilization": "int", "score": "int"}]
_TYPE_META = {"apiVersion": "str", "kind": "str"}
_ARGS_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "NodeResourcesFit": ("NodeResourcesFitArgs", {
        **_TYPE_META, "ignoredResources": ["str"], "ignoredResourceGroups": ["str"],
        "scoringStrategy": {
            "type": "str", "resources": [_RESOURCE_SPEC],
            "requestedToCapacityRatio": {"shape": _UTILIZATION_SHAPE},
        },
    }),
    "NodeResourcesBalancedAllocation": ("NodeResourcesBalancedAllocationArgs", {
        **_TYPE_META, "resources": [_RESOURCE_SPEC]}),
    "InterPodAffinity": ("InterPodAffinityArgs", {
        **_TYPE_META, "hardPodAffinityWeight": "int", "ignorePreferredTermsOfExistingPods": "bool"}),
    "DefaultPreemption": ("DefaultPreemptionArgs", {
        **_TYPE_META, "minCandidateNodesPercentage": "int", "minCandidateNodesAbsolute": "int"}),
    "PodTopologySpread": ("PodTopologySpreadArgs", {
        **_TYPE_META, "defaultConstraints": [_SPREAD_CONSTRAINT], "defaultingType": "str"}),
    "NodeAffinity": ("NodeAffinityArgs", {**_TYPE_META, "addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [_NODE_SELECTOR_TERM]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "int", "preference": _NODE_SELECTOR_TERM}],
    }}),
    "VolumeBinding": ("VolumeBindingArgs", {
        **_TYPE_META, "bindTimeoutSeconds": "int", "shape": _UTILIZATION_SHAPE}),
}
_PROFILE = {
    "schedulerName": "str", "percentageOfNodesToScore": "int", "plugins": _PLUGINS,
    "pluginConfig": [{"name": "str", "args": "any"}],
}
_CONFIG: dict[str, Any] = {
    "apiVersion": "str", "kind": "str", "parallelism": "int",
    "leaderElection": {
        "leaderElect": "bool", "leaseDuration": "duration", "renewDeadline": "duration",
        "retryPeriod": "duration", "resourceLock": "str", "resourceName": "str",
        "resourceNamespace": "str",
    },
    "clientConnection": {
        "kubeconfig": "str", "acceptContentTypes": "str", "contentType": "str", "qps": "number",
        "burst": "int",
    },
    "enableProfiling": "bool", "enableContentionProfiling": "bool",
    "percentageOfNodesToScore": "int", "podInitialBackoffSeconds": "int",
    "podMaxBackoffSeconds": "int", "profiles": [_PROFILE], "extenders": ["any"],
    "delayCacheUntilActive": "bool",
}

# Plugin name -> (its args' kind, the check of its args); the document's check (removed top-level fields
# are named with where they went).
ARGS_SCHEMAS: dict[str, tuple[str, Check]] = {name: (kind, _compile(schema)) for name, (kind, schema)
                                              in _ARGS_SCHEMAS.items()}
CONFIG_SCHEMA = _compile(_CONFIG, REMOVED_FIELDS)
