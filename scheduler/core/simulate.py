"""``scheduler simulate``: a cluster state file in, kube-scheduler v1.29 decisions and scores out.

    python -m scheduler simulate --config CONFIG --cluster STATE [--output table|json] [--seed N] [--top N]

STATE is a YAML/JSON file or a directory of them holding Node and Pod manifests as
``kubectl get -o yaml`` prints them (multi-document YAML and ``kind: List`` accepted;
Services, ReplicaSets, ReplicationControllers, StatefulSets and Namespaces are used too, and
PersistentVolumeClaims, PersistentVolumes, StorageClasses and CSINodes by the volume plugins;
other kinds are ignored). As on a cluster, a static PV is offered to a claim only with
``status.phase: Available`` (the PV controller sets it), and a claim counts as bound with
``spec.volumeName`` and the ``pv.kubernetes.io/bind-completed`` annotation.  Bound pods (``spec.nodeName`` set) are accounted on their
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
from typing import Any, Iterable, Mapping, NoReturn, Sequence

from scheduler.core.config import ConfigError
from scheduler.core.framework import Plugin, Profile, ScheduleResult
from scheduler.core.cycle import schedule_pod
from scheduler.core.messages import scheduled_message
from scheduler.core.profiles import build_profiles, default_config, load_config
from scheduler.core.resources import QuantityError
from scheduler.core.podutil import is_assigned, is_terminal, is_terminating, pod_key, pod_priority, scheduler_name
from scheduler.core.state import ClusterState
from scheduler.core.validation.objects import CLUSTER_SCOPED, KIND_SCHEMAS, ObjectError, validate_object
from scheduler.core.validation.text import describe, quote, safe_text, truncate
from scheduler.core.validation.yamlload import DEFAULT_LIMITS, YAMLLimits, YAMLLoadError, load_yaml_documents

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
    nodes: list[dict[str, Any]] = field(default_factory=list)
    bound_pods: list[dict[str, Any]] = field(default_factory=list)
    pending_pods: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ loading

def _state_files(path: str) -> list[str]:
    if not path:
        raise InputError("--cluster: empty path")
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names
            if name.endswith((".yaml", ".yml", ".json")))
        if not files:
            raise InputError(f"{safe_text(path)}: no .yaml, .yml or .json files in directory")
        seen: dict[str, str] = {}
        for file in files:
            real = os.path.realpath(file)
            if real in seen:
                raise InputError(f"{safe_text(file)}: the same file as {safe_text(seen[real])} (a link); each "
                                 "object must be given once")
            seen[real] = file
        return files
    if not os.path.exists(path):
        raise InputError(f"{safe_text(path)}: no such file or directory")
    return [path]


def _read(path: str, limits: YAMLLimits) -> list[Any]:
    try:
        size = os.path.getsize(path)
        if size > limits.max_bytes:
            raise InputError(f"{safe_text(path)}: {size} bytes is larger than the {limits.max_bytes}-byte limit "
                             "(set SCHEDULER_MAX_INPUT_BYTES to change it)")
        with open(path, "rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{safe_text(path)}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return load_yaml_documents(data, limits)
    except YAMLLoadError as exc:
        raise InputError(f"{safe_text(path)}: {exc}") from None


def _documents(path: str, limits: YAMLLimits = DEFAULT_LIMITS) -> Iterable[tuple[str, Any]]:
    docs = _read(path, limits)
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{safe_text(path)}: document {i}" if len(docs) > 1 else safe_text(path)
        if not isinstance(doc, dict):
            raise InputError(f"{where}: expected a Kubernetes object (a mapping with kind and metadata), got "
                             f"{describe(doc)}")
        kind = doc.get("kind")
        if not isinstance(kind, str) or not kind:
            raise InputError(f"{where}: kind: Required value: a string such as Node, Pod or List, got "
                             f"{describe(kind)}")
        if kind == "List" or (kind.endswith("List") and "items" in doc):
            items = doc.get("items")
            if items is None:
                continue
            if not isinstance(items, list):
                raise InputError(f"{where}: items: expected a list, got {describe(items)}")
            for j, item in enumerate(items):
                if not isinstance(item, dict):
                    raise InputError(f"{where}: items[{j}]: expected a Kubernetes object, got {describe(item)}")
                item_kind = item.get("kind") if item.get("kind") is not None else kind[:-4]
                yield f"{where}: items[{j}]", dict(item, kind=item_kind)
        else:
            yield where, doc


def _label(kind: str, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return safe_text(kind)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return safe_text(kind)
    ns = meta.get("namespace")
    if kind not in CLUSTER_SCOPED:
        name = f"{ns if isinstance(ns, str) and ns else 'default'}/{name}"
    return f"{truncate(kind, 40)} {truncate(name)}"


def load_cluster(path: str, limits: YAMLLimits = DEFAULT_LIMITS) -> ClusterInput:
    """Read nodes, pods and workload objects from a file or directory; every object is validated."""
    out = ClusterInput()
    seen: dict[tuple[str, str, str], str] = {}
    for file in _state_files(path):
        for where, obj in _documents(file, limits):
            kind = obj.get("kind")
            if not isinstance(kind, str) or not kind:
                raise InputError(f"{where}: kind: Required value: a string such as Node or Pod, got {describe(kind)}")
            if kind not in KIND_SCHEMAS:
                continue  # kinds scheduling does not read are ignored, as documented
            try:
                validate_object(obj)
            except ObjectError as exc:
                raise InputError(f"{where}: {_label(kind, obj)}: {exc}") from None
            meta = obj["metadata"]
            ns = "" if kind in CLUSTER_SCOPED else (meta.get("namespace") or "default")
            ident = (kind, ns, meta["name"])
            if ident in seen:
                raise InputError(f"{where}: {_label(kind, obj)}: metadata.name: Duplicate value: "
                                 f"{quote(meta['name'])} (already defined in {seen[ident]}; names are unique per "
                                 "kind and namespace)")
            seen[ident] = where
            if kind == "Node":
                out.nodes.append(obj)
            elif kind == "Pod":
                pod = _default_pod(obj)
                (out.bound_pods if is_assigned(pod) else out.pending_pods).append(pod)
            elif kind == "StorageClass" and obj.get("volumeBindingMode") is None:
                out.objects.append(dict(obj, volumeBindingMode="Immediate"))  # the API server's default
            else:
                out.objects.append(obj)
    return out


def _default_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
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


def queue_order(pods: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """PrioritySort: higher priority first, then older creationTimestamp, then file order."""
    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, bool, str, int]:
        idx, pod = item
        ts = (pod.get("metadata") or {}).get("creationTimestamp")
        return (-pod_priority(pod), ts is None, str(ts or ""), idx)

    return [pod for _, pod in sorted(enumerate(pods), key=key)]


def run(profiles: Mapping[str, Profile], state: ClusterState, pending: Sequence[dict[str, Any]],
        rng: random.Random) -> tuple[list[Decision], list[dict[str, Any]]]:
    """Schedule ``pending`` in queue order; returns decisions and pods no profile handles."""
    decisions: list[Decision] = []
    skipped: list[dict[str, Any]] = []
    for pod in queue_order(pending):
        if is_terminal(pod) or is_terminating(pod):
            continue
        name = scheduler_name(pod)
        profile = profiles.get(name)
        if profile is None:
            skipped.append(pod)
            continue
        try:
            result = schedule_pod(profile, state, pod, rng)
        except Exception as exc:  # noqa: BLE001 - sorted below: an out-of-tree plugin's, bad input, or a bug
            failure = out_of_tree_plugin_failure(exc)
            if failure is not None:
                raise InputError(f"Pod {pod_key(pod)}: {failure}") from None
            if isinstance(exc, (QuantityError, ValueError, TypeError)):
                raise InputError(f"Pod {pod_key(pod)}: {exc}") from None
            raise
        decisions.append(Decision(pod_key(pod), result, name))
    return decisions, skipped


def out_of_tree_plugin_failure(exc: BaseException) -> str | None:
    """One line naming the out-of-tree plugin whose method raised ``exc`` (the innermost such frame)
    and where, or None when no plugin loaded from outside the package is on the traceback: a
    participant's ``raise NotImplementedError`` is their plugin's, not the scheduler's internal error."""
    found: str | None = None
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        module = type(owner).__module__
        if isinstance(owner, Plugin) and module != "scheduler" and not module.startswith("scheduler."):
            code = tb.tb_frame.f_code
            found = (f"plugin {quote(owner.name)} raised {type(exc).__name__} in {code.co_name}() at "
                     f"{os.path.relpath(code.co_filename)}:{tb.tb_lineno}")
        tb = tb.tb_next
    if found is None:
        return None
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{found}: {truncate(text, 200)}" if text else found


# ------------------------------------------------------------------ output

def decision_json(decision: Decision) -> dict[str, Any]:
    res = decision.result
    if res.node is not None:
        ns, name = decision.pod.split("/", 1)
        message = scheduled_message(ns, name, res.node)
    else:
        message = res.message or ""
    out: dict[str, Any] = {"pod": decision.pod, "node": res.node, "scores": res.scores, "message": message}
    if res.nominated_node:  # DefaultPreemption would evict these (pod keys) and nominate the node
        out.update(nominatedNode=res.nominated_node, victims=list(res.victims),
                   preemptionTies=sorted(res.nominated_tie))
    return out


def format_table(decisions: Sequence[Decision], skipped: Sequence[dict[str, Any]], top: int) -> str:
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
    # Names come from the input: escape each line so none can break or forge a line.
    return "\n".join(safe_text(line) for line in lines).rstrip() + "\n"


# ------------------------------------------------------------------ CLI

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {safe_text(message)} (see --help)\n")


class _Once(argparse.Action):
    """Store a flag's value; giving the flag twice is an error (not "the last one wins")."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        seen: set[str] = getattr(namespace, "_given", set())
        if self.dest in seen:
            parser.error(f"argument {'/'.join(self.option_strings)}: given more than once")
        seen.add(self.dest)
        namespace._given = seen
        setattr(namespace, self.dest, values)


def _path_arg(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    return text


def _int_arg(minimum: int | None = None) -> Any:
    def parse(text: str) -> int:
        if not text.strip().lstrip("+-").isascii() or not text.strip().lstrip("+-").isdigit():
            raise argparse.ArgumentTypeError(f"invalid integer {quote(text)}")
        value = int(text)
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scheduler simulate",
                     description="Show which node kube-scheduler v1.29 would pick for each pending pod, and why.")
    parser.add_argument("--config", type=_path_arg, action=_Once,
                        help="KubeSchedulerConfiguration file (default: the v1.29 default profile)")
    parser.add_argument("--cluster", type=_path_arg, action=_Once, required=True,
                        help="YAML/JSON file or directory with Node and Pod manifests")
    parser.add_argument("--output", "-o", choices=("table", "json"), default="table", action=_Once)
    parser.add_argument("--seed", type=_int_arg(), default=None, action=_Once,
                        help="seed for tie-breaking and random plugins")
    parser.add_argument("--top", type=_int_arg(1), default=3, action=_Once,
                        help="nodes to show per pod in the table (default 3)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                        help="load an out-of-tree plugin (module:Class or path/to/file.py:Class); repeatable")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    return parser


def input_limits(environ: Mapping[str, str] | None = None) -> YAMLLimits:
    """YAML budgets; ``SCHEDULER_MAX_INPUT_BYTES`` overrides the 64 MiB file-size limit."""
    raw = (os.environ if environ is None else environ).get("SCHEDULER_MAX_INPUT_BYTES")
    if not raw:
        return DEFAULT_LIMITS
    if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
        raise InputError(f"SCHEDULER_MAX_INPUT_BYTES: Invalid value: {quote(raw)}: expected a positive integer")
    return YAMLLimits(max_bytes=int(raw), max_depth=DEFAULT_LIMITS.max_depth,
                      max_alias_nodes=DEFAULT_LIMITS.max_alias_nodes)


def load_plugin(registry: Any, spec: str) -> None:
    """``--plugin MODULE:CLASS``: whatever importing the user's module raises becomes one line."""
    from scheduler.core.plugins.registry import PluginLoadError

    if not spec or ":" not in spec or not all(spec.rsplit(":", 1)):
        raise InputError(f"--plugin {quote(spec)}: expected MODULE:CLASS or path/to/file.py:CLASS")
    try:
        registry.load(spec)
    except PluginLoadError as exc:
        raise InputError(f"--plugin {quote(spec)}: {truncate(str(exc), 200)}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module may raise anything on import
        raise InputError(f"--plugin {quote(spec)}: cannot import: {type(exc).__name__}: "
                         f"{truncate(str(exc).splitlines()[0] if str(exc) else '', 200)}") from None


def _run(args: argparse.Namespace) -> int:
    from scheduler.core.plugins.registry import default_registry

    try:
        limits = input_limits()
        registry = default_registry()
        for spec in args.plugin:
            load_plugin(registry, spec)
        config = load_config(args.config, registry, limits=limits) if args.config else default_config(registry)
        profiles = build_profiles(config)
        cluster = load_cluster(args.cluster, limits)
        state = build_state(cluster)
        decisions, skipped = run(profiles, state, cluster.pending_pods, random.Random(args.seed))
    except (ConfigError, InputError) as exc:
        print(f"scheduler simulate: {safe_text(str(exc))}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(json.dumps([decision_json(d) for d in decisions], indent=2) + "\n")
    else:
        sys.stdout.write(format_table(decisions, skipped, args.top))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("scheduler simulate: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: a bug, never the validation
        if args.debug:
            raise
        print(f"scheduler simulate: internal error: {type(exc).__name__}: "
              f"{truncate(str(exc).splitlines()[0] if str(exc) else '', 200)} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 70


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_entry()
