"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) as kube-scheduler v1.29 reads it.

Decoding = strict decoding (unknown or duplicate fields are errors) -> defaulting
(``pkg/scheduler/apis/config/v1/defaults.go``) -> plugin-set merge with the default
profile (``mergePluginSet``) -> validation (``validation.go``) of everything that does not
need to know which plugins exist. Decoding never sees the plugin registry: a decoded profile
holds plugin names and their (defaulted, checked) args. ``scheduler.core.profiles`` resolves the
names against a registry (out-of-tree plugins named by ``importPath``, unknown and removed
plugins, MultiPoint expansion per extension point, score weights, the framework's own checks) and
owns the loaders that do both (``load_config``, ``load_config_text``, ``default_config``).

One job per module: ``model`` (the decoded configuration's data classes and constants, ``ConfigError``),
``schema`` (the document's shape, checked by ``scheduler.core.validation.schema``), ``defaults`` (``defaults.go``),
``validate`` (plugin args, ``validation_pluginargs.go``), ``build`` (defaults and checks the top level and
each profile) and ``decode`` (file, text or parsed document in, ``SchedulerConfiguration`` out). This
package re-exports what the rest of the scheduler imports.

Every problem is a ``ConfigError`` whose ``str()`` is one line:
``<file>: <field path>: <what is wrong / what is accepted>``.
"""

from scheduler.core.config.decode import decode_config, decode_config_data, decode_config_text
from scheduler.core.config.defaults import default_plugin_args, merge_plugin_set
from scheduler.core.config.model import (
    API_VERSION, DEFAULT_MULTI_POINT, EXTENSION_POINTS, KIND, LEASE_LOCKS, MULTI_POINT, REMOVED_FIELDS,
    REMOVED_PLUGINS, SCORING_STRATEGIES, ClientConnectionConfig, ConfigError, LeaderElectionConfig, PluginNames,
    PluginRef, PluginSet, ProfileConfig, SchedulerConfiguration,
)
from scheduler.core.config.schema import ARGS_SCHEMAS, parse_go_duration
from scheduler.core.config.validate import json_str

__all__ = [
    "API_VERSION", "ARGS_SCHEMAS", "DEFAULT_MULTI_POINT", "EXTENSION_POINTS", "KIND", "LEASE_LOCKS", "MULTI_POINT",
    "REMOVED_FIELDS", "REMOVED_PLUGINS", "SCORING_STRATEGIES", "ClientConnectionConfig", "ConfigError",
    "LeaderElectionConfig", "PluginNames", "PluginRef", "PluginSet", "ProfileConfig", "SchedulerConfiguration",
    "decode_config", "decode_config_data", "decode_config_text", "default_plugin_args", "json_str",
    "merge_plugin_set", "parse_go_duration",
]
