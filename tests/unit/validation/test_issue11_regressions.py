"""Issue 11's examples, one named test each: one clear line and a non-zero exit (or upstream's behaviour).

Every rejection must be exactly one stderr line naming the file, the object and the field; the
last-resort ``internal error`` (exit 70) counts as a failure here, as does any escaped exception.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from validation_harness import (
    BASE_CONFIG, BASE_KUBECONFIG, Outcome, base_state, dump_state, kubeconfig_text, run_guarded, simulate_texts,
)

from scheduler.core.profiles import load_config_text

HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def rejected(outcome: Outcome, *needles: str, code: int = 1) -> str:
    assert not outcome.exception, outcome.exception
    assert outcome.code == code, (outcome.code, outcome.err)
    assert "internal error" not in outcome.err and "Traceback" not in outcome.err
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert outcome.out == ""
    assert len(lines[0]) < 600, f"error line of {len(lines[0])} characters"
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def state_with(mutate) -> str:
    objs = base_state()
    mutate(objs)
    return dump_state(objs)


def pod(objs, name):
    return next(o for o in objs if o["kind"] == "Pod" and o["metadata"]["name"] == name)


def node(objs, name):
    return next(o for o in objs if o["kind"] == "Node" and o["metadata"]["name"] == name)


def config(**changes) -> str:
    cfg = copy.deepcopy(BASE_CONFIG)
    for path, value in changes.items():
        target = cfg
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return yaml.safe_dump(cfg, sort_keys=False)


def baseline_json() -> list:
    out = simulate_texts(dump_state(base_state()))
    assert out.code == 0, out.err
    return json.loads(out.out)


# ------------------------------------------------------------------ wrong types in a cluster state crashed

def test_kind_null():
    rejected(simulate_texts("kind: null\nmetadata: {name: n}\n"), "kind: Required value")


def test_items_is_a_number():
    rejected(simulate_texts("apiVersion: v1\nkind: List\nitems: 5\n"), "items: expected a list, got number 5")


@pytest.mark.parametrize("where,setter", [
    ("spec.taints", lambda o: node(o, "n3")["spec"].__setitem__("taints", "dedicated=gpu:NoSchedule")),
    ("spec.tolerations", lambda o: pod(o, "web-1")["spec"].__setitem__("tolerations", "all")),
    ("spec.containers", lambda o: pod(o, "web-1")["spec"].__setitem__("containers", "nginx")),
    ("spec.containers[0].resources", lambda o: pod(o, "web-1")["spec"]["containers"][0].__setitem__("resources", "big")),
    ("spec.affinity", lambda o: pod(o, "web-1")["spec"].__setitem__("affinity", "zone-a")),
])
def test_fields_given_as_a_string(where, setter):
    line = rejected(simulate_texts(state_with(setter)))
    assert where in line and ("expected a list" in line or "expected an object" in line)


@pytest.mark.parametrize("setter", [
    lambda o: node(o, "n3")["spec"].__setitem__("taints", None),
    lambda o: pod(o, "web-1")["spec"].__setitem__("tolerations", None),
    lambda o: pod(o, "batch-1")["spec"]["containers"][0].__setitem__("resources", None),
    lambda o: pod(o, "batch-1")["spec"].__setitem__("affinity", None),
])
def test_null_optional_fields_mean_unset_like_the_api_server(setter):
    out = simulate_texts(state_with(setter))
    assert out.code == 0, out.err


def test_null_containers_are_required():
    rejected(simulate_texts(state_with(lambda o: pod(o, "web-1")["spec"].__setitem__("containers", None))),
             "Pod default/web-1", "spec.containers: Required value")


def test_priority_high():
    rejected(simulate_texts(state_with(lambda o: pod(o, "web-1")["spec"].__setitem__("priority", "high"))),
             "Pod default/web-1: spec.priority: expected an integer, got string \"high\"")


def test_match_expressions_without_key():
    def setter(objs):
        term = pod(objs, "web-1")["spec"]["affinity"]["podAntiAffinity"]
        term["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"] = {
            "matchExpressions": [{"operator": "Exists"}]}
    rejected(simulate_texts(state_with(setter)), "labelSelector.matchExpressions[0].key: Required value")


def test_surrogate_in_a_name_with_table_output():
    text = dump_state(base_state()).replace("name: n2", 'name: "n2\\ud800"', 1)
    rejected(simulate_texts(text, args=("--output", "table")), "invalid Unicode character escape")  # libyaml
    # A surrogate that reaches a name (e.g. through a decoder that allows it) is refused and escaped ...
    from scheduler.core.validation.objects import ObjectError, validate_object
    with pytest.raises(ObjectError) as exc:
        validate_object({"kind": "Node", "metadata": {"name": "n2\ud800"}})
    assert "\\ud800" in str(exc.value)
    str(exc.value).encode("utf-8")
    # ... and the table escapes whatever it prints, so printing can never raise UnicodeEncodeError.
    from scheduler.core.simulate import format_table
    table = format_table([], [{"metadata": {"name": "x\ud800", "namespace": "d"}, "spec": {"schedulerName": "s"}}], 3)
    table.encode("utf-8")


# ------------------------------------------------------------------ configs that crashed

def test_score_plugin_without_name():
    line = rejected(simulate_texts(dump_state(base_state()),
                                   HEAD + "profiles:\n- plugins:\n    score:\n      enabled: [{weight: 2}]\n"))
    assert "profiles[0].plugins.score.enabled[0].name: Required value" in line


def test_plugin_config_null_entry():
    rejected(simulate_texts(dump_state(base_state()), HEAD + "profiles:\n- pluginConfig: [null]\n"),
             "profiles[0].pluginConfig[0]: expected a value, got null")


@pytest.mark.parametrize("args,where", [
    ({"name": "NodeResourcesBalancedAllocation", "args": {"resources": [None]}}, "args.resources[0]"),
    ({"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "RequestedToCapacityRatio",
                                                               "requestedToCapacityRatio": {"shape": [None]}}}},
     "requestedToCapacityRatio.shape[0]"),
    ({"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [None]}},
     "args.defaultConstraints[0]"),
])
def test_null_in_resources_shape_default_constraints(args, where):
    text = HEAD + yaml.safe_dump({"profiles": [{"pluginConfig": [args]}]})
    rejected(simulate_texts(dump_state(base_state()), text), where, "got null")


def test_max_skew_abc_in_default_constraints():
    text = HEAD + yaml.safe_dump({"profiles": [{"pluginConfig": [{"name": "PodTopologySpread", "args": {
        "defaultingType": "List", "defaultConstraints": [
            {"maxSkew": "abc", "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}}]}]})
    rejected(simulate_texts(dump_state(base_state()), text), "defaultConstraints[0].maxSkew: expected an integer")


def test_complex_yaml_key():
    rejected(simulate_texts(dump_state(base_state()), HEAD + "? [a]\n: 1\n"), "a mapping key must be a plain string")
    rejected(simulate_texts("? [a]\n: 1\n"), "a mapping key must be a plain string")


def test_500_nested_brackets():
    out = simulate_texts(dump_state(base_state()), HEAD + "profiles: " + "[" * 500 + "]" * 500 + "\n")
    rejected(out, "nested deeper than 100 levels")
    rejected(simulate_texts("kind: Node\nmetadata: " + "[" * 100_000 + "]" * 100_000), "nested deeper")


def test_kubeconfig_that_is_not_yaml():
    rejected(kubeconfig_text("clusters: [\n  - {name: x\n: : :\n"), "kubeconfig", "invalid YAML")
    rejected(kubeconfig_text(b"\x89PNG\r\n\x1a\n\x00\x00"), "kubeconfig")


def test_kubeconfig_with_wrong_types_is_one_line():
    cfg = copy.deepcopy(BASE_KUBECONFIG)
    cfg["clusters"][0]["cluster"]["server"] = ["https://x"]
    rejected(kubeconfig_text(yaml.safe_dump(cfg)), "clusters[0].cluster.server: expected a string")


def test_long_running_cli_with_a_bad_kubeconfig(tmp_path):
    from scheduler import cli

    kc = tmp_path / "kubeconfig"
    kc.write_text("a: &a [*a]\n")
    good = tmp_path / "config.yaml"
    good.write_text(HEAD + "leaderElection: {leaderElect: false}\n")
    rejected(run_guarded(lambda: cli.main(["--config", str(good), "--kubeconfig", str(kc)])),
             "kubeconfig", "recursive alias")


def test_simulate_plugin_colon():
    rejected(simulate_texts(dump_state(base_state()), args=("--plugin", ":")), "--plugin \":\"",
             "expected MODULE:CLASS")


def test_simulate_plugin_module_that_raises_on_import(tmp_path):
    mod = tmp_path / "boom.py"
    mod.write_text("raise RuntimeError('boom at import')\n")
    rejected(simulate_texts(dump_state(base_state()), args=("--plugin", f"{mod}:Boom")),
             "cannot import: RuntimeError: boom at import")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    rejected(simulate_texts(dump_state(base_state()), args=("--plugin", f"{exits}:X")), "SystemExit")


# ------------------------------------------------------------------ hangs

def test_alias_bomb_fails_fast():
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))
    assert len(bomb) < 700
    out = simulate_texts(bomb)
    line = rejected(out, "aliases expand to more than")
    assert out.seconds < 1.0
    assert len(line) < 300
    rejected(simulate_texts(dump_state(base_state()), bomb), "aliases expand")


def test_cpu_exponent_1e9999999999():
    out = simulate_texts(state_with(
        lambda o: node(o, "n1")["status"]["allocatable"].__setitem__("cpu", "1e9999999999")))
    line = rejected(out, "Node n1", 'status.allocatable["cpu"]', "exponent out of the range")
    assert "deliberately stricter" in line
    assert out.seconds < 1.0


def test_big_files_are_fast_or_refused(tmp_path, monkeypatch):
    # 50 MB of YAML (one long scalar inside a valid state) is read, and its cost grows with its size,
    # not faster: ten times the input may cost at most 25 times the CPU of the smaller one (linear is
    # 10; a quadratic reader would be 100). A ratio within one run, so a busy machine does not fail it.
    def with_scalar(mib: int) -> str:
        return dump_state(base_state()) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " \
            + "a" * (mib * 2**20) + "\n"
    # The 50 MB read needs about 4 CPU seconds on an idle machine, near the 5 s every small case
    # gets; under load (shared caches) it passed that. The ratio below is the check; the larger
    # limit only keeps a slow machine from cutting the read short.
    small, big = simulate_texts(with_scalar(5), cpu_limit=60.0), simulate_texts(with_scalar(50), cpu_limit=60.0)
    assert small.code == 0 and big.code == 0, (small.err, big.err, big.exception)
    assert big.seconds < 25 * max(small.seconds, 0.01), (small.seconds, big.seconds)  # CPU seconds
    # ... and past the (configurable) size limit refused before parsing.
    monkeypatch.setenv("SCHEDULER_MAX_INPUT_BYTES", str(2**20))
    rejected(simulate_texts(with_scalar(50)), "is larger than the 1048576-byte limit")


# ------------------------------------------------------------------ silently accepted, wrong answer

def test_unicode_digits_as_quantity():
    rejected(simulate_texts(state_with(lambda o: node(o, "n1")["status"]["allocatable"].__setitem__("cpu", "٤"))),
             'Node n1: status.allocatable["cpu"]: invalid quantity "٤"')


def test_negative_requests():
    line = rejected(simulate_texts(state_with(lambda o: pod(o, "batch-1")["spec"]["containers"][0]["resources"]
                                              ["requests"].__setitem__("cpu", "-2"))),
                    "Pod jobs/batch-1", 'spec.containers[0].resources.requests["cpu"]', "must be greater than or equal to 0")
    assert "invalid score" not in line


def test_unschedulable_string_false():
    rejected(simulate_texts(state_with(lambda o: node(o, "n2")["spec"].__setitem__("unschedulable", "false"))),
             "Node n2: spec.unschedulable: expected true or false, got string \"false\"")


def test_taint_effect_typo():
    rejected(simulate_texts(state_with(lambda o: node(o, "n3")["spec"]["taints"][0].__setitem__("effect", "NoSchedul"))),
             "Node n3: spec.taints[0].effect: Unsupported value: \"NoSchedul\"")


def test_toleration_operator_maybe():
    rejected(simulate_texts(state_with(lambda o: pod(o, "web-1")["spec"]["tolerations"][0].__setitem__("operator", "Maybe"))),
             "spec.tolerations[0].operator: Unsupported value: \"Maybe\"")


def test_when_unsatisfiable_sometimes():
    rejected(simulate_texts(state_with(lambda o: pod(o, "web-1")["spec"]["topologySpreadConstraints"][0].__setitem__(
        "whenUnsatisfiable", "Sometimes"))), "topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value")


def test_selector_operator_like():
    def setter(objs):
        term = pod(objs, "web-1")["spec"]["affinity"]["podAntiAffinity"]
        term["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"][
            "matchExpressions"][0]["operator"] = "Like"
    rejected(simulate_texts(state_with(setter)), "matchExpressions[0].operator: Unsupported value: \"Like\"")


def test_node_affinity_operator_bogus():
    def setter(objs):
        pod(objs, "web-1")["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"][0]["matchExpressions"][0]["operator"] = "Bogus"
    rejected(simulate_texts(state_with(setter)), "nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value")


def test_in_without_values():
    def setter(objs):
        del pod(objs, "web-1")["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
    rejected(simulate_texts(state_with(setter)), "matchExpressions[0].values: Required value")


def test_max_skew_zero():
    rejected(simulate_texts(state_with(lambda o: pod(o, "web-1")["spec"]["topologySpreadConstraints"][0].__setitem__(
        "maxSkew", 0))), "topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero")


def test_missing_topology_key():
    def setter(objs):
        del pod(objs, "web-1")["spec"]["topologySpreadConstraints"][0]["topologyKey"]
    rejected(simulate_texts(state_with(setter)), "topologySpreadConstraints[0].topologyKey: Required value")
    def affinity(objs):
        del pod(objs, "web-1")["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"]
    rejected(simulate_texts(state_with(affinity)), "podAffinityTerm.topologyKey: Required value")


def test_two_nodes_with_the_same_name():
    line = rejected(simulate_texts(state_with(lambda o: o.append(copy.deepcopy(node(o, "n2"))))),
                    "Node n2: metadata.name: Duplicate value: \"n2\"")
    assert "already defined in" in line and "document 2" in line


def test_the_same_file_twice_in_a_cluster_directory(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "a.yaml").write_text(dump_state(base_state()))
    shutil.copy(state / "a.yaml", state / "b.yaml")
    out = run_guarded(lambda: __import__("scheduler.core.simulate", fromlist=["main"]).main(["--cluster", str(state)]))
    rejected(out, "b.yaml", "Duplicate value", "a.yaml")
    (state / "b.yaml").unlink()
    os.symlink(state / "a.yaml", state / "c.yaml")
    out = run_guarded(lambda: __import__("scheduler.core.simulate", fromlist=["main"]).main(["--cluster", str(state)]))
    rejected(out, "c.yaml: the same file as")


def test_node_name_with_a_newline_cannot_forge_output():
    text = dump_state(base_state()).replace("name: n2", 'name: "n2\\nweb-1 -> forged"', 1)
    line = rejected(simulate_texts(text, args=("--output", "table")), "metadata.name", "\\n")
    assert "\n" not in line
    # and the table escapes whatever it prints
    from scheduler.core.simulate import format_table
    assert "\n" not in format_table([], [{"metadata": {"name": "x\ny", "namespace": "d"},
                                          "spec": {"schedulerName": "s\r"}}], 3).rstrip("\n")


# ------------------------------------------------------------------ config validation vs kube-scheduler v1.29

def cfg_error(text: str) -> str:
    from scheduler.core.config import ConfigError
    with pytest.raises(ConfigError) as exc:
        load_config_text(text, "config.yaml")
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_multipoint_disabled_star_leaves_no_queue_sort_or_bind():
    err = cfg_error(HEAD + "profiles:\n- plugins:\n    multiPoint:\n      disabled: [{name: '*'}]\n")
    assert err == ('config.yaml: profiles[0].plugins.queueSort: only one queue sort plugin required for profile '
                   'with scheduler name "default-scheduler", but got 0')
    err = cfg_error(HEAD + "profiles:\n- plugins:\n    bind:\n      disabled: [{name: DefaultBinder}]\n")
    assert "profiles[0].plugins.bind: at least one bind plugin is needed" in err


@pytest.mark.parametrize("lock", ["configmapsleases", "endpointsleases"])
def test_migration_resource_locks_are_refused(lock):
    assert cfg_error(HEAD + f"leaderElection: {{resourceLock: {lock}}}\n").endswith(
        f'leaderElection.resourceLock: Invalid value: "{lock}": resourceLock value must be "leases"')
    load_config_text(HEAD + f"leaderElection: {{leaderElect: false, resourceLock: {lock}}}\n")  # upstream: unchecked


def test_added_affinity_bad_operator_or_unknown_field():
    base = HEAD + "profiles:\n- pluginConfig:\n  - name: NodeAffinity\n    args:\n      addedAffinity:\n"
    err = cfg_error(base + "        requiredDuringSchedulingIgnoredDuringExecution:\n          nodeSelectorTerms:\n"
                           "          - matchExpressions: [{key: zone, operator: Bogus, values: [a]}]\n")
    assert "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]" \
           ".operator: Unsupported value: \"Bogus\"" in err
    err = cfg_error(base + "        requiredDuringSchedulingIgnoredDuringExecution:\n          nodeSelectorTermz: []\n")
    assert "nodeSelectorTermz: unknown field" in err
    err = cfg_error(base + "        preferredDuringSchedulingIgnoredDuringExecution:\n        - weight: 1\n"
                           "          preference: {matchExpressions: [{key: n, operator: Gt, values: [x]}]}\n")
    assert "must be an integer" in err


def test_default_constraints_topology_key_and_repeats():
    base = HEAD + "profiles:\n- pluginConfig:\n  - name: PodTopologySpread\n    args:\n      defaultingType: List\n" \
                  "      defaultConstraints:\n"
    err = cfg_error(base + "      - {maxSkew: 1, topologyKey: 'not a key!', whenUnsatisfiable: DoNotSchedule}\n")
    assert "defaultConstraints[0].topologyKey: Invalid value" in err
    err = cfg_error(base + "      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n"
                           "      - {maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n")
    assert "defaultConstraints[1]: Duplicate value" in err


def test_duplicate_balanced_allocation_resources():
    err = cfg_error(HEAD + "profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args:\n"
                           "      resources: [{name: cpu, weight: 1}, {name: cpu, weight: 1}]\n")
    assert err.endswith('args.resources[1].name: Duplicate value: "cpu"')


def test_ignored_resources_must_be_resource_names():
    err = cfg_error(HEAD + "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n"
                           "      ignoredResources: ['not a name']\n")
    assert "args.ignoredResources[0]: Invalid value: \"not a name\"" in err


def test_volume_binding_shape_needs_its_feature_gate():
    err = cfg_error(HEAD + "profiles:\n- pluginConfig:\n  - name: VolumeBinding\n    args:\n"
                           "      shape: [{utilization: 0, score: 0}]\n")
    assert "args.shape: Invalid value: unexpected field `shape`" in err and "VolumeCapacityPriority" in err


# ------------------------------------------------------------------ smaller ones

def test_config_empty_string_is_not_defaults():
    rejected(simulate_texts(dump_state(base_state()), args=("--config", "")), "--config", "empty path", code=2)
    from scheduler import cli
    rejected(run_guarded(lambda: cli.main(["--config", ""])), "--config", "empty path")


@pytest.mark.parametrize("flags", [("--output", "json", "--output", "table"), ("--seed", "1", "--seed", "2")])
def test_repeated_flags_are_refused(flags):
    rejected(simulate_texts(dump_state(base_state()), args=flags), "given more than once", code=2)


def test_lab_verify_superscript_two():
    from lab import cli as lab_cli
    line = rejected(run_guarded(lambda: lab_cli.main(["verify", "²"])), "invalid step number", code=2)
    assert "ValueError" not in line


def test_lab_spec_taint_without_key(tmp_path):
    from lab import cli as lab_cli
    spec = (Path(__file__).resolve().parents[3] / "lab" / "lab.yaml").read_text()
    bad = tmp_path / "lab.yaml"
    bad.write_text(spec.replace("- {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}",
                                "- {effect: NoSchedule}"))
    line = rejected(run_guarded(lambda: lab_cli.main(["--spec", str(bad), "--workdir", str(tmp_path / "w"),
                                                       "status"])), "nodes[0].taints[0].key: required")
    assert "KeyError" not in line


def test_a_2mb_api_version_is_not_echoed():
    line = rejected(simulate_texts(dump_state(base_state()), "apiVersion: " + "x" * (2 * 2**20) + "\nkind: K\n"))
    assert len(line) < 400 and "truncated" in line
    line = rejected(simulate_texts(state_with(lambda o: node(o, "n1").__setitem__("apiVersion", "v" * 2**21))))
    assert len(line) < 400 and "truncated" in line


def test_valid_input_still_gives_the_same_decisions():
    # Recorded with main at a2d21bf (before this validation layer): same decisions, scores and messages.
    fixture = Path(__file__).with_name("fixtures") / "base_state.main-a2d21bf.json"
    assert baseline_json() == json.loads(fixture.read_text())
