"""Out-of-tree plugins: seed 003's MostAvailableCPU written outside the package, loaded three ways."""

import json
import os
import random

import pytest
from sched_builders import CONFIG_HEAD, cluster, node, pod

from scheduler.core.config import ConfigError
from scheduler.core.framework import Plugin
from scheduler.core.plugins.registry import default_registry
from scheduler.core.profiles import build_profiles, load_config, load_config_text
from scheduler.core.simulate import main

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN_FILE = os.path.join(ROOT, "examples", "plugins", "most_available_cpu.py")


def state_with_free_cpu():
    # n-big has the most unrequested cpu; LeastAllocated alone would also like it, so make it unattractive
    # for the default plugins: fill its memory.
    return cluster([node("n-big", cpu="8", memory="4Gi"), node("n-small", cpu="2", memory="64Gi")],
                   [pod("mem-hog", {"memory": "3Gi"}, node_name="n-big")])


def test_plugin_enabled_from_config_via_import_path():
    cfg = load_config(os.path.join(ROOT, "examples", "configs", "most-available-cpu.yaml"))
    prof = cfg.profile("custom-k8s-scheduler")
    assert prof.plugins["score"][-1] == "MostAvailableCPU" and prof.score_weights["MostAvailableCPU"] == 5
    profile = build_profiles(cfg)["custom-k8s-scheduler"]
    res = profile.schedule(state_with_free_cpu(), pod("p", {"cpu": "100m"}, scheduler="custom-k8s-scheduler"),
                           random.Random(0))
    assert res.node == "n-big"
    assert res.scores["n-big"]["MostAvailableCPU"] == 100 and res.scores["n-small"]["MostAvailableCPU"] == 25
    assert res.scores["n-big"]["total"] > res.scores["n-small"]["total"]


def test_plugin_loaded_with_the_plugin_flag(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_HEAD + "profiles:\n- plugins:\n    score:\n      disabled:\n      - name: '*'\n"
                                    "      enabled:\n      - name: MostAvailableCPU\n")
    state = tmp_path / "s.yaml"
    state.write_text(json.dumps({"kind": "List", "items": [
        node("a", cpu="4"), node("b", cpu="2"), pod("p", {"cpu": "500m"})]}))
    assert main(["--plugin", f"{PLUGIN_FILE}:MostAvailableCPU", "--config", str(config), "--cluster", str(state),
                 "-o", "json"]) == 0
    (decision,) = json.loads(capsys.readouterr().out)
    assert decision["node"] == "a"
    assert decision["scores"]["a"] == {"MostAvailableCPU": 100, "total": 100}


def test_registering_a_plugin_class_in_a_registry():
    registry = default_registry()

    @registry.register()
    class PreferNodeB(Plugin):
        name = "PreferNodeB"

        def score(self, cycle, pod, node):
            return 100 if node.name == "b" else 0

    assert registry.implements("PreferNodeB", "score") and not registry.implements("PreferNodeB", "filter")
    cfg = load_config_text(CONFIG_HEAD + "profiles:\n- plugins:\n    multiPoint:\n      enabled:\n"
                                         "      - name: PreferNodeB\n        weight: 50\n", registry=registry)
    profile = build_profiles(cfg)["default-scheduler"]
    res = profile.schedule(cluster([node("a"), node("b")]), pod("p"), random.Random(0))
    assert res.node == "b" and res.scores["b"]["PreferNodeB"] == 100


def test_bad_import_path_is_one_config_line():
    with pytest.raises(ConfigError) as exc:
        load_config_text(CONFIG_HEAD + "profiles:\n- pluginConfig:\n  - name: X\n    args:\n"
                                       "      importPath: nowhere/x.py:X\n", "c.yaml")
    assert str(exc.value).startswith("c.yaml: profiles[0].pluginConfig[0].args.importPath: cannot load plugin \"X\"")
    assert "\n" not in str(exc.value)
