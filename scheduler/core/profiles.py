"""Profiles: a decoded configuration's plugin names resolved against a plugin registry, then built.

``scheduler.core.config`` decodes a KubeSchedulerConfiguration without knowing which plugins
exist; this module owns everything that does: loading the out-of-tree plugins named by
``pluginConfig[].args.importPath``, refusing unknown and removed plugin names, MultiPoint expansion
per extension point (``expandMultiPointPlugins``), score weights, the framework's own start-up
checks (one QueueSort, the same for every profile, at least one Bind), and the instantiation of
each profile's plugins (``build_profiles``). The loaders (``load_config``, ``load_config_text``,
``load_config_data``, ``default_config``) decode and resolve in one call. A file with several
problems reports the same first one as a single pass would: decoding hands over, with its error,
the plugin-name checks it had got past (``config.PluginNames``), and they run first.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Callable

from scheduler.core.config import (
    API_VERSION, EXTENSION_POINTS, KIND, MULTI_POINT, REMOVED_PLUGINS, ConfigError, PluginNames, PluginSet,
    ProfileConfig, SchedulerConfiguration, decode_config, decode_config_data, decode_config_text, json_str,
)
from scheduler.core.framework import Handle, Nominator, Plugin, Profile, StartIndex
from scheduler.core.plugins.registry import PluginRegistry, default_registry
from scheduler.core.validation.yamlload import DEFAULT_LIMITS, YAMLLimits

# ------------------------------------------------------------------ loaders (decode, then resolve)


def default_config(registry: PluginRegistry | None = None) -> SchedulerConfiguration:
    """The configuration kube-scheduler v1.29 runs with when given no config file."""
    return load_config_data({"apiVersion": API_VERSION, "kind": KIND}, "<default>", registry)


def load_config(path: str, registry: PluginRegistry | None = None,
                limits: YAMLLimits = DEFAULT_LIMITS) -> SchedulerConfiguration:
    base_dir = os.path.dirname(os.path.abspath(path)) if path else None
    return _load(lambda: decode_config(path, limits), registry, base_dir)


def load_config_text(text: str, source: str = "<config>", registry: PluginRegistry | None = None,
                     base_dir: str | None = None, limits: YAMLLimits = DEFAULT_LIMITS) -> SchedulerConfiguration:
    return _load(lambda: decode_config_text(text, source, limits), registry, base_dir)


def load_config_data(data: Any, source: str = "<config>", registry: PluginRegistry | None = None,
                     base_dir: str | None = None) -> SchedulerConfiguration:
    return _load(lambda: decode_config_data(data, source), registry, base_dir)


def _load(decode: Callable[[], SchedulerConfiguration], registry: PluginRegistry | None,
          base_dir: str | None) -> SchedulerConfiguration:
    try:
        decoded = decode()
    except ConfigError as exc:
        if exc.names_before:
            # A plugin-name problem of an earlier profile, or earlier in the same profile, comes first.
            registry = (default_registry() if registry is None else registry).copy()
            for names in exc.names_before:
                _check_names(names, exc.source, registry, base_dir)
                if names.plugin_sets is not None:  # the profile was decoded past its args
                    _expand(names.plugin_sets, names.path, exc.source, registry)
        raise
    return resolve_profiles(decoded, default_registry() if registry is None else registry, base_dir)


# ------------------------------------------------------------------ resolution


def resolve_profiles(config: SchedulerConfiguration, registry: PluginRegistry,
                     base_dir: str | None = None) -> SchedulerConfiguration:
    """``config`` with every profile's plugins per extension point and score weights, checked against
    a copy of ``registry``; the result keeps that copy, with the ``importPath`` plugins loaded into it
    (a relative path is looked up in ``base_dir``, then in the working directory)."""
    registry = registry.copy()
    source = config.source

    def fail(path: str, message: str) -> None:
        raise ConfigError(source, path, message)

    profiles = [_resolve_profile(prof, f"profiles[{i}]", source, registry, base_dir)
                for i, prof in enumerate(config.profiles)]
    queue_sorts = [tuple(p.plugins.get("queueSort", ())) for p in profiles]
    for i, qs in enumerate(queue_sorts[1:], start=1):
        if qs != queue_sorts[0]:
            fail(f"profiles[{i}].plugins.queueSort", "Invalid value: queueSort must be the same for all "
                                                    "profiles")
    # frameworkImpl.NewFramework (pkg/scheduler/framework/runtime/framework.go) refuses to start without
    # exactly one QueueSort and at least one Bind plugin; kube-scheduler exits at start-up.
    for i, prof in enumerate(profiles):
        if len(prof.plugins.get("queueSort", ())) != 1:
            fail(f"profiles[{i}].plugins.queueSort",
                 f"only one queue sort plugin required for profile with scheduler name "
                 f"{json_str(prof.scheduler_name)}, but got {len(prof.plugins.get('queueSort', ()))}")
        if not prof.plugins.get("bind"):
            fail(f"profiles[{i}].plugins.bind", f"at least one bind plugin is needed for profile with scheduler "
                                               f"name {json_str(prof.scheduler_name)}")
    return replace(config, profiles=profiles, registry=registry)


def _resolve_profile(prof: ProfileConfig, path: str, source: str, registry: PluginRegistry,
                     base_dir: str | None) -> ProfileConfig:
    _check_names(prof.names, source, registry, base_dir)
    plugins = _expand(prof.plugin_sets, path, source, registry)
    weights = _score_weights(prof.plugin_sets, plugins.get("score", []), registry)
    return replace(prof, plugins=plugins, score_weights=weights)


def _check_names(names: PluginNames, source: str, registry: PluginRegistry, base_dir: str | None) -> None:
    """Loads the importPath plugins of ``names`` and refuses its removed plugin names, in their order."""
    # Out-of-tree plugins named by path in their args are loaded before anything refers to them.
    for where, name, import_path in names.import_paths:
        try:
            registry.load(import_path, name=name, base_dir=base_dir)
        except Exception as exc:  # noqa: BLE001 - any import problem becomes one config line
            raise ConfigError(source, where, f"cannot load plugin {json_str(name)} from "
                                             f"{json_str(import_path)}: {exc}") from None
    for where, name in names.removed_refs:
        if not registry.has(name):
            raise ConfigError(source, where, _unknown_plugin(name, registry))


def _unknown_plugin(name: str, registry: PluginRegistry) -> str:
    hint = REMOVED_PLUGINS.get(name)
    if hint:
        return f"plugin {json_str(name)} does not exist in kube-scheduler v1.29; {hint}"
    return (f"plugin {json_str(name)} does not exist; known plugins: {', '.join(registry.names())} "
            "(register out-of-tree plugins with the scheduler_lab.plugins entry point, --plugin "
            "module:Class, or pluginConfig args importPath)")


def _expand(sets: dict[str, PluginSet], path: str, source: str,
            registry: PluginRegistry) -> dict[str, list[str]]:
    """Per-extension-point plugin lists: ``updatePluginList`` + ``expandMultiPointPlugins``."""
    multi = sets[MULTI_POINT]
    for k, ref in enumerate(multi.enabled):
        if not registry.has(ref.name):
            raise ConfigError(source, f"{path}.plugins.multiPoint.enabled", _unknown_plugin(ref.name, registry))
    result: dict[str, list[str]] = {}
    for point in EXTENSION_POINTS:
        pset = sets[point]
        specific: list[str] = []
        for ref in pset.enabled:
            where = f"{path}.plugins.{point}.enabled"
            if not registry.has(ref.name):
                raise ConfigError(source, where, _unknown_plugin(ref.name, registry))
            if not registry.implements(ref.name, point):
                raise ConfigError(source, where, f"plugin {json_str(ref.name)} does not extend {point} "
                                                 f"(it implements: {', '.join(registry.points(ref.name))})")
            if ref.name in specific:
                raise ConfigError(source, where, f"plugin {json_str(ref.name)} already registered as "
                                                 f"{point}")
            specific.append(ref.name)
        disabled = {p.name for p in pset.disabled}
        if "*" in disabled:
            result[point] = specific
            continue
        overrides: list[str] = []
        from_multi: list[str] = []
        for ref in multi.enabled:
            if not registry.implements(ref.name, point) or ref.name in disabled:
                continue
            if ref.name in specific:
                overrides.append(ref.name)
                continue
            if ref.name in from_multi:
                raise ConfigError(source, f"{path}.plugins.multiPoint.enabled",
                                  f"plugin {json_str(ref.name)} already registered as {point}")
            from_multi.append(ref.name)
        ordered = [n for n in specific if n in overrides] + from_multi + [n for n in specific
                                                                         if n not in overrides]
        result[point] = ordered
    return result


def _score_weights(sets: dict[str, PluginSet], score_plugins: list[str],
                   registry: PluginRegistry) -> dict[str, int]:
    """``getScoreWeights``: score.enabled first, then multiPoint; 0/unset -> 1."""
    weights: dict[str, int] = {}
    for ref in [*sets["score"].enabled, *sets[MULTI_POINT].enabled]:
        if not registry.has(ref.name) or not registry.implements(ref.name, "score"):
            continue
        if ref.name in weights:
            continue
        weights[ref.name] = ref.weight or 1
    return {name: weights.get(name, 1) for name in score_plugins}


# ------------------------------------------------------------------ construction

def build_profiles(config: SchedulerConfiguration,
                   registry: PluginRegistry | None = None) -> dict[str, Profile]:
    """Instantiate every profile of ``config`` (keyed by schedulerName)."""
    if registry is None:
        registry = config.registry
    if registry is None:
        registry = default_registry()
    if any(not prof.plugins for prof in config.profiles):  # only decoded: resolve the names here
        config = resolve_profiles(config, registry)
        registry = config.registry
    start = StartIndex()
    nominator = Nominator()  # one per scheduler, as the scheduling queue's
    profiles: dict[str, Profile] = {}
    for prof in config.profiles:
        handle = Handle(prof.scheduler_name, config.parallelism, nominator)
        instances: dict[str, Plugin] = {}
        plugins: dict[str, list[Plugin]] = {}
        for point, names in prof.plugins.items():
            lst = []
            for name in names:
                if name not in instances:
                    instances[name] = registry.create(name, prof.plugin_config.get(name) or {}, handle)
                lst.append(instances[name])
            plugins[point] = lst
        profiles[prof.scheduler_name] = Profile(
            prof.scheduler_name, plugins, prof.score_weights,
            prof.percentage_of_nodes_to_score if prof.percentage_of_nodes_to_score is not None
            else config.percentage_of_nodes_to_score,
            start_index=start, handle=handle)
    return profiles
