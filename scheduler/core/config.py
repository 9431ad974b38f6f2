"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) as kube-scheduler v1.29 reads it.

Decoding = strict decoding (unknown or duplicate fields are errors) -> defaulting
(``pkg/scheduler/apis/config/v1/defaults.go``) -> plugin-set merge with the default
profile (``mergePluginSet``) -> validation (``validation.go``) of everything that does not
need to know which plugins exist. Decoding never sees the plugin registry: a decoded profile
holds plugin names and their (defaulted, checked) args. ``scheduler.core.profiles`` resolves the
names against a registry (out-of-tree plugins named by ``importPath``, unknown and removed
plugins, MultiPoint expansion per extension point, score weights, the framework's own checks) and
owns the loaders that do both (``load_config``, ``load_config_text``, ``default_config``).

Every problem is a ``ConfigError`` whose ``str()`` is one line:
``<file>: <field path>: <what is wrong / what is accepted>``.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from scheduler.core.podutil import DEFAULT_SCHEDULER_NAME
from scheduler.core.validation.names import qualified_name
from scheduler.core.validation.objects import ObjectError, parsed_node_selector_term
from scheduler.core.validation.text import describe, quote, safe_text
from scheduler.core.validation.yamlload import DEFAULT_LIMITS, YAMLLimits, YAMLLoadError, load_yaml_documents

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"

# Extension points in the order of the Go ``Plugins`` struct (multiPoint last).
EXTENSION_POINTS = (
    "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
    "reserve", "permit", "preBind", "bind", "postBind",
)
MULTI_POINT = "multiPoint"

# v1 default profile (default_plugins.go, DynamicResourceAllocation gate off): name -> weight.
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    ("PrioritySort", None), ("NodeUnschedulable", None),
    ("NodeName", None), ("TaintToleration", 3), ("NodeAffinity", 2), ("NodePorts", None),
    ("NodeResourcesFit", 1), ("VolumeRestrictions", None), ("EBSLimits", None),
    ("GCEPDLimits", None), ("NodeVolumeLimits", None), ("AzureDiskLimits", None),
    ("VolumeBinding", None), ("VolumeZone", None), ("PodTopologySpread", 2),
    ("InterPodAffinity", 2), ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1), ("DefaultBinder", None),
    # Last: v1.29's applyFeatureGates appends it for PodSchedulingReadiness (what the live
    # kube-scheduler's /configz lists). Only PreEnqueue sees the order, and it is that step's only plugin.
    ("SchedulingGates", None),
)

# Plugin names that older config versions knew, with what to use instead.
REMOVED_PLUGINS = {
    "NodeResourcesLeastAllocated": "use NodeResourcesFit with pluginConfig args scoringStrategy.type: "
                                   "LeastAllocated",
    "NodeResourcesMostAllocated": "use NodeResourcesFit with pluginConfig args scoringStrategy.type: "
                                  "MostAllocated",
    "RequestedToCapacityRatio": "use NodeResourcesFit with pluginConfig args scoringStrategy.type: "
                                "RequestedToCapacityRatio",
    "NodeResourceLimits": "it was removed in v1.19",
    "NodeLabel": "use NodeAffinity (nodeSelector / node affinity) instead",
    "ServiceAffinity": "use InterPodAffinity instead",
    "NodePreferAvoidPods": "it was removed in v1.24",
    "SelectorSpread": "it is not part of kubescheduler.config.k8s.io/v1; use PodTopologySpread",
}

REMOVED_FIELDS = {
    "healthzBindAddress": "removed from KubeSchedulerConfiguration in v1beta3; kube-scheduler serves "
                          "/healthz and /metrics on --secure-port (10259)",
    "metricsBindAddress": "removed from KubeSchedulerConfiguration in v1beta3; kube-scheduler serves "
                          "/healthz and /metrics on --secure-port (10259)",
    "algorithmSource": "removed with the v1beta1 Policy API; configure plugins in profiles[].plugins",
    "hardPodAffinitySymmetricWeight": "moved to InterPodAffinity pluginConfig args hardPodAffinityWeight",
    "schedulerName": "moved to profiles[].schedulerName",
    "disablePreemption": "disable the DefaultPreemption postFilter plugin instead",
}

SCORING_STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
LEASE_LOCKS = ("leases",)  # validation.go: resourceLock must be "leases" (the *leases migration locks are refused)


class ConfigError(ValueError):
    """One-line configuration error: ``<file>: <field path>: <problem>``.

    From decoding, ``names_before`` holds the plugin-name checks of the profiles that decoding had
    got to (see ``PluginNames``): ``scheduler.core.profiles`` runs them first, so that a file with
    several problems reports the one that comes first in kube-scheduler's order.
    """

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.message = source, path, message
        self.names_before: list[PluginNames] = []
        text = f"{source}: {path}: {message}" if path else f"{source}: {message}"
        super().__init__(" ".join(text.split("\n")))


# ------------------------------------------------------------------ data model

@dataclass(frozen=True)
class PluginRef:
    name: str
    weight: int | None = None  # as written; only score weights matter


@dataclass
class PluginSet:
    enabled: list[PluginRef] = field(default_factory=list)
    disabled: list[PluginRef] = field(default_factory=list)


@dataclass
class LeaderElectionConfig:
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    resource_lock: str = "leases"
    resource_name: str = "kube-scheduler"
    resource_namespace: str = "kube-system"


@dataclass
class ClientConnectionConfig:
    kubeconfig: str = ""
    qps: float = 50.0
    burst: int = 100
    content_type: str = "application/vnd.kubernetes.protobuf"
    accept_content_types: str = ""


@dataclass
class PluginNames:
    """What of one profile only a plugin registry can check, in the order the checks run: the
    out-of-tree plugins named by ``importPath`` are loaded, then ``plugins.<point>.enabled`` names of
    plugins that older config versions knew are refused unless a registered plugin has that name,
    then (once decoding got past the profile's args, which sets ``plugin_sets``) MultiPoint expansion
    refuses unknown plugins and plugins at a point they do not extend."""

    path: str  # "profiles[i]"
    # (field path, plugin name, pluginConfig args importPath), in file order.
    import_paths: list[tuple[str, str, Any]] = field(default_factory=list)
    # (field path, plugin name) of every enabled entry whose name is in REMOVED_PLUGINS.
    removed_refs: list[tuple[str, str]] = field(default_factory=list)
    plugin_sets: dict[str, PluginSet] | None = None


@dataclass
class ProfileConfig:
    """One profile. Decoding fills in everything but ``plugins`` and ``score_weights``, which
    ``scheduler.core.profiles.resolve_profiles`` derives from ``plugin_sets`` with a plugin registry."""

    scheduler_name: str
    # Plugin name -> args (camelCase keys, defaults applied).
    plugin_config: dict[str, dict[str, Any]]
    percentage_of_nodes_to_score: int | None = None
    # The merged plugin sets as kube-scheduler prints them ("Using component config").
    plugin_sets: dict[str, PluginSet] = field(default_factory=dict)
    # What resolution checks with the registry (decoded; ``names.plugin_sets is plugin_sets``).
    names: PluginNames = field(default_factory=lambda: PluginNames(""))
    # Resolved: extension point -> enabled plugins in run order, after the default merge and MultiPoint
    # expansion.
    plugins: dict[str, list[str]] = field(default_factory=dict)
    # Resolved: score plugin -> weight (0 already turned into 1).
    score_weights: dict[str, int] = field(default_factory=dict)


@dataclass
class SchedulerConfiguration:
    parallelism: int
    leader_election: LeaderElectionConfig
    client_connection: ClientConnectionConfig
    percentage_of_nodes_to_score: int | None
    pod_initial_backoff_seconds: int
    pod_max_backoff_seconds: int
    profiles: list[ProfileConfig]
    source: str = "<config>"
    enable_profiling: bool = True
    enable_contention_profiling: bool = True
    delay_cache_until_active: bool = False
    # The PluginRegistry the profiles were resolved against (includes out-of-tree plugins loaded for
    # it); None while the configuration is only decoded.
    registry: Any = None

    def profile(self, scheduler_name: str) -> ProfileConfig:
        for prof in self.profiles:
            if prof.scheduler_name == scheduler_name:
                return prof
        raise KeyError(scheduler_name)


# ------------------------------------------------------------------ strict decoding

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


class _Decoder:
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
                self.fail(path, f"expected an object, got {_describe(value)}")
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
                self.fail(path, f"expected a list, got {_describe(value)}")
            for i, item in enumerate(value):
                if item is None:
                    self.fail(f"{path}[{i}]", "expected a value, got null")
                self.check(item, schema[0], f"{path}[{i}]")
        elif schema == "str":
            if not isinstance(value, str):
                self.fail(path, f"expected a string, got {_describe(value)}")
        elif schema == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(path, f"expected an integer, got {_describe(value)}")
            if not -(2**31) <= value < 2**31:
                self.fail(path, f"{value} does not fit in a 32-bit integer")
        elif schema == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(path, f"expected a number, got {_describe(value)}")
        elif schema == "bool":
            if not isinstance(value, bool):
                self.fail(path, f"expected true or false, got {_describe(value)}")
        elif schema == "duration":
            if not isinstance(value, str):
                self.fail(path, f"expected a duration string such as \"15s\", got {_describe(value)}")
            try:
                parse_go_duration(value)
            except ValueError:
                self.fail(path, f"invalid duration {quote(value)}; use Go duration syntax such as 15s, 1m30s, "
                                "500ms")
        elif schema == "any":
            pass
        elif schema == "object":
            if not isinstance(value, dict):
                self.fail(path, f"expected an object, got {_describe(value)}")
        else:  # pragma: no cover - schema bug
            raise AssertionError(schema)


_describe = describe


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
_CONFIG = {
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


# ------------------------------------------------------------------ defaults

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


def _default_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
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


def _default_plugin_sets() -> dict[str, PluginSet]:
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


# ------------------------------------------------------------------ public API (decoding)

def decode_config(path: str, limits: YAMLLimits = DEFAULT_LIMITS) -> SchedulerConfiguration:
    """Read and decode a configuration file (``scheduler.core.profiles.load_config`` also resolves it)."""
    if not path:
        raise ConfigError("--config", "", "empty path; omit --config for the default configuration")
    shown = safe_text(path)
    source = safe_text(os.path.basename(path) or path)
    try:
        size = os.path.getsize(path)
        if size > limits.max_bytes:
            raise ConfigError(shown, "", f"{size} bytes is larger than the {limits.max_bytes}-byte limit")
        with open(path, "rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(shown, "", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(shown, "", "is a directory, expected a KubeSchedulerConfiguration file") from None
    except OSError as exc:
        raise ConfigError(shown, "", f"cannot read: {exc.strerror}") from None
    if os.path.isdir(path):
        raise ConfigError(shown, "", "is a directory, expected a KubeSchedulerConfiguration file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(shown, "", "not a text file (expected YAML or JSON)") from None
    return decode_config_text(text, source, limits=limits)


def decode_config_text(text: str, source: str = "<config>",
                       limits: YAMLLimits = DEFAULT_LIMITS) -> SchedulerConfiguration:
    """Decode one YAML/JSON KubeSchedulerConfiguration document."""
    try:
        docs = [d for d in load_yaml_documents(text, limits) if d is not None]
    except YAMLLoadError as exc:
        raise ConfigError(source, "", str(exc)) from None
    if not docs:
        raise ConfigError(source, "", "empty file; expected a KubeSchedulerConfiguration")
    if len(docs) > 1:
        raise ConfigError(source, "", f"{len(docs)} YAML documents; expected exactly one "
                                      "KubeSchedulerConfiguration")
    return decode_config_data(docs[0], source)


def decode_config_data(data: Any, source: str = "<config>") -> SchedulerConfiguration:
    """Decode, default and validate a parsed document; its profiles are not resolved yet."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"expected a KubeSchedulerConfiguration object, got {_describe(data)}")
    non_finite = _non_finite(data, "")
    if non_finite is not None:
        # kube-scheduler converts the YAML to JSON before decoding, and JSON has no NaN or infinity:
        # it refuses the whole file. Refused here too, wherever the number is.
        where, value = non_finite
        raise ConfigError(source, where, f"{value} is not a finite number (NaN and infinity are not allowed)")
    api_version = data.get("apiVersion")
    if api_version is None:
        raise ConfigError(source, "apiVersion", f"required; use {API_VERSION}")
    if api_version != API_VERSION:
        if isinstance(api_version, str) and api_version.startswith("kubescheduler.config.k8s.io/"):
            raise ConfigError(source, "apiVersion", f"{json_str(api_version)} is not supported by "
                                                    f"kube-scheduler v1.29; use {API_VERSION}")
        raise ConfigError(source, "apiVersion", f"{json_str(api_version)} is not a kube-scheduler "
                                                f"configuration; use {API_VERSION}")
    kind = data.get("kind")
    if kind != KIND:
        raise ConfigError(source, "kind", f"{json_str(kind)} is not supported; use {KIND}")
    decoder = _Decoder(source)
    decoder.check(data, _CONFIG, "")
    for i, prof in enumerate(data.get("profiles") or ()):
        for j, entry in enumerate((prof or {}).get("pluginConfig") or ()):
            known = ARGS_SCHEMAS.get(entry.get("name"))
            args = entry.get("args")
            path = f"profiles[{i}].pluginConfig[{j}].args"
            if args is not None and not isinstance(args, dict):
                decoder.fail(path, f"expected an object, got {_describe(args)}")
            if known is not None and args is not None:
                kind_name, schema = known
                if args.get("kind") not in (None, kind_name):
                    decoder.fail(f"{path}.kind", f"{json_str(args.get('kind'))} does not match plugin "
                                                 f"{entry.get('name')}; use {kind_name}")
                decoder.check(args, schema, path)
    checked: list[PluginNames] = []
    try:
        return _build(_drop_nulls(data), source, checked)
    except ConfigError as exc:
        exc.names_before = checked
        raise


def _non_finite(value: Any, path: str) -> tuple[str, str] | None:
    """The path and text of the first NaN or infinite number in the document, if any."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{safe_text(str(k)[:80])}" if where else safe_text(str(k)[:80]))
                         for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def _drop_nulls(value: Any) -> Any:
    """Null means "unset" (the Go zero value, then defaulting): drop null mapping values."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def json_str(value: Any) -> str:
    return quote(value)


def _get(data: dict[str, Any], key: str, default: Any) -> Any:
    val = data.get(key)
    return default if val is None else val


def _build(data: dict[str, Any], source: str, checked: list[PluginNames]) -> SchedulerConfiguration:
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
    sets = _default_plugin_sets()
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
        plugin_config[name] = _default_args(name, args)
        _validate_args(name, plugin_config[name], f"{path}.pluginConfig[{j}].args", source)
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


def _validate_resources(resources: list[dict[str, Any]], path: str, fail: Callable[[str, str], None]) -> None:
    for i, res in enumerate(resources):
        if not res.get("name"):
            fail(f"{path}[{i}].name", "Required value: resource name")
        weight = res.get("weight", 0)
        if weight <= 0 or weight > 100:
            fail(f"{path}[{i}].weight", f"Invalid value: {weight}: resource weight of {res.get('name')} "
                                        "not in valid range (0, 100]")


def _validate_args(name: str, args: dict[str, Any], path: str, source: str) -> None:
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
