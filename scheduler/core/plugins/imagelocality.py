"""ImageLocality (Score): favour nodes that already have the pod's images.

v1.29: sum over init and regular containers of ``size * (nodesWithImage / allNodes)``
for images present on the node, clamped to [23MiB, 1000MiB * containers] and scaled
to 0..100.  Image names are matched after appending ":latest" to untagged names.
"""

from __future__ import annotations

from typing import Any, Mapping

from scheduler.core.framework import MAX_NODE_SCORE, CycleState, Plugin
from scheduler.core.state import NodeInfo

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image_name(name: str) -> str:
    if name.rfind(":") <= name.rfind("/"):
        name = name + ":latest"
    return name


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def scaled_image_score(size: int, num_nodes: int, total_nodes: int) -> int:
    spread = num_nodes / total_nodes
    return int(size * spread)


class ImageLocality(Plugin):
    name = "ImageLocality"

    def score_nodes(self, cycle: CycleState, pod: Mapping[str, Any], nodes: list[NodeInfo]) -> list[int]:
        spec = pod.get("spec") or {}
        containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
        images = [normalized_image_name(c.get("image", "")) for c in containers]
        state = cycle.state
        total = state.num_nodes
        zero = calculate_priority(0, len(containers))
        spread = {img: state.image_num_nodes(img) for img in set(images)}
        out = []
        for node in nodes:
            node_images = node.images
            if not node_images:
                out.append(zero)
                continue
            total_score = 0
            for img in images:
                size = node_images.get(img)
                if size is not None:
                    total_score += scaled_image_score(size, spread[img], total)
            out.append(calculate_priority(total_score, len(containers)))
        return out
