"""Reading a configuration file or document: strict decoding, then defaulting and validation.

Decoding never sees the plugin registry (``scheduler.core.profiles`` resolves the plugin names).
"""

from __future__ import annotations

import math
import os
from typing import Any

from scheduler.core.config.build import build_config
from scheduler.core.config.model import API_VERSION, KIND, ConfigError, PluginNames, SchedulerConfiguration
from scheduler.core.config.schema import ARGS_SCHEMAS, CONFIG_SCHEMA, check
from scheduler.core.config.validate import json_str
from scheduler.core.validation.text import describe, safe_text
from scheduler.core.validation.yamlload import DEFAULT_LIMITS, YAMLLimits, YAMLLoadError, load_yaml_documents

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
        raise ConfigError(source, "", f"expected a KubeSchedulerConfiguration object, got {describe(data)}")
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
    check(data, CONFIG_SCHEMA, "", source)
    for i, prof in enumerate(data.get("profiles") or ()):
        for j, entry in enumerate((prof or {}).get("pluginConfig") or ()):
            known = ARGS_SCHEMAS.get(entry.get("name"))
            args = entry.get("args")
            path = f"profiles[{i}].pluginConfig[{j}].args"
            if args is not None and not isinstance(args, dict):
                raise ConfigError(source, path, f"expected an object, got {describe(args)}")
            if known is not None and args is not None:
                kind_name, schema = known
                if args.get("kind") not in (None, kind_name):
                    raise ConfigError(source, f"{path}.kind", f"{json_str(args.get('kind'))} does not match "
                                                              f"plugin {entry.get('name')}; use {kind_name}")
                check(args, schema, path, source)
    checked: list[PluginNames] = []
    try:
        return build_config(_drop_nulls(data), source, checked)
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
