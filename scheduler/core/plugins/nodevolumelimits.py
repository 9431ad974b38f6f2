"""NodeVolumeLimits (CSI) and the deprecated EBSLimits / GCEPDLimits / AzureDiskLimits of v1.29.15.

Source: pkg/scheduler/framework/plugins/nodevolumelimits/{csi,non_csi,utils}.go and
pkg/volume/util/attach_limit.go at v1.29.15.

NodeVolumeLimits counts, per CSI driver, the unique volumes (``driver/volumeHandle``) the pods on
the node use plus those of the new pod; a claim's driver and handle come from its bound PV's
``spec.csi``, or — unbound, or its PV not (yet) in the informer — from its StorageClass's
provisioner with a per-plugin random handle (``<prefix>-<ns>/<claim>``, so one claim counts once).
Generic ephemeral volumes count through their claim (``<pod>-<volume>``, owned by the pod). The
limit is the CSINode's ``spec.drivers[].allocatable.count`` (or an ``attachable-volumes-csi-<driver>``
node allocatable); more than that: ``node(s) exceed max volume count`` (Unschedulable).

The in-tree plugins count their own volume type (inline, or through PV / unbound claim whose class
has the in-tree provisioner) against ``KUBE_MAX_PD_VOLS``, the node's ``attachable-volumes-*``
allocatable, or their defaults (EBS 39, 25 on Nitro instance types; GCE PD 16; Azure Disk 16), and
defer to NodeVolumeLimits when the node's CSINode lists the plugin in
``storage.alpha.kubernetes.io/migrated-plugins`` (CSI migration is GA for all three in 1.29, so on
a node with a CSI driver installed they do nothing).

Not done: in-tree -> CSI translation of volume handles in NodeVolumeLimits (csi-translation-lib):
an in-tree PV or inline in-tree volume on a node whose CSINode says its plugin is migrated is not
counted under the CSI driver's limit (upstream counts it); an unbound claim of an in-tree
provisioner is (its handle is random anyway). The in-tree plugins count such volumes where the
node has no migration annotation, as upstream.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from typing import Any, Callable, Mapping

from scheduler.core.framework import CycleState, Plugin
from scheduler.core.plugins.pvhelpers import volume_is_for_pod
from scheduler.core.podutil import pod_name, pod_namespace
from scheduler.core.state import NodeInfo
from scheduler.core.status import ERROR, SKIP, UNSCHEDULABLE, Status
from scheduler.core.volumecache import VolumeCache, pvc_class

Obj = Mapping[str, Any]

ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED = "node(s) exceed max volume count"
CSI_ATTACH_LIMIT_PREFIX = "attachable-volumes-csi-"
RESOURCE_ATTACHABLE_VOLUMES_PREFIX = "attachable-volumes-"
RESOURCE_NAME_LENGTH_LIMIT = 63
MIGRATED_PLUGINS_ANNOTATION = "storage.alpha.kubernetes.io/migrated-plugins"
KUBE_MAX_PD_VOLS = "KUBE_MAX_PD_VOLS"

AWS_EBS_PLUGIN = "kubernetes.io/aws-ebs"
GCE_PD_PLUGIN = "kubernetes.io/gce-pd"
AZURE_DISK_PLUGIN = "kubernetes.io/azure-disk"
CINDER_PLUGIN = "kubernetes.io/cinder"
# csi-translation-lib: every in-tree plugin it can migrate, and the CSI driver of those that
# isCSIMigrationOn can report as migrated in v1.29.
MIGRATABLE_IN_TREE_PLUGINS = (AWS_EBS_PLUGIN, GCE_PD_PLUGIN, AZURE_DISK_PLUGIN, CINDER_PLUGIN,
                              "kubernetes.io/azure-file", "kubernetes.io/vsphere-volume",
                              "kubernetes.io/portworx-volume", "kubernetes.io/rbd")
CSI_DRIVER_OF_IN_TREE = {AWS_EBS_PLUGIN: "ebs.csi.aws.com", GCE_PD_PLUGIN: "pd.csi.storage.gke.io",
                         AZURE_DISK_PLUGIN: "disk.csi.azure.com", CINDER_PLUGIN: "cinder.csi.openstack.org"}


class _LimitsError(Exception):
    """An error the Filter returns as framework.AsStatus(err)."""


def csi_attach_limit_key(driver: str) -> str:
    """``volumeutil.GetCSIAttachLimitKey``."""
    if len(CSI_ATTACH_LIMIT_PREFIX) + len(driver) >= RESOURCE_NAME_LENGTH_LIMIT:
        hashed = hashlib.sha1(driver.encode()).hexdigest()[:16]
        return CSI_ATTACH_LIMIT_PREFIX + driver[:23] + hashed
    return CSI_ATTACH_LIMIT_PREFIX + driver


def is_csi_migration_on(csi_node: Obj | None, plugin: str) -> bool:
    """``isCSIMigrationOn`` (v1.29: AWS EBS, GCE PD, Azure Disk, Cinder GA; Portworx and RBD gated off)."""
    if csi_node is None or not plugin:
        return False
    if plugin not in (AWS_EBS_PLUGIN, GCE_PD_PLUGIN, AZURE_DISK_PLUGIN, CINDER_PLUGIN):
        return False
    annotations = (csi_node.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(MIGRATED_PLUGINS_ANNOTATION) or ""
    return plugin in (raw.split(",") if raw else ())


def node_volume_limits(node: NodeInfo) -> dict[str, int]:
    """``volumeLimits``: the node's ``attachable-volumes-*`` allocatable."""
    return {k: v for k, v in node.allocatable.scalars.items() if k.startswith(RESOURCE_ATTACHABLE_VOLUMES_PREFIX)}


def _claim_of(pod: Obj, vol: Obj) -> tuple[str, bool] | None:
    """(claim name, is ephemeral) of a PVC-backed volume, None for any other volume."""
    if vol.get("persistentVolumeClaim") is not None:
        return str(vol["persistentVolumeClaim"].get("claimName") or ""), False
    if vol.get("ephemeral") is not None:
        return f"{pod_name(pod)}-{vol.get('name', '')}", True  # ephemeral.VolumeClaimName
    return None


def _lookup_claim(volumes: VolumeCache, pod: Obj, vol: Obj, new_pod: bool) -> Obj | None:
    """The claim behind a PVC-backed volume, as both limit plugins look it up (raises for the new
    pod's missing claim and for an ephemeral claim the pod does not own)."""
    claim = _claim_of(pod, vol)
    if claim is None:
        return None
    name, ephemeral = claim
    if not name:
        raise _LimitsError("PersistentVolumeClaim had no name")
    pvc = volumes.pvc(pod_namespace(pod), name)
    if pvc is None:
        if new_pod:
            raise _LimitsError(f'looking up PVC {pod_namespace(pod)}/{name}: persistentvolumeclaim "{name}" not found')
        return None  # an existing pod's claim that is gone is not counted
    if ephemeral:
        err = volume_is_for_pod(pod, pvc)
        if err:
            raise _LimitsError(err)
    return pvc


class NodeVolumeLimits(Plugin):
    """``CSILimits``."""

    name = "NodeVolumeLimits"

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.random_volume_id_prefix = secrets.token_hex(16)  # rand.String(32)

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            if vol.get("persistentVolumeClaim") is not None or vol.get("ephemeral") is not None:
                return None
        # Inline in-tree volumes that CSI migration would translate are not counted here (see the
        # module docstring); upstream's PreFilter also lets them through to an equally empty count.
        return Status(SKIP)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        if not (pod.get("spec") or {}).get("volumes"):
            return None
        volumes = cycle.state.volumes
        csi_node = volumes.csi_nodes.get(node.name)
        new_volumes: dict[str, str] = {}
        try:
            self._attachable(volumes, csi_node, pod, True, new_volumes)
        except _LimitsError as exc:
            return Status(ERROR, str(exc))
        if not new_volumes:
            return None
        limits = node_volume_limits(node)
        if csi_node is not None:
            for driver in (csi_node.get("spec") or {}).get("drivers") or ():
                count = (driver.get("allocatable") or {}).get("count")
                if count is not None:
                    limits[csi_attach_limit_key(str(driver.get("name") or ""))] = int(count)
        if not limits:
            return None
        attached: dict[str, str] = {}
        for other in node.pods.values():
            try:
                self._attachable(volumes, csi_node, other.pod, False, attached)
            except _LimitsError as exc:
                return Status(ERROR, str(exc))
        attached_count: dict[str, int] = {}
        for unique, key in attached.items():
            new_volumes.pop(unique, None)  # one volume used by several pods counts once
            attached_count[key] = attached_count.get(key, 0) + 1
        new_count: dict[str, int] = {}
        for key in new_volumes.values():
            new_count[key] = new_count.get(key, 0) + 1
        for key, count in new_count.items():
            limit = limits.get(key)
            if limit is not None and attached_count.get(key, 0) + count > limit:
                return Status(UNSCHEDULABLE, ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED)
        return None

    def _attachable(self, volumes: VolumeCache, csi_node: Obj | None, pod: Obj, new_pod: bool,
                    result: dict[str, str]) -> None:
        """``filterAttachableVolumes``: unique name (driver/handle) -> limit key, into ``result``."""
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            pvc = _lookup_claim(volumes, pod, vol, new_pod)
            if pvc is None:
                continue
            driver, handle = self._csi_driver_info(volumes, csi_node, pvc)
            if not driver or not handle:
                continue
            result[f"{driver}/{handle}"] = csi_attach_limit_key(driver)

    def _csi_driver_info(self, volumes: VolumeCache, csi_node: Obj | None, pvc: Obj) -> tuple[str, str]:
        """``getCSIDriverInfo`` without in-tree translation."""
        pv_name = str((pvc.get("spec") or {}).get("volumeName") or "")
        if not pv_name:
            return self._csi_driver_info_from_sc(volumes, csi_node, pvc)
        pv = volumes.pvs.get_api(pv_name)
        if pv is None:
            return self._csi_driver_info_from_sc(volumes, csi_node, pvc)
        csi = (pv.get("spec") or {}).get("csi")
        if csi is None:
            return "", ""  # an in-tree PV: counted only through CSI migration (not done here)
        return str(csi.get("driver") or ""), str(csi.get("volumeHandle") or "")

    def _csi_driver_info_from_sc(self, volumes: VolumeCache, csi_node: Obj | None, pvc: Obj) -> tuple[str, str]:
        """``getCSIDriverInfoFromSC``: the class's provisioner and a handle unique to the claim."""
        sc_name = pvc_class(pvc)
        if not sc_name:
            return "", ""
        cls = volumes.storage_class(sc_name)
        if cls is None:
            return "", ""
        meta = pvc.get("metadata") or {}
        handle = f"{self.random_volume_id_prefix}-{meta.get('namespace') or 'default'}/{meta.get('name', '')}"
        provisioner = str(cls.get("provisioner") or "")
        if provisioner in MIGRATABLE_IN_TREE_PLUGINS:
            if not is_csi_migration_on(csi_node, provisioner):
                return "", ""
            return CSI_DRIVER_OF_IN_TREE[provisioner], handle
        return provisioner, handle


# ------------------------------------------------------------------ the in-tree (non-CSI) limits

EBS_NITRO_LIMIT_REGEX = re.compile(r"^[cmr]5.*|t3|z1d")
DEFAULT_MAX_EBS_VOLUMES = 39
DEFAULT_MAX_EBS_NITRO_VOLUME_LIMIT = 25
DEFAULT_MAX_GCE_PD_VOLUMES = 16
DEFAULT_MAX_AZURE_DISK_VOLUMES = 16
LABEL_INSTANCE_TYPE = "beta.kubernetes.io/instance-type"
LABEL_INSTANCE_TYPE_STABLE = "node.kubernetes.io/instance-type"


def max_pd_vols_from_env() -> int:
    """``getMaxVolLimitFromEnv``: KUBE_MAX_PD_VOLS when a positive integer, else -1."""
    raw = os.environ.get(KUBE_MAX_PD_VOLS, "")
    try:
        value = int(raw) if raw else -1
    except ValueError:
        return -1
    return value if value > 0 else -1


def _max_ebs(node: NodeInfo) -> int:
    instance_type = node.labels.get(LABEL_INSTANCE_TYPE, node.labels.get(LABEL_INSTANCE_TYPE_STABLE, ""))
    if EBS_NITRO_LIMIT_REGEX.search(instance_type):
        return DEFAULT_MAX_EBS_NITRO_VOLUME_LIMIT
    return DEFAULT_MAX_EBS_VOLUMES


class _NonCSILimits(Plugin):
    """``nonCSILimits``: one in-tree volume type, its limit key and default."""

    source: str = ""          # the volume source field, inline and in PV specs
    id_field: str = ""        # the field that identifies the disk
    provisioner: str = ""     # the in-tree provisioner name (StorageClass.provisioner, migration key)
    limit_key: str = ""
    default_max: Callable[[NodeInfo], int] = staticmethod(lambda node: -1)

    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.random_volume_id_prefix = secrets.token_hex(16)

    def _inline_id(self, vol: Obj) -> str | None:
        src = vol.get(self.source)
        return None if src is None else str(src.get(self.id_field) or "")

    def pre_filter(self, cycle: CycleState, pod: Mapping[str, Any]) -> Status | None:
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            if (self._inline_id(vol) is not None or vol.get("persistentVolumeClaim") is not None
                    or vol.get("ephemeral") is not None):
                return None
        return Status(SKIP)

    def filter(self, cycle: CycleState, pod: Mapping[str, Any], node: NodeInfo) -> Status | None:
        if not (pod.get("spec") or {}).get("volumes"):
            return None
        volumes = cycle.state.volumes
        new_volumes: set[str] = set()
        try:
            self._filter_volumes(volumes, pod, True, new_volumes)
        except _LimitsError as exc:
            return Status(ERROR, str(exc))
        if not new_volumes:
            return None
        if is_csi_migration_on(volumes.csi_nodes.get(node.name), self.provisioner):
            return None  # NodeVolumeLimits counts them
        existing: set[str] = set()
        for other in node.pods.values():
            try:
                self._filter_volumes(volumes, other.pod, False, existing)
            except _LimitsError as exc:
                return Status(ERROR, str(exc))
        new_volumes -= existing
        env = max_pd_vols_from_env()
        limit = env if env > 0 else self.default_max(node)
        allocatable = node_volume_limits(node).get(self.limit_key)
        if allocatable is not None:
            limit = allocatable
        if len(existing) + len(new_volumes) > limit:
            return Status(UNSCHEDULABLE, ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED)
        return None

    def _match_provisioner(self, volumes: VolumeCache, pvc: Obj) -> bool:
        name = (pvc.get("spec") or {}).get("storageClassName")  # the field only, not the beta annotation
        if name is None:
            return False
        cls = volumes.storage_class(str(name))
        return cls is not None and cls.get("provisioner") == self.provisioner

    def _filter_volumes(self, volumes: VolumeCache, pod: Obj, new_pod: bool, result: set[str]) -> None:
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            inline = self._inline_id(vol)
            if inline is not None:
                result.add(inline)
                continue
            claim = _claim_of(pod, vol)
            if claim is None:
                continue
            pvc = _lookup_claim(volumes, pod, vol, new_pod)
            if pvc is None:
                continue
            pv_id = f"{self.random_volume_id_prefix}-{pod_namespace(pod)}/{claim[0]}"
            pv_name = str((pvc.get("spec") or {}).get("volumeName") or "")
            if not pv_name:
                if self._match_provisioner(volumes, pvc):
                    result.add(pv_id)
                continue
            pv = volumes.pvs.get_api(pv_name)
            if pv is None:
                if self._match_provisioner(volumes, pvc):
                    result.add(pv_id)
                continue
            src = (pv.get("spec") or {}).get(self.source)
            if src is not None:
                result.add(str(src.get(self.id_field) or ""))


class EBSLimits(_NonCSILimits):
    name = "EBSLimits"
    source, id_field, provisioner = "awsElasticBlockStore", "volumeID", AWS_EBS_PLUGIN
    limit_key = "attachable-volumes-aws-ebs"
    default_max = staticmethod(_max_ebs)


class GCEPDLimits(_NonCSILimits):
    name = "GCEPDLimits"
    source, id_field, provisioner = "gcePersistentDisk", "pdName", GCE_PD_PLUGIN
    limit_key = "attachable-volumes-gce-pd"
    default_max = staticmethod(lambda node: DEFAULT_MAX_GCE_PD_VOLUMES)


class AzureDiskLimits(_NonCSILimits):
    name = "AzureDiskLimits"
    source, id_field, provisioner = "azureDisk", "diskName", AZURE_DISK_PLUGIN
    limit_key = "attachable-volumes-azure-disk"
    default_max = staticmethod(lambda node: DEFAULT_MAX_AZURE_DISK_VOLUMES)
