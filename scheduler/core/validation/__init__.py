"""Input validation at the boundary: YAML reading with budgets, quantities, Kubernetes objects.

Everything here is pure (text or parsed data in, values or one-line errors out).  Callers
(``scheduler.core.simulate``, ``scheduler.core.config``, the CLIs, the kubeconfig loader)
validate once where input enters; the plugins can then trust the objects they read.
"""

from scheduler.core.validation.text import quote, safe_text, truncate
from scheduler.core.validation.yamlload import YAMLLimits, YAMLLoadError, load_yaml_documents

__all__ = ["quote", "safe_text", "truncate", "YAMLLimits", "YAMLLoadError", "load_yaml_documents"]
