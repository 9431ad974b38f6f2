"""/configz: "is it using my config?" — both schedulers report the configuration they loaded.

Every replica of the lab's custom-k8s-scheduler (kube-scheduler v1.29.15, the oracle) and of
py-scheduler is asked for /configz as metrics-reader (whose role allows get on /configz). Their
answers must name the profiles of their own ConfigMaps (read from the cluster) and agree with each
other on what the two ConfigMaps share: NodeResourcesFit's scoring strategy, its resources and
weights, and the plugin weights. An anonymous caller must be refused with kube-scheduler's status
and body. Local replicas are reached on 127.0.0.1, pods elsewhere through `kubectl port-forward`
(harness.replica_get).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.harness import SuiteCluster

KUBE_SCHEDULER, PY_SCHEDULER = "custom-k8s-scheduler", "py-scheduler"
HINT = "(a lab deployed before metrics-reader could get /configz: run `python -m lab deploy` again)"


def configmap_profiles(cluster: SuiteCluster, app: str) -> list[str]:
    cm = cluster.get(f"/api/v1/namespaces/kube-system/configmaps/{app}-config")
    config = yaml.safe_load(cm["data"][f"{app}-config.yaml"])
    return [p["schedulerName"] for p in config["profiles"]]


def configz_of(cluster: SuiteCluster, app: str) -> dict[str, Any]:
    """The componentconfig every replica of `app` serves (they must all serve the same)."""
    answers = cluster.replica_get(app, "/configz")
    assert len(answers) == 2, f"{app}: expected 2 replicas, got {[r for r, _, _ in answers]}"
    for replica, code, body in answers:
        assert code == 200, f"{replica}: GET /configz as metrics-reader: HTTP {code} {body[:200]} {HINT}"
    docs = {replica: json.loads(body) for replica, _, body in answers}
    first = next(iter(docs.values()))
    assert all(doc == first for doc in docs.values()), f"{app}: replicas serve different configurations"
    assert list(first) == ["componentconfig"], f"{app}: {list(first)}"
    return first["componentconfig"]


def profile(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in config["Profiles"] if p["SchedulerName"] == name)


def fit_args(prof: dict[str, Any]) -> dict[str, Any]:
    return next(c["Args"] for c in prof["PluginConfig"] if c["Name"] == "NodeResourcesFit")


def weights(prof: dict[str, Any], point: str) -> dict[str, int]:
    return {p["Name"]: p["Weight"] for p in prof["Plugins"][point]["Enabled"] or []}


@pytest.fixture(scope="module")
def answers(cluster: SuiteCluster) -> dict[str, dict[str, Any]]:
    return {app: configz_of(cluster, app) for app in (KUBE_SCHEDULER, PY_SCHEDULER)}


def test_each_scheduler_reports_the_profiles_of_its_configmap(cluster: SuiteCluster, answers) -> None:
    for app, config in answers.items():
        assert [p["SchedulerName"] for p in config["Profiles"]] == configmap_profiles(cluster, app), app
        assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1" and "kind" not in config, app
        assert config["LeaderElection"]["ResourceName"] == app, app


def test_node_resources_fit_scoring_agrees(answers) -> None:
    upstream = profile(answers[KUBE_SCHEDULER], KUBE_SCHEDULER)
    ours = profile(answers[PY_SCHEDULER], PY_SCHEDULER)
    strategy = fit_args(upstream)["ScoringStrategy"]
    assert strategy["Type"] == "MostAllocated"  # what the lab's ConfigMap asks for
    assert fit_args(ours) == fit_args(upstream)  # type, resources with weights, ignored resources
    for point in ("Score", "MultiPoint"):
        assert weights(ours, point) == weights(upstream, point), point


def test_everything_the_two_configmaps_share_agrees(answers) -> None:
    """Beyond the brief's fields: the whole profile and the top level, but for the names the two
    ConfigMaps give differently and the kubeconfig file; the multiPoint list in its order."""

    def comparable(config: dict[str, Any], name: str) -> dict[str, Any]:
        config = json.loads(json.dumps(config))
        prof = profile(config, name)
        prof.pop("SchedulerName")
        config["Profiles"] = [prof]
        config["LeaderElection"].pop("ResourceName")
        config["ClientConnection"].pop("Kubeconfig")
        return config

    assert comparable(answers[PY_SCHEDULER], PY_SCHEDULER) == comparable(answers[KUBE_SCHEDULER], KUBE_SCHEDULER)


@contextlib.contextmanager
def first_replica_url(cluster: SuiteCluster, app: str) -> Iterator[str]:

    first = cluster.pods("kube-system", f"app.kubernetes.io/name={app}")[0]
    if cluster.can("lab_processes"):
        yield f"https://{first['status']['podIP']}:10259"  # podrunner's pod, on its loopback pod IP
        return
    pod = first["metadata"]["name"]
    with cluster.port_forward("kube-system", pod, 10259) as local:
        yield f"https://127.0.0.1:{local}"


def anonymous_get(url: str) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the schedulers' self-signed serving certificates
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as resp:
            return resp.status, {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_anonymous_configz_is_refused_like_kube_scheduler(cluster: SuiteCluster) -> None:
    refused = {}
    for app in (KUBE_SCHEDULER, PY_SCHEDULER):
        with first_replica_url(cluster, app) as url:
            refused[app] = anonymous_get(url + "/configz")
    assert refused[KUBE_SCHEDULER][0] == 403, refused[KUBE_SCHEDULER]
    assert refused[PY_SCHEDULER] == refused[KUBE_SCHEDULER]
