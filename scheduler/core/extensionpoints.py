"""The scheduling framework's extension points, typed: one ``typing.Protocol`` per point (what a plugin
implements to take part in it, as kube-scheduler's ``framework/interface.go`` v1.29 declares them),
and the values passed through them (``CycleState``, ``PreFilterResult``, ``PostFilterResult``).

Plugins subclass ``framework.Plugin`` and define the methods of the points they implement; the
registry checks the methods are there when profiles are built, and ``Profile`` calls them through
these Protocols. Optional fast paths (``filter_nodes``, ``score_nodes``, ``filter_passes_every_node``)
are separate Protocols: a plugin without them is asked node by node.

Pods and API objects are JSON mappings (``Pod``): the API's JSON is untyped, and only at that edge
is ``Any`` used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence

from scheduler.core.state import ClusterState, NodeInfo, PodInfo
from scheduler.core.status import Status

Pod = Mapping[str, Any]  # a pod as the API serves it (JSON)

class PreFilterResult:
    """Restricts the nodes to evaluate (``framework.PreFilterResult``); None means all nodes."""

    __slots__ = ("node_names",)

    def __init__(self, node_names: Iterable[str] | None) -> None:
        self.node_names = set(node_names) if node_names is not None else None

    def merge(self, other: "PreFilterResult | None") -> "PreFilterResult":
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return PreFilterResult(other.node_names)
        return PreFilterResult(self.node_names & other.node_names)


@dataclass
class PostFilterResult:
    nominated_node: str | None = None
    victims: list[str] = field(default_factory=list)
    # Candidates equal to the nominated one on every pickOneNodeForPreemption criterion (upstream
    # then takes the first in its parallel dry run's order, which is not deterministic).
    tied: dict[str, list[str]] = field(default_factory=dict)  # node -> its victims (pod keys)
    num_pdb_violations: int = 0


class CycleState:
    """Per-cycle scratch space shared by the plugins (``framework.CycleState``)."""

    __slots__ = ("state", "pod", "pod_info", "rng", "data", "skip_filter", "skip_score")

    def __init__(self, state: ClusterState, pod: Mapping[str, Any], rng: random.Random) -> None:
        self.state = state
        self.pod = pod
        self.pod_info = PodInfo(pod)
        self.rng = rng
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def clone(self) -> "CycleState":
        other = CycleState.__new__(CycleState)
        other.state, other.pod, other.pod_info, other.rng = self.state, self.pod, self.pod_info, self.rng
        other.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        other.skip_filter = set(self.skip_filter)
        other.skip_score = set(self.skip_score)
        return other


# ---------------------------------------------------------------------------- extension points

class Named(Protocol):
    name: str


class QueuedPod(Protocol):
    """What a QueueSort plugin compares (the queue's QueuedPodInfo): the pod and its queue timestamp."""

    pod: Pod
    timestamp: float


class PreEnqueuePlugin(Named, Protocol):
    def pre_enqueue(self, pod: Pod) -> Status | None: ...


class QueueSortPlugin(Named, Protocol):
    def less(self, a: QueuedPod, b: QueuedPod) -> bool: ...


class EnqueueExtensions(Named, Protocol):
    """The cluster events (resource, action bits) after which a pod this plugin rejected may fit."""

    def events_to_register(self) -> Sequence[tuple[str, int]]: ...


class PreFilterPlugin(Named, Protocol):
    """None or Status(SUCCESS): go on; Status(SKIP): leave out this plugin's Filter; a
    PreFilterResult: evaluate only its nodes; any other Status: the cycle fails."""

    def pre_filter(self, cycle: CycleState, pod: Pod) -> Status | PreFilterResult | None: ...


class PreFilterExtensions(Protocol):
    """AddPod / RemovePod: keep the PreFilter state true when preemption adds or removes a pod."""

    def add_pod(self, cycle: CycleState, pod: Pod, other: PodInfo, node: NodeInfo) -> None: ...

    def remove_pod(self, cycle: CycleState, pod: Pod, other: PodInfo, node: NodeInfo) -> None: ...


class FilterPlugin(Named, Protocol):
    """None (or SUCCESS) means the node fits."""

    def filter(self, cycle: CycleState, pod: Pod, node: NodeInfo) -> Status | None: ...


class BatchFilter(Protocol):
    """Optional: Filter over several nodes at once, the same verdicts in node order."""

    def filter_nodes(self, cycle: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status | None]: ...


class FilterShortcut(Protocol):
    """Optional: True when this plugin's Filter cannot reject any node for this pod."""

    def filter_passes_every_node(self, cycle: CycleState, pod: Pod) -> bool: ...


class PostFilterPlugin(Named, Protocol):
    def post_filter(self, cycle: CycleState, pod: Pod,
                    statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]: ...


class PreScorePlugin(Named, Protocol):
    """None or SUCCESS: go on; Status(SKIP): leave out this plugin's Score; other: the cycle fails."""

    def pre_score(self, cycle: CycleState, pod: Pod, nodes: list[NodeInfo]) -> Status | None: ...


class ScorePlugin(Named, Protocol):
    def score(self, cycle: CycleState, pod: Pod, node: NodeInfo) -> int: ...


class BatchScore(Protocol):
    """Optional: Score over all feasible nodes at once, in their order."""

    def score_nodes(self, cycle: CycleState, pod: Pod, nodes: list[NodeInfo]) -> list[int]: ...


class ScoreExtensions(Protocol):
    """NormalizeScore: rewrites ``scores`` (one per node, in order) in place to 0..MAX_NODE_SCORE."""

    def normalize_score(self, cycle: CycleState, pod: Pod, nodes: list[NodeInfo], scores: list[int]) -> None: ...


class ReservePlugin(Named, Protocol):
    def reserve(self, cycle: CycleState, pod: Pod, node: str) -> Status | None: ...

    def unreserve(self, cycle: CycleState, pod: Pod, node: str) -> None: ...


class PermitPlugin(Named, Protocol):
    """Allow, reject or wait (up to the returned seconds). No in-tree plugin implements it: the
    configuration accepts the point, the registry checks the method; ``Profile`` runs none."""

    def permit(self, cycle: CycleState, pod: Pod, node: str) -> tuple[Status | None, float]: ...


class PreBindPlugin(Named, Protocol):
    """None: nothing to do; a Status: failure; anything else: a plan the I/O shell carries out."""

    def pre_bind(self, cycle: CycleState, pod: Pod, node: str) -> Status | object | None: ...


class BindPlugin(Named, Protocol):
    """A marker in the core: binding is I/O, done by the shell (DefaultBinder's POST pods/binding)."""

    def bind(self, *args: Any) -> None: ...


class PostBindPlugin(Named, Protocol):
    """Informational, after a successful bind. No in-tree plugin implements it (like PermitPlugin)."""

    def post_bind(self, cycle: CycleState, pod: Pod, node: str) -> None: ...
