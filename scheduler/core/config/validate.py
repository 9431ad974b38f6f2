"""Validation of plugin args (``ValidateNodeResourcesFitArgs`` and friends of ``validation_pluginargs.go``)."""

from __future__ import annotations

from typing import Any, Callable

from scheduler.core.config.model import SCORING_STRATEGIES, ConfigError
from scheduler.core.validation.names import qualified_name
from scheduler.core.validation.objects import ObjectError
from scheduler.core.validation.selectors import parsed_node_selector_term
from scheduler.core.validation.text import quote, safe_text


def json_str(value: Any) -> str:
    return quote(value)


def _validate_resources(resources: list[dict[str, Any]], path: str, fail: Callable[[str, str], None]) -> None:
    for i, res in enumerate(resources):
        if not res.get("name"):
            fail(f"{path}[{i}].name", "Required value: resource name")
        weight = res.get("weight", 0)
        if weight <= 0 or weight > 100:
            fail(f"{path}[{i}].weight", f"Invalid value: {weight}: resource weight of {res.get('name')} "
                                        "not in valid range (0, 100]")


def validate_args(name: str, args: dict[str, Any], path: str, source: str) -> None:
    def fail(sub: str, message: str) -> None:
        raise ConfigError(source, sub, message)

    if name == "NodeResourcesFit":
        strategy = args["scoringStrategy"]
        stype = strategy.get("type")
        if stype not in SCORING_STRATEGIES:
            fail(f"{path}.scoringStrategy.type", f"Unsupported value: {json_str(stype)}: supported values: "
                                                 + ", ".join(f'"{s}"' for s in SCORING_STRATEGIES))
        _validate_resources(strategy["resources"], f"{path}.scoringStrategy.resources", fail)
        rtcr = strategy.get("requestedToCapacityRatio")
        if stype == "RequestedToCapacityRatio" and not (rtcr or {}).get("shape"):
            fail(f"{path}.scoringStrategy.requestedToCapacityRatio.shape",
                 "Required value: at least one point must be specified")
        if rtcr and rtcr.get("shape") is not None:
            shape = rtcr["shape"]
            spath = f"{path}.scoringStrategy.requestedToCapacityRatio.shape"
            if not shape:
                fail(spath, "Required value: at least one point must be specified")
            for i in range(1, len(shape)):
                if shape[i - 1].get("utilization", 0) >= shape[i].get("utilization", 0):
                    fail(f"{spath}[{i}].utilization", f"Invalid value: {shape[i].get('utilization', 0)}: "
                                                      "should be greater than previous value")
            for i, point in enumerate(shape):
                if not 0 <= point.get("utilization", 0) <= 100:
                    fail(f"{spath}[{i}].utilization", f"Invalid value: {point.get('utilization')}: not in "
                                                      "valid range [0, 100]")
                if not 0 <= point.get("score", 0) <= 10:
                    fail(f"{spath}[{i}].score", f"Invalid value: {point.get('score')}: not in valid range "
                                                "[0, 10]")
        # ValidateNodeResourcesFitArgs: ignoredResources and groups are label names (metav1validation).
        for i, res in enumerate(args.get("ignoredResources") or ()):
            err = qualified_name(res)
            if err:
                fail(f"{path}.ignoredResources[{i}]", f"Invalid value: {json_str(res)}: {err}")
        for i, res in enumerate(args.get("ignoredResourceGroups") or ()):
            if "/" in res:
                fail(f"{path}.ignoredResourceGroups[{i}]", f"Invalid value: {json_str(res)}: resource group "
                                                           "name can't contain '/'")
            err = qualified_name(res)
            if err:
                fail(f"{path}.ignoredResourceGroups[{i}]", f"Invalid value: {json_str(res)}: {err}")
    elif name == "NodeResourcesBalancedAllocation":
        _validate_resources(args["resources"], f"{path}.resources", fail)
        seen_resources: set[str] = set()
        for i, res in enumerate(args["resources"]):
            if res["name"] in seen_resources:
                fail(f"{path}.resources[{i}].name", f"Duplicate value: {json_str(res['name'])}")
            seen_resources.add(res["name"])
        for i, res in enumerate(args["resources"]):
            if res["weight"] != 1:
                fail(f"{path}.resources[{i}].weight", f"Invalid value: {res['weight']}: must be 1")
    elif name == "InterPodAffinity":
        weight = args.get("hardPodAffinityWeight", 1)
        if not 0 <= weight <= 100:
            fail(f"{path}.hardPodAffinityWeight", f"Invalid value: {weight}: not in valid range [0, 100]")
    elif name == "DefaultPreemption":
        pct = args.get("minCandidateNodesPercentage", 10)
        absolute = args.get("minCandidateNodesAbsolute", 100)
        if not 0 <= pct <= 100:
            fail(f"{path}.minCandidateNodesPercentage", f"Invalid value: {pct}: not in valid range [0, 100]")
        if absolute < 0:
            fail(f"{path}.minCandidateNodesAbsolute", f"Invalid value: {absolute}: not in valid range "
                                                      "[0, inf)")
        if pct == 0 and absolute == 0:
            fail(path, "Invalid value: both minCandidateNodesPercentage and minCandidateNodesAbsolute "
                       "cannot be zero")
    elif name == "PodTopologySpread":
        dtype = args.get("defaultingType")
        if dtype not in ("System", "List"):
            fail(f"{path}.defaultingType", f"Unsupported value: {json_str(dtype)}: supported values: "
                                           "\"List\", \"System\"")
        if dtype == "System" and args.get("defaultConstraints"):
            fail(f"{path}.defaultConstraints", "Invalid value: when .defaultingType is \"System\", "
                                               ".defaultConstraints must be empty")
        for i, c in enumerate(args.get("defaultConstraints") or ()):
            cpath = f"{path}.defaultConstraints[{i}]"
            if int(c.get("maxSkew", 0)) <= 0:
                fail(f"{cpath}.maxSkew", f"Invalid value: {c.get('maxSkew', 0)}: must be greater than zero")
            if not c.get("topologyKey"):
                fail(f"{cpath}.topologyKey", "Required value: can not be empty")
            err = qualified_name(c["topologyKey"])
            if err:
                fail(f"{cpath}.topologyKey", f"Invalid value: {json_str(c['topologyKey'])}: {err}")
            if not c.get("whenUnsatisfiable"):
                fail(f"{cpath}.whenUnsatisfiable", "Required value: can not be empty")
            if c.get("whenUnsatisfiable") not in ("DoNotSchedule", "ScheduleAnyway"):
                fail(f"{cpath}.whenUnsatisfiable", f"Unsupported value: {json_str(c.get('whenUnsatisfiable'))}: "
                                                   "supported values: \"DoNotSchedule\", \"ScheduleAnyway\"")
            if c.get("labelSelector") is not None:
                fail(f"{cpath}.labelSelector", "Forbidden: constraint must not define a selector, as they "
                                               "deduced for each pod")
            for prev in (args.get("defaultConstraints") or ())[:i]:
                if (prev.get("topologyKey"), prev.get("whenUnsatisfiable")) == (c["topologyKey"],
                                                                                c["whenUnsatisfiable"]):
                    fail(f"{path}.defaultConstraints[{i}]", f"Duplicate value: \"{{{safe_text(c['topologyKey'])}, "
                                                            f"{c['whenUnsatisfiable']}}}\"")
    elif name == "VolumeBinding":
        secs = args.get("bindTimeoutSeconds", 600)
        if secs < 0:
            fail(f"{path}.bindTimeoutSeconds", f"Invalid value: {secs}: invalid BindTimeoutSeconds, should "
                                               "not be a negative value")
        if args.get("shape") is not None:  # the VolumeCapacityPriority gate is off (alpha) in v1.29
            fail(f"{path}.shape", "Invalid value: unexpected field `shape`, remove it or turn on the feature gate "
                                  "VolumeCapacityPriority")
    elif name == "NodeAffinity":
        # ValidateNodeAffinityArgs: nodeaffinity.NewNodeSelector / NewPreferredSchedulingTerms parse every term.
        added = args.get("addedAffinity") or {}
        required = added.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        checks = [(t, f"addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]")
                  for i, t in enumerate(required.get("nodeSelectorTerms") or ())]
        checks += [(p.get("preference") or {},
                    f"addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference")
                   for i, p in enumerate(added.get("preferredDuringSchedulingIgnoredDuringExecution") or ())]
        for term, tpath in checks:
            try:
                parsed_node_selector_term(term, f"{path}.{tpath}")
            except ObjectError as exc:
                fail(exc.path, exc.message)
