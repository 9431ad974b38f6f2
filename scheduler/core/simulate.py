"""``scheduler simulate``: a cluster state file in, kube-scheduler v1.29 decisions and scores out.

    python -m scheduler simulate --config CONFIG --cluster STATE [--output table|json] [--seed N] [--top N]

STATE is a YAML/JSON file or a directory of them holding Node and Pod manifests as
``kubectl get -o yaml`` prints them (multi-document YAML and ``kind: List`` accepted;
Services, ReplicaSets, ReplicationControllers, StatefulSets and Namespaces are used too,
other kinds are ignored).  Bound pods (``spec.nodeName`` set) are accounted on their
nodes; every pending pod whose schedulerName a profile handles is then scheduled, in
queue order (PrioritySort: higher priority first, then creationTimestamp, then file
order), each decision assumed onto its node so later pods see it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import yaml

from scheduler.core.config import ConfigError, default_config, load_config
from scheduler.core.framework import Profile, ScheduleResult, build_profiles
from scheduler.core.messages import scheduled_message
from scheduler.core.resources import QuantityError
from scheduler.core.state import ClusterState, is_terminal, pod_key

WORKLOAD_KINDS = ("Service", "ReplicaSet", "ReplicationController", "StatefulSet", "Namespace")
SHORT_NAMES = {
    "TaintToleration": "Taint", "NodeAffinity": "NodeAff", "NodeResourcesFit": "Fit",
    "VolumeBinding": "Volume", "PodTopologySpread": "Spread", "InterPodAffinity": "PodAff",
    "NodeResourcesBalancedAllocation": "Balanced", "ImageLocality": "Image",
}


class InputError(Exception):
    """Bad cluster-state input; ``str()`` is one line naming the file and the problem."""


@dataclass
class ClusterInput:
    nodes: list[dict] = field(default_factory=list)
    bound_pods: list[dict] = field(default_factory=list)
    pending_pods: list[dict] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------ loading

def _state_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names
            if name.endswith((".yaml", ".yml", ".json")))
        if not files:
            raise InputError(f"{path}: no .yaml, .yml or .json files in directory")
        return files
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    return [path]


def _documents(path: str) -> Iterable[tuple[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: invalid YAML: {where}{problem}") from None
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{path}: document {i}"
        if not isinstance(doc, dict):
            raise InputError(f"{where}: expected a Kubernetes object, got {type(doc).__name__}")
        if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
            for j, item in enumerate(doc.get("items") or ()):
                if not isinstance(item, dict):
                    raise InputError(f"{where}: items[{j}]: expected a Kubernetes object")
                kind = item.get("kind") or doc.get("kind", "")[:-4]
                yield f"{where} items[{j}]", dict(item, kind=kind)
        else:
            yield where, doc


def load_cluster(path: str) -> ClusterInput:
    """Read nodes, pods and workload objects from a file or directory."""
    out = ClusterInput()
    for file in _state_files(path):
        for where, obj in _documents(file):
            kind = obj.get("kind")
            if not kind:
                raise InputError(f"{where}: kind: required (Node, Pod, ...)")
            meta = obj.get("metadata")
            if not isinstance(meta, dict) or not meta.get("name"):
                raise InputError(f"{where} ({kind}): metadata.name: required")
            if kind == "Node":
                out.nodes.append(obj)
            elif kind == "Pod":
                pod = _default_pod(obj)
                spec = pod.get("spec")
                if not isinstance(spec, dict) or not spec.get("containers"):
                    raise InputError(f"{where} (Pod {pod_key(pod)}): spec.containers: required")
                (out.bound_pods if spec.get("nodeName") else out.pending_pods).append(pod)
            elif kind in WORKLOAD_KINDS:
                out.objects.append(obj)
    return out


def _default_pod(pod: Mapping[str, Any]) -> dict:
    """API-server defaults that matter here: namespace and schedulerName."""
    pod = dict(pod)
    meta = dict(pod.get("metadata") or {})
    meta.setdefault("namespace", "default")
    if not meta.get("namespace"):
        meta["namespace"] = "default"
    meta.setdefault("uid", f"{meta['namespace']}/{meta['name']}")
    pod["metadata"] = meta
    spec = dict(pod.get("spec") or {})
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    pod["spec"] = spec
    return pod


def build_state(cluster: ClusterInput) -> ClusterState:
    state = ClusterState()
    for node in cluster.nodes:
        try:
            state.add_node(node)
        except (QuantityError, ValueError, TypeError) as exc:
            raise InputError(f"Node {node['metadata']['name']}: {exc}") from None
    for obj in cluster.objects:
        state.add_object(obj)
    for pod in cluster.bound_pods:
        try:
            state.add_pod(pod)
        except (QuantityError, ValueError, TypeError) as exc:
            raise InputError(f"Pod {pod_key(pod)}: {exc}") from None
    return state


# ------------------------------------------------------------------ running

@dataclass
class Decision:
    pod: str
    result: ScheduleResult
    scheduler_name: str


def queue_order(pods: Sequence[dict]) -> list[dict]:
    """PrioritySort: higher priority first, then older creationTimestamp, then file order."""
    def key(item: tuple[int, dict]) -> tuple:
        idx, pod = item
        ts = (pod.get("metadata") or {}).get("creationTimestamp")
        prio = (pod.get("spec") or {}).get("priority") or 0
        return (-int(prio), ts is None, str(ts or ""), idx)

    return [pod for _, pod in sorted(enumerate(pods), key=key)]


def run(profiles: Mapping[str, Profile], state: ClusterState, pending: Sequence[dict],
        rng: random.Random) -> tuple[list[Decision], list[dict]]:
    """Schedule ``pending`` in queue order; returns decisions and pods no profile handles."""
    decisions: list[Decision] = []
    skipped: list[dict] = []
    for pod in queue_order(pending):
        if is_terminal(pod) or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        name = pod["spec"]["schedulerName"]
        profile = profiles.get(name)
        if profile is None:
            skipped.append(pod)
            continue
        try:
            result = profile.schedule(state, pod, rng)
        except (QuantityError, ValueError, TypeError) as exc:
            raise InputError(f"Pod {pod_key(pod)}: {exc}") from None
        if result.node is not None:
            state.assume_pod(pod, result.node)
        decisions.append(Decision(pod_key(pod), result, name))
    return decisions, skipped


# ------------------------------------------------------------------ output

def decision_json(decision: Decision) -> dict:
    res = decision.result
    if res.node is not None:
        ns, name = decision.pod.split("/", 1)
        message = scheduled_message(ns, name, res.node)
    else:
        message = res.message or ""
    out = {"pod": decision.pod, "node": res.node, "scores": res.scores, "message": message}
    if res.nominated_node:  # DefaultPreemption would evict these (pod keys) and nominate the node
        out.update(nominatedNode=res.nominated_node, victims=list(res.victims),
                   preemptionTies=sorted(res.nominated_tie))
    return out


def format_table(decisions: Sequence[Decision], skipped: Sequence[dict], top: int) -> str:
    lines: list[str] = []
    for d in decisions:
        res = d.result
        if res.node is not None:
            lines.append(f"{d.pod} -> {res.node}  [{d.scheduler_name}; evaluated {res.evaluated_nodes}, "
                         f"feasible {res.feasible_nodes}]")
        else:
            label = "gated" if res.status == "gated" else "unschedulable"
            lines.append(f"{d.pod} -> {label}  [{d.scheduler_name}]")
            lines.append(f"  {res.message}")
            if res.nominated_node:
                lines.append(f"  preemption would nominate {res.nominated_node} evicting "
                             f"{', '.join(res.victims)}")
                others = sorted(set(res.nominated_tie) - {res.nominated_node})
                if others:  # upstream picks among equally ranked candidates in no fixed order
                    lines.append(f"  (equally good for preemption: {', '.join(others)})")
            lines.append("")
            continue
        if not res.scores:
            lines.append("  only one feasible node: no scoring (kube-scheduler skips Score)")
            lines.append("")
            continue
        plugins = [p for p in next(iter(res.scores.values())) if p != "total"]
        headers = ["node"] + [f"{SHORT_NAMES.get(p, p)}x{res.weights.get(p, 1)}" for p in plugins] + ["total"]
        ranked = sorted(res.scores.items(), key=lambda kv: (-kv[1]["total"], kv[0]))[:max(top, 1)]
        rows = [[n] + [str(s[p]) for p in plugins] + [str(s["total"])] for n, s in ranked]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines.append("  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                                      for i, (h, w) in enumerate(zip(headers, widths))))
        for r in rows:
            mark = "*" if r[0] == res.node else " "
            lines.append(" " + mark + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                                for i, (c, w) in enumerate(zip(r, widths))))
        if len(res.scores) > len(ranked):
            lines.append(f"  ... {len(res.scores) - len(ranked)} more scored node(s)")
        lines.append("")
    if decisions:
        legend = sorted({p for d in decisions for s in d.result.scores.values() for p in s if p != "total"})
        if legend:
            lines.append("scores: plugin score after NormalizeScore x weight; total = weighted sum")
            lines.append("  " + ", ".join(f"{SHORT_NAMES.get(p, p)}={p}" for p in legend))
    for pod in skipped:
        lines.append(f"skipped {pod_key(pod)}: no profile for schedulerName "
                     f"{pod['spec']['schedulerName']!r} (it stays Pending, no event)")
    if not decisions and not skipped:
        lines.append("no pending pods")
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------ CLI

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scheduler simulate",
                     description="Show which node kube-scheduler v1.29 would pick for each pending pod, and why.")
    parser.add_argument("--config", help="KubeSchedulerConfiguration file (default: the v1.29 default profile)")
    parser.add_argument("--cluster", required=True, help="YAML/JSON file or directory with Node and Pod manifests")
    parser.add_argument("--output", "-o", choices=("table", "json"), default="table")
    parser.add_argument("--seed", type=int, default=None, help="seed for tie-breaking and random plugins")
    parser.add_argument("--top", type=int, default=3, help="nodes to show per pod in the table (default 3)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                        help="load an out-of-tree plugin (module:Class or path/to/file.py:Class); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        from scheduler.core.plugins.registry import PluginLoadError, default_registry

        registry = default_registry()
        for spec in args.plugin:
            try:
                registry.load(spec)
            except (PluginLoadError, ImportError, OSError, SyntaxError) as exc:
                raise InputError(f"--plugin {spec}: {exc}") from None
        config = load_config(args.config, registry) if args.config else default_config(registry)
        profiles = build_profiles(config)
        cluster = load_cluster(args.cluster)
        state = build_state(cluster)
        decisions, skipped = run(profiles, state, cluster.pending_pods, random.Random(args.seed))
    except (ConfigError, InputError) as exc:
        print(f"scheduler simulate: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(json.dumps([decision_json(d) for d in decisions], indent=2) + "\n")
    else:
        sys.stdout.write(format_table(decisions, skipped, args.top))
    return 0


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_entry()
