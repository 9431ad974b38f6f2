"""PersistentVolumes, PersistentVolumeClaims, StorageClasses and CSINodes as the volume plugins see them.

One ``VolumeCache`` per ``ClusterState`` (its ``volumes``), fed by the informers (or a state file)
through ``ClusterState.add_object`` and changed by VolumeBinding's Reserve/Unreserve inside the
scheduling cycle (``ClusterState.atomically``). It is the only record of volume objects in the scheduler.

PVs and PVCs are kept the way kube-scheduler v1.29's ``volumebinding/assume_cache.go`` keeps
them: per object the *latest* version (possibly assumed by Reserve, e.g. a PV with the claimRef
the scheduler is about to write) and the *API* version (the informer's). An informer object
replaces both only when its resourceVersion is newer than the latest one, so a re-list does not
undo an assumption; ``restore`` drops an assumption (Unreserve).

Pure data, no I/O. Objects missing a resourceVersion (hand-written state files) count as
version 0, where upstream would refuse to parse it: a state file has nothing to compare with.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from scheduler.core.podutil import namespaced_key

Obj = Mapping[str, Any]

ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NOT_SUPPORTED_PROVISIONER = "kubernetes.io/no-provisioner"

VOLUME_KINDS = ("PersistentVolume", "PersistentVolumeClaim", "StorageClass", "CSINode")


class VolumeCacheError(Exception):
    """An assume the cache refuses (the object is gone, or the cache already holds a newer one)."""


def resource_version(obj: Obj) -> int:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(raw) if raw not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def name_key(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class AssumeCache:
    """``assumeCache``: latest (maybe assumed) and API object per key."""

    def __init__(self, description: str, namespaced: bool) -> None:
        self.description = description  # "v1.PersistentVolume": part of upstream's error texts
        self._key = namespaced_key if namespaced else name_key
        self._latest: dict[str, Obj] = {}
        self._api: dict[str, Obj] = {}

    def add(self, obj: Obj) -> None:
        """Informer add/update: only a newer version replaces what we hold (assumed or not)."""
        key = self._key(obj)
        stored = self._latest.get(key)
        if stored is not None and resource_version(obj) <= resource_version(stored):
            return
        self._latest[key] = obj
        self._api[key] = obj

    def delete(self, obj: Obj) -> None:
        key = self._key(obj)
        self._latest.pop(key, None)
        self._api.pop(key, None)

    def get(self, key: str) -> Obj | None:
        return self._latest.get(key)

    def get_api(self, key: str) -> Obj | None:
        return self._api.get(key)

    def not_found(self, key: str) -> str:
        """``errNotFound.Error()``."""
        return f'could not find {self.description} "{key}"'

    def assume(self, obj: Obj) -> None:
        key = self._key(obj)
        stored = self._latest.get(key)
        if stored is None:
            raise VolumeCacheError(self.not_found(key))
        new, old = resource_version(obj), resource_version(stored)
        if new < old:
            raise VolumeCacheError(f'{self.description} "{key}" is out of sync (stored: {old}, assume: {new})')
        self._latest[key] = obj

    def restore(self, key: str) -> None:
        api = self._api.get(key)
        if api is not None:
            self._latest[key] = api

    def is_assumed(self, key: str) -> bool:
        return key in self._latest and self._latest[key] is not self._api.get(key)

    def latest(self) -> Iterator[Obj]:
        return iter(self._latest.values())

    def __len__(self) -> int:
        return len(self._latest)


def pv_class(pv: Obj) -> str:
    """``GetPersistentVolumeClass``: the beta annotation wins over spec.storageClassName."""
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str((pv.get("spec") or {}).get("storageClassName") or "")


def pvc_class(pvc: Obj) -> str:
    """``GetPersistentVolumeClaimClass``."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


class VolumeCache:
    """Everything the volume plugins read: PV and PVC assume caches, StorageClasses, CSINodes."""

    def __init__(self) -> None:
        self.pvs = AssumeCache("v1.PersistentVolume", namespaced=False)
        self.pvcs = AssumeCache("v1.PersistentVolumeClaim", namespaced=True)
        self.classes: dict[str, Obj] = {}
        self.csi_nodes: dict[str, Obj] = {}
        self.generation = 0

    # -- informer side
    def add(self, obj: Obj) -> bool:
        kind = obj.get("kind")
        if kind == "PersistentVolume":
            self.pvs.add(obj)
        elif kind == "PersistentVolumeClaim":
            self.pvcs.add(obj)
        elif kind == "StorageClass":
            self.classes[name_key(obj)] = obj
        elif kind == "CSINode":
            self.csi_nodes[name_key(obj)] = obj
        else:
            return False
        self.generation += 1
        return True

    def remove(self, obj: Obj) -> bool:
        kind = obj.get("kind")
        if kind == "PersistentVolume":
            self.pvs.delete(obj)
        elif kind == "PersistentVolumeClaim":
            self.pvcs.delete(obj)
        elif kind == "StorageClass":
            self.classes.pop(name_key(obj), None)
        elif kind == "CSINode":
            self.csi_nodes.pop(name_key(obj), None)
        else:
            return False
        self.generation += 1
        return True

    # -- reads
    def pvc(self, namespace: str, name: str) -> Obj | None:
        """The PVC as the informer last saw it (the PVC lister)."""
        return self.pvcs.get_api(f"{namespace}/{name}")

    def storage_class(self, name: str) -> Obj | None:
        return self.classes.get(name)

    def list_pvs(self, storage_class: str) -> list[Obj]:
        """``pvAssumeCache.ListPVs``: latest versions, indexed by class (insertion order here; a Go
        map's order upstream, so among equally small PVs upstream's pick is not fixed)."""
        return [pv for pv in self.pvs.latest() if pv_class(pv) == storage_class]
