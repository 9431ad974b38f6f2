"""The decoded KubeSchedulerConfiguration: its constants, its data classes and ``ConfigError``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
