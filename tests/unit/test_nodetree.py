"""NodeTree keeps upstream's order exactly: over generated adds and removes (repeats, unknown
names, zones emptied and re-created), its list equals that of upstream's algorithm, written here
as v1.29.15 writes it (a linear scan of the zone's slice; a remove closes the gap in order)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from scheduler.core.nodetree import NodeTree


class UpstreamNodeTree:
    """pkg/scheduler/internal/cache/node_tree.go (v1.29.15): addNode, removeNode, list."""

    def __init__(self) -> None:
        self.zones: list[str] = []
        self.tree: dict[str, list[str]] = {}

    def add(self, name: str, zone: str) -> None:
        if zone in self.tree:
            if name not in self.tree[zone]:
                self.tree[zone].append(name)
        else:
            self.zones.append(zone)
            self.tree[zone] = [name]

    def remove(self, name: str, zone: str) -> None:
        names = self.tree.get(zone)
        if names is None or name not in names:
            return
        i = names.index(name)
        self.tree[zone] = names = names[:i] + names[i + 1:]  # append(na[:i], na[i+1:]...)
        if not names:
            del self.tree[zone]
            self.zones.remove(zone)

    def list(self) -> list[str]:
        out: list[str] = []
        lists = [self.tree[z] for z in self.zones]
        for i in range(max((len(x) for x in lists), default=0)):
            out.extend(names[i] for names in lists if i < len(names))
        return out


# Few names and zones, so the same node comes and goes often and removes move names up.
ADD_TWICE_AS_OFTEN = st.sampled_from([True, True, False])  # zones fill up, then removes move names
operations = st.lists(st.tuples(ADD_TWICE_AS_OFTEN, st.sampled_from([f"n{i}" for i in range(6)]),
                                st.sampled_from(["", "r:\x00:a", "r:\x00:b"])), min_size=5, max_size=60)


@settings(max_examples=400, deadline=None)
@given(operations)
# A name a remove moved up is removed next: its new place must be known.
@example([(True, "n0", ""), (True, "n1", ""), (True, "n2", ""), (False, "n0", ""), (False, "n2", "")])
def test_the_order_is_upstreams_after_any_adds_and_removes(ops: list[tuple[bool, str, str]]) -> None:
    ours, upstream = NodeTree(), UpstreamNodeTree()
    for add, name, zone in ops:
        for tree in (ours, upstream):
            (tree.add if add else tree.remove)(name, zone)
        assert ours.list() == upstream.list()
        assert ours.zones == upstream.zones


def test_a_large_zone_ignores_repeats_and_keeps_the_order_on_removes() -> None:
    """5,000 nodes in one zone (the case that cost a second at start-up), as upstream orders them."""
    tree = NodeTree()
    for i in range(5000):
        tree.add(f"node-{i}", "")
    tree.add("node-0", "")  # a repeat is ignored, as upstream does
    assert len(tree.list()) == 5000 and tree.list()[:2] == ["node-0", "node-1"]
    tree.remove("node-0", "")
    tree.remove("node-2500", "")
    assert tree.list()[:2] == ["node-1", "node-2"] and tree.list()[2498:2500] == ["node-2499", "node-2501"]
    tree.remove("node-2501", "")  # its place was renumbered by the remove before
    assert tree.list()[2498:2500] == ["node-2499", "node-2502"] and len(tree.list()) == 4997
