"""KubeSchedulerConfiguration: defaults, the v1.29 merge rule, MultiPoint expansion, every rejection path."""

import os

import pytest
from sched_builders import CONFIG_HEAD

from scheduler.core.config import ConfigError, parse_go_duration
from scheduler.core.profiles import default_config, load_config, load_config_text

HERE = os.path.dirname(__file__)
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "configs")
DEFAULT_SCORE = ["TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread",
                 "InterPodAffinity", "NodeResourcesBalancedAllocation", "ImageLocality"]
DEFAULT_FILTER = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
                  "VolumeRestrictions", "EBSLimits", "GCEPDLimits", "NodeVolumeLimits", "AzureDiskLimits",
                  "VolumeBinding", "VolumeZone", "PodTopologySpread", "InterPodAffinity"]


def load(body: str):
    return load_config_text(CONFIG_HEAD + body, "config.yaml")


def error(body: str, head: str = CONFIG_HEAD) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config_text(head + body, "config.yaml")
    text = str(exc.value)
    assert "\n" not in text and text.startswith("config.yaml: ")
    return text


# --- defaults ------------------------------------------------------------------------------------
def test_v1_29_defaults():
    cfg = default_config()
    assert cfg.parallelism == 16
    le = cfg.leader_election
    assert (le.leader_elect, le.lease_duration, le.renew_deadline, le.retry_period) == (True, 15.0, 10.0, 2.0)
    assert (le.resource_lock, le.resource_name, le.resource_namespace) == ("leases", "kube-scheduler", "kube-system")
    cc = cfg.client_connection
    assert (cc.qps, cc.burst, cc.content_type, cc.kubeconfig) == (50.0, 100, "application/vnd.kubernetes.protobuf", "")
    assert (cfg.percentage_of_nodes_to_score, cfg.pod_initial_backoff_seconds, cfg.pod_max_backoff_seconds) == (0, 1, 10)
    (prof,) = cfg.profiles
    assert prof.scheduler_name == "default-scheduler"
    assert prof.plugins["score"] == DEFAULT_SCORE
    assert prof.plugins["filter"] == DEFAULT_FILTER
    assert prof.plugins["postFilter"] == ["DefaultPreemption"]
    assert prof.plugins["queueSort"] == ["PrioritySort"] and prof.plugins["bind"] == ["DefaultBinder"]
    assert prof.plugins["preEnqueue"] == ["SchedulingGates"]
    assert prof.score_weights == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "VolumeBinding": 1,
                                  "PodTopologySpread": 2, "InterPodAffinity": 2,
                                  "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert prof.plugin_config["NodeResourcesFit"] == {"scoringStrategy": {
        "type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}
    assert prof.plugin_config["DefaultPreemption"] == {"minCandidateNodesPercentage": 10,
                                                       "minCandidateNodesAbsolute": 100}
    assert prof.plugin_config["PodTopologySpread"]["defaultingType"] == "System"
    assert prof.plugin_config["InterPodAffinity"]["hardPodAffinityWeight"] == 1


@pytest.mark.parametrize("text,seconds", [("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("1.5h", 5400), ("0", 0)])
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


# --- seeds ---------------------------------------------------------------------------------------
def test_seed_000_config_loads():
    cfg = load_config(os.path.join(EXAMPLES, "seed000-most-allocated.yaml"))
    prof = cfg.profile("custom-k8s-scheduler")
    assert [p.scheduler_name for p in cfg.profiles] == ["custom-k8s-scheduler"]
    assert prof.plugin_config["NodeResourcesFit"]["scoringStrategy"]["type"] == "MostAllocated"
    # score.enabled NodeResourcesFit overrides the MultiPoint entry and runs first (expandMultiPointPlugins)
    assert prof.plugins["score"] == ["NodeResourcesFit"] + [p for p in DEFAULT_SCORE if p != "NodeResourcesFit"]
    assert prof.score_weights["NodeResourcesFit"] == 1 and prof.score_weights["TaintToleration"] == 3
    le, cc = cfg.leader_election, cfg.client_connection
    assert (le.leader_elect, le.resource_namespace, le.resource_name) == (True, "kube-system", "custom-k8s-scheduler")
    assert (cc.qps, cc.burst) == (100, 200)


def test_seed_002_rewritten_to_v1_loads():
    cfg = load_config(os.path.join(EXAMPLES, "seed002-v1.yaml"))
    prof = cfg.profile("my-scheduler")
    assert prof.score_weights["NodeResourcesFit"] == 3
    assert prof.plugin_config["NodeResourcesFit"]["scoringStrategy"]["type"] == "LeastAllocated"
    assert cfg.leader_election.leader_elect is False
    assert cfg.client_connection.kubeconfig.endswith("kubeconfig-for-my-scheduler.yaml")


def test_seed_002_verbatim_is_rejected_with_one_line():
    with pytest.raises(ConfigError) as exc:
        load_config(os.path.join(HERE, "fixtures", "seed002-v1beta1.yaml"))
    assert str(exc.value) == ('seed002-v1beta1.yaml: apiVersion: "kubescheduler.config.k8s.io/v1beta1" is not '
                              'supported by kube-scheduler v1.29; use kubescheduler.config.k8s.io/v1')
    with pytest.raises(ConfigError) as exc:
        load_config(os.path.join(HERE, "fixtures", "seed002-as-printed.yaml"))
    assert str(exc.value).startswith("seed002-as-printed.yaml: invalid YAML: line ")
    assert "\n" not in str(exc.value)


def test_seed_002_removed_fields_in_v1_are_unknown_with_a_hint():
    msg = error("healthzBindAddress: 0.0.0.0:10252\n")
    assert msg.startswith("config.yaml: healthzBindAddress: unknown field (removed from KubeSchedulerConfiguration")
    assert "10259" in msg
    assert error("metricsBindAddress: 0.0.0.0:10252\n").startswith("config.yaml: metricsBindAddress: unknown field")


def test_removed_plugin_names_get_a_replacement_hint():
    msg = error("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: NodeResourcesLeastAllocated\n")
    assert msg.startswith("config.yaml: profiles[0].plugins.score.enabled[0]: plugin \"NodeResourcesLeastAllocated\" "
                          "does not exist in kube-scheduler v1.29; use NodeResourcesFit")


# --- merge rule ------------------------------------------------------------------------------------
def test_enabling_a_default_plugin_replaces_it_in_place():
    cfg = load("profiles:\n- plugins:\n    multiPoint:\n      enabled:\n      - name: ImageLocality\n        weight: 7\n")
    prof = cfg.profiles[0]
    assert prof.plugins["score"] == DEFAULT_SCORE
    assert prof.score_weights["ImageLocality"] == 7


def test_score_enabled_weight_wins_over_multipoint_and_zero_means_one():
    cfg = load("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: TaintToleration\n        weight: 0\n"
               "      - name: Random\n        weight: 4\n")
    prof = cfg.profiles[0]
    assert prof.score_weights["TaintToleration"] == 1
    assert prof.plugins["score"][0] == "TaintToleration" and prof.plugins["score"][-1] == "Random"
    assert prof.score_weights["Random"] == 4


def test_star_disables_all_defaults_of_one_point():
    cfg = load('profiles:\n- plugins:\n    score:\n      disabled:\n      - name: "*"\n      enabled:\n'
               '      - name: Random\n')
    prof = cfg.profiles[0]
    assert prof.plugins["score"] == ["Random"]
    assert prof.plugins["filter"] == DEFAULT_FILTER  # other points keep their defaults
    assert prof.score_weights == {"Random": 1}


def test_disabling_one_default_plugin():
    cfg = load("profiles:\n- plugins:\n    filter:\n      disabled:\n      - name: TaintToleration\n"
               "    score:\n      disabled:\n      - name: TaintToleration\n")
    prof = cfg.profiles[0]
    assert "TaintToleration" not in prof.plugins["filter"] and "TaintToleration" not in prof.plugins["score"]


def test_multipoint_star_drops_all_default_plugins():
    cfg = load('profiles:\n- plugins:\n    multiPoint:\n      disabled:\n      - name: "*"\n      enabled:\n'
               '      - name: PrioritySort\n      - name: NodeResourcesFit\n      - name: DefaultBinder\n')
    prof = cfg.profiles[0]
    assert prof.plugins["filter"] == ["NodeResourcesFit"] and prof.plugins["score"] == ["NodeResourcesFit"]
    assert prof.plugins["postFilter"] == []


def test_two_profiles_and_default_name_only_for_single_profile():
    cfg = load("profiles:\n- schedulerName: a\n- schedulerName: b\n")
    assert [p.scheduler_name for p in cfg.profiles] == ["a", "b"]
    assert error("profiles:\n- schedulerName: a\n- {}\n").startswith(
        "config.yaml: profiles[1].schedulerName: Required value")


# --- rejections ------------------------------------------------------------------------------------
@pytest.mark.parametrize("body,expected", [
    ("profiles:\n- plugins:\n    score:\n      enabeld: []\n", "config.yaml: profiles[0].plugins.score.enabeld: unknown field"),
    ("parallelism: 0\n", "config.yaml: parallelism: Invalid value: 0: should be an integer value greater than zero"),
    ("parallelism: many\n", "config.yaml: parallelism: expected an integer"),
    ("leaderElection:\n  leaseDuration: 10s\n  renewDeadline: 10s\n",
     "config.yaml: leaderElection.leaseDuration: Invalid value: \"10s\": LeaseDuration must be greater than RenewDeadline"),
    ("leaderElection:\n  retryPeriod: 0s\n", "config.yaml: leaderElection.retryPeriod: Invalid value: \"0s\": must be greater than zero"),
    ("leaderElection:\n  leaseDuration: soon\n", "config.yaml: leaderElection.leaseDuration: invalid duration"),
    ("leaderElection:\n  resourceLock: endpoints\n", "config.yaml: leaderElection.resourceLock: Invalid value: \"endpoints\": resourceLock value must be \"leases\""),
    ("clientConnection:\n  burst: -1\n", "config.yaml: clientConnection.burst: Invalid value: -1: must be non-negative"),
    ("clientConnection:\n  qps: fast\n", "config.yaml: clientConnection.qps: expected a number"),
    ("percentageOfNodesToScore: 101\n", "config.yaml: percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]"),
    ("podInitialBackoffSeconds: 0\n", "config.yaml: podInitialBackoffSeconds: Invalid value: 0: must be greater than 0"),
    ("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n", "config.yaml: podMaxBackoffSeconds: Invalid value: 2"),
    ("profiles:\n- schedulerName: a\n- schedulerName: a\n", "config.yaml: profiles[1].schedulerName: Duplicate value: \"a\""),
    ("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: NoSuchPlugin\n",
     "config.yaml: profiles[0].plugins.score.enabled: plugin \"NoSuchPlugin\" does not exist; known plugins:"),
    ("profiles:\n- plugins:\n    multiPoint:\n      enabled:\n      - name: Nope\n",
     "config.yaml: profiles[0].plugins.multiPoint.enabled: plugin \"Nope\" does not exist"),
    ("profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: ImageLocality\n",
     "config.yaml: profiles[0].plugins.filter.enabled: plugin \"ImageLocality\" does not extend filter"),
    ("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: Random\n      - name: Random\n",
     "config.yaml: profiles[0].plugins.score.enabled: plugin \"Random\" already registered as score"),
    ("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: ImageLocality\n        weight: -2\n",
     "config.yaml: profiles[0].plugins.score.enabled[0].weight: Invalid value: -2"),
    ("profiles:\n- plugins:\n    score:\n      enabled:\n      - name: ImageLocality\n        weight: 1.5\n",
     "config.yaml: profiles[0].plugins.score.enabled[0].weight: expected an integer"),
    ("profiles:\n- schedulerName: a\n  plugins:\n    queueSort:\n      disabled:\n      - name: '*'\n"
     "- schedulerName: b\n", "config.yaml: profiles[1].plugins.queueSort: Invalid value: queueSort must be the same"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Most\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Most\""),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: MostAllocated\n"
     "        resources:\n        - name: cpu\n          weight: 101\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: 101: "
     "resource weight of cpu not in valid range (0, 100]"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: MostAllocated\n"
     "        resources: {cpu: 1}\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.resources: expected a list"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        typ: MostAllocated\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.typ: unknown field"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      kind: InterPodAffinityArgs\n",
     "config.yaml: profiles[0].pluginConfig[0].args.kind: \"InterPodAffinityArgs\" does not match plugin NodeResourcesFit"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n"
     "        type: RequestedToCapacityRatio\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio.shape: Required value"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n"
     "        type: RequestedToCapacityRatio\n        requestedToCapacityRatio:\n          shape:\n"
     "          - {utilization: 50, score: 1}\n          - {utilization: 40, score: 2}\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio.shape[1].utilization: "
     "Invalid value: 40: should be greater than previous value"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n"
     "        type: RequestedToCapacityRatio\n        requestedToCapacityRatio:\n          shape:\n"
     "          - {utilization: 0, score: 11}\n",
     "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio.shape[0].score: "
     "Invalid value: 11: not in valid range [0, 10]"),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n  - name: NodeResourcesFit\n",
     "config.yaml: profiles[0].pluginConfig[1]: Duplicate value: \"NodeResourcesFit\""),
    ("profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args:\n      resources:\n"
     "      - {name: cpu, weight: 2}\n",
     "config.yaml: profiles[0].pluginConfig[0].args.resources[0].weight: Invalid value: 2: must be 1"),
    ("profiles:\n- pluginConfig:\n  - name: InterPodAffinity\n    args:\n      hardPodAffinityWeight: 101\n",
     "config.yaml: profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"),
    ("profiles:\n- pluginConfig:\n  - name: DefaultPreemption\n    args:\n      minCandidateNodesPercentage: 0\n"
     "      minCandidateNodesAbsolute: 0\n", "config.yaml: profiles[0].pluginConfig[0].args: Invalid value: both"),
    ("profiles:\n- pluginConfig:\n  - name: PodTopologySpread\n    args:\n      defaultingType: System\n"
     "      defaultConstraints:\n      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n",
     "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints: Invalid value: when .defaultingType is"),
    ("profiles:\n- percentageOfNodesToScore: -1\n",
     "config.yaml: profiles[0].percentageOfNodesToScore: Invalid value: -1: not in valid range [0-100]"),
    ("extenders:\n- urlPrefix: http://127.0.0.1:1\n", "config.yaml: extenders: scheduler extenders are not supported"),
    ("profiles:\n- schedulerName: a\n  schedulerName: b\n", "config.yaml: invalid YAML: line 5, column 3: duplicate field"),
    ("profiles: [\n", "config.yaml: invalid YAML: line"),
])
def test_rejections(body, expected):
    assert error(body).startswith(expected)


@pytest.mark.parametrize("head,expected", [
    ("apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
     "config.yaml: apiVersion: \"kubescheduler.config.k8s.io/v1beta3\" is not supported by kube-scheduler v1.29; "
     "use kubescheduler.config.k8s.io/v1"),
    ("kind: KubeSchedulerConfiguration\n", "config.yaml: apiVersion: required; use kubescheduler.config.k8s.io/v1"),
    ("apiVersion: v1\nkind: ConfigMap\n", "config.yaml: apiVersion: \"v1\" is not a kube-scheduler configuration"),
    ("apiVersion: kubescheduler.config.k8s.io/v1\nkind: Policy\n", "config.yaml: kind: \"Policy\" is not supported"),
    ("- a\n- b\n", "config.yaml: expected a KubeSchedulerConfiguration object"),
    ("", "config.yaml: empty file"),
    (CONFIG_HEAD + "---\n" + CONFIG_HEAD, "config.yaml: 2 YAML documents"),
])
def test_document_level_rejections(head, expected):
    assert error("", head=head).startswith(expected)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path / "nope.yaml"))
    assert str(exc.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_plugin_config_for_unknown_plugin_is_accepted_like_upstream():
    cfg = load("profiles:\n- pluginConfig:\n  - name: SomeOutOfTreePlugin\n    args: {x: 1}\n")
    assert cfg.profiles[0].plugin_config["SomeOutOfTreePlugin"] == {"x": 1}


def test_fit_resource_weight_zero_defaults_to_one():
    cfg = load("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n"
               "        type: MostAllocated\n        resources:\n        - {name: cpu}\n")
    assert cfg.profiles[0].plugin_config["NodeResourcesFit"]["scoringStrategy"]["resources"] == [
        {"name": "cpu", "weight": 1}]
