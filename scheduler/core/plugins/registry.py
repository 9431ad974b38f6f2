"""Plugin registry: in-tree plugins plus out-of-tree ones.

Out-of-tree plugins can come from

* the entry-point group ``scheduler_lab.plugins`` (``name = "module:Class"``),
* an import spec given by the caller (``--plugin module:Class`` or ``path/to/file.py:Class``),
* ``pluginConfig[].args.importPath`` in the KubeSchedulerConfiguration.

A plugin is a class (subclass of ``scheduler.core.framework.Plugin``) constructed as
``cls(args, handle)``; which extension points it extends follows from the methods it
defines (see ``METHOD_FOR_POINT``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from typing import Any, Callable, Mapping

ENTRY_POINT_GROUP = "scheduler_lab.plugins"

METHOD_FOR_POINT = {
    "preEnqueue": ("pre_enqueue",), "queueSort": ("less",), "preFilter": ("pre_filter",),
    "filter": ("filter",), "postFilter": ("post_filter",), "preScore": ("pre_score",),
    "score": ("score", "score_nodes"), "reserve": ("reserve",), "permit": ("permit",),
    "preBind": ("pre_bind",), "bind": ("bind",), "postBind": ("post_bind",),
}


class PluginLoadError(Exception):
    pass


def _load_object(spec: str, base_dir: str | None = None) -> Any:
    """Load ``module:attr`` or ``path/to/file.py:attr``."""
    if ":" not in spec:
        raise PluginLoadError(f"expected module:Class or file.py:Class, got {spec!r}")
    target, attr = spec.rsplit(":", 1)
    if target.endswith(".py") or os.sep in target or "/" in target:
        candidates = [target] if os.path.isabs(target) else (
            [os.path.join(base_dir, target)] if base_dir else []) + [os.path.abspath(target)]
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            raise PluginLoadError(f"no such file {target!r}")
        mod_name = "scheduler_lab_plugin_" + os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PluginLoadError(f"cannot import {path!r}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginLoadError(f"{target!r} has no attribute {attr!r}") from None


class PluginRegistry:
    """Name -> plugin class."""

    def __init__(self, factories: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self._factories: dict[str, Callable[..., Any]] = dict(factories or {})
        self.load_errors: dict[str, str] = {}

    def register(self, name: str | None = None,
                 factory: Callable[..., Any] | None = None) -> Callable[..., Any]:
        """``registry.register("Name", Class)`` or as a class decorator ``@registry.register()``."""
        if factory is not None:
            self._add(name or getattr(factory, "name", "") or factory.__name__, factory)
            return factory

        def decorator(cls: Callable[..., Any]) -> Callable[..., Any]:
            self._add(name or getattr(cls, "name", "") or cls.__name__, cls)
            return cls

        return decorator

    def _add(self, name: str, factory: Callable[..., Any]) -> None:
        if not name:
            raise PluginLoadError("a plugin needs a name")
        if isinstance(factory, type) and not getattr(factory, "name", ""):
            factory.name = name  # type: ignore[attr-defined]
        self._factories[name] = factory

    def load(self, spec: str, name: str | None = None, base_dir: str | None = None) -> str:
        """Import a plugin class from ``module:Class`` / ``file.py:Class`` and register it."""
        obj = _load_object(spec, base_dir)
        plugin_name = str(name or getattr(obj, "name", "") or getattr(obj, "__name__", ""))
        self._add(plugin_name, obj)
        return plugin_name

    def load_entry_points(self) -> None:
        try:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        except TypeError:  # pragma: no cover - Python < 3.10
            eps = metadata.entry_points().get(ENTRY_POINT_GROUP, [])  # type: ignore[arg-type]
        for ep in eps:
            try:
                self._add(ep.name, ep.load())
            except Exception as exc:  # noqa: BLE001 - reported when the config names the plugin
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"

    def copy(self) -> "PluginRegistry":
        other = PluginRegistry(self._factories)
        other.load_errors = dict(self.load_errors)
        return other

    def has(self, name: str) -> bool:
        return name in self._factories

    def names(self) -> list[str]:
        return sorted(self._factories)

    def factory(self, name: str) -> Callable[..., Any]:
        return self._factories[name]

    def implements(self, name: str, point: str) -> bool:
        factory = self._factories[name]
        declared = getattr(factory, "extension_points", None)
        if declared is not None:
            return point in declared
        return any(callable(getattr(factory, m, None)) for m in METHOD_FOR_POINT[point])

    def points(self, name: str) -> list[str]:
        return [p for p in METHOD_FOR_POINT if self.implements(name, p)]

    def create(self, name: str, args: Mapping[str, Any], handle: Any) -> Any:
        plugin = self._factories[name](args, handle)
        if not getattr(plugin, "name", ""):
            plugin.name = name
        return plugin


def in_tree_factories() -> dict[str, Callable[..., Any]]:
    from scheduler.core.plugins import (
        balancedallocation, defaultbinder, defaultpreemption, imagelocality, interpodaffinity,
        nodeaffinity, nodename, nodeports, noderesourcesfit, nodeunschedulable, podtopologyspread,
        queuesort, random_score, schedulinggates, tainttoleration, volumes,
    )

    classes = [
        schedulinggates.SchedulingGates, queuesort.PrioritySort, nodeunschedulable.NodeUnschedulable,
        nodename.NodeName, tainttoleration.TaintToleration, nodeaffinity.NodeAffinity,
        nodeports.NodePorts, noderesourcesfit.NodeResourcesFit, *volumes.VOLUME_PLUGINS,
        podtopologyspread.PodTopologySpread, interpodaffinity.InterPodAffinity,
        defaultpreemption.DefaultPreemption, balancedallocation.NodeResourcesBalancedAllocation,
        imagelocality.ImageLocality, defaultbinder.DefaultBinder, random_score.RandomScore,
    ]
    return {cls.name: cls for cls in classes}


def default_registry(entry_points: bool = True) -> PluginRegistry:
    """In-tree plugins plus (by default) those registered under ``scheduler_lab.plugins``."""
    registry = PluginRegistry(in_tree_factories())
    if entry_points:
        registry.load_entry_points()
    return registry
