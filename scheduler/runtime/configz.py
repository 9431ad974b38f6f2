"""/configz: the configuration the scheduler really loaded, as kube-scheduler v1.29.15 serves it.

kube-scheduler registers its loaded, defaulted configuration under the name "componentconfig" in
component-base's configz (a process-wide registry) and serves the registry on its secure port as
``json.Marshal`` of the *internal* KubeSchedulerConfiguration type. Measured on the live binary, that
means: Go field names (``Parallelism``, ``Profiles[].PluginConfig[].Args.ScoringStrategy.Type``),
``apiVersion`` present and ``kind`` absent, durations as Go strings (``"15s"``), every field present
(an unset pointer or empty slice is ``null``, a weight never written is ``0``), plugin args in the
Go internal types (PascalCase). pluginConfig comes in the file's order followed by the defaults of
the other plugins sorted by name (the order decoding keeps) -- unless kube-scheduler runs at -v=2 or
more: then its "Using component config" log line encodes the configuration, which sorts every
profile's pluginConfig by name in the very slice configz holds (measured: -v=1 file order, -v=2
sorted), so ``install`` takes the verbosity and does the same.

This module owns that registry (``install``) and the rendering (``render``); the HTTP server only
asks for ``body()``. Fields the Python scheduler does not have are rendered with the only value it
can hold (``HealthzBindAddress``/``MetricsBindAddress`` "", ``Extenders`` null: extenders are refused).
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from scheduler.core.config import API_VERSION, EXTENSION_POINTS, MULTI_POINT, PluginSet, SchedulerConfiguration

__all__ = ["COMPONENT_CONFIG", "body", "clear", "go_duration", "install", "render"]

COMPONENT_CONFIG = "componentconfig"  # the name kube-scheduler registers its configuration under

_lock = threading.Lock()
_configs: dict[str, Any] = {}

# Go internal plugin-args types, field by field: (Go field name, camelCase key in our args, nested spec).
# A nested spec of None passes the value through as decoded (core/v1 types keep their json names).
Spec = list[tuple[str, str, Any]]
_RESOURCE: Spec = [("Name", "name", None), ("Weight", "weight", None)]
_SHAPE_POINT: Spec = [("Utilization", "utilization", None), ("Score", "score", None)]
_ARGS: dict[str, Spec] = {
    "DefaultPreemption": [("MinCandidateNodesPercentage", "minCandidateNodesPercentage", None),
                          ("MinCandidateNodesAbsolute", "minCandidateNodesAbsolute", None)],
    "InterPodAffinity": [("HardPodAffinityWeight", "hardPodAffinityWeight", None),
                         ("IgnorePreferredTermsOfExistingPods", "ignorePreferredTermsOfExistingPods", None)],
    "NodeAffinity": [("AddedAffinity", "addedAffinity", None)],
    "NodeResourcesBalancedAllocation": [("Resources", "resources", [_RESOURCE])],
    "NodeResourcesFit": [
        ("IgnoredResources", "ignoredResources", None),
        ("IgnoredResourceGroups", "ignoredResourceGroups", None),
        ("ScoringStrategy", "scoringStrategy", [
            ("Type", "type", None), ("Resources", "resources", [_RESOURCE]),
            ("RequestedToCapacityRatio", "requestedToCapacityRatio", [("Shape", "shape", [_SHAPE_POINT])]),
        ]),
    ],
    "PodTopologySpread": [("DefaultConstraints", "defaultConstraints", None),
                          ("DefaultingType", "defaultingType", None)],
    "VolumeBinding": [("BindTimeoutSeconds", "bindTimeoutSeconds", None), ("Shape", "shape", [_SHAPE_POINT])],
}


def _struct(spec: Spec, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(spec, list) and len(spec) == 1 and isinstance(spec[0], list):  # a slice of structs
        return [_struct(spec[0], item) for item in value] or None
    out: dict[str, Any] = {}
    for go_name, key, nested in spec:
        item = value.get(key)
        if nested is not None:
            item = _struct(nested, item)
        elif isinstance(item, list) and not item:
            item = None  # an empty Go slice decodes as nil
        out[go_name] = _number(item)
    return out


def _number(value: Any) -> Any:
    """Go's json writes a whole float32/float64 without a fraction (QPS 100, not 100.0)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def go_duration(seconds: float) -> str:
    """time.Duration.String() of a duration in seconds: "15s", "1m30s", "1.5s", "500ms", "0s"."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def _plugin_set(plugin_set: PluginSet | None) -> dict[str, Any]:
    plugin_set = plugin_set or PluginSet()
    return {
        "Enabled": [{"Name": p.name, "Weight": p.weight or 0} for p in plugin_set.enabled] or None,
        "Disabled": [{"Name": p.name, "Weight": 0} for p in plugin_set.disabled] or None,
    }


def _args(name: str, args: dict[str, Any]) -> Any:
    spec = _ARGS.get(name)
    return _struct(spec, args) if spec is not None else args  # out-of-tree args: as decoded


def render(config: SchedulerConfiguration, kubeconfig: str = "", verbosity: int = 0) -> dict[str, Any]:
    """The internal KubeSchedulerConfiguration kube-scheduler serves for this configuration at
    ``-v=verbosity``; ``kubeconfig`` is the file the client really uses (the Python scheduler's
    --kubeconfig overrides clientConnection.kubeconfig; kube-scheduler ignores the flag with --config)."""
    le, cc = config.leader_election, config.client_connection
    points = (*EXTENSION_POINTS, MULTI_POINT)
    profiles = [{
        "SchedulerName": prof.scheduler_name,
        "PercentageOfNodesToScore": prof.percentage_of_nodes_to_score,
        "Plugins": {p[0].upper() + p[1:]: _plugin_set(prof.plugin_sets.get(p)) for p in points},
        "PluginConfig": [{"Name": name, "Args": _args(name, prof.plugin_config[name])}
                         for name in (sorted(prof.plugin_config) if verbosity >= 2 else prof.plugin_config)]
                        or None,
    } for prof in config.profiles]
    return {
        "apiVersion": API_VERSION,
        "Parallelism": config.parallelism,
        "LeaderElection": {
            "LeaderElect": le.leader_elect, "LeaseDuration": go_duration(le.lease_duration),
            "RenewDeadline": go_duration(le.renew_deadline), "RetryPeriod": go_duration(le.retry_period),
            "ResourceLock": le.resource_lock, "ResourceName": le.resource_name,
            "ResourceNamespace": le.resource_namespace,
        },
        "ClientConnection": {
            "Kubeconfig": kubeconfig or cc.kubeconfig, "AcceptContentTypes": cc.accept_content_types,
            "ContentType": cc.content_type, "QPS": _number(float(cc.qps)), "Burst": cc.burst,
        },
        "HealthzBindAddress": "",
        "MetricsBindAddress": "",
        "EnableProfiling": config.enable_profiling,
        "EnableContentionProfiling": config.enable_contention_profiling,
        "PercentageOfNodesToScore": config.percentage_of_nodes_to_score,
        "PodInitialBackoffSeconds": config.pod_initial_backoff_seconds,
        "PodMaxBackoffSeconds": config.pod_max_backoff_seconds,
        "Profiles": profiles,
        "Extenders": None,
        "DelayCacheUntilActive": config.delay_cache_until_active,
    }


def install(config: SchedulerConfiguration, kubeconfig: str = "", verbosity: int = 0) -> None:
    """Register the loaded configuration (rendered now: /configz shows what was loaded, even if the
    objects are changed later)."""
    rendered = render(config, kubeconfig, verbosity)
    with _lock:
        _configs[COMPONENT_CONFIG] = rendered


def clear() -> None:
    with _lock:
        _configs.clear()


def body() -> bytes:
    """The /configz answer: ``{}`` until a configuration is installed, like an empty configz registry."""
    with _lock:
        text = json.dumps(_configs, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # encoding/json's HTML-safe escaping, so the bytes match Go's.
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()
