"""The lab cluster itself: nodes, the default scheduler, service-account auth and RBAC."""
from __future__ import annotations

import ipaddress

from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.harness import SuiteCluster, NotYet, assert_never, bound_node, pod_manifest, scheduled_event, wait_for

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _quantity(text: str) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(text))


def test_four_ready_nodes_shaped_like_the_lab_description(cluster: SuiteCluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.get("/api/v1/nodes")["items"]}
    for want in cluster.spec.nodes:
        assert want.name in nodes, f"{want.name} missing; nodes: {sorted(nodes)}"
        node = nodes[want.name]
        cond = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert cond.get("Ready") == "True", f"{want.name} not Ready: {cond}"
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints", [])}
        assert taints == {(t.key, t.effect) for t in want.taints}, f"{want.name} taints {taints}"
        for key, value in want.labels.items():
            assert node["metadata"]["labels"].get(key) == value, f"{want.name} label {key}"
        alloc = node["status"]["allocatable"]
        if cluster.can("reserved_allocatable"):
            # kind nodes report the host's CPUs and memory; the lab reserves the rest (kubelet
            # systemReserved) so allocatable is lab.yaml's, in the kubelet's units (Ki).
            assert _quantity(alloc["cpu"]) == _quantity(want.capacity["cpu"]), alloc
            assert _quantity(alloc["memory"]) == _quantity(want.capacity["memory"]), alloc
        elif cluster.can("kwok_nodes"):
            # kwok plays the kubelets and reports lab.yaml's capacity exactly.
            assert alloc["cpu"] == want.capacity["cpu"] and alloc["memory"] == want.capacity["memory"]
        else:
            # Real kubelets report their machine (a VM's 4096 MiB minus the kernel's share, or, for the
            # vagrant-containers machines, the host's): it must at least hold what lab.yaml promises the scheduler.
            assert _quantity(alloc["cpu"]) >= _quantity(want.capacity["cpu"]) * 0.9, f"{want.name} cpu {alloc}"
            assert _quantity(alloc["memory"]) >= _quantity(want.capacity["memory"]) * 0.9, f"{want.name} memory {alloc}"
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith(cluster.spec.versions.kubernetes_minor)
    assert len(nodes) == len(cluster.spec.nodes)


def test_server_is_the_pinned_kubernetes_version(cluster: SuiteCluster) -> None:
    version = cluster.get("/version")["gitVersion"]
    if cluster.can("pinned_patch_version"):
        assert version == cluster.spec.versions.kubernetes
    else:
        assert version.startswith(cluster.spec.versions.kubernetes_minor + ".")
    out = cluster.kubectl("get", "nodes", "-o", "wide").stdout
    assert cluster.spec.versions.kubernetes_minor in out and "master-node" in out or not cluster.can("spec_node_names")


def test_default_scheduler_runs_a_deployment(cluster: SuiteCluster, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": pod_manifest("web", cpu="100m", memory="64Mi")["spec"]}},
    }
    cluster.apply(deployment, namespace)

    def all_running() -> list[dict]:
        pods = cluster.pods(namespace, "app=web")
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        if len(running) != 3:
            raise NotYet(f"{len(running)}/3 Running: {[p['status'].get('phase') for p in pods]}")
        return running

    pods = wait_for(all_running, timeout=90, what="3 Running pods of the web Deployment")
    for p in pods:
        node = p["spec"]["nodeName"]
        assert node != cluster.spec.control_plane.name or not cluster.can("spec_node_names"), "landed on the tainted master"
        event = wait_for(lambda: scheduled_event(cluster, namespace, p["metadata"]["name"]), timeout=30)
        assert event.get("reportingController") == "default-scheduler", event
        assert f"Successfully assigned {namespace}/{p['metadata']['name']} to {node}" in event.get("note", "")


def test_local_lab_addresses_stay_on_loopback(cluster: SuiteCluster, namespace: str) -> None:
    if not cluster.can("loopback_addresses"):
        return  # kind and Vagrant clusters have real networks; the rule is about the local lab
    cluster.apply(pod_manifest("probe"), namespace)
    wait_for(lambda: cluster.pod(namespace, "probe")["status"].get("podIP") or (_ for _ in ()).throw(
        NotYet("no podIP yet")), timeout=60, what="the probe pod's IP")
    addresses = []
    for n in cluster.get("/api/v1/nodes")["items"]:
        addresses += [a["address"] for a in n["status"]["addresses"] if a["type"] in ("InternalIP", "ExternalIP")]
    for p in cluster.get("/api/v1/pods")["items"]:
        for key in ("podIP", "hostIP"):
            if p["status"].get(key):
                addresses.append(p["status"][key])
    assert addresses, "no addresses found at all"
    outside = [a for a in addresses if ipaddress.ip_address(a) not in LOOPBACK]
    assert not outside, f"addresses outside 127.0.0.0/8: {outside}"


def test_pod_for_an_absent_scheduler_stays_pending(cluster: SuiteCluster, namespace: str) -> None:
    # Seed 004, first check: nobody runs "my-scheduler", so nothing binds the pod and no
    # scheduler writes an event about it.
    cluster.apply(pod_manifest("nginx", scheduler="my-scheduler"), namespace)

    def touched() -> bool:
        pod = cluster.pod(namespace, "nginx")
        assert pod["status"].get("phase") == "Pending", pod["status"]
        return bool(pod["spec"].get("nodeName")) or any(
            e.get("reason") in ("Scheduled", "FailedScheduling") for e in cluster.events_for(namespace, "nginx"))

    assert_never(touched, duration=8, what="the my-scheduler pod being bound or scheduled")


def test_service_account_token_is_accepted_and_rbac_denies(cluster: SuiteCluster, namespace: str) -> None:
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    token = cluster.core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    conf = client.Configuration()
    conf.host = cluster.api.configuration.host
    conf.ssl_ca_cert = cluster.api.configuration.ssl_ca_cert
    conf.verify_ssl = cluster.api.configuration.verify_ssl
    conf.api_key = {"authorization": f"Bearer {token}"}
    sa_api = client.ApiClient(conf)
    review = client.AuthenticationV1Api(sa_api).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                             "kind": "SelfSubjectReview"})
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"
    core = client.CoreV1Api(sa_api)
    try:
        core.list_namespaced_pod(namespace)
    except ApiException as exc:
        assert exc.status == 403
    else:
        raise AssertionError("a service account with no role could list pods")
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                    "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})

    def can_list() -> None:
        try:
            core.list_namespaced_pod(namespace)
        except ApiException as exc:
            raise NotYet(f"still {exc.status}") from None

    wait_for(can_list, timeout=30, what="the RoleBinding to take effect")
    for forbidden in (lambda: core.list_namespaced_secret(namespace),
                      lambda: core.create_namespaced_pod(namespace, pod_manifest("x")),
                      lambda: core.list_pod_for_all_namespaces()):
        try:
            forbidden()
        except ApiException as exc:
            assert exc.status == 403
        else:
            raise AssertionError("RBAC allowed more than the Role grants")


def test_pod_binds_to_a_worker(cluster: SuiteCluster, namespace: str) -> None:
    cluster.apply(pod_manifest("solo"), namespace)
    node = wait_for(lambda: bound_node(cluster, namespace, "solo"), timeout=60)
    assert node in {n.name for n in cluster.spec.workers} or not cluster.can("spec_node_names")
