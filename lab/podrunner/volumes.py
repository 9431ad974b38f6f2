"""A pod's volumes as directories under its pod directory, and where each container mounts them.

ConfigMap volumes hold the ConfigMap's keys as files; the projected ServiceAccount volume
(kube-api-access-*) holds a token from the TokenRequest API for the pod's ServiceAccount (bound to
the pod, written 0600 from the first byte), ca.crt and namespace; an emptyDir is an empty directory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from lab.host.secretfile import write_secret


class MountError(Exception):
    """A volume cannot be set up; str() is the kubelet's FailedMount message."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def volume_dir(pod_dir: Path, name: str) -> Path:
    return pod_dir / "volumes" / name


def mounts_for(container: dict, pod_dir: Path) -> list[Mount]:
    """The bind mounts of ``container`` (pure: paths only)."""
    out = []
    for vm in container.get("volumeMounts") or []:
        source = volume_dir(pod_dir, vm["name"])
        if vm.get("subPath"):
            source = source / vm["subPath"]
        out.append(Mount(str(source), vm["mountPath"], bool(vm.get("readOnly"))))
    return out


def _configmap(core: client.CoreV1Api, namespace: str, volume: str, name: str, optional: bool) -> dict[str, str]:
    try:
        cm = core.read_namespaced_config_map(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404 and not optional:
            raise MountError(f'MountVolume.SetUp failed for volume "{volume}" : configmap "{name}" not found') \
                from None
        if exc.status == 404:
            return {}
        raise
    return dict(cm.data or {})


def _items(data: dict[str, str], items: list[dict] | None) -> dict[str, str]:
    if not items:
        return data
    return {i["path"]: data[i["key"]] for i in items if i["key"] in data}


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _token(core: client.CoreV1Api, pod: dict, source: dict) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    body: dict[str, Any] = {"spec": {
        "audiences": [source["audience"]] if source.get("audience") else None,
        "expirationSeconds": int(source.get("expirationSeconds") or 3607),
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
    answer = core.create_namespaced_service_account_token(
        spec.get("serviceAccountName") or "default", meta["namespace"], body)
    return str(answer.status.token)


def _field(pod: dict, path: str) -> str:
    meta = pod["metadata"]
    return {"metadata.namespace": meta["namespace"], "metadata.name": meta["name"],
            "metadata.uid": meta["uid"], "spec.nodeName": pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "")}.get(path, "")


def materialize(core: client.CoreV1Api, pod: dict, pod_dir: Path) -> None:
    """Write every volume of ``pod`` under ``pod_dir``; MountError names the first that fails."""
    namespace = pod["metadata"]["namespace"]
    for vol in pod["spec"].get("volumes") or []:
        directory = volume_dir(pod_dir, vol["name"])
        if "configMap" in vol:
            cm = vol["configMap"]
            data = _configmap(core, namespace, vol["name"], cm["name"], bool(cm.get("optional")))
            _write(directory, _items(data, cm.get("items")))
        elif "emptyDir" in vol:
            directory.mkdir(parents=True, exist_ok=True)
        elif "projected" in vol:
            directory.mkdir(parents=True, exist_ok=True)
            for src in vol["projected"].get("sources") or []:
                if "serviceAccountToken" in src:
                    sat = src["serviceAccountToken"]
                    write_secret(directory / sat["path"], _token(core, pod, sat))
                elif "configMap" in src:
                    cm = src["configMap"]
                    data = _configmap(core, namespace, vol["name"], cm["name"], bool(cm.get("optional")))
                    _write(directory, _items(data, cm.get("items")))
                elif "downwardAPI" in src:
                    _write(directory, {i["path"]: _field(pod, i["fieldRef"]["fieldPath"])
                                       for i in src["downwardAPI"].get("items") or [] if "fieldRef" in i})
        else:
            kinds = ", ".join(k for k in vol if k != "name")
            raise MountError(f'MountVolume.SetUp failed for volume "{vol["name"]}" : volume type {kinds} is not '
                             f'emulated by the local lab (configMap, projected, emptyDir are)')
