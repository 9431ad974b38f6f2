"""Strict decoding: the document's shape (field names and types) and the walker that checks it.

Unknown or duplicate fields, wrong types and bad Go durations are errors, each a one-line ``ConfigError``.
"""

from __future__ import annotations

import re
from typing import Any

from scheduler.core.config.model import EXTENSION_POINTS, MULTI_POINT, REMOVED_FIELDS, ConfigError
from scheduler.core.validation.text import describe, quote, safe_text

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


class Decoder:
    """Walks the raw document against a schema; reports the first problem as a ConfigError."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> None:
        raise ConfigError(self.source, path, message)

    def check(self, value: Any, schema: Any, path: str) -> None:
        if value is None:
            return  # null means "unset" for every optional field
        if isinstance(schema, dict):
            if not isinstance(value, dict):
                self.fail(path, f"expected an object, got {describe(value)}")
            for key, sub in value.items():
                if not isinstance(key, str):
                    self.fail(path, f"keys must be strings, got {describe(key)}")
                sub_path = f"{path}.{key}" if path else key
                if key not in schema:
                    hint = REMOVED_FIELDS.get(key) if not path else None
                    self.fail(f"{path}.{safe_text(key[:80])}" if path else safe_text(key[:80]),
                              "unknown field" + (f" ({hint})" if hint else "")
                              + f"; known fields here: {', '.join(schema)}")
                self.check(sub, schema[key], sub_path)
        elif isinstance(schema, list):
            if not isinstance(value, list):
                self.fail(path, f"expected a list, got {describe(value)}")
            for i, item in enumerate(value):
                if item is None:
                    self.fail(f"{path}[{i}]", "expected a value, got null")
                self.check(item, schema[0], f"{path}[{i}]")
        elif schema == "str":
            if not isinstance(value, str):
                self.fail(path, f"expected a string, got {describe(value)}")
        elif schema == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(path, f"expected an integer, got {describe(value)}")
            if not -(2**31) <= value < 2**31:
                self.fail(path, f"{value} does not fit in a 32-bit integer")
        elif schema == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(path, f"expected a number, got {describe(value)}")
        elif schema == "bool":
            if not isinstance(value, bool):
                self.fail(path, f"expected true or false, got {describe(value)}")
        elif schema == "duration":
            if not isinstance(value, str):
                self.fail(path, f"expected a duration string such as \"15s\", got {describe(value)}")
            try:
                parse_go_duration(value)
            except ValueError:
                self.fail(path, f"invalid duration {quote(value)}; use Go duration syntax such as 15s, 1m30s, "
                                "500ms")
        elif schema == "any":
            pass
        elif schema == "object":
            if not isinstance(value, dict):
                self.fail(path, f"expected an object, got {describe(value)}")
        else:  # pragma: no cover - schema bug
            raise AssertionError(schema)


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
ARGS_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
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
CONFIG_SCHEMA = {
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
