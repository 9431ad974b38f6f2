"""Step 11's challenge (prediction): which verbs on ConfigMaps are each, alone, enough to read a
credential stored in one. ``check`` asks the API server: a throw-away account gets one verb at a
time and tries to read a ConfigMap holding a made-up token (a canary string, no credential)."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.workshop.challenge import Challenge, Problems
from lab.workshop.challenges.cluster_ops import delete_step_objects, kubectl, store_answer, stored_answer

if TYPE_CHECKING:
    from pathlib import Path

    from lab.cluster import LabCluster

STEP = "11"
VERBS = ("get", "list", "watch", "create", "update", "patch")
PROBE = "verb-probe"  # the throw-away ServiceAccount, Role, RoleBinding and ConfigMap
CANARY = "canary-not-a-credential"
AS = f"--as=system:serviceaccount:default:{PROBE}"
LABEL = {"scheduler-lab.dev/workshop": STEP}
FILES = ("docs/labs/files/11-scheduler-with-serviceaccount.yaml", "docs/labs/files/11-kubeconfig-scheduler-rbac.yaml",
         "docs/labs/files/11-handmade-token.yaml", "docs/labs/files/11-via-configmap-pod.yaml",
         "docs/labs/files/11-via-serviceaccount-pod.yaml")


class NotGrantedYet(Exception):
    """The Role's new verb has not reached the API server's authorizer yet."""


def _objects(verb: str) -> str:
    meta = {"name": PROBE, "namespace": "default", "labels": LABEL}
    items = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"kubeconfig": f"token: {CANARY}\n"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": [verb]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PROBE},
         "subjects": [{"kind": "ServiceAccount", "name": PROBE, "namespace": "default"}]},
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _patch_as_probe(api: Any) -> str:
    """A dry-run PATCH as the probe account, straight to the API (kubectl patch would GET first)."""
    from kubernetes.client.rest import ApiException

    try:
        resp = api.call_api(f"/api/v1/namespaces/default/configmaps/{PROBE}", "PATCH",
                            header_params={"Impersonate-User": f"system:serviceaccount:default:{PROBE}",
                                           "Content-Type": "application/merge-patch+json"},
                            query_params=[("dryRun", "All")], body={"metadata": {"annotations": {"probe": "1"}}},
                            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
    except ApiException as exc:
        return str(exc.body)
    return str(resp.data.decode())


def _attempt(workdir: "Path", api: Any, verb: str) -> str:
    """What the account sees when it uses ``verb`` on the probe ConfigMap (stdout and stderr)."""
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": PROBE, "namespace": "default"},
                       "data": {"kubeconfig": "mine"}})
    argv: dict[str, tuple[str, ...]] = {
        "get": ("get", "configmap", PROBE, "-o", "json"),
        "list": ("get", "configmaps", "-o", "json"),
        "watch": ("get", "--raw", f"/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=2"
                                 f"&fieldSelector=metadata.name%3D{PROBE}"),
        "create": ("create", "-o", "json", "-f", "-"),
        "update": ("replace", "--dry-run=server", "-o", "json", "-f", "-"),
    }
    if verb == "patch":
        return _patch_as_probe(api)
    done = kubectl(workdir, *argv[verb], AS, "-n", "default", stdin=body, check=False, timeout=30)
    return done.stdout + done.stderr


def _granted(workdir: "Path", verb: str) -> bool:
    return kubectl(workdir, "auth", "can-i", verb, "configmaps", AS, "-n", "default", check=False).returncode == 0


def verbs_that_read(workdir: "Path", api: Any) -> list[str]:
    """Ask the API server, verb by verb; the probe objects are deleted afterwards."""
    found: list[str] = []
    try:
        for verb in VERBS:
            kubectl(workdir, "apply", "-f", "-", stdin=_objects(verb))
            # RBAC changes reach the authorizer through an informer: wait until the verb is granted.
            for attempt in Retrying(stop=stop_after_delay(15), wait=wait_fixed(0.5),
                                    retry=retry_if_exception_type(NotGrantedYet), reraise=True):
                with attempt:
                    if not _granted(workdir, verb):
                        raise NotGrantedYet(verb)
            if CANARY in _attempt(workdir, api, verb):
                found.append(verb)
    finally:
        kubectl(workdir, "delete", "--ignore-not-found", "-n", "default",
                "serviceaccount,configmap,role,rolebinding", PROBE, check=False)
    return found


def _verbs(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) & set(VERBS)


def check(lab: "LabCluster") -> Problems:
    given = stored_answer(lab.workdir, STEP)
    if given is None:
        return [f"no prediction yet: decide before you try it, then python -m lab answer {STEP} VERB, VERB, ..."]
    truth = verbs_that_read(lab.workdir, lab.api)
    if _verbs(given) != set(truth):
        return [f"your prediction {given!r} is not what the API server shows: find out why "
                f"(python -m lab hint {STEP}), then answer again"]
    return []


def solution(lab: "LabCluster") -> None:
    store_answer(lab.workdir, STEP, ", ".join(verbs_that_read(lab.workdir, lab.api)))


def reset(lab: "LabCluster") -> None:
    delete_step_objects(lab.workdir, STEP, FILES, ("scheduler-kubeconfig",), ("via-configmap", "via-serviceaccount"))
    kubectl(lab.workdir, "delete", "--ignore-not-found", "-n", "default", "serviceaccount,configmap,role,rolebinding",
            PROBE)
    from lab.workshop.challenges.cluster_ops import answer_file

    answer_file(lab.workdir, STEP).unlink(missing_ok=True)


CHALLENGE = Challenge(
    step=STEP,
    kind="prediction",
    question=("configmap-reader stole the token with get. Which verbs on ConfigMaps are each, alone, enough to "
              "read it? Choose among get, list, watch, create, update and patch; answer with those that are, e.g. "
              "python -m lab answer 11 get, create."),
    check=check,
    solution=solution,
    reset=reset,
    hints=(
        "A list returns whole objects, data included; a watch sends every existing object first.",
        "Writes answer with the object too: what does the API server return after a patch? "
        "(A dry-run patch changes nothing and still answers.)",
        "create and update answer with the object you sent, not with the one already stored.",
    ),
)
