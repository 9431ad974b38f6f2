"""Cluster state for scheduling decisions: nodes and the pods bound (or assumed) to them.

``ClusterState`` mirrors kube-scheduler's cache + snapshot: it is updated
*incrementally* from watch events (``add_node``/``update_pod``/...) and keeps per-node
aggregates (requested and non-zero requested resources, pod count, host ports, image
states), so a scheduling decision never rescans all pods.

Thread safety: one writer (the informer thread) and one reader (the scheduling
thread). The state owns its lock (a ``threading.RLock``): every operation takes it
internally, and a caller needing several steps with no change in between (the
scheduling cycle, ``scheduler.core.cycle``) passes them to ``atomically``. Nothing
outside this class takes the lock.

The per-pod and per-node records (``PodInfo``, ``NodeInfo``) live in ``scheduler.core.nodeinfo``, the
zone-ordered node list in ``scheduler.core.nodetree``.

Terminal pods (phase Succeeded/Failed) are never counted, like the scheduler's pod
informer which filters them out with a field selector.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Mapping, TypeVar

from scheduler.core.nodeinfo import NodeInfo, PodInfo, next_generation
from scheduler.core.nodetree import NodeTree, zone_key
from scheduler.core.plugins.helper import LABEL_HOSTNAME, LabelMatcher, compile_label_selector
from scheduler.core.podutil import is_terminal, namespaced_key, pod_key, pod_uid
from scheduler.core.volumecache import VolumeCache

# PodInfo and NodeInfo live in scheduler.core.nodeinfo; plugins import them from here too.
__all__ = ["AlreadyInCache", "ClusterState", "NodeInfo", "PodInfo"]

T = TypeVar("T")


def _equal_labels(items: tuple[tuple[str, str], ...]) -> LabelMatcher:
    """A selector of labels equal to ``items`` (a Service's or a ReplicationController's selector)."""
    return lambda labels: all(k in labels and labels[k] == v for k, v in items)


class AlreadyInCache(Exception):
    """assume_pod refused: the pod (same uid) is already counted, assumed or bound."""


class ClusterState:
    """Nodes, pods on them, and the workload objects PodTopologySpread's defaults read."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nodes: dict[str, NodeInfo] = {}  # includes "ghost" entries for pods on unknown nodes
        self._tree = NodeTree()
        self._node_zone: dict[str, str] = {}
        self._pod_node: dict[str, str] = {}  # uid -> node name
        self._by_namespace: dict[str, dict[str, PodInfo]] = {}  # namespace -> uid -> counted pod
        # The one record of "assumed, not yet confirmed by the watch" (kube-scheduler's
        # cacheImpl.assumedPods): uid -> namespace/name, plus the name index event handlers and
        # the binder ask ("is a bind of this very pod in flight?").
        self._assumed: dict[str, str] = {}
        self._assumed_by_key: dict[str, str] = {}
        self._image_nodes: dict[str, set[str]] = {}  # image name -> nodes that have it
        # The node list scheduling tries nodes in (upstream's snapshot nodeInfoList): its order, the
        # NodeInfos in it, and whether a node was added or removed since it was built.
        self._list_names: list[str] = []
        self._list_cache: list[NodeInfo] | None = None
        self._members_changed = False
        # Nodes hosting pods with (anti-)affinity terms, so InterPodAffinity never scans all nodes.
        self._affinity_nodes: set[str] = set()
        self._anti_affinity_nodes: set[str] = set()
        # PVC (namespace/name) -> counted pods using it (the snapshot's usedPVCSet, for VolumeRestrictions).
        self._pvc_refs: dict[str, int] = {}
        # Workload objects (namespace/name -> object) for DefaultSelector, and namespace labels.
        self.services: dict[str, Mapping[str, Any]] = {}
        self.replication_controllers: dict[str, Mapping[str, Any]] = {}
        self.replica_sets: dict[str, Mapping[str, Any]] = {}
        self.stateful_sets: dict[str, Mapping[str, Any]] = {}
        self.pdbs: dict[str, Mapping[str, Any]] = {}
        self.namespace_labels: dict[str, Mapping[str, str]] = {}
        # PVs, PVCs, StorageClasses and CSINodes (the volume plugins' view, with VolumeBinding's
        # assumptions); fed through add_object/remove_object like the workload objects.
        self.volumes = VolumeCache()
        self.generation = 0

    # ------------------------------------------------------------ operations of several steps
    def atomically(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (reads and changes of this state) with no other thread's change in
        between: a scheduling cycle's decision, assume and Reserve, a consistent read of several
        aggregates. The one way to hold the cache still; callers never take its lock."""
        with self._lock:
            return operation()

    # ------------------------------------------------------------ nodes
    def add_node(self, node: Mapping[str, Any]) -> None:
        """cacheImpl.AddNode: a node appears at the end of its zone, and the node list is rebuilt
        (upstream's UpdateSnapshot rebuilds its list whenever a node is new to the snapshot)."""
        with self._lock:
            name = node["metadata"]["name"]
            info = self._nodes.get(name)
            if info is not None and info.node is not None:
                # Known already (a re-list hands it over again): the tree keeps its place, as
                # upstream's addNode ignores a name its zone holds.
                self._update_known_node(info, node)
                return
            if info is None:
                info = self._nodes[name] = NodeInfo(name)
            info.set_node(node)
            zone = zone_key(info.labels)
            self._node_zone[name] = zone
            self._tree.add(name, zone)
            self._remember_images(info)
            self._changed()

    def update_node(self, node: Mapping[str, Any]) -> None:
        """cacheImpl.UpdateNode. The node keeps its place in the list: a heartbeat, a label or a
        taint changes what is known of it, never the order nodes are tried in."""
        with self._lock:
            info = self._nodes.get(node["metadata"]["name"])
            if info is None or info.node is None:
                self.add_node(node)
                return
            self._update_known_node(info, node)

    def _update_known_node(self, info: NodeInfo, node: Mapping[str, Any]) -> None:
        self._forget_images(info)
        info.set_node(node)
        self._remember_images(info)
        old_zone, zone = self._node_zone[info.name], zone_key(info.labels)
        if zone != old_zone:
            # nodeTree.updateNode moves the node to the end of its new zone. The list in use keeps
            # its order until a node is added or removed: upstream's snapshot rebuilds its list from
            # the tree only then, so the cache is not cleared here.
            self._tree.remove(info.name, old_zone)
            self._tree.add(info.name, zone)
            self._node_zone[info.name] = zone
        self.generation += 1

    def remove_node(self, name: str) -> None:
        with self._lock:
            info = self._nodes.get(name)
            if info is None or info.node is None:
                return
            self._forget_images(info)
            self._tree.remove(name, self._node_zone.pop(name, ""))
            info.node = None
            info.images = {}
            info.generation = next_generation()
            if not info.pods:
                del self._nodes[name]
            self._changed()

    def _remember_images(self, info: NodeInfo) -> None:
        for image in info.images:
            self._image_nodes.setdefault(image, set()).add(info.name)

    def _forget_images(self, info: NodeInfo) -> None:
        for image in info.images:
            nodes = self._image_nodes.get(image)
            if nodes is not None:
                nodes.discard(info.name)
                if not nodes:
                    del self._image_nodes[image]

    # ------------------------------------------------------------ pods
    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """Account a bound pod (``spec.nodeName`` set); pending pods are ignored here.

        Confirms an assumed pod of the same uid (cacheImpl.AddPod: "assumed pod added").
        """
        node_name = (pod.get("spec") or {}).get("nodeName")
        with self._lock:
            uid = pod_uid(pod)
            if uid in self._assumed and not node_name and not is_terminal(pod):
                return  # an update of a pod we assumed, from before its binding is visible: keep it
            if uid in self._pod_node:
                # Confirms an assumed pod, or a re-list: replace what we counted.
                self._remove_uid(uid)
            self._unassume(uid)
            if not node_name or is_terminal(pod):
                self.generation += 1
                return
            self._place(PodInfo(pod, node_name), node_name)

    def update_pod(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        with self._lock:
            if old is not None and pod_uid(old) != pod_uid(new):
                self.remove_pod(old)
            self.add_pod(new)

    def remove_pod(self, pod: Mapping[str, Any]) -> None:
        """Drop the pod of this uid, assumed or bound (cacheImpl.RemovePod; a tombstone's pod may
        carry no nodeName, the uid still finds what was counted)."""
        with self._lock:
            uid = pod_uid(pod)
            self._unassume(uid)
            self._remove_uid(uid)
            self.generation += 1

    def assume_pod(self, pod: Mapping[str, Any], node_name: str) -> None:
        """Count ``pod`` on ``node_name`` now, before the binding is observed (keyed by uid).

        Refuses a pod already in the cache, assumed or bound, like cacheImpl.AssumePod ("pod %v(%v)
        is in the cache, so can't be assumed"): re-assuming a bound pod would let a later
        ForgetPod drop a running pod from the cache for good.
        """
        with self._lock:
            uid = pod_uid(pod)
            if uid in self._pod_node or uid in self._assumed:
                raise AlreadyInCache(f"pod {pod_key(pod)}({uid}) is in the cache, so can't be assumed")
            self._place(PodInfo(pod, node_name), node_name)
            self._assumed[uid] = pod_key(pod)
            self._assumed_by_key[pod_key(pod)] = uid

    def forget_pod(self, pod: Mapping[str, Any]) -> bool:
        """Undo ``assume_pod`` (binding failed). Only a still-assumed pod is forgotten: one the watch
        confirmed meanwhile stays counted (cacheImpl.ForgetPod). Returns whether it forgot."""
        with self._lock:
            uid = pod_uid(pod)
            if uid not in self._assumed:
                return False
            self._unassume(uid)
            self._remove_uid(uid)
            self.generation += 1
            return True

    # The two lookups below take no lock: one dict lookup is atomic under the interpreter lock,
    # and the answer is a moment's truth either way (the lock would be released on return). Taking
    # it made the scheduling thread queue, at the start of every cycle, behind the pod watch's
    # confirmations (py-spy: 17% of that thread's time at 500 nodes).

    def is_assumed(self, pod: Mapping[str, Any]) -> bool:
        """Is this very pod (same uid) assumed and not yet confirmed? (cacheImpl.IsAssumedPod)"""
        return pod_uid(pod) in self._assumed

    def assumed_uid(self, key: str) -> str | None:
        """The uid of the pod assumed under ``namespace/name``, if any (the name index)."""
        return self._assumed_by_key.get(key)

    def assumed_keys(self) -> dict[str, str]:
        """namespace/name -> uid of every assumed pod (a copy, for metrics and the cache debugger)."""
        with self._lock:
            return dict(self._assumed_by_key)

    @property
    def num_assumed(self) -> int:
        return len(self._assumed)

    def _unassume(self, uid: str) -> None:
        key = self._assumed.pop(uid, None)
        if key is not None and self._assumed_by_key.get(key) == uid:
            del self._assumed_by_key[key]

    def _place(self, info: PodInfo, node_name: str) -> None:
        node = self._nodes.get(node_name)
        if node is None:
            node = self._nodes[node_name] = NodeInfo(node_name)
        node.add_pod(info)
        for key in info.pvc_keys:
            self._pvc_refs[key] = self._pvc_refs.get(key, 0) + 1
        self._pod_node[info.uid] = node_name
        self._by_namespace.setdefault(info.namespace, {})[info.uid] = info
        self._track_affinity(node)
        self.generation += 1  # pods never change the node list, so its cache stays valid

    def _remove_uid(self, uid: str) -> None:
        node_name = self._pod_node.pop(uid, None)
        if node_name is None:
            return
        node = self._nodes.get(node_name)
        if node is None:
            return
        info = node.remove_pod(uid)
        if info is not None:
            for key in info.pvc_keys:
                left = self._pvc_refs.get(key, 0) - 1
                if left > 0:
                    self._pvc_refs[key] = left
                else:
                    self._pvc_refs.pop(key, None)
            same_ns = self._by_namespace.get(info.namespace)
            if same_ns is not None:
                same_ns.pop(uid, None)
                if not same_ns:
                    del self._by_namespace[info.namespace]
        self._track_affinity(node)
        if node.node is None and not node.pods:
            del self._nodes[node_name]

    def _track_affinity(self, node: NodeInfo) -> None:
        for index, has in ((self._affinity_nodes, node.pods_with_affinity),
                           (self._anti_affinity_nodes, node.pods_with_required_anti_affinity)):
            if has:
                index.add(node.name)
            else:
                index.discard(node.name)

    # ------------------------------------------------------------ workload objects
    _KIND_STORES = {
        "Service": "services", "ReplicationController": "replication_controllers",
        "ReplicaSet": "replica_sets", "StatefulSet": "stateful_sets",
        "PodDisruptionBudget": "pdbs",  # read by DefaultPreemption (filterPodsWithPDBViolation)
    }

    def add_object(self, obj: Mapping[str, Any]) -> bool:
        """Add/update a Service, ReplicationController, ReplicaSet, StatefulSet, Namespace, PDB, or a
        volume object (PersistentVolume, PersistentVolumeClaim, StorageClass, CSINode).

        Returns False for other kinds.  The workload objects only feed PodTopologySpread's system
        default constraints (``helper.DefaultSelector``) and namespace selectors.
        """
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        with self._lock:
            if self.volumes.add(obj):
                pass
            elif kind == "Namespace":
                self.namespace_labels[meta.get("name", "")] = meta.get("labels") or {}
            elif kind in self._KIND_STORES:
                store = getattr(self, self._KIND_STORES[kind])
                store[namespaced_key(obj)] = obj
            else:
                return False
            self.generation += 1
            return True

    update_object = add_object

    def remove_object(self, obj: Mapping[str, Any]) -> None:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        with self._lock:
            if self.volumes.remove(obj):
                pass
            elif kind == "Namespace":
                self.namespace_labels.pop(meta.get("name", ""), None)
            elif kind in self._KIND_STORES:
                getattr(self, self._KIND_STORES[kind]).pop(namespaced_key(obj), None)
            self.generation += 1

    def default_selector(self, pod: Mapping[str, Any]) -> LabelMatcher | None:
        """``helper.DefaultSelector``: labels of matching Services + the owning RC/RS/StatefulSet.

        Returns a label matcher, or None when the selector is empty.
        """
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        pod_labels = meta.get("labels") or {}
        label_set: dict[str, str] = {}
        for key, svc in self.services.items():
            if not key.startswith(ns + "/"):
                continue
            sel = (svc.get("spec") or {}).get("selector")
            if sel is None:
                continue  # services with nil selectors match nothing
            if all(pod_labels.get(k) == v and k in pod_labels for k, v in sel.items()):
                label_set.update(sel)
        matchers: list[LabelMatcher] = []
        if label_set:
            items = tuple(label_set.items())
            matchers.append(_equal_labels(items))
        owner = next((o for o in meta.get("ownerReferences") or () if o.get("controller")), None)
        if owner is not None:
            kind, name = owner.get("kind"), owner.get("name")
            api = owner.get("apiVersion", "")
            if kind == "ReplicationController" and api == "v1":
                rc = self.replication_controllers.get(f"{ns}/{name}")
                if rc is not None:
                    label_set.update((rc.get("spec") or {}).get("selector") or {})
                    if label_set:
                        items = tuple(label_set.items())
                        matchers = [_equal_labels(items)]
            elif kind in ("ReplicaSet", "StatefulSet") and api == "apps/v1":
                store = self.replica_sets if kind == "ReplicaSet" else self.stateful_sets
                obj = store.get(f"{ns}/{name}")
                if obj is not None:
                    sel = (obj.get("spec") or {}).get("selector")
                    if sel is not None and (sel.get("matchLabels") or sel.get("matchExpressions")):
                        matchers.append(compile_label_selector(sel))
        if not matchers:
            return None
        if len(matchers) == 1:
            return matchers[0]
        return lambda lbls: all(m(lbls) for m in matchers)

    # ------------------------------------------------------------ reads
    def _changed(self) -> None:
        """A node was added or removed."""
        self._members_changed = True
        self._list_cache = None
        self.generation += 1

    def node_list(self) -> list[NodeInfo]:
        """Nodes in snapshot order (zone round-robin, insertion order within a zone). Cached.

        Built as upstream's UpdateSnapshot builds its list: taken from the tree again only when the
        set of nodes differs from the list's (a node new to it, or one gone). A node deleted and
        created again, or moved to another zone, keeps its place until then, as it does upstream."""
        with self._lock:
            if self._members_changed:
                self._members_changed = False
                names = self._tree.list()
                if len(names) != len(self._list_names) or set(names) != set(self._list_names):
                    self._list_names = names
            if self._list_cache is None:
                self._list_cache = [self._nodes[n] for n in self._list_names]
            return self._list_cache

    def node_names(self) -> list[str]:
        return [n.name for n in self.node_list()]

    def node_name_set(self) -> set[str]:
        """The nodes in the cache, read without building the list a scheduling cycle takes."""
        with self._lock:
            return set(self._node_zone)

    @property
    def num_nodes(self) -> int:
        return len(self._node_zone)

    def pods_on_node(self, name: str, keys: Iterable[str]) -> list[Mapping[str, Any]]:
        """The pods counted on node ``name`` whose namespace/name is in ``keys`` (preemption's victims)."""
        wanted = set(keys)
        with self._lock:
            info = self._nodes.get(name)
            return [p.pod for p in info.pods.values() if p.key in wanted] if info is not None else []

    def node_labels(self, name: str) -> dict[str, str] | None:
        """A copy of node ``name``'s labels, None when the cache has no such node."""
        with self._lock:
            info = self._nodes.get(name)
            return dict(info.labels) if info is not None and info.node is not None else None

    def sizes(self) -> dict[str, int]:
        """Nodes, pods counted on them and assumed pods (the scheduler_cache_size gauge), at one moment."""
        with self._lock:
            # Not node_list(): building the cycle's list here would be a snapshot upstream never takes.
            nodes = [self._nodes[name] for name in self._node_zone]
            return {"nodes": len(nodes), "pods": sum(n.num_pods for n in nodes), "assumed_pods": self.num_assumed}

    def get_node_info(self, name: str) -> NodeInfo | None:
        info = self._nodes.get(name)
        return info if info is not None and info.node is not None else None

    def image_num_nodes(self, image: str) -> int:
        nodes = self._image_nodes.get(image)
        return len(nodes) if nodes else 0

    def pods(self) -> Iterable[PodInfo]:
        for info in self._nodes.values():
            yield from info.pods.values()

    def pods_in_namespace(self, namespace: str) -> list[PodInfo]:
        """Counted (bound or assumed) pods of one namespace."""
        return list(self._by_namespace.get(namespace, {}).values())

    def is_pvc_used_by_pods(self, key: str) -> bool:
        """``StorageInfoLister.IsPVCUsedByPods``: a bound or assumed pod names this claim."""
        return key in self._pvc_refs

    def pod_node(self, pod: Mapping[str, Any]) -> str | None:
        return self._pod_node.get(pod_uid(pod))

    def nodes_with_required_anti_affinity(self) -> list[NodeInfo]:
        if not self._anti_affinity_nodes:
            return []
        return [n for n in self.node_list() if n.name in self._anti_affinity_nodes]

    def nodes_with_affinity_pods(self) -> list[NodeInfo]:
        if not self._affinity_nodes:
            return []
        return [n for n in self.node_list() if n.name in self._affinity_nodes]


__all__ = ["AlreadyInCache", "ClusterState", "NodeInfo", "PodInfo", "LABEL_HOSTNAME"]
