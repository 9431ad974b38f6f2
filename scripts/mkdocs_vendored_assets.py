"""MkDocs hook (mkdocs.yml `hooks:`): publishes the vendored Mermaid (scripts/vendor_mermaid.py, from
the shared cache) as `assets/vendor/mermaid.min.js`, which mkdocs.yml's `extra_javascript` loads,
so Material renders diagrams with it instead of fetching Mermaid from a CDN. A missing cache fails
the build with one line saying how to fill it (`make docs` fills it first)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

SITE_DIR = "assets/vendor"


def _vendor_module():
    path = Path(__file__).with_name("vendor_mermaid.py")
    spec = importlib.util.spec_from_file_location("vendor_mermaid", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_files(files: Files, config: MkDocsConfig) -> Files:
    vendor = _vendor_module()
    script = vendor.vendored()
    if not script.is_file():
        raise PluginError(f"Mermaid {vendor.VERSION} is not vendored ({script} is missing): "
                          "python scripts/vendor_mermaid.py (or make docs) fetches it once")
    for name, site_name in ((script.name, "mermaid.min.js"), ("LICENSE", "mermaid.LICENSE.txt")):
        files.append(File.generated(config, f"{SITE_DIR}/{site_name}", abs_src_path=str(script.parent / name)))
    return files
