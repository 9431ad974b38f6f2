"""/configz: the rendering of a loaded configuration against the live kube-scheduler v1.29.15's answer.

The *_ORACLE strings are what kube-scheduler v1.29.15 served at /configz (byte for byte, the
kubeconfig path replaced by the same string in config and answer) for the *_CONFIG files, recorded
on the local lab on 2026-12-06 (a kube-scheduler started with --config=<file> at the default -v=0,
curl /configz).
kube-scheduler v1.29 appends SchedulingGates to the default multiPoint plugins (the
PodSchedulingReadiness gate); scheduler.core.config.DEFAULT_MULTI_POINT lists it last too.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.config import parse_go_duration
from scheduler.core.profiles import load_config_text
from scheduler.runtime import configz
from scheduler.runtime.auth import DelegatedAuth
from scheduler.runtime.metrics import SchedulerMetrics
from scheduler.runtime.server import Checks, ProbeServer

RICH_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
parallelism: 8
percentageOfNodesToScore: 40
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 30
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
  qps: 50.5
  burst: 7
leaderElection:
  leaderElect: false
  leaseDuration: 1m30s
  renewDeadline: 1500ms
  retryPeriod: 0.5s
profiles:
  - schedulerName: oracle-a
    percentageOfNodesToScore: 20
    plugins:
      score:
        disabled:
          - name: "*"
        enabled:
          - name: NodeResourcesFit
            weight: 5
          - name: ImageLocality
      filter:
        disabled:
          - name: NodePorts
    pluginConfig:
      - name: NodeResourcesFit
        args:
          ignoredResources: ["example.com/foo"]
          scoringStrategy:
            type: RequestedToCapacityRatio
            resources:
              - name: cpu
                weight: 3
            requestedToCapacityRatio:
              shape:
                - utilization: 0
                  score: 0
                - utilization: 100
                  score: 10
      - name: PodTopologySpread
        args:
          defaultingType: List
          defaultConstraints:
            - maxSkew: 1
              topologyKey: topology.kubernetes.io/zone
              whenUnsatisfiable: ScheduleAnyway
      - name: InterPodAffinity
        args:
          hardPodAffinityWeight: 5
  - schedulerName: oracle-b
    plugins:
      multiPoint:
        disabled:
          - name: ImageLocality
    pluginConfig:
      - name: NodeAffinity
        args:
          addedAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms:
                - matchExpressions:
                    - key: example.com/zone
                      operator: Exists
      - name: VolumeBinding
        args:
          bindTimeoutSeconds: 30
"""

RICH_ORACLE = (
    '{"componentconfig":{"apiVersion":"kubescheduler.config.k8s.io/v1","Parallelism":8,"LeaderElectio'
    'n":{"LeaderElect":false,"LeaseDuration":"1m30s","RenewDeadline":"1.5s","RetryPeriod":"500ms","Re'
    'sourceLock":"leases","ResourceName":"kube-scheduler","ResourceNamespace":"kube-system"},"ClientC'
    'onnection":{"Kubeconfig":"/etc/kubernetes/scheduler.conf","AcceptContentTypes":"","ContentType":'
    '"application/vnd.kubernetes.protobuf","QPS":50.5,"Burst":7},"HealthzBindAddress":"","MetricsBind'
    'Address":"","EnableProfiling":true,"EnableContentionProfiling":true,"PercentageOfNodesToScore":4'
    '0,"PodInitialBackoffSeconds":2,"PodMaxBackoffSeconds":30,"Profiles":[{"SchedulerName":"oracle-a"'
    ',"PercentageOfNodesToScore":20,"Plugins":{"PreEnqueue":{"Enabled":null,"Disabled":null},"QueueSo'
    'rt":{"Enabled":null,"Disabled":null},"PreFilter":{"Enabled":null,"Disabled":null},"Filter":{"Ena'
    'bled":null,"Disabled":[{"Name":"NodePorts","Weight":0}]},"PostFilter":{"Enabled":null,"Disabled"'
    ':null},"PreScore":{"Enabled":null,"Disabled":null},"Score":{"Enabled":[{"Name":"NodeResourcesFit'
    '","Weight":5},{"Name":"ImageLocality","Weight":0}],"Disabled":[{"Name":"*","Weight":0}]},"Reserv'
    'e":{"Enabled":null,"Disabled":null},"Permit":{"Enabled":null,"Disabled":null},"PreBind":{"Enable'
    'd":null,"Disabled":null},"Bind":{"Enabled":null,"Disabled":null},"PostBind":{"Enabled":null,"Dis'
    'abled":null},"MultiPoint":{"Enabled":[{"Name":"PrioritySort","Weight":0},{"Name":"NodeUnschedula'
    'ble","Weight":0},{"Name":"NodeName","Weight":0},{"Name":"TaintToleration","Weight":3},{"Name":"N'
    'odeAffinity","Weight":2},{"Name":"NodePorts","Weight":0},{"Name":"NodeResourcesFit","Weight":1},'
    '{"Name":"VolumeRestrictions","Weight":0},{"Name":"EBSLimits","Weight":0},{"Name":"GCEPDLimits","'
    'Weight":0},{"Name":"NodeVolumeLimits","Weight":0},{"Name":"AzureDiskLimits","Weight":0},{"Name":'
    '"VolumeBinding","Weight":0},{"Name":"VolumeZone","Weight":0},{"Name":"PodTopologySpread","Weight'
    '":2},{"Name":"InterPodAffinity","Weight":2},{"Name":"DefaultPreemption","Weight":0},{"Name":"Nod'
    'eResourcesBalancedAllocation","Weight":1},{"Name":"ImageLocality","Weight":1},{"Name":"DefaultBi'
    'nder","Weight":0},{"Name":"SchedulingGates","Weight":0}],"Disabled":null}},"PluginConfig":[{"Nam'
    'e":"NodeResourcesFit","Args":{"IgnoredResources":["example.com/foo"],"IgnoredResourceGroups":nul'
    'l,"ScoringStrategy":{"Type":"RequestedToCapacityRatio","Resources":[{"Name":"cpu","Weight":3}],"'
    'RequestedToCapacityRatio":{"Shape":[{"Utilization":0,"Score":0},{"Utilization":100,"Score":10}]}'
    '}}},{"Name":"PodTopologySpread","Args":{"DefaultConstraints":[{"maxSkew":1,"topologyKey":"topolo'
    'gy.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway"}],"DefaultingType":"List"}},{"Name":'
    '"InterPodAffinity","Args":{"HardPodAffinityWeight":5,"IgnorePreferredTermsOfExistingPods":false}'
    '},{"Name":"DefaultPreemption","Args":{"MinCandidateNodesPercentage":10,"MinCandidateNodesAbsolut'
    'e":100}},{"Name":"NodeAffinity","Args":{"AddedAffinity":null}},{"Name":"NodeResourcesBalancedAll'
    'ocation","Args":{"Resources":[{"Name":"cpu","Weight":1},{"Name":"memory","Weight":1}]}},{"Name":'
    '"VolumeBinding","Args":{"BindTimeoutSeconds":600,"Shape":null}}]},{"SchedulerName":"oracle-b","P'
    'ercentageOfNodesToScore":null,"Plugins":{"PreEnqueue":{"Enabled":null,"Disabled":null},"QueueSor'
    't":{"Enabled":null,"Disabled":null},"PreFilter":{"Enabled":null,"Disabled":null},"Filter":{"Enab'
    'led":null,"Disabled":null},"PostFilter":{"Enabled":null,"Disabled":null},"PreScore":{"Enabled":n'
    'ull,"Disabled":null},"Score":{"Enabled":null,"Disabled":null},"Reserve":{"Enabled":null,"Disable'
    'd":null},"Permit":{"Enabled":null,"Disabled":null},"PreBind":{"Enabled":null,"Disabled":null},"B'
    'ind":{"Enabled":null,"Disabled":null},"PostBind":{"Enabled":null,"Disabled":null},"MultiPoint":{'
    '"Enabled":[{"Name":"PrioritySort","Weight":0},{"Name":"NodeUnschedulable","Weight":0},{"Name":"N'
    'odeName","Weight":0},{"Name":"TaintToleration","Weight":3},{"Name":"NodeAffinity","Weight":2},{"'
    'Name":"NodePorts","Weight":0},{"Name":"NodeResourcesFit","Weight":1},{"Name":"VolumeRestrictions'
    '","Weight":0},{"Name":"EBSLimits","Weight":0},{"Name":"GCEPDLimits","Weight":0},{"Name":"NodeVol'
    'umeLimits","Weight":0},{"Name":"AzureDiskLimits","Weight":0},{"Name":"VolumeBinding","Weight":0}'
    ',{"Name":"VolumeZone","Weight":0},{"Name":"PodTopologySpread","Weight":2},{"Name":"InterPodAffin'
    'ity","Weight":2},{"Name":"DefaultPreemption","Weight":0},{"Name":"NodeResourcesBalancedAllocatio'
    'n","Weight":1},{"Name":"DefaultBinder","Weight":0},{"Name":"SchedulingGates","Weight":0}],"Disab'
    'led":[{"Name":"ImageLocality","Weight":0}]}},"PluginConfig":[{"Name":"NodeAffinity","Args":{"Add'
    'edAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpre'
    'ssions":[{"key":"example.com/zone","operator":"Exists"}]}]}}}},{"Name":"VolumeBinding","Args":{"'
    'BindTimeoutSeconds":30,"Shape":null}},{"Name":"DefaultPreemption","Args":{"MinCandidateNodesPerc'
    'entage":10,"MinCandidateNodesAbsolute":100}},{"Name":"InterPodAffinity","Args":{"HardPodAffinity'
    'Weight":1,"IgnorePreferredTermsOfExistingPods":false}},{"Name":"NodeResourcesBalancedAllocation"'
    ',"Args":{"Resources":[{"Name":"cpu","Weight":1},{"Name":"memory","Weight":1}]}},{"Name":"NodeRes'
    'ourcesFit","Args":{"IgnoredResources":null,"IgnoredResourceGroups":null,"ScoringStrategy":{"Type'
    '":"LeastAllocated","Resources":[{"Name":"cpu","Weight":1},{"Name":"memory","Weight":1}],"Request'
    'edToCapacityRatio":null}}},{"Name":"PodTopologySpread","Args":{"DefaultConstraints":null,"Defaul'
    'tingType":"System"}}]}],"Extenders":null,"DelayCacheUntilActive":false}}'
)

PY_LIKE_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
  qps: 100
  burst: 200
leaderElection:
  leaderElect: false
profiles:
  - schedulerName: py-scheduler
    plugins:
      multiPoint:
        enabled:
          - name: NodeResourcesFit
      score:
        enabled:
          - name: NodeResourcesFit
            weight: 1
    pluginConfig:
      - name: NodeResourcesFit
        args:
          apiVersion: kubescheduler.config.k8s.io/v1
          kind: NodeResourcesFitArgs
          scoringStrategy:
            type: MostAllocated
            resources:
              - name: cpu
                weight: 1
              - name: memory
                weight: 1
  - schedulerName: random-scheduler
    plugins:
      score:
        disabled:
          - name: "*"
        enabled:
          - name: ImageLocality
            weight: 1
      multiPoint:
        disabled:
          - name: "*"
        enabled:
          - name: PrioritySort
          - name: DefaultBinder
"""

PY_LIKE_ORACLE = (
    '{"componentconfig":{"apiVersion":"kubescheduler.config.k8s.io/v1","Parallelism":16,"LeaderElecti'
    'on":{"LeaderElect":false,"LeaseDuration":"15s","RenewDeadline":"10s","RetryPeriod":"2s","Resourc'
    'eLock":"leases","ResourceName":"kube-scheduler","ResourceNamespace":"kube-system"},"ClientConnec'
    'tion":{"Kubeconfig":"/etc/kubernetes/scheduler.conf","AcceptContentTypes":"","ContentType":"appl'
    'ication/vnd.kubernetes.protobuf","QPS":100,"Burst":200},"HealthzBindAddress":"","MetricsBindAddr'
    'ess":"","EnableProfiling":true,"EnableContentionProfiling":true,"PercentageOfNodesToScore":0,"Po'
    'dInitialBackoffSeconds":1,"PodMaxBackoffSeconds":10,"Profiles":[{"SchedulerName":"py-scheduler",'
    '"PercentageOfNodesToScore":null,"Plugins":{"PreEnqueue":{"Enabled":null,"Disabled":null},"QueueS'
    'ort":{"Enabled":null,"Disabled":null},"PreFilter":{"Enabled":null,"Disabled":null},"Filter":{"En'
    'abled":null,"Disabled":null},"PostFilter":{"Enabled":null,"Disabled":null},"PreScore":{"Enabled"'
    ':null,"Disabled":null},"Score":{"Enabled":[{"Name":"NodeResourcesFit","Weight":1}],"Disabled":nu'
    'll},"Reserve":{"Enabled":null,"Disabled":null},"Permit":{"Enabled":null,"Disabled":null},"PreBin'
    'd":{"Enabled":null,"Disabled":null},"Bind":{"Enabled":null,"Disabled":null},"PostBind":{"Enabled'
    '":null,"Disabled":null},"MultiPoint":{"Enabled":[{"Name":"PrioritySort","Weight":0},{"Name":"Nod'
    'eUnschedulable","Weight":0},{"Name":"NodeName","Weight":0},{"Name":"TaintToleration","Weight":3}'
    ',{"Name":"NodeAffinity","Weight":2},{"Name":"NodePorts","Weight":0},{"Name":"NodeResourcesFit","'
    'Weight":0},{"Name":"VolumeRestrictions","Weight":0},{"Name":"EBSLimits","Weight":0},{"Name":"GCE'
    'PDLimits","Weight":0},{"Name":"NodeVolumeLimits","Weight":0},{"Name":"AzureDiskLimits","Weight":'
    '0},{"Name":"VolumeBinding","Weight":0},{"Name":"VolumeZone","Weight":0},{"Name":"PodTopologySpre'
    'ad","Weight":2},{"Name":"InterPodAffinity","Weight":2},{"Name":"DefaultPreemption","Weight":0},{'
    '"Name":"NodeResourcesBalancedAllocation","Weight":1},{"Name":"ImageLocality","Weight":1},{"Name"'
    ':"DefaultBinder","Weight":0},{"Name":"SchedulingGates","Weight":0}],"Disabled":null}},"PluginCon'
    'fig":[{"Name":"NodeResourcesFit","Args":{"IgnoredResources":null,"IgnoredResourceGroups":null,"S'
    'coringStrategy":{"Type":"MostAllocated","Resources":[{"Name":"cpu","Weight":1},{"Name":"memory",'
    '"Weight":1}],"RequestedToCapacityRatio":null}}},{"Name":"DefaultPreemption","Args":{"MinCandidat'
    'eNodesPercentage":10,"MinCandidateNodesAbsolute":100}},{"Name":"InterPodAffinity","Args":{"HardP'
    'odAffinityWeight":1,"IgnorePreferredTermsOfExistingPods":false}},{"Name":"NodeAffinity","Args":{'
    '"AddedAffinity":null}},{"Name":"NodeResourcesBalancedAllocation","Args":{"Resources":[{"Name":"c'
    'pu","Weight":1},{"Name":"memory","Weight":1}]}},{"Name":"PodTopologySpread","Args":{"DefaultCons'
    'traints":null,"DefaultingType":"System"}},{"Name":"VolumeBinding","Args":{"BindTimeoutSeconds":6'
    '00,"Shape":null}}]},{"SchedulerName":"random-scheduler","PercentageOfNodesToScore":null,"Plugins'
    '":{"PreEnqueue":{"Enabled":null,"Disabled":null},"QueueSort":{"Enabled":null,"Disabled":null},"P'
    'reFilter":{"Enabled":null,"Disabled":null},"Filter":{"Enabled":null,"Disabled":null},"PostFilter'
    '":{"Enabled":null,"Disabled":null},"PreScore":{"Enabled":null,"Disabled":null},"Score":{"Enabled'
    '":[{"Name":"ImageLocality","Weight":1}],"Disabled":[{"Name":"*","Weight":0}]},"Reserve":{"Enable'
    'd":null,"Disabled":null},"Permit":{"Enabled":null,"Disabled":null},"PreBind":{"Enabled":null,"Di'
    'sabled":null},"Bind":{"Enabled":null,"Disabled":null},"PostBind":{"Enabled":null,"Disabled":null'
    '},"MultiPoint":{"Enabled":[{"Name":"PrioritySort","Weight":0},{"Name":"DefaultBinder","Weight":0'
    '}],"Disabled":[{"Name":"*","Weight":0}]}},"PluginConfig":null}],"Extenders":null,"DelayCacheUnti'
    'lActive":false}}'
)


@pytest.fixture(autouse=True)
def empty_registry() -> Iterator[None]:
    configz.clear()
    yield
    configz.clear()


@pytest.mark.parametrize(("config", "oracle"), [(RICH_CONFIG, RICH_ORACLE), (PY_LIKE_CONFIG, PY_LIKE_ORACLE)],
                         ids=["rich", "py-like"])
def test_body_is_kube_schedulers_answer_byte_for_byte(config: str, oracle: str) -> None:
    configz.install(load_config_text(config, "config.yaml"))
    assert configz.body().decode() == oracle


def test_at_verbosity_two_plugin_config_is_sorted_like_kube_scheduler() -> None:
    # Measured: the same PY_LIKE_CONFIG at kube-scheduler -v=2 served the same answer but with every
    # profile's pluginConfig sorted by name (its "Using component config" log line sorts them in place).
    oracle = json.loads(PY_LIKE_ORACLE)
    for prof in oracle["componentconfig"]["Profiles"]:
        prof["PluginConfig"] = sorted(prof["PluginConfig"] or [], key=lambda c: c["Name"]) or None
    configz.install(load_config_text(PY_LIKE_CONFIG, "config.yaml"), verbosity=2)
    served = configz.body().decode()
    assert served == json.dumps(oracle, separators=(",", ":"), ensure_ascii=False)
    assert served != PY_LIKE_ORACLE  # the order really changed (NodeResourcesFit was first)


def test_only_the_place_of_scheduling_gates_differs() -> None:
    # Guards the normalisation above: without it the answers differ in the multiPoint order only.
    configz.install(load_config_text(PY_LIKE_CONFIG, "config.yaml"))
    ours = json.loads(configz.body())["componentconfig"]
    theirs = json.loads(PY_LIKE_ORACLE)["componentconfig"]
    for doc in (ours, theirs):
        for profile in doc["Profiles"]:
            profile["Plugins"]["MultiPoint"]["Enabled"] = sorted(profile["Plugins"]["MultiPoint"]["Enabled"] or [],
                                                                 key=lambda p: p["Name"])
    assert ours == theirs


def test_shape_componentconfig_with_api_version_and_no_kind() -> None:
    configz.install(load_config_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"))
    doc = json.loads(configz.body())
    assert list(doc) == ["componentconfig"]
    config = doc["componentconfig"]
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1" and "kind" not in config
    assert [p["SchedulerName"] for p in config["Profiles"]] == ["default-scheduler"]
    fit = next(c["Args"] for c in config["Profiles"][0]["PluginConfig"] if c["Name"] == "NodeResourcesFit")
    assert fit["ScoringStrategy"]["Type"] == "LeastAllocated"


def test_the_kubeconfig_in_use_is_shown() -> None:
    cfg = load_config_text(RICH_CONFIG, "config.yaml")
    assert configz.render(cfg)["ClientConnection"]["Kubeconfig"] == "/etc/kubernetes/scheduler.conf"
    assert configz.render(cfg, "/flag/kubeconfig")["ClientConnection"]["Kubeconfig"] == "/flag/kubeconfig"


def test_empty_registry_and_html_safe_escaping_like_encoding_json() -> None:
    assert configz.body() == b"{}"
    cfg = load_config_text(RICH_CONFIG, "config.yaml")
    configz.install(cfg, "/tmp/a<b>&c\u2028é")
    text = configz.body().decode()
    assert "/tmp/a\\u003cb\\u003e\\u0026c\\u2028é" in text
    assert json.loads(text)["componentconfig"]["ClientConnection"]["Kubeconfig"] == "/tmp/a<b>&c\u2028é"


def test_installed_answer_does_not_follow_later_changes() -> None:
    cfg = load_config_text(RICH_CONFIG, "config.yaml")
    configz.install(cfg)
    before = configz.body()
    cfg.parallelism = 99
    assert configz.body() == before


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (15, "15s"), (90, "1m30s"), (1.5, "1.5s"), (0.5, "500ms"), (3600, "1h0m0s"), (60, "1m0s"),
    (1e-6, "1µs"), (1.5e-6, "1.5µs"), (1e-9, "1ns"), (4530.918273645, "1h15m30.918273645s"), (-2, "-2s"),
])
def test_go_duration_strings(seconds: float, text: str) -> None:
    # Expected values: Go's time.Duration.String() (its documented examples and the oracle's "1m30s",
    # "1.5s", "500ms" above).
    assert configz.go_duration(seconds) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**15))
def test_go_duration_round_trips_through_the_parser(ns: int) -> None:
    text = configz.go_duration(ns / 1e9)
    assert re.fullmatch(r"(\d+h)?(\d+m)?\d+(\.\d*[1-9])?(s|ms|µs|ns)", text), text
    assert parse_go_duration(text) == pytest.approx(ns / 1e9, rel=1e-12, abs=1e-9)


# -- through the HTTP server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.mark.parametrize("allow", [True, False], ids=["authorized", "anonymous"])
def test_server_serves_configz_only_to_authorized_callers(allow: bool) -> None:
    configz.install(load_config_text(RICH_CONFIG, "config.yaml"))
    auth = DelegatedAuth(None, always_allow_paths=["/*"] if allow else ["/healthz"])
    server = ProbeServer(SchedulerMetrics(), Checks(), bind_address="127.0.0.1", port=free_port(), auth=auth)
    url = server.start()[0]
    try:
        code, body, headers = get(url + "/configz")
    finally:
        server.stop()
    if allow:
        assert (code, headers["Content-Type"], body) == (200, "application/json", configz.body())
    else:
        # kube-scheduler's answer to an anonymous caller (recorded on the lab): 403 with a metav1.Status.
        status = json.loads(body)
        assert (code, status["reason"], status["message"]) == (
            403, "Forbidden", 'forbidden: User "system:anonymous" cannot get path "/configz"')
