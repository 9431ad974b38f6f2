"""The schedulers' ServiceAccounts can do what a scheduler needs and nothing else.

Checked with SubjectAccessReview, the API server's own answer, for both second schedulers.
"""
from __future__ import annotations

import pytest

from e2e.harness import SuiteCluster

NEEDED = [  # (verb, group, resource, subresource, name) every scheduler must be allowed
    ("list", "", "pods", "", ""), ("watch", "", "pods", "", ""), ("list", "", "nodes", "", ""),
    ("watch", "", "nodes", "", ""), ("create", "", "pods", "binding", ""), ("patch", "", "pods", "status", ""),
    ("create", "events.k8s.io", "events", "", ""), ("create", "", "events", "", ""),
    ("create", "coordination.k8s.io", "leases", "", ""),
    # The objects behind PodTopologySpread's system defaults and namespace selectors: without
    # them a Deployment's pods would not score as kube-scheduler scores them.
    ("list", "", "services", "", ""), ("watch", "", "services", "", ""),
    ("list", "apps", "replicasets", "", ""), ("watch", "apps", "statefulsets", "", ""),
    ("list", "", "replicationcontrollers", "", ""), ("list", "", "namespaces", "", ""),
]
FORBIDDEN = [  # what no scheduler of ours may do
    ("get", "", "secrets", "", ""), ("list", "", "secrets", "", ""), ("watch", "", "secrets", "", ""),
    ("update", "coordination.k8s.io", "leases", "", "kube-scheduler"),
    ("update", "", "nodes", "", ""), ("delete", "", "nodes", "", ""), ("create", "", "pods", "", ""),
    ("update", "", "pods", "", ""), ("create", "apps", "deployments", "", ""), ("*", "*", "*", "", ""),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
    ("create", "", "serviceaccounts", "token", ""),
]
EXTRA = {
    # kube-scheduler preempts (deletes victim pods) and runs the volume binder.
    "custom-k8s-scheduler": ([("delete", "", "pods", "", ""), ("list", "", "persistentvolumeclaims", "", ""),
                              ("list", "storage.k8s.io", "csinodes", "", "")], []),
    # The Python scheduler preempts too (deletes victims, reads PDBs) and binds volumes (PUTs PVs and
    # claims at PreBind), with nothing more: no patch, no create/delete of volumes, no CSIDrivers.
    "py-scheduler": ([("delete", "", "pods", "", ""), ("list", "policy", "poddisruptionbudgets", "", ""),
                      ("watch", "policy", "poddisruptionbudgets", "", ""),
                      ("list", "", "persistentvolumeclaims", "", ""), ("watch", "", "persistentvolumes", "", ""),
                      ("update", "", "persistentvolumes", "", ""), ("update", "", "persistentvolumeclaims", "", ""),
                      ("list", "storage.k8s.io", "storageclasses", "", ""), ("watch", "storage.k8s.io", "csinodes", "", "")],
                     [("delete", "", "nodes", "", ""), ("delete", "policy", "poddisruptionbudgets", "", ""),
                      ("create", "", "persistentvolumes", "", ""), ("delete", "", "persistentvolumes", "", ""),
                      ("patch", "", "persistentvolumeclaims", "", ""), ("update", "", "persistentvolumeclaims", "status", ""),
                      ("update", "storage.k8s.io", "storageclasses", "", ""),
                      ("list", "storage.k8s.io", "csidrivers", "", "")]),
}


def allowed(cluster: SuiteCluster, user: str, verb: str, group: str, resource: str, sub: str, name: str,
            namespace: str = "default") -> bool:
    attrs = {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
    if sub:
        attrs["subresource"] = sub
    if name:
        attrs["name"] = name
        attrs["namespace"] = "kube-system"
    review = cluster.api.call_api(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews", "POST",
        body={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                                                "system:authenticated"], "resourceAttributes": attrs}},
        response_type="object", auth_settings=["BearerToken"], _return_http_data_only=True)
    return bool(review["status"].get("allowed"))


@pytest.mark.parametrize("app", ["custom-k8s-scheduler", "py-scheduler"])
def test_scheduler_service_account_is_least_privilege(cluster: SuiteCluster, app: str) -> None:
    cluster.deploy(app)
    user = f"system:serviceaccount:kube-system:{app}"
    extra_ok, extra_no = EXTRA[app]
    own_lease = [("get", "coordination.k8s.io", "leases", "", app), ("update", "coordination.k8s.io", "leases", "", app)]
    missing = [c for c in NEEDED + extra_ok + own_lease if not allowed(cluster, user, *c)]
    excess = [c for c in FORBIDDEN + extra_no if allowed(cluster, user, *c)]
    assert not missing, f"{app} lacks what a scheduler needs: {missing}"
    assert not excess, f"{app} may do more than a scheduler needs: {excess}"
