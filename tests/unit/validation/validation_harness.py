"""Shared by the regression corpus, the hypothesis suite and ``make fuzz``.

Runs ``scheduler simulate`` in-process (and the kubeconfig check) on generated inputs and
classifies each outcome:

* ``ok``          exit 0 and the expected result (valid input);
* ``rejected``    non-zero exit, exactly one stderr line, no stdout (invalid input);
* ``traceback``   an exception escaped, or the last-resort ``internal error`` (exit 70) fired;
* ``hang``        the case ran longer than ``LIMIT_SECONDS`` (an alarm interrupts it);
* ``bad-error``   a non-zero exit whose report is not one line;
* ``silent``      exit 0 for an input the oracle knows is invalid (a silent acceptance);
* ``changed``     exit 0 for a no-op mutation but a different result than the unmutated input.

Mutations know what they produce: ``invalid`` (the API server / kube-scheduler rejects it),
``same`` (valid, must give the unmutated result) or ``either`` (e.g. a null where the API
treats null as unset: any clean outcome passes).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from scheduler.core import simulate

LIMIT_SECONDS = 5.0        # CPU seconds per case (the lab machines are shared: wall time is not ours)
WALL_LIMIT_SECONDS = 60.0  # and a wall-clock backstop
FAILURES = ("traceback", "hang", "bad-error", "silent", "changed")

# ------------------------------------------------------------------ base inputs (valid)

NODE_FIELDS = {"apiVersion": "v1", "kind": "Node"}


def _node(name: str, zone: str, cpu: str = "4", taints: list | None = None) -> dict:
    node = {**NODE_FIELDS, "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                                  "topology.kubernetes.io/zone": zone,
                                                                  "disk": "ssd"}},
            "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                                   "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                                   "images": [{"names": ["nginx:1.25"], "sizeBytes": 70000000}]}}
    if taints:
        node["spec"]["taints"] = taints
    return node


def base_state() -> list[dict]:
    """Three nodes (one tainted), one bound pod, three pending pods using most scheduling fields."""
    return [
        _node("n1", "a"), _node("n2", "b", cpu="8"),
        _node("n3", "a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "running", "namespace": "default",
                                                           "labels": {"app": "web"}},
         "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx:1.25",
                                                      "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
         "status": {"phase": "Running"}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
         "spec": {"priority": 10,
                  "containers": [{"name": "c", "image": "nginx:1.25",
                                  "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                                                "limits": {"cpu": "1", "memory": "512Mi"}},
                                  "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]}],
                  "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                   "effect": "NoSchedule"}],
                  "affinity": {
                      "nodeAffinity": {
                          "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                              {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]},
                          "preferredDuringSchedulingIgnoredDuringExecution": [
                              {"weight": 50, "preference": {"matchExpressions": [
                                  {"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["b"]}]}}]},
                      "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                          {"weight": 10, "podAffinityTerm": {
                              "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                              "topologyKey": "kubernetes.io/hostname"}}]}},
                  "topologySpreadConstraints": [
                      {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                       "whenUnsatisfiable": "ScheduleAnyway",
                       "labelSelector": {"matchLabels": {"app": "web"}}}]}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "batch-1", "namespace": "jobs", "labels": {"app": "batch"}},
         "spec": {"schedulerName": "default-scheduler", "nodeSelector": {"disk": "ssd"},
                  "containers": [{"name": "c", "image": "busybox",
                                  "resources": {"requests": {"cpu": "250m"}}}],
                  "initContainers": [{"name": "init", "image": "busybox",
                                      "resources": {"requests": {"cpu": "1"}}}]}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "gated", "namespace": "default"},
         "spec": {"schedulingGates": [{"name": "example.com/wait"}],
                  "containers": [{"name": "c", "image": "busybox"}]}},
    ]


BASE_CONFIG: dict = {
    "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
    "parallelism": 16, "percentageOfNodesToScore": 0,
    "leaderElection": {"leaderElect": True, "leaseDuration": "15s", "renewDeadline": "10s", "retryPeriod": "2s",
                       "resourceLock": "leases", "resourceName": "kube-scheduler",
                       "resourceNamespace": "kube-system"},
    "clientConnection": {"qps": 50, "burst": 100},
    "podInitialBackoffSeconds": 1, "podMaxBackoffSeconds": 10,
    "profiles": [{
        "schedulerName": "default-scheduler",
        "plugins": {"score": {"enabled": [{"name": "NodeResourcesFit", "weight": 2}],
                              "disabled": [{"name": "ImageLocality"}]}},
        "pluginConfig": [
            {"name": "NodeResourcesFit", "args": {"ignoredResources": ["example.com/foo"], "scoringStrategy": {
                "type": "RequestedToCapacityRatio", "resources": [{"name": "cpu", "weight": 1},
                                                                  {"name": "memory", "weight": 1}],
                "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0},
                                                       {"utilization": 100, "score": 10}]}}}},
            {"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [
                {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone",
                 "whenUnsatisfiable": "ScheduleAnyway"}]}},
            {"name": "NodeResourcesBalancedAllocation", "args": {"resources": [{"name": "cpu", "weight": 1},
                                                                               {"name": "memory", "weight": 1}]}},
            {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 1}},
            {"name": "DefaultPreemption", "args": {"minCandidateNodesPercentage": 10,
                                                   "minCandidateNodesAbsolute": 100}},
            {"name": "NodeAffinity", "args": {"addedAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]}}}},
            {"name": "VolumeBinding", "args": {"bindTimeoutSeconds": 600}},
        ],
    }],
}

BASE_KUBECONFIG: dict = {
    "apiVersion": "v1", "kind": "Config", "current-context": "lab",
    "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "admin", "user": {"token": "abc"}}],
    "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin", "namespace": "default"}}],
}


# ------------------------------------------------------------------ running

class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    seconds: float  # CPU seconds
    exception: str = ""

    @property
    def timed_out(self) -> bool:
        return self.exception == "timeout"


def run_guarded(fn: Callable[[], int | None], cpu_limit: float = LIMIT_SECONDS) -> Outcome:
    """Run ``fn`` in-process with captured output and a ``cpu_limit`` (CPU seconds) alarm."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    old_prof = signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_REAL, WALL_LIMIT_SECONDS)
    signal.setitimer(signal.ITIMER_PROF, cpu_limit)
    start = time.process_time()
    code: int | None = None
    exception = ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = fn()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    except _Timeout:
        exception = "timeout"
    except BaseException as exc:  # noqa: BLE001 - an escaped exception is what we count
        exception = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGALRM, old)
        signal.signal(signal.SIGPROF, old_prof)
    return Outcome(code, out.getvalue(), err.getvalue(), time.process_time() - start, exception)


def dump_state(objects: list[Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True)


def simulate_texts(state_text: str | bytes, config_text: str | None = None,
                   args: tuple[str, ...] = ("--output", "json", "--seed", "1"),
                   cpu_limit: float = LIMIT_SECONDS) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state.yaml")
        with open(state, "wb") as fh:
            fh.write(state_text.encode("utf-8", "surrogatepass") if isinstance(state_text, str) else state_text)
        argv = ["--cluster", state, *args]
        if config_text is not None:
            config = os.path.join(tmp, "config.yaml")
            with open(config, "wb") as fh:
                fh.write(config_text.encode("utf-8", "surrogatepass"))
            argv += ["--config", config]
        return run_guarded(lambda: simulate.main(argv), cpu_limit)


def kubeconfig_text(text: str | bytes) -> Outcome:
    from scheduler.runtime.kube import KubeConfigError, load_configuration

    def go() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "kubeconfig")
            with open(path, "wb") as fh:
                fh.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
            try:
                load_configuration(path)
            except KubeConfigError as exc:
                print(f"scheduler: {exc}", file=__import__("sys").stderr)
                return 1
            return 0
    return run_guarded(go)


def classify(outcome: Outcome, expect: str, baseline: str | None = None) -> str:
    if outcome.timed_out or outcome.seconds > LIMIT_SECONDS:
        return "hang"
    if outcome.exception or outcome.code == 70 or "internal error" in outcome.err or "Traceback" in outcome.err:
        return "traceback"
    if outcome.code == 0:
        if expect == "invalid":
            return "silent"
        if expect == "same" and baseline is not None and outcome.out != baseline:
            return "changed"
        return "ok"
    lines = outcome.err.splitlines()
    if len(lines) != 1 or outcome.out or not lines[0].strip():
        return "bad-error"
    return "rejected"


# ------------------------------------------------------------------ mutations

ENUM_KEYS = ("effect", "operator", "whenUnsatisfiable", "phase", "protocol", "restartPolicy",
             "nodeAffinityPolicy", "nodeTaintsPolicy", "preemptionPolicy", "type", "defaultingType",
             "resourceLock")
ALL_ENUM_VALUES = frozenset((
    "NoSchedule", "PreferNoSchedule", "NoExecute", "Equal", "Exists", "In", "NotIn", "DoesNotExist", "Gt", "Lt",
    "DoNotSchedule", "ScheduleAnyway", "Honor", "Ignore", "Pending", "Running", "Succeeded", "Failed", "Unknown",
    "TCP", "UDP", "SCTP", "Always", "Never", "PreemptLowerPriority", "LeastAllocated", "MostAllocated",
    "RequestedToCapacityRatio", "List", "System", "leases",
))
# Keys whose value any string satisfies (free text): mutations to other strings are "either".
FREE_TEXT = ("image", "uid", "server", "token", "current-context", "cluster", "user", "namespace_ctx",
             "resourceName", "resourceNamespace", "kind_config")
# Keys whose removal makes the object invalid.
REQUIRED = {
    "image": ("containers", "initContainers"),
    "name": ("metadata", "containers", "initContainers", "schedulingGates", "plugins", "pluginConfig",
             "resources", "clusters", "users", "contexts"),
    "containers": ("spec",), "key": ("taints", "matchExpressions"), "effect": ("taints",),
    "topologyKey": ("topologySpreadConstraints", "podAffinityTerm", "defaultConstraints"),
    "maxSkew": ("topologySpreadConstraints", "defaultConstraints"),
    "whenUnsatisfiable": ("topologySpreadConstraints", "defaultConstraints"),
    "operator": ("matchExpressions",), "containerPort": ("ports",), "weight": ("preferredDuringSchedulingIgnoredDuringExecution",),
    "nodeSelectorTerms": ("requiredDuringSchedulingIgnoredDuringExecution",),
    "podAffinityTerm": ("preferredDuringSchedulingIgnoredDuringExecution",),
    "preference": ("preferredDuringSchedulingIgnoredDuringExecution",),
    "apiVersion": ("",), "kind": ("",),  # for configs; state objects: see mutate()
}
QUANTITY_PARENTS = ("requests", "limits", "allocatable", "capacity", "overhead")


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indexes) in ``value``, parents before children."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, prefix + (i,))
    return out


def get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


def put(root: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    get(root, path[:-1])[path[-1]] = new
    return root


def _parent_key(path: tuple) -> str:
    for p in reversed(path[:-1]):
        if isinstance(p, str):
            return p
    return ""


def _last_key(path: tuple) -> str:
    return path[-1] if path and isinstance(path[-1], str) else ""


def _is_quantity(path: tuple) -> bool:
    return len(path) >= 2 and path[-2] in QUANTITY_PARENTS


def _is_free(path: tuple, target: str) -> bool:
    key = _last_key(path)
    if key in ("image", "uid", "server", "token", "resourceName", "kind"):
        return True  # free text (kind: an unknown kind is ignored, as documented)
    if target == "state" and ("images" in path or "nodeAffinity" in path and "values" in path):
        return True  # image names; node-affinity values are not validated by the API server either
    if target == "config" and key in ("schedulerName", "resourceName", "resourceNamespace", "kubeconfig"):
        return True  # upstream only requires them to be non-empty
    if target == "config" and "disabled" in path and key == "name":
        return True  # disabling a plugin nobody enabled is not an error upstream
    if target == "config" and "pluginConfig" in path and key == "name":
        return True  # upstream ignores pluginConfig entries of plugins no profile enables
    if target == "kubeconfig":
        return True  # the kubeconfig check is structural: most scalar changes are still loadable
    if target == "config" and key in ("name",) and "resources" in path:
        return True  # resource names in scoring args are free text upstream (validateResources)
    return False


WRONG_TYPES: list[Any] = ["text", 7, 2.5, True, ["x"], {"a": "b"}]


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def mutate(doc: Any, rng: random.Random, target: str) -> tuple[Any, str, str]:
    """One mutation of a parsed document: (new document, expectation, description)."""
    doc = copy.deepcopy(doc)
    all_paths = [p for p in paths(doc) if p]
    path = rng.choice(all_paths)
    current = get(doc, path)
    key = _last_key(path)
    op = rng.choice(("type", "null", "delete", "enum", "huge", "unicode", "nest", "number", "unknown-key",
                     "empty"))
    desc = f"{op} at {'.'.join(map(str, path))}"
    if op == "type":
        choices = [w for w in WRONG_TYPES if _type_name(w) != _type_name(current)]
        new = rng.choice(choices)
        if _is_quantity(path) and _type_name(new) == "number":
            return put(doc, path, new), "either", desc
        if isinstance(current, (int, float)) and not isinstance(current, bool) and isinstance(new, (int, float)) \
                and not isinstance(new, bool):
            return put(doc, path, new), "either", desc
        if target == "kubeconfig" and not (isinstance(current, (dict, list)) or key in (
                "server", "token", "name", "insecure-skip-tls-verify", "current-context", "cluster", "user")):
            return put(doc, path, new), "either", desc
        if target == "config" and key == "qps" and isinstance(new, (int, float)) and not isinstance(new, bool):
            return put(doc, path, new), "either", desc
        return put(doc, path, new), "invalid", desc
    if op == "null":
        return put(doc, path, None), "either", desc
    if op == "delete":
        parent = get(doc, path[:-1])
        if isinstance(parent, list):
            del parent[path[-1]]
            return doc, "either", desc
        del parent[path[-1]]
        required_under = REQUIRED.get(key, ())
        if target == "state" and key in ("apiVersion", "kind") and len(path) == 1:
            return doc, ("invalid" if key == "kind" else "either"), desc
        if target == "config" and key == "nodeSelectorTerms":
            return doc, "either", desc  # NewNodeSelector accepts no terms (matches nothing)
        if _parent_key(path) in required_under or ("" in required_under and len(path) == 1):
            if target == "kubeconfig":
                return doc, "either", desc
            return doc, "invalid", desc
        return doc, "either", desc
    if op == "enum":
        if key not in ENUM_KEYS or not isinstance(current, str) or _is_quantity(path):
            return put(doc, path, current), "same", "no-op"
        variants = [current.lower(), current[:-1], current + "x", current.upper(), " " + current, current + "\n"]
        new = rng.choice([v for v in variants if v not in ALL_ENUM_VALUES] or ["Bogus"])
        return put(doc, path, new), ("invalid" if target != "kubeconfig" else "either"), desc
    if op == "huge":
        if isinstance(current, str) and not _is_free(path, target):
            return put(doc, path, rng.choice(["9" * 400, "a" * 300_000])), "invalid", desc
        if isinstance(current, int) and not isinstance(current, bool):
            return put(doc, path, rng.choice([10**30, -(2**63) - 5])), \
                ("either" if target == "kubeconfig" or (target == "config" and key == "qps") else "invalid"), desc
        return put(doc, path, "a" * 1000), "either", desc
    if op == "unicode":
        if isinstance(current, str) and not _is_free(path, target):
            return put(doc, path, rng.choice(["٤", "\u00e9t\u00e9", "a\nb", "x\u202ey", "\ud800", "日本"])), \
                "invalid", desc
        return put(doc, path, "\u00e9"), "either", desc
    if op == "nest":
        new: Any = current
        for _ in range(rng.choice((5, 150))):
            new = [new]
        return put(doc, path, new), ("invalid" if target != "kubeconfig" or isinstance(current, (dict, list))
                                     else "either"), desc
    if op == "number":
        if _is_quantity(path):
            new = rng.choice(["-1", "1e9999999999", "1.5.5", "0x10", "1_000", "NaN", "Infinity", "1 Gi", "٤", "-0.5"])
            return put(doc, path, new), "invalid", desc
        if isinstance(current, int) and not isinstance(current, bool) and key in (
                "maxSkew", "weight", "containerPort", "minDomains", "parallelism", "podInitialBackoffSeconds"):
            new = rng.choice([0, -1])
            if target == "config" and key == "weight" and new == 0:
                return put(doc, path, new), "either", desc  # SetDefaults: weight 0 means 1
            return put(doc, path, new), "invalid", desc
        return put(doc, path, current), "same", "no-op"
    if op == "unknown-key":
        if isinstance(current, dict):
            current["zzUnknownField"] = "x"
            # Config decoding is strict (unknown fields are errors); objects ignore fields scheduling never reads.
            return doc, ("invalid" if target == "config" and key not in (
                "matchLabels", "labels", "annotations", "nodeSelector", "requests", "limits") else "either"), desc
        return put(doc, path, current), "same", "no-op"
    # empty
    if isinstance(current, str) and key in ("name", "topologyKey", "key", "effect", "operator",
                                            "whenUnsatisfiable") and target != "kubeconfig":
        if key == "name" and (_parent_key(path) in ("resources",) or target == "config" and len(path) > 1
                              and path[-2] == 0 and False):
            return put(doc, path, ""), "either", desc
        return put(doc, path, ""), "invalid", desc
    return put(doc, path, current), "same", "no-op"


def no_op_variants(objects: list[dict], rng: random.Random) -> tuple[str, str]:
    """A valid re-serialisation of the same objects: aliases, JSON, flow style, key order, comments."""
    choice = rng.choice(("alias", "json", "flow", "reorder", "comment", "list"))
    if choice == "alias":
        objs = copy.deepcopy(objects)
        shared = objs[0]["status"]["allocatable"]
        objs[0]["status"]["capacity"] = shared  # equal values: yaml.dump writes an anchor and aliases
        objs[2]["status"]["allocatable"] = objs[2]["status"]["capacity"] = shared
        return yaml.safe_dump_all(objs, sort_keys=False), choice
    if choice == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}), choice
    if choice == "flow":
        return yaml.safe_dump_all(objects, default_flow_style=True), choice
    if choice == "reorder":
        return yaml.safe_dump_all(objects, sort_keys=True), choice
    if choice == "comment":
        return "# a comment\n" + dump_state(objects).replace("\n---", "\n# between\n---"), choice
    return yaml.safe_dump({"apiVersion": "v1", "kind": "NodeList", "items": objects[:3]}) + "---\n" + \
        yaml.safe_dump_all(objects[3:]), choice


def text_attacks(rng: random.Random) -> tuple[str, str]:
    """Hostile texts that are invalid whatever the schema: bombs, depth, keys, encodings."""
    choice = rng.randrange(8)
    if choice == 0:
        lines = ["a: &a [x,x,x,x,x,x,x,x,x]"] + [
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(rng.choice((6, 9)))]
        return "\n".join(lines) + "\n", "alias bomb"
    if choice == 1:
        n = rng.choice((150, 500, 5000, 100_000))
        return "kind: Node\nmetadata: " + "[" * n + "]" * n + "\n", f"{n} nested brackets"
    if choice == 2:
        return "kind: Node\nmetadata: {name: n}\n? [a]\n: 1\n", "complex key"
    if choice == 3:
        return "kind: Node\nmetadata: {name: n}\nkind: Pod\n", "duplicate key"
    if choice == 4:
        return "kind: Node\nmetadata: &m {name: n, x: *m}\n", "recursive alias"
    if choice == 5:
        return "- " * rng.choice((200, 30_000)) + "x\n", "deep block sequence"
    if choice == 6:
        return "kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: " + "9" * 5000 + "}}\n", "5000-digit int"
    return "\ufeffkind: Node\nmetadata:\n\tname: n\n", "tab indentation"
