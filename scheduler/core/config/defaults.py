"""Defaulting (``pkg/scheduler/apis/config/v1/defaults.go``): plugin args and the default plugin sets."""

from __future__ import annotations

import copy
from typing import Any

from scheduler.core.config.model import DEFAULT_MULTI_POINT, EXTENSION_POINTS, MULTI_POINT, PluginRef, PluginSet

def default_plugin_args(name: str) -> dict[str, Any] | None:
    """v1 defaults of the in-tree plugin args (None for plugins without args)."""
    resources = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
    defaults: dict[str, dict[str, Any]] = {
        "DefaultPreemption": {"minCandidateNodesPercentage": 10, "minCandidateNodesAbsolute": 100},
        "InterPodAffinity": {"hardPodAffinityWeight": 1, "ignorePreferredTermsOfExistingPods": False},
        "NodeAffinity": {},
        "NodeResourcesBalancedAllocation": {"resources": resources},
        "NodeResourcesFit": {"scoringStrategy": {"type": "LeastAllocated", "resources": resources}},
        "PodTopologySpread": {"defaultingType": "System"},
        "VolumeBinding": {"bindTimeoutSeconds": 600},
    }
    args = defaults.get(name)
    return copy.deepcopy(args) if args is not None else None


def default_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Apply ``SetDefaults_<Plugin>Args`` on user args (returns a new dict without apiVersion/kind)."""
    out = {k: copy.deepcopy(v) for k, v in args.items() if k not in ("apiVersion", "kind") and v is not None}
    base = default_plugin_args(name)
    if base is None:
        return out
    if name == "NodeResourcesFit":
        strategy = out.get("scoringStrategy")
        if strategy is None:
            out["scoringStrategy"] = base["scoringStrategy"]
        else:
            strategy = {k: v for k, v in strategy.items() if v is not None}
            if not strategy.get("resources"):
                strategy["resources"] = copy.deepcopy(base["scoringStrategy"]["resources"])
            strategy.setdefault("type", "")
            out["scoringStrategy"] = strategy
        for res in out["scoringStrategy"]["resources"]:
            if not res.get("weight"):
                res["weight"] = 1
        return out
    if name == "NodeResourcesBalancedAllocation":
        if not out.get("resources"):
            out["resources"] = base["resources"]
        for res in out["resources"]:
            if not res.get("weight"):
                res["weight"] = 1
        return out
    if name == "PodTopologySpread":
        if not out.get("defaultingType"):
            out["defaultingType"] = "List" if out.get("defaultConstraints") else "System"
        out.setdefault("defaultConstraints", [])
        return out
    for key, val in base.items():
        out.setdefault(key, val)
    return out


def default_plugin_sets() -> dict[str, PluginSet]:
    sets = {point: PluginSet() for point in EXTENSION_POINTS}
    sets[MULTI_POINT] = PluginSet(enabled=[PluginRef(n, w) for n, w in DEFAULT_MULTI_POINT])
    return sets


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """``mergePluginSet`` of v1 defaults.go."""
    disabled = [PluginRef(p.name) for p in custom.disabled] + [PluginRef(p.name) for p in default.disabled]
    disabled_names = {p.name for p in disabled}
    custom_index = {p.name: i for i, p in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[PluginRef] = []
    if "*" not in disabled_names:
        for plugin in default.enabled:
            if plugin.name in disabled_names:
                continue
            if plugin.name in custom_index:
                idx = custom_index[plugin.name]
                plugin = custom.enabled[idx]
                replaced.add(idx)
            enabled.append(plugin)
    for idx, plugin in enumerate(custom.enabled):
        if idx not in replaced:
            enabled.append(plugin)
    return PluginSet(enabled=enabled, disabled=disabled)
