"""From a strictly decoded document to a ``SchedulerConfiguration``: defaults applied to the top level and
to each profile (plugin sets merged with the default profile, plugin args defaulted), and checked as
``validation.go`` does, recording per profile what only a plugin registry can check (``PluginNames``)."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from scheduler.core.config.defaults import default_args, default_plugin_args, default_plugin_sets, merge_plugin_set
from scheduler.core.config.model import (
    EXTENSION_POINTS, MULTI_POINT, REMOVED_PLUGINS, ClientConnectionConfig, ConfigError, LeaderElectionConfig,
    PluginNames, PluginRef, PluginSet, ProfileConfig, SchedulerConfiguration,
)
from scheduler.core.config.schema import ARGS_SCHEMAS, parse_go_duration
from scheduler.core.config.validate import json_str, validate_args
from scheduler.core.podutil import DEFAULT_SCHEDULER_NAME

def _get(data: dict[str, Any], key: str, default: Any) -> Any:
    val = data.get(key)
    return default if val is None else val


def build_config(data: dict[str, Any], source: str, checked: list[PluginNames]) -> SchedulerConfiguration:
    def fail(path: str, message: str) -> NoReturn:
        raise ConfigError(source, path, message)

    le_raw = data.get("leaderElection") or {}
    le = LeaderElectionConfig(
        leader_elect=_get(le_raw, "leaderElect", True),
        lease_duration=parse_go_duration(_get(le_raw, "leaseDuration", "15s")),
        renew_deadline=parse_go_duration(_get(le_raw, "renewDeadline", "10s")),
        retry_period=parse_go_duration(_get(le_raw, "retryPeriod", "2s")),
        resource_lock=_get(le_raw, "resourceLock", "leases"),
        resource_name=_get(le_raw, "resourceName", "kube-scheduler"),
        resource_namespace=_get(le_raw, "resourceNamespace", "kube-system"),
    )
    cc_raw = data.get("clientConnection") or {}
    cc = ClientConnectionConfig(
        kubeconfig=_get(cc_raw, "kubeconfig", ""),
        qps=float(_get(cc_raw, "qps", 50)),
        burst=_get(cc_raw, "burst", 100),
        content_type=_get(cc_raw, "contentType", "application/vnd.kubernetes.protobuf"),
        accept_content_types=_get(cc_raw, "acceptContentTypes", ""),
    )
    parallelism = _get(data, "parallelism", 16)
    pct = _get(data, "percentageOfNodesToScore", 0)
    initial_backoff = _get(data, "podInitialBackoffSeconds", 1)
    max_backoff = _get(data, "podMaxBackoffSeconds", 10)

    # --- validation of the top level (validation.go + component-base)
    if parallelism <= 0:
        fail("parallelism", f"Invalid value: {parallelism}: should be an integer value greater than zero")
    if le.leader_elect:
        for fname, val in (("leaseDuration", le.lease_duration), ("renewDeadline", le.renew_deadline),
                           ("retryPeriod", le.retry_period)):
            if val <= 0:
                fail(f"leaderElection.{fname}", f"Invalid value: {json_str(le_raw.get(fname))}: must be "
                                                "greater than zero")
        if le.lease_duration <= le.renew_deadline:
            fail("leaderElection.leaseDuration",
                 f"Invalid value: {json_str(_get(le_raw, 'leaseDuration', '15s'))}: LeaseDuration must be "
                 f"greater than RenewDeadline ({_get(le_raw, 'renewDeadline', '10s')})")
        for fname, text in (("resourceLock", le.resource_lock), ("resourceName", le.resource_name),
                            ("resourceNamespace", le.resource_namespace)):
            if not text:
                fail(f"leaderElection.{fname}", f"Invalid value: \"\": {fname} is required")
        if le.resource_lock != "leases":
            # validation.go ValidateKubeSchedulerConfiguration: only "leases" with leader election on.
            fail("leaderElection.resourceLock", f"Invalid value: {json_str(le.resource_lock)}: resourceLock value "
                                                "must be \"leases\"")
    if cc.burst < 0:
        fail("clientConnection.burst", f"Invalid value: {cc.burst}: must be non-negative")
    if cc.qps < 0:
        fail("clientConnection.qps", f"Invalid value: {cc_raw.get('qps')}: must be non-negative (scheduler-lab is "
                                     "deliberately stricter: kube-scheduler v1.29 does not check qps)")
    if not 0 <= pct <= 100:
        fail("percentageOfNodesToScore", f"Invalid value: {pct}: not in valid range [0-100]")
    if initial_backoff <= 0:
        fail("podInitialBackoffSeconds", f"Invalid value: {initial_backoff}: must be greater than 0")
    if max_backoff < initial_backoff:
        fail("podMaxBackoffSeconds", f"Invalid value: {max_backoff}: must be greater than or equal to "
                                     "PodInitialBackoffSeconds")
    if data.get("extenders"):
        fail("extenders", "scheduler extenders are not supported by scheduler-lab; write a Python plugin "
                          "instead (see examples/plugins)")

    raw_profiles = data.get("profiles") or [{}]
    if len(raw_profiles) == 1 and raw_profiles[0] is not None and raw_profiles[0].get("schedulerName") is None:
        raw_profiles = [dict(raw_profiles[0], schedulerName=DEFAULT_SCHEDULER_NAME)]
    profiles: list[ProfileConfig] = []
    seen_names: set[str] = set()
    for i, raw in enumerate(raw_profiles):
        raw = raw or {}
        path = f"profiles[{i}]"
        name = raw.get("schedulerName")
        if not name:
            fail(f"{path}.schedulerName", "Required value: every profile needs a schedulerName when there "
                                         "is more than one profile")
        if name in seen_names:
            fail(f"{path}.schedulerName", f"Duplicate value: {json_str(name)}")
        seen_names.add(name)
        names = PluginNames(path)
        checked.append(names)
        profiles.append(_build_profile(raw, path, source, names))

    return SchedulerConfiguration(
        parallelism=parallelism, leader_election=le, client_connection=cc,
        percentage_of_nodes_to_score=pct, pod_initial_backoff_seconds=initial_backoff,
        pod_max_backoff_seconds=max_backoff, profiles=profiles, source=source,
        enable_profiling=_get(data, "enableProfiling", True),
        enable_contention_profiling=_get(data, "enableContentionProfiling", True),
        delay_cache_until_active=_get(data, "delayCacheUntilActive", False),
    )


def _plugin_set(raw: Any, path: str = "", fail: Callable[[str, str], None] | None = None) -> PluginSet:
    raw = raw or {}
    out = PluginSet()
    for which in ("enabled", "disabled"):
        for k, p in enumerate(raw.get(which) or ()):
            if not p or not p.get("name"):
                # Upstream would report `plugin "" does not exist` at framework start-up.
                if fail is not None:
                    fail(f"{path}.{which}[{k}].name", "Required value: a plugin name")
                continue
            getattr(out, which).append(PluginRef(p["name"], p.get("weight")))
    return out


def _build_profile(raw: dict[str, Any], path: str, source: str, names: PluginNames) -> ProfileConfig:
    """Decodes one profile, recording in ``names`` (as it goes) what only the registry can check."""

    def fail(sub: str, message: str) -> None:
        raise ConfigError(source, f"{path}.{sub}", message)

    pct = raw.get("percentageOfNodesToScore")
    if pct is not None and not 0 <= pct <= 100:
        fail("percentageOfNodesToScore", f"Invalid value: {pct}: not in valid range [0-100]")

    # Out-of-tree plugins named by path in their args: resolution loads them before anything refers to them.
    raw_plugin_config = raw.get("pluginConfig") or []
    seen: set[str] = set()
    for j, entry in enumerate(raw_plugin_config):
        if entry is None:
            fail(f"pluginConfig[{j}]", "expected an object, got null")
        name = entry.get("name")
        if not name:
            fail(f"pluginConfig[{j}].name", "Required value")
        if name in seen:
            fail(f"pluginConfig[{j}]", f"Duplicate value: {json_str(name)}")
        seen.add(name)
        args = entry.get("args") or {}
        if "importPath" in args and name not in ARGS_SCHEMAS:
            names.import_paths.append((f"{path}.pluginConfig[{j}].args.importPath", name, args["importPath"]))

    custom = raw.get("plugins") or {}
    sets = default_plugin_sets()
    for point in (*EXTENSION_POINTS, MULTI_POINT):
        custom_set = _plugin_set(custom.get(point), f"plugins.{point}", fail)
        for k, ref in enumerate(custom_set.enabled):
            if ref.name in REMOVED_PLUGINS:
                names.removed_refs.append((f"{path}.plugins.{point}.enabled[{k}]", ref.name))
            if ref.weight is not None and ref.weight < 0:
                fail(f"plugins.{point}.enabled[{k}].weight",
                     f"Invalid value: {ref.weight}: a plugin weight must not be negative (scheduler-lab is "
                     "deliberately stricter than kube-scheduler v1.29, which accepts it and inverts the plugin's "
                     "preference)")
        sets[point] = merge_plugin_set(sets[point], custom_set)

    # Plugin args: user-provided (defaulted) plus defaults for every enabled plugin that has args.
    plugin_config: dict[str, dict[str, Any]] = {}
    for j, entry in enumerate(raw_plugin_config):
        name = entry["name"]
        args = entry.get("args") or {}
        plugin_config[name] = default_args(name, args)
        validate_args(name, plugin_config[name], f"{path}.pluginConfig[{j}].args", source)
    enabled_names = {p.name for s in sets.values() for p in s.enabled}
    for name in sorted(enabled_names):
        if name not in plugin_config:
            args = default_plugin_args(name)
            if args is not None:
                plugin_config[name] = args
    names.plugin_sets = sets  # decoded past the args: MultiPoint expansion is next in line

    return ProfileConfig(
        scheduler_name=raw["schedulerName"], plugin_config=plugin_config, percentage_of_nodes_to_score=pct,
        plugin_sets=sets, names=names,
    )
