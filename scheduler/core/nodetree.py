"""kube-scheduler's nodeTree: the order nodes are listed in, round-robin across zones."""

from __future__ import annotations

from typing import Mapping

ZONE_LABELS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")
REGION_LABELS = ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region")


def zone_key(labels: Mapping[str, str]) -> str:
    """``utilnode.GetZoneKey``: region + ":\\x00:" + zone, or "" without either."""
    zone = next((labels[k] for k in ZONE_LABELS if k in labels), "")
    region = next((labels[k] for k in REGION_LABELS if k in labels), "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


class NodeTree:
    """kube-scheduler's nodeTree: nodes grouped by zone, listed round-robin across zones."""

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
        names[i] = names[-1]  # swap-remove, exactly like upstream
        names.pop()
        if not names:
            del self.tree[zone]
            self.zones.remove(zone)

    def list(self) -> list[str]:
        out: list[str] = []
        lists = [self.tree[z] for z in self.zones]
        longest = max((len(x) for x in lists), default=0)
        for i in range(longest):
            for names in lists:
                if i < len(names):
                    out.append(names[i])
        return out
