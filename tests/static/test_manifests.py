"""manifests/: every element of the original lab's custom-k8s-scheduler (seed 000), the Python
scheduler in the same shape, least-privilege RBAC, no credentials, valid v1.29 objects."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.static.conftest import MANIFESTS, find, manifest_docs

SCHEDULERS = {
    # name: (directory, config key, leader-election Lease, image)
    "custom-k8s-scheduler": ("kube-scheduler", "custom-k8s-scheduler-config.yaml"),
    "py-scheduler": ("py-scheduler", "py-scheduler-config.yaml"),
}
SECURE_PORT = 10259


def config_text(name: str) -> str:
    directory, key = SCHEDULERS[name]
    return find("ConfigMap", f"{name}-config", directory)["data"][key]


def config(name: str) -> dict:
    return yaml.safe_load(config_text(name))


def deployment(name: str) -> dict:
    return find("Deployment", name, SCHEDULERS[name][0])


def pod_spec(name: str) -> dict:
    return deployment(name)["spec"]["template"]["spec"]


def container(name: str) -> dict:
    containers = pod_spec(name)["containers"]
    assert len(containers) == 1
    return containers[0]


def flags(name: str) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in container(name)["command"] if a.startswith("--") and "=" in a)


# -- parsing and schema ----------------------------------------------------------------------------
def test_every_manifest_parses_into_named_objects() -> None:
    docs = manifest_docs()
    assert len(docs) >= 17
    for path, doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), path
        assert doc["metadata"].get("name"), path


def test_objects_validate_against_the_v1_29_openapi_schema() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed "
                             "(pip install kubernetes-validate==1.29.1 to check against v1.29's OpenAPI)")
    for path, doc in manifest_docs():
        kv.validate(doc, "1.29.0", strict=True)  # raises on unknown fields and wrong types


@pytest.mark.parametrize("directory", ["kube-scheduler", "py-scheduler", "samples"])
def test_kustomization_lists_exactly_the_files_beside_it(directory: str) -> None:
    here = MANIFESTS / directory
    kustomization = yaml.safe_load((here / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    files = sorted(p.name for p in here.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files


def test_top_level_kustomization_is_both_schedulers() -> None:
    top = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert top["resources"] == ["kube-scheduler", "py-scheduler"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH to run `kubectl kustomize`")
@pytest.mark.parametrize("directory", ["", "kube-scheduler", "py-scheduler", "samples"])
def test_kubectl_kustomize_builds(directory: str) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(MANIFESTS / directory)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    built = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out.stdout) if d)
    parts = [directory] if directory else ["kube-scheduler", "py-scheduler"]  # the top level has no samples
    expected = sorted((d["kind"], d["metadata"]["name"]) for part in parts for _, d in manifest_docs(part))
    assert built == expected


# -- custom-k8s-scheduler: the seed's elements, one by one ------------------------------------------
def test_service_account() -> None:
    for name, (directory, _) in SCHEDULERS.items():
        sa = find("ServiceAccount", name, directory)
        assert sa["metadata"]["namespace"] == "kube-system"
        assert pod_spec(name)["serviceAccountName"] == name


def test_cluster_role_bindings() -> None:
    subject = [{"kind": "ServiceAccount", "name": "custom-k8s-scheduler", "namespace": "kube-system"}]
    own = find("ClusterRoleBinding", "custom-k8s-scheduler-as-kube-scheduler", "kube-scheduler")
    assert own["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "custom-k8s-scheduler"}
    assert own["subjects"] == subject
    volume = find("ClusterRoleBinding", "custom-k8s-scheduler-as-volume-scheduler", "kube-scheduler")
    assert volume["roleRef"]["name"] == "system:volume-scheduler" and volume["subjects"] == subject


def test_authentication_reader_role_binding() -> None:
    rb = find("RoleBinding", "custom-k8s-scheduler-extension-apiserver-authentication-reader", "kube-scheduler")
    assert rb["metadata"]["namespace"] == "kube-system"
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": "extension-apiserver-authentication-reader"}
    assert rb["subjects"][0]["name"] == "custom-k8s-scheduler"


def test_config_profile_most_allocated() -> None:
    cfg = config("custom-k8s-scheduler")
    assert cfg["apiVersion"] == "kubescheduler.config.k8s.io/v1" and cfg["kind"] == "KubeSchedulerConfiguration"
    [profile] = cfg["profiles"]
    assert profile["schedulerName"] == "custom-k8s-scheduler"
    assert profile["plugins"]["score"]["enabled"] == [{"name": "NodeResourcesFit", "weight": 1}]
    assert profile["plugins"]["multiPoint"]["enabled"] == [{"name": "NodeResourcesFit"}]
    assert_most_allocated(profile)


def assert_most_allocated(profile: dict) -> None:
    [fit] = [p for p in profile["pluginConfig"] if p["name"] == "NodeResourcesFit"]
    strategy = fit["args"]["scoringStrategy"]
    assert strategy["type"] == "MostAllocated"
    assert strategy["resources"] == [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_leader_election_and_client_connection(name: str) -> None:
    cfg = config(name)
    assert cfg["leaderElection"] == {"leaderElect": True, "resourceNamespace": "kube-system", "resourceName": name}
    assert cfg["clientConnection"] == {"qps": 100, "burst": 200}, "qps 100 / burst 200, and no kubeconfig"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_deployment_metadata_and_replicas(name: str) -> None:
    d = deployment(name)
    assert d["metadata"]["namespace"] == "kube-system"
    assert {"component": "scheduler", "tier": "control-plane"}.items() <= d["metadata"]["labels"].items()
    assert d["spec"]["replicas"] == 2
    template_labels = d["spec"]["template"]["metadata"]["labels"]
    assert d["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert {"component": "scheduler", "tier": "control-plane"}.items() <= template_labels.items()


def test_the_two_deployments_never_select_each_others_pods() -> None:
    a, b = deployment("custom-k8s-scheduler"), deployment("py-scheduler")
    for one, other in ((a, b), (b, a)):
        selector = one["spec"]["selector"]["matchLabels"]
        assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("name", SCHEDULERS)
def test_affinity(name: str) -> None:
    affinity = pod_spec(name)["affinity"]
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in terms[0]["matchExpressions"]
    [anti] = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    own_labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
    assert anti["labelSelector"]["matchLabels"].items() <= own_labels.items()


@pytest.mark.parametrize("name", SCHEDULERS)
def test_control_plane_toleration(name: str) -> None:
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} \
        in pod_spec(name)["tolerations"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_security_context(name: str) -> None:
    spec = pod_spec(name)
    pod_sc, sc = spec["securityContext"], container(name)["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert isinstance(pod_sc["runAsGroup"], int) and pod_sc["runAsGroup"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc.get("privileged", False) is False
    assert spec["hostNetwork"] is False and spec["hostPID"] is False
    assert not spec.get("hostIPC", False)
    assert spec["priorityClassName"] == "system-cluster-critical"


def test_kube_scheduler_command_and_image(spec) -> None:
    c = container("custom-k8s-scheduler")
    assert c["command"][0].endswith("kube-scheduler")
    assert flags("custom-k8s-scheduler") == {
        "bind-address": "0.0.0.0",
        "config": "/etc/kubernetes/custom-k8s-scheduler/custom-k8s-scheduler-config.yaml",
        "v": "5"}
    assert c["image"] == f"registry.k8s.io/kube-scheduler:{spec.versions.kubernetes}"


def test_py_scheduler_command_and_image() -> None:
    c = container("py-scheduler")
    assert c["command"][:3] == ["python", "-m", "scheduler"]
    assert flags("py-scheduler") == {"config": "/etc/kubernetes/py-scheduler/py-scheduler-config.yaml",
                                     "bind-address": "0.0.0.0", "secure-port": str(SECURE_PORT), "v": "4"}
    assert c["image"] == "scheduler-lab/py-scheduler:0.1.0" and c["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_probes_on_the_secure_port(name: str) -> None:
    c = container(name)
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": SECURE_PORT, "scheme": "HTTPS"}, probe
    assert {"name": "https", "containerPort": SECURE_PORT, "protocol": "TCP"} in c["ports"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_resources(name: str) -> None:
    assert container(name)["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"},
                                            "limits": {"cpu": "500m", "memory": "512Mi"}}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_config_mount_matches_the_config_flag(name: str) -> None:
    directory, key = SCHEDULERS[name]
    mount = next(m for m in container(name)["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == f"/etc/kubernetes/{name}" and mount["readOnly"] is True
    volume = next(v for v in pod_spec(name)["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == f"{name}-config"
    assert flags(name)["config"] == f"{mount['mountPath']}/{key}"
    # The only writable path is an emptyDir at /tmp.
    tmp = next(m for m in container(name)["volumeMounts"] if m["name"] == "tmp")
    assert tmp["mountPath"] == "/tmp"
    assert "emptyDir" in next(v for v in pod_spec(name)["volumes"] if v["name"] == "tmp")


def test_py_scheduler_profiles() -> None:
    cfg = config("py-scheduler")
    profiles = {p["schedulerName"]: p for p in cfg["profiles"]}
    assert set(profiles) == {"py-scheduler", "random-scheduler"}
    assert_most_allocated(profiles["py-scheduler"])
    score = profiles["random-scheduler"]["plugins"]["score"]
    assert score == {"disabled": [{"name": "*"}], "enabled": [{"name": "Random", "weight": 1}]}
    assert "multiPoint" not in profiles["random-scheduler"]["plugins"], "filters, queue sort and binder stay"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_config_loads_with_the_python_scheduler(name: str) -> None:
    from scheduler.core.profiles import load_config_text

    loaded = load_config_text(config_text(name), f"manifests/{SCHEDULERS[name][0]}/configmap.yaml")
    le = loaded.leader_election
    assert (le.leader_elect, le.resource_namespace, le.resource_name) == (True, "kube-system", name)
    assert (loaded.client_connection.qps, loaded.client_connection.burst) == (100, 200)
    assert loaded.client_connection.kubeconfig == ""
    names = [p.scheduler_name for p in loaded.profiles]
    assert names == ([name] if name == "custom-k8s-scheduler" else ["py-scheduler", "random-scheduler"])
    assert loaded.profile(name).score_weights["NodeResourcesFit"] == 1
    if name == "py-scheduler":
        assert loaded.profile("random-scheduler").score_weights == {"Random": 1}


# -- RBAC: least privilege ------------------------------------------------------------------------
def rbac_roles() -> list[tuple[str, dict]]:
    return [(str(path), d) for path, d in manifest_docs() if d["kind"] in ("ClusterRole", "Role")]


def test_rbac_has_no_wildcards_secrets_or_escalation() -> None:
    roles = rbac_roles()
    assert {d["metadata"]["name"] for _, d in roles} == {"custom-k8s-scheduler", "py-scheduler"}
    for path, role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), f"{path}: wildcard in {field}"
            assert not {"secrets", "configmaps", "serviceaccounts/token"} & set(rule["resources"]), path
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), path
            assert "nonResourceURLs" not in rule, path


def test_every_rbac_rule_says_what_it_is_for() -> None:
    for name, (directory, _) in SCHEDULERS.items():
        lines = (MANIFESTS / directory / "clusterrole.yaml").read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("- apiGroups:"):
                above = lines[i - 1].strip()
                assert above.startswith("#"), f"{directory}/clusterrole.yaml:{i + 1}: rule without a comment"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_lease_rules_are_limited_to_the_schedulers_own_lease(name: str) -> None:
    role = find("ClusterRole", name, SCHEDULERS[name][0])
    lease_rules = [r for r in role["rules"] if "leases" in r["resources"]]
    create = [r for r in lease_rules if "resourceNames" not in r]
    named = [r for r in lease_rules if "resourceNames" in r]
    assert [r["verbs"] for r in create] == [["create"]]
    # The Python scheduler also watches its own Lease (a standby wakes at once on release).
    verbs = ["get", "update"] if name == "custom-k8s-scheduler" else ["get", "list", "update", "watch"]
    assert [(r["resourceNames"], sorted(r["verbs"])) for r in named] == [([name], verbs)]
    assert config(name)["leaderElection"]["resourceName"] == name


def triples(role: dict) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def test_kube_scheduler_role_covers_what_v1_29_needs() -> None:
    got = triples(find("ClusterRole", "custom-k8s-scheduler", "kube-scheduler"))
    needed = {("", "pods/binding", "create"), ("", "pods/status", "patch"), ("", "pods/status", "update"),
              ("", "pods", "delete"), ("coordination.k8s.io", "leases", "create"),
              ("authentication.k8s.io", "tokenreviews", "create"),
              ("authorization.k8s.io", "subjectaccessreviews", "create")}
    for group in ("", "events.k8s.io"):
        needed |= {(group, "events", v) for v in ("create", "patch", "update")}
    reads = {"": ["nodes", "pods", "namespaces", "services", "replicationcontrollers",
                  "persistentvolumeclaims", "persistentvolumes"],
             "apps": ["replicasets", "statefulsets"], "policy": ["poddisruptionbudgets"],
             "storage.k8s.io": ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"]}
    needed |= {(g, r, v) for g, rs in reads.items() for r in rs for v in ("get", "list", "watch")}
    assert needed <= got, sorted(needed - got)


# system:volume-scheduler (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, v1.29.15), bound
# to custom-k8s-scheduler by bindings.yaml: ReadUpdate on PVs and PVCs, Read on StorageClasses.
VOLUME_SCHEDULER = ({("", r, v) for r in ("persistentvolumes", "persistentvolumeclaims")
                     for v in ("get", "list", "watch", "update", "patch")}
                    | {("storage.k8s.io", "storageclasses", v) for v in ("get", "list", "watch")})


def test_py_scheduler_needs_less_than_kube_scheduler() -> None:
    py = triples(find("ClusterRole", "py-scheduler", "py-scheduler"))
    kube = triples(find("ClusterRole", "custom-k8s-scheduler", "kube-scheduler")) | VOLUME_SCHEDULER
    lease_watch = {("coordination.k8s.io", "leases", "list"), ("coordination.k8s.io", "leases", "watch")}
    assert py - lease_watch < kube, sorted(py - lease_watch - kube)
    assert {("", "nodes", "list"), ("", "nodes", "watch"), ("", "pods", "list"), ("", "pods", "watch"),
            ("", "pods/binding", "create"), ("", "pods/status", "patch"), ("", "events", "create"),
            ("events.k8s.io", "events", "create")} <= py
    # The informers behind PodTopologySpread's defaults and InterPodAffinity's namespaceSelector.
    workloads = {"": ["services", "replicationcontrollers", "namespaces"], "apps": ["replicasets", "statefulsets"]}
    assert {(g, r, v) for g, rs in workloads.items() for r in rs for v in ("list", "watch")} <= py
    # Volume informers, and VolumeBinding's PreBind writes (update only: it PUTs, as upstream does).
    volumes = {("", r, v) for r in ("persistentvolumeclaims", "persistentvolumes") for v in ("list", "watch", "update")}
    volumes |= {("storage.k8s.io", r, v) for r in ("storageclasses", "csinodes") for v in ("list", "watch")}
    assert {t for t in py if t[1] in ("persistentvolumeclaims", "persistentvolumes", "storageclasses",
                                      "csinodes")} == volumes
    # Preemption, as kube-scheduler: delete pods (nothing else) and read PodDisruptionBudgets.
    assert {t for t in py if t[2] == "delete"} == {("", "pods", "delete")}
    assert {t for t in py if t[1] == "poddisruptionbudgets"} == {("policy", "poddisruptionbudgets", "list"),
                                                                ("policy", "poddisruptionbudgets", "watch")}


def test_bindings_only_grant_the_schedulers_roles() -> None:
    allowed = {"custom-k8s-scheduler", "py-scheduler", "system:volume-scheduler",
               "extension-apiserver-authentication-reader", "system:auth-delegator"}
    bindings = [d for _, d in manifest_docs() if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert len(bindings) == 5
    for b in bindings:
        assert b["roleRef"]["name"] in allowed, b["metadata"]["name"]
        assert all(s["kind"] == "ServiceAccount" and s["namespace"] == "kube-system" for s in b["subjects"])


def test_py_scheduler_may_review_tokens_and_access() -> None:
    """Its secure port delegates authn/authz (TokenReview, SubjectAccessReview): the built-in
    system:auth-delegator grants exactly those two creates, as system:kube-scheduler does upstream."""
    binding = find("ClusterRoleBinding", "py-scheduler-as-auth-delegator", "py-scheduler")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "system:auth-delegator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "py-scheduler", "namespace": "kube-system"}]


def test_network_policy_admits_only_scrapers_to_the_secure_port() -> None:
    policy = find("NetworkPolicy", "py-scheduler", "py-scheduler")
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == "kube-system"
    # It selects exactly the Deployment's pods.
    assert spec["podSelector"]["matchLabels"].items() <= deployment("py-scheduler")["spec"]["template"]["metadata"][
        "labels"].items()
    assert spec["policyTypes"] == ["Ingress"], "egress stays open: the scheduler must reach the API server"
    [rule] = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": SECURE_PORT}]
    [peer] = rule["from"]
    assert set(peer) == {"namespaceSelector"}, "only labelled namespaces, never every pod or an IP block"
    assert peer["namespaceSelector"]["matchLabels"] == {"scheduler-lab.dev/scrape-schedulers": "true"}


# -- no credentials ---------------------------------------------------------------------------------
CREDENTIAL_PATTERNS = [r"client-key-data", r"client-certificate-data", r"\btoken\s*:", r"password",
                       r"BEGIN [A-Z ]*PRIVATE KEY", r"kind:\s*Config\b", r"\bkubeconfig\s*:"]


def test_no_secrets_and_no_credentials_in_config_maps() -> None:
    docs = manifest_docs()
    assert not [d for _, d in docs if d["kind"] == "Secret"]
    for path, d in docs:
        if d["kind"] != "ConfigMap":
            continue
        for key, value in d["data"].items():
            for pattern in CREDENTIAL_PATTERNS:
                assert not re.search(pattern, value, re.IGNORECASE), f"{path}: {key} matches {pattern}"


# -- samples ---------------------------------------------------------------------------------------
def sample(kind: str, name: str) -> dict:
    return find(kind, name, "samples")


def test_samples_use_the_right_schedulers() -> None:
    assert sample("Pod", "sample")["spec"]["schedulerName"] == "custom-k8s-scheduler"
    assert sample("Pod", "nginx")["spec"]["schedulerName"] == "my-scheduler"
    assert sample("Pod", "py-sample")["spec"]["schedulerName"] == "py-scheduler"
    sleep = sample("Deployment", "sleep")
    assert sleep["metadata"]["labels"]["app"] == "sleep"
    assert sleep["spec"]["template"]["spec"]["schedulerName"] == "random-scheduler"
    annotated = sample("Pod", "custom-scheduler-pod")
    assert annotated["metadata"]["annotations"] == {"scheduler.alpha.kubernetes.io/name": "custom-scheduler"}
    assert "schedulerName" not in annotated["spec"], "only the deprecated annotation, so default-scheduler wins"


def test_sample_pod_tolerates_the_control_plane() -> None:
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} \
        in sample("Pod", "sample")["spec"]["tolerations"]


def pod_specs_of_samples() -> list[tuple[str, dict]]:
    out = []
    for _, d in manifest_docs("samples"):
        spec = d["spec"]["template"]["spec"] if d["kind"] == "Deployment" else d["spec"]
        out.append((d["metadata"]["name"], spec))
    return out


def test_samples_are_small_pinned_and_namespace_free() -> None:
    for _, d in manifest_docs("samples"):
        assert "namespace" not in d["metadata"], "samples go into the namespace the user (or a test) picks"
    for name, spec in pod_specs_of_samples():
        for c in spec["containers"]:
            image = c["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"
            requests = c["resources"]["requests"]
            assert int(requests["cpu"].rstrip("m")) <= 100 and requests["memory"].endswith("Mi")
            assert int(requests["memory"].rstrip("Mi")) <= 128, name
