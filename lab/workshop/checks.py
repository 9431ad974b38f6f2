"""The check of each workshop step (docs/labs/NN-*.md): is the cluster where the step leaves it?

One function per step, ``CHECKS[NN]``, returning the problems in plain words (``lab verify NN``
runs it, lab/workshop/verify.py). The state a step leaves behind stays until step 14 cleans up, so
``lab steps`` shows a participant how far they got; each check looks for that step's own traces.
"""

from __future__ import annotations

from typing import Callable

from lab.cluster import LEASES_NAMESPACE, LabCluster
from lab.workshop.objects import NAMESPACE
from lab.workshop.problems import Problems, lease_problems, pod_problems, port_open

PROXY_PORT = 9090  # step 3's kubectl proxy


def check_01(lab: LabCluster) -> Problems:
    problems: Problems = []
    nodes = {n["metadata"]["name"]: n for n in (lab.find("/api/v1/nodes") or {}).get("items", [])}
    for want in lab.spec.nodes:
        node = nodes.get(lab.real_name(want.name))
        if node is None:
            problems.append(f"node {want.name} is missing (make lab-up)")
            continue
        ready = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}.get("Ready")
        if ready != "True":
            problems.append(f"node {want.name} is not Ready")
        taints = {(t["key"], t["effect"]) for t in node.get("spec", {}).get("taints", []) or []}
        for t in want.taints:
            if (t.key, t.effect) not in taints:
                problems.append(f"node {want.name} lacks its taint {t.key}:{t.effect}")
        if not want.taints and any(e in ("NoSchedule", "NoExecute") for _, e in taints):
            problems.append(
                f"node {want.name} is tainted ({', '.join(k for k, _ in taints)}): "
                f"kubectl taint node {want.name} KEY- removes a taint"
            )
    problems += lease_problems(lab, "kube-scheduler", "the default scheduler", "make lab-up")
    for app in ("custom-k8s-scheduler", "py-scheduler"):
        problems += lease_problems(lab, app, app, "make lab-up deploys it")
    return problems


def check_02(lab: LabCluster) -> Problems:
    apply = "kubectl apply -f manifests/samples/nginx-my-scheduler.yaml"
    pod = lab.find_pod(NAMESPACE, "nginx")
    if pod is None:
        return [f"pod {NAMESPACE}/nginx does not exist: {apply}"]
    if pod["spec"].get("schedulerName") != "my-scheduler":
        return [
            f"pod {NAMESPACE}/nginx asks for scheduler {pod['spec'].get('schedulerName')!r}, "
            f"not 'my-scheduler': delete it and {apply}"
        ]
    by = lab.scheduled_by(pod)
    if by:  # the bash scheduler of step 3 writes no events; a real scheduler does
        return [f"pod {NAMESPACE}/nginx was scheduled by {by}: nothing but my-scheduler may take it"]
    return []


def check_03(lab: LabCluster) -> Problems:
    problems, _ = pod_problems(lab, "nginx", "my-scheduler", "go back to step 2", bound_to=lab.workers)
    if port_open(PROXY_PORT):
        problems.append(
            f"something still listens on 127.0.0.1:{PROXY_PORT} (the step's kubectl proxy?): "
            'kill "$(cat .lab/workshop/random-scheduler.pid)"'
        )
    return problems


def check_04(lab: LabCluster) -> Problems:
    problems = lease_problems(
        lab, "py-scheduler", "the Python scheduler", "python -m lab deploy --only py-scheduler"
    )
    if lab.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/sleep") is None:
        return problems + [
            "deployment default/sleep does not exist: kubectl apply -f manifests/samples/sleep.yaml"
        ]
    pods = [p for p in lab.pods(NAMESPACE, "app=sleep") if not p["metadata"].get("deletionTimestamp")]
    if len(pods) < 2:
        problems.append(f"deployment default/sleep has {len(pods)} of 2 pods")
    for p in pods:
        name = p["metadata"]["name"]
        if not p["spec"].get("nodeName"):
            problems.append(
                f"pod {NAMESPACE}/{name} is not bound yet (python -m lab status: is py-scheduler leading?)"
            )
        elif (by := lab.scheduled_by(p)) != "random-scheduler":
            problems.append(
                f"pod {NAMESPACE}/{name} has no Scheduled event from random-scheduler"
                + (f" (it has one from {by})" if by else "")
            )
    return problems


MY_SCHEDULER = "my-kube-scheduler"  # steps 05-06: the participant's own kube-scheduler (02-04 use my-scheduler)
MY_FILES = "docs/labs/files/05-deploy-your-own-scheduler"  # its starting files; solution/ completed


def _deployment_problems(lab: LabCluster, name: str, apply: str) -> Problems:
    """A Deployment in kube-system exists and has two ready pods (a real Deployment on every provider)."""
    dep = lab.find(f"/apis/apps/v1/namespaces/kube-system/deployments/{name}")
    if dep is None:
        return [f"deployment kube-system/{name} does not exist: {apply}"]
    ready = int(dep.get("status", {}).get("readyReplicas") or 0)
    if ready < 2:
        return [f"deployment kube-system/{name} has {ready} of 2 pods ready (kubectl describe pod -n kube-system)"]
    return []


def check_05(lab: LabCluster) -> Problems:
    apply = f"kubectl apply -f {MY_FILES}/solution/"
    problems = _deployment_problems(lab, MY_SCHEDULER, apply)
    problems += lease_problems(lab, MY_SCHEDULER, MY_SCHEDULER, f"kubectl logs -n kube-system deployment/{MY_SCHEDULER}")
    more, _ = pod_problems(
        lab, "mine", MY_SCHEDULER, "kubectl apply -f docs/labs/files/05-deploy-your-own-scheduler/solution/5-pod.yaml", reported_by=MY_SCHEDULER
    )
    return problems + more


def check_06(lab: LabCluster) -> Problems:
    problems = _deployment_problems(lab, MY_SCHEDULER, f"kubectl apply -f {MY_FILES}/solution/")
    problems += lease_problems(lab, MY_SCHEDULER, MY_SCHEDULER, f"kubectl logs -n kube-system deployment/{MY_SCHEDULER}")
    lease = lab.find_lease(LEASES_NAMESPACE, MY_SCHEDULER) or {}
    if int(lease.get("spec", {}).get("leaseTransitions") or 0) < 1:
        problems.append(
            f"Lease kube-system/{MY_SCHEDULER} never changed hands: kubectl delete pod -n kube-system <the leader's pod>"
        )
    more, _ = pod_problems(
        lab,
        "after-failover",
        MY_SCHEDULER,
        "kubectl apply -f docs/labs/files/06-after-failover.yaml",
        reported_by=MY_SCHEDULER,
    )
    return problems + more


def _nodes_of(lab: LabCluster, names: list[str], scheduler: str, apply: str) -> tuple[Problems, list[str]]:
    problems: Problems = []
    nodes: list[str] = []
    for name in names:
        more, pod = pod_problems(lab, name, scheduler, apply, bound_to=lab.workers, reported_by=scheduler)
        problems += more
        if not more and pod is not None:
            nodes.append(pod["spec"]["nodeName"])
    return problems, nodes


def check_07(lab: LabCluster) -> Problems:
    spread = [f"spread-{i}" for i in (1, 2, 3)]
    pack = [f"pack-{i}" for i in (1, 2, 3)]
    problems, spread_nodes = _nodes_of(
        lab, spread, "default-scheduler", "kubectl apply -f docs/labs/files/07-least-allocated-pods.yaml"
    )
    more, pack_nodes = _nodes_of(
        lab, pack, "custom-k8s-scheduler", "kubectl apply -f docs/labs/files/07-most-allocated-pods.yaml"
    )
    problems += more
    # Where "emptiest first" and "fullest first" put the pods depends on where the schedulers'
    # replicas and earlier pods sit (on every provider), so only who placed them is checked.
    return problems


def check_08(lab: LabCluster) -> Problems:
    problems, pod = pod_problems(
        lab,
        "cpu-hungry",
        "most-available-cpu",
        "kubectl apply -f docs/labs/files/08-cpu-hungry-pod.yaml",
        bound_to=lab.workers,
        reported_by="most-available-cpu",
    )
    return problems


STEP_09_SCHEDULER = "maintenance-aware-scheduler"
STEP_09_PID = "avoid-maintenance.pid"  # lab.workshop.background's record of the step's scheduler


def check_09(lab: LabCluster) -> Problems:
    from lab.host.procs import OwnedProcess

    apply = "kubectl apply -f docs/labs/files/09-maintenance-demo.yaml"
    problems: Problems = []
    if lab.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/maintenance-demo") is None:
        problems.append(f"deployment {NAMESPACE}/maintenance-demo does not exist: {apply}")
    else:
        pods = [p for p in lab.pods(NAMESPACE, "app=maintenance-demo") if not p["metadata"].get("deletionTimestamp")]
        if len(pods) < 3:
            problems.append(f"deployment {NAMESPACE}/maintenance-demo has {len(pods)} of 3 pods")
        for p in pods:
            more, _ = pod_problems(lab, p["metadata"]["name"], STEP_09_SCHEDULER, apply,
                                    reported_by=STEP_09_SCHEDULER)
            problems += more
            if not more and p["spec"]["nodeName"] == lab.real_name("worker-node01"):
                problems.append(f"pod {NAMESPACE}/{p['metadata']['name']} runs on worker-node01, the node under "
                                "maintenance: was the label set before the Deployment was applied?")
    more, _ = pod_problems(lab, "nowhere-to-go", STEP_09_SCHEDULER,
                            "kubectl apply -f docs/labs/files/09-nowhere-to-go.yaml", reported_by=STEP_09_SCHEDULER)
    problems += more
    labelled = [n["metadata"]["name"] for n in
                (lab.find("/api/v1/nodes", labelSelector="maintenance=true") or {}).get("items", [])]
    if labelled:
        problems.append(f"still under maintenance: {', '.join(labelled)} "
                        "(kubectl label nodes -l maintenance=true maintenance-)")
    record = OwnedProcess.load(lab.workdir / "workshop" / STEP_09_PID)
    if record is not None and record.is_same():
        problems.append("the step's scheduler still runs: python -m lab.workshop.background stop avoid-maintenance")
    return problems


STEP_10_APP = "my-py-scheduler"  # the Deployment, its ServiceAccount and RBAC, and its profile
STEP_10_PLUGINS = ("MostAvailableCPU", "AvoidMaintenance")
STEP_10_APPLY = ("kubectl apply -f docs/labs/files/10-my-scheduler-rbac.yaml "
                 "-f docs/labs/files/10-my-scheduler.yaml")
MAINTENANCE_LABEL = "maintenance"


def is_py_scheduler_image(image: str) -> bool:
    """An image the lab runs as the Python scheduler: repository `py-scheduler` or `.../py-scheduler`
    (the tag or digest does not matter)."""
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: repository.rindex(":")]
    return repository == "py-scheduler" or repository.endswith("/py-scheduler")


def _plugin_args(container: dict) -> list[str]:
    """The classes a container's `--plugin FILE:CLASS` arguments load (both argument forms)."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    specs = [a.split("=", 1)[1] for a in argv if a.startswith("--plugin=")]
    specs += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--plugin"]
    return [spec.rsplit(":", 1)[-1] for spec in specs]


def under_maintenance(lab: LabCluster, node: str) -> bool:
    labels = ((lab.find(f"/api/v1/nodes/{node}") or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MAINTENANCE_LABEL) == "true"


def check_10(lab: LabCluster) -> Problems:
    problems: Problems = []
    dep = lab.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{STEP_10_APP}")
    if dep is None:
        problems.append(f"deployment {NAMESPACE}/{STEP_10_APP} does not exist: {STEP_10_APPLY}")
    else:
        containers = dep["spec"]["template"]["spec"].get("containers") or [{}]
        image = containers[0].get("image", "")
        if not is_py_scheduler_image(image):
            problems.append(f"deployment {NAMESPACE}/{STEP_10_APP} runs image {image!r}, not the Python "
                            "scheduler's (a name ending in /py-scheduler, e.g. workshop/py-scheduler:dev)")
        loaded = _plugin_args(containers[0])
        for plugin in STEP_10_PLUGINS:
            if plugin not in loaded:
                problems.append(f"deployment {NAMESPACE}/{STEP_10_APP} does not load {plugin} "
                                f"(an argument --plugin=/plugins/FILE.py:{plugin})")
        if (dep.get("status") or {}).get("readyReplicas", 0) < 1:
            problems.append(f"deployment {NAMESPACE}/{STEP_10_APP} has no ready replica "
                            f"(kubectl describe pod -l app={STEP_10_APP}; kubectl logs deployment/{STEP_10_APP})")
    more, pod = pod_problems(lab, "picky", STEP_10_APP, "kubectl apply -f docs/labs/files/10-picky-pod.yaml",
                              bound_to=lab.workers, reported_by=STEP_10_APP)
    problems += more
    if not more and pod is not None and under_maintenance(lab, pod["spec"]["nodeName"]):
        problems.append(f"pod {NAMESPACE}/picky is on {pod['spec']['nodeName']}, a node under maintenance: "
                        "is AvoidMaintenance enabled in the profile? delete the pod and apply it again")
    return problems


STEP_11_APP = "kubeconfig-scheduler"
STEP_11_CONFIGMAP = "scheduler-kubeconfig"  # the anti-pattern: a kubeconfig with a token
STEP_11_TOKEN_ACCOUNT = "handmade-token"  # the account that issued that token


def check_11(lab: LabCluster) -> Problems:
    problems: Problems = []
    fix = "kubectl apply -f docs/labs/files/11-scheduler-with-serviceaccount.yaml"
    dep = lab.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{STEP_11_APP}")
    if dep is None:
        problems.append(f"deployment {NAMESPACE}/{STEP_11_APP} does not exist: "
                        "kubectl apply -f docs/labs/files/11-kubeconfig-scheduler-rbac.yaml and then " + fix)
    else:
        template = dep["spec"]["template"]["spec"]
        if template.get("serviceAccountName") != STEP_11_APP or template.get("automountServiceAccountToken") is False:
            problems.append(f"deployment {NAMESPACE}/{STEP_11_APP} does not run as ServiceAccount {STEP_11_APP} "
                            f"with its mounted token: {fix}")
        if any((v.get("configMap") or {}).get("name") == STEP_11_CONFIGMAP for v in template.get("volumes") or []):
            problems.append(f"deployment {NAMESPACE}/{STEP_11_APP} still mounts ConfigMap {STEP_11_CONFIGMAP}: {fix}")
        if (dep.get("status") or {}).get("readyReplicas", 0) < 1:
            problems.append(f"deployment {NAMESPACE}/{STEP_11_APP} has no ready replica "
                            f"(kubectl logs deployment/{STEP_11_APP})")
    if lab.find(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{STEP_11_CONFIGMAP}") is not None:
        problems.append(f"configmap {NAMESPACE}/{STEP_11_CONFIGMAP} still holds a token: "
                        f"kubectl delete configmap {STEP_11_CONFIGMAP}")
    if lab.find(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{STEP_11_TOKEN_ACCOUNT}") is not None:
        problems.append(f"serviceaccount {NAMESPACE}/{STEP_11_TOKEN_ACCOUNT} still exists, so the token it issued "
                        "still works: kubectl delete -f docs/labs/files/11-handmade-token.yaml")
    more, _ = pod_problems(lab, "via-serviceaccount", STEP_11_APP,
                            "kubectl apply -f docs/labs/files/11-via-serviceaccount-pod.yaml",
                            bound_to=lab.workers, reported_by=STEP_11_APP)
    return problems + more


def check_12(lab: LabCluster) -> Problems:
    problems: Problems = []
    dep = lab.find(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/workshop-scheduler")
    if dep is None:
        problems.append(
            "deployment default/workshop-scheduler does not exist: "
            "kubectl apply -f docs/labs/files/12-workshop-scheduler.yaml"
        )
    elif lab.find(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/workshop-scheduler") is None:
        problems.append(
            "serviceaccount default/workshop-scheduler is missing, so the Deployment cannot make "
            "its pod: kubectl apply -f docs/labs/files/12-workshop-scheduler-rbac.yaml"
        )
    elif dep.get("status", {}).get("readyReplicas", 0) < 1:
        problems.append(
            "deployment default/workshop-scheduler has no ready replica yet "
            "(kubectl describe rs -l app=workshop-scheduler)"
        )
    more, _ = pod_problems(
        lab,
        "custom-scheduler-pod",
        "default-scheduler",
        "kubectl apply -f manifests/samples/annotation-pod.yaml",
        reported_by="default-scheduler",
    )
    return problems + more


STEP_13_APPLY = ("kubectl apply -f docs/labs/files/13-local-storage.yaml -f docs/labs/files/13-claims.yaml "
                 "and then")
STEP_10_PODS = (  # pod, scheduler, its claim, the volume it must get, the node of that volume
    ("pvc-py", "py-scheduler", "data-py", "workshop-pv-large", "worker-node03"),
    ("pvc-upstream", "custom-k8s-scheduler", "data-upstream", "workshop-pv-small", "worker-node02"),
)
STEP_10_OBJECTS = (
    ("/apis/storage.k8s.io/v1/storageclasses/workshop-local", "storageclass workshop-local"),
    ("/api/v1/persistentvolumes/workshop-pv-small", "persistentvolume workshop-pv-small"),
    ("/api/v1/persistentvolumes/workshop-pv-large", "persistentvolume workshop-pv-large"),
    (f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/data-py", "persistentvolumeclaim default/data-py"),
    (f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/data-upstream",
     "persistentvolumeclaim default/data-upstream"),
)


def check_13(lab: LabCluster) -> Problems:
    problems: Problems = []
    if lab.find("/apis/storage.k8s.io/v1/storageclasses/workshop-local") is None:
        problems.append("storageclass workshop-local does not exist: kubectl apply -f "
                        "docs/labs/files/13-local-storage.yaml")
    for pod, scheduler, claim, volume, node in STEP_10_PODS:
        suffix = "py" if pod == "pvc-py" else "upstream"
        more, _ = pod_problems(lab, pod, scheduler, f"{STEP_13_APPLY} kubectl apply -f "
                                f"docs/labs/files/13-pvc-pod-{suffix}.yaml", bound_to=[node], reported_by=scheduler)
        problems += more
        pvc = lab.find(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{claim}")
        if pvc is None:
            problems.append(f"persistentvolumeclaim {NAMESPACE}/{claim} does not exist: kubectl apply -f "
                            "docs/labs/files/13-claims.yaml")
        elif (pvc.get("status") or {}).get("phase") != "Bound" or pvc["spec"].get("volumeName") != volume:
            problems.append(f"persistentvolumeclaim {NAMESPACE}/{claim} is {(pvc.get('status') or {}).get('phase')} "
                            f"on volume {pvc['spec'].get('volumeName') or '(none)'}, expected Bound to {volume} "
                            f"(is {scheduler} running? python -m lab status)")
    return problems


STEPS_10_11_OBJECTS = tuple(
    (f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}", f"deployment default/{name}")
    for name in (STEP_10_APP, STEP_11_APP)
) + tuple(
    (f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}", f"configmap default/{name}")
    for name in ("my-py-scheduler-config", "my-py-scheduler-plugins", "kubeconfig-scheduler-config", STEP_11_CONFIGMAP)
) + tuple(
    (f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{name}", f"serviceaccount default/{name}")
    for name in (STEP_10_APP, STEP_11_APP, STEP_11_TOKEN_ACCOUNT, "configmap-reader")
) + tuple(
    (f"/apis/rbac.authorization.k8s.io/v1/{kind}s/{name}", f"{kind} {name}")
    for kind in ("clusterrole", "clusterrolebinding") for name in (STEP_10_APP, STEP_11_APP)
)


def check_14(lab: LabCluster) -> Problems:
    problems: Problems = []
    left = [p["metadata"]["name"] for p in lab.pods(NAMESPACE, NAMESPACE) if not p["metadata"].get("deletionTimestamp")]
    if left:
        problems.append(
            f"pods left in namespace {NAMESPACE}: {', '.join(sorted(left))} " "(kubectl delete pod NAME)"
        )
    for path, what in [
        (f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/sleep", "deployment default/sleep"),
        (
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/workshop-scheduler",
            "deployment default/workshop-scheduler",
        ),
        (
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/workshop-scheduler-config",
            "configmap default/workshop-scheduler-config",
        ),
        (
            f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/workshop-scheduler",
            "serviceaccount default/workshop-scheduler",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/workshop-scheduler",
            "clusterrole workshop-scheduler",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/workshop-scheduler",
            "clusterrolebinding workshop-scheduler",
        ),
        *STEP_10_OBJECTS,
        *STEPS_10_11_OBJECTS,
    ]:
        if lab.find(path) is not None:
            problems.append(f"{what} still exists")
    for node in (lab.find("/api/v1/nodes") or {}).get("items", []):
        if ((node["metadata"].get("labels") or {}).get(MAINTENANCE_LABEL)) is not None:
            problems.append(f"node {node['metadata']['name']} still carries the label {MAINTENANCE_LABEL} (step 10): "
                            f"kubectl label node --all {MAINTENANCE_LABEL}-")
    if port_open(PROXY_PORT):
        problems.append(f"something still listens on 127.0.0.1:{PROXY_PORT} (step 3's kubectl proxy?)")
    for pidfile in sorted((lab.workdir / "workshop").glob("*.pid")):
        problems.append(f'{pidfile} is still there: kill "$(cat {pidfile})"; rm {pidfile}')
    # The lab itself stays as step 1 left it: both second schedulers still lead.
    for app in ("custom-k8s-scheduler", "py-scheduler"):
        problems += lease_problems(lab, app, app, f"python -m lab deploy --only {app}")
    return problems


CHECKS: dict[str, Callable[[LabCluster], Problems]] = {
    "01": check_01,
    "02": check_02,
    "03": check_03,
    "04": check_04,
    "05": check_05,
    "06": check_06,
    "07": check_07,
    "08": check_08,
    "09": check_09,
    "10": check_10,
    "11": check_11,
    "12": check_12,
    "13": check_13,
    "14": check_14,
}
