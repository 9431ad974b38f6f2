"""The order nodes are tried in is upstream's after any node events: adds, updates (heartbeats,
label changes, a zone moved), removes, and a node deleted and created again, with scheduling
cycles taking the list in between.

The model is kube-scheduler v1.29.15's cache as written in its source (cache.go: AddNode,
UpdateNode, RemoveNode, UpdateSnapshot with updateNodeInfoSnapshotList; node_tree.go): a cycle's
list is rebuilt from the node tree only when a node is new to the snapshot or gone from it.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sched_builders import node, pod
from test_nodetree import UpstreamNodeTree

from scheduler.core.state import ClusterState

ZONE = "topology.kubernetes.io/zone"


class UpstreamCache:
    """The node order of cacheImpl and its Snapshot (v1.29.15)."""

    def __init__(self) -> None:
        self.tree = UpstreamNodeTree()
        self.zone: dict[str, str] = {}  # nodes in the cache with their zone key
        self.snapshot_names: set[str] = set()  # Snapshot.nodeInfoMap
        self.snapshot_list: list[str] = []  # Snapshot.nodeInfoList

    def add(self, name: str, zone: str) -> None:
        self.tree.add(name, zone)
        self.zone[name] = zone

    def update(self, name: str, zone: str) -> None:
        # nodeTree.updateNode: nothing unless the zone changed.
        if self.zone[name] != zone:
            self.tree.remove(name, self.zone[name])
            self.tree.add(name, zone)
            self.zone[name] = zone

    def remove(self, name: str) -> None:
        self.tree.remove(name, self.zone.pop(name))

    def update_snapshot(self) -> list[str]:
        new = set(self.zone) - self.snapshot_names
        update_all = bool(new)  # a node not yet in nodeInfoMap
        self.snapshot_names |= new
        if len(self.snapshot_names) > len(self.zone):  # removeDeletedNodesFromSnapshot
            self.snapshot_names &= set(self.zone)
            update_all = True
        if update_all:
            self.snapshot_list = self.tree.list()
        return self.snapshot_list


def zone_key(zone: str) -> str:
    return f":\x00:{zone}" if zone else ""


def a_node(name: str, zone: str, heartbeat: int = 0) -> dict:
    labels = {ZONE: zone} if zone else {}
    labels["heartbeat"] = str(heartbeat)
    return node(name, labels=labels)


NAMES = [f"n{i}" for i in range(7)]
ZONES = ["", "a", "b"]
events = st.lists(st.one_of(
    st.tuples(st.just("set"), st.sampled_from(NAMES), st.sampled_from(ZONES)),  # add, or update if known
    st.tuples(st.just("remove"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("cycle"), st.just(""), st.just("")),
    st.tuples(st.just("read"), st.just(""), st.just("")),  # the metrics gauge and the cache comparer read
), min_size=5, max_size=80)


@settings(max_examples=500, deadline=None)
@given(events)
# Deleted and created again between two cycles: it keeps its place.
@example([("set", "n0", ""), ("set", "n1", ""), ("set", "n2", ""), ("cycle", "", ""),
          ("remove", "n0", ""), ("set", "n0", ""), ("cycle", "", "")])
# Read outside a cycle between an add and a zone change: the next cycle still sees the move.
@example([("set", "n0", "a"), ("set", "n1", "a"), ("set", "n2", "b"), ("cycle", "", ""),
          ("set", "n3", "a"), ("read", "", ""), ("set", "n0", "b"), ("cycle", "", "")])
# A zone changed: the list keeps its order until a node is added.
@example([("set", "n0", "a"), ("set", "n1", "a"), ("set", "n2", "b"), ("cycle", "", ""),
          ("set", "n0", "b"), ("cycle", "", ""), ("set", "n3", "a"), ("cycle", "", "")])
def test_the_list_a_cycle_takes_is_upstreams(ops: list[tuple[str, str, str]]) -> None:
    ours, upstream = ClusterState(), UpstreamCache()
    for i, (kind, name, zone) in enumerate(ops):
        if kind == "set" and name not in upstream.zone:
            ours.add_node(a_node(name, zone, i))
            upstream.add(name, zone_key(zone))
        elif kind == "set":
            ours.update_node(a_node(name, zone, i))
            upstream.update(name, zone_key(zone))
        elif kind == "remove" and name in upstream.zone:
            ours.remove_node(name)
            upstream.remove(name)
        elif kind == "cycle":
            assert ours.node_names() == upstream.update_snapshot()
        elif kind == "read":
            assert ours.sizes()["nodes"] == len(ours.node_name_set()) == len(upstream.zone)
    assert ours.num_nodes == len(upstream.zone)


def test_a_heartbeat_keeps_the_node_in_place_and_the_list_built() -> None:
    state = ClusterState()
    for i in range(5):
        state.add_node(a_node(f"n{i}", ""))
    before = state.node_list()
    state.update_node(a_node("n1", "", heartbeat=1))
    after = state.node_list()
    assert after is before  # not rebuilt: a heartbeat changes no node's place
    assert [n.name for n in after] == ["n0", "n1", "n2", "n3", "n4"]
    assert after[1].labels["heartbeat"] == "1"


def test_a_node_deleted_with_pods_on_it_and_created_again_keeps_its_place() -> None:
    state = ClusterState()
    for i in range(3):
        state.add_node(a_node(f"n{i}", ""))
    state.add_pod(pod("p", {"cpu": "1"}, node_name="n0"))
    assert state.node_names() == ["n0", "n1", "n2"]
    state.remove_node("n0")  # its pod's delete has not arrived: the NodeInfo stays, without a node
    state.add_node(a_node("n0", ""))
    assert state.node_names() == ["n0", "n1", "n2"]
    assert state.node_list()[0].num_pods == 1
