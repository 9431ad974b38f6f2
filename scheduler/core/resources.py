"""Resource quantities and the pod-request rules of kube-scheduler v1.29.

Quantities are parsed exactly (``fractions.Fraction``) and converted the way
``resource.Quantity`` does: ``MilliValue()`` for cpu, ``Value()`` for everything
else, both rounded *up* (away from zero).

Pod requests follow ``pkg/api/v1/resource/helpers.go`` ``PodRequests`` of 1.29:

    request = max(sum(containers) + sum(sidecars), max_i(init_i + sum(sidecars before i))) + overhead

where a sidecar is an init container with ``restartPolicy: Always``.  Resource
lists keep *key presence* because the scoring defaults (100m cpu, 200Mi memory)
only fill keys that are absent, never an explicit ``0``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import Any, Mapping

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

# pkg/scheduler/util/pod_resources.go
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

NON_ZERO_DEFAULTS: dict[str, int] = {CPU: DEFAULT_MILLI_CPU_REQUEST, MEMORY: DEFAULT_MEMORY_REQUEST}

ResourceList = dict[str, int]  # name -> integer amount (cpu in millicores)

_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_NANO = Fraction(1, 10**9)
MAX_INT64 = 2**63 - 1
# Deliberately stricter than resource.ParseQuantity (which accepts any int64 exponent and
# arbitrarily long mantissas): these bounds keep parsing fast; anything outside them could
# not be counted by the scheduler anyway.
MAX_EXPONENT = 1000
MAX_DIGITS = 200


class QuantityError(ValueError):
    """A string that is not a Kubernetes resource quantity."""


def _split_quantity(text: str) -> tuple[bool, str, str, str]:
    """``parseQuantityString`` of apimachinery v0.29: (positive, numerator, denominator, suffix)."""
    pos, end = 0, len(text)
    positive = True
    if text[:1] in ("-", "+"):
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(f"invalid quantity {_quote(text)}: quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return positive, num, denom, text[suffix_start:]


def _quote(text: Any) -> str:
    from scheduler.core.validation.text import quote
    return quote(text)


@lru_cache(maxsize=4096)
def _parse_quantity_str(text: str) -> Fraction:
    text = text.strip()
    if not text:
        raise QuantityError("invalid quantity \"\": a quantity must not be empty")
    positive, num, denom, suffix = _split_quantity(text)
    if len(num) + len(denom) > MAX_DIGITS:
        raise QuantityError(f"invalid quantity {_quote(text)}: more than {MAX_DIGITS} digits "
                            "(scheduler-lab is deliberately stricter than the API server here)")
    if suffix in _DECIMAL_SUFFIXES:
        base, exponent = 10, _DECIMAL_SUFFIXES[suffix]
    elif suffix in _BINARY_SUFFIXES:
        base, exponent = 2, _BINARY_SUFFIXES[suffix]
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:], re.ASCII):
        base, exponent = 10, int(suffix[1:].lstrip("+-")[:12] or "0") * (-1 if suffix[1] == "-" else 1)
        if abs(exponent) > MAX_EXPONENT:
            raise QuantityError(f"invalid quantity {_quote(text)}: exponent out of the range "
                                f"[-{MAX_EXPONENT}, {MAX_EXPONENT}] scheduler-lab accepts (deliberately "
                                "stricter than the API server)")
    else:
        raise QuantityError(f"invalid quantity {_quote(text)}: unable to parse quantity's suffix")
    value = Fraction(int(num + denom), 10 ** len(denom))
    value *= Fraction(10) ** exponent if base == 10 else 2 ** exponent
    if value and value.denominator != 1:
        value = Fraction(math.ceil(value / _NANO)) * _NANO  # rounds up to 1n, like ParseQuantity
    if base == 2 and value > MAX_INT64:
        value = Fraction(MAX_INT64)  # ParseQuantity caps binary-SI quantities
    return value if positive else -value


def parse_quantity(quantity: Any) -> Fraction:
    """Parse a quantity such as ``"100m"``, ``"1.5Gi"``, ``"2"``, ``1e3`` or an int (``resource.ParseQuantity``)."""
    if isinstance(quantity, bool):
        raise QuantityError(f"invalid quantity {_quote(quantity)}: expected a string or a number")
    if isinstance(quantity, int):
        return _parse_quantity_str(str(quantity)) if abs(quantity) < 10**MAX_DIGITS else \
            _parse_quantity_str("9" * (MAX_DIGITS + 1))
    if isinstance(quantity, float):
        if not math.isfinite(quantity):
            raise QuantityError(f"invalid quantity {_quote(quantity)}: not a finite number")
        return _parse_quantity_str(repr(quantity))
    if isinstance(quantity, str):
        return _parse_quantity_str(quantity)
    raise QuantityError(f"invalid quantity {_quote(quantity)}: expected a string or a number")


def _ceil(value: Fraction) -> int:
    return math.ceil(value) if value >= 0 else -math.ceil(-value)


def _counted(quantity: Any, amount: int) -> int:
    if abs(amount) > MAX_INT64:
        raise QuantityError(f"quantity {_quote(quantity if isinstance(quantity, str) else str(quantity))} is "
                            "larger than the scheduler can count (int64; scheduler-lab is deliberately "
                            "stricter than the API server here)")
    return amount


def milli_value(quantity: Any) -> int:
    return _counted(quantity, _ceil(parse_quantity(quantity) * 1000))


def value(quantity: Any) -> int:
    return _counted(quantity, _ceil(parse_quantity(quantity)))


def amount(name: str, quantity: Any) -> int:
    """Integer amount of resource ``name`` the way the scheduler counts it."""
    if type(quantity) is str:
        return _text_amount(name == CPU, quantity)
    return milli_value(quantity) if name == CPU else value(quantity)


@lru_cache(maxsize=4096)
def _text_amount(milli: bool, text: str) -> int:
    # Every pod of a workload repeats the same few quantity strings: the exact Fraction
    # arithmetic runs once per string (a bad one raises each time: exceptions are not cached).
    return milli_value(text) if milli else value(text)


def is_scalar_resource(name: str) -> bool:
    """``schedutil.IsScalarResourceName``: extended, hugepages, prefixed native, attachable volumes."""
    if name.startswith("hugepages-") or name.startswith("attachable-volumes-"):
        return True
    if "/" in name:
        # Extended resources live outside the kubernetes.io domain; names inside it
        # (requests.*, kubernetes.io/...) are "prefixed native" and also scalar.
        return not name.startswith("requests.")
    return False


def resource_list(raw: Mapping[str, Any] | None) -> ResourceList:
    if not raw:
        return {}
    return {name: amount(name, q) for name, q in raw.items()}


def _add(into: ResourceList, other: Mapping[str, int]) -> None:
    for name, qty in other.items():
        into[name] = into.get(name, 0) + qty


def _max_into(into: ResourceList, other: Mapping[str, int]) -> None:
    for name, qty in other.items():
        if name not in into or qty > into[name]:
            into[name] = qty


def _apply_non_missing(reqs: ResourceList, defaults: Mapping[str, int]) -> ResourceList:
    if all(name in reqs for name in defaults):
        return reqs
    out = dict(reqs)
    for name, qty in defaults.items():
        out.setdefault(name, qty)
    return out


def _container_requests(container: Mapping[str, Any]) -> ResourceList:
    return resource_list((container.get("resources") or {}).get("requests"))


def is_sidecar(container: Mapping[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


def pod_requests(pod: Mapping[str, Any], non_missing: Mapping[str, int] | None = None,
                 exclude_overhead: bool = False) -> ResourceList:
    """``resourcehelper.PodRequests`` of v1.29 (sidecar aware, overhead added)."""
    spec = pod.get("spec") or {}
    reqs: ResourceList = {}
    for container in spec.get("containers") or ():
        creqs = _container_requests(container)
        if non_missing:
            creqs = _apply_non_missing(creqs, non_missing)
        _add(reqs, creqs)
    sidecars: ResourceList = {}
    init_max: ResourceList = {}
    for container in spec.get("initContainers") or ():
        creqs = _container_requests(container)
        if non_missing:
            creqs = _apply_non_missing(creqs, non_missing)
        if is_sidecar(container):
            _add(reqs, creqs)
            _add(sidecars, creqs)
            use = sidecars
        else:
            use = dict(creqs)
            _add(use, sidecars)
        _max_into(init_max, use)
    _max_into(reqs, init_max)
    if not exclude_overhead and spec.get("overhead"):
        _add(reqs, resource_list(spec["overhead"]))
    return reqs


def non_zero_requests(pod: Mapping[str, Any]) -> tuple[int, int]:
    """Node-side non-zero cpu/memory of a pod (``calculateResource`` in framework/types.go).

    max(sum of containers' non-zero requests, max over init uses) + overhead, where a
    missing cpu/memory key counts as 100m / 200Mi.  Sidecars are not summed into the
    containers part (they only appear through the init-use lists), as upstream does.
    """
    spec = pod.get("spec") or {}
    cpu = mem = 0
    for container in spec.get("containers") or ():
        creqs = _container_requests(container)
        cpu += creqs.get(CPU, DEFAULT_MILLI_CPU_REQUEST)
        mem += creqs.get(MEMORY, DEFAULT_MEMORY_REQUEST)
    init_cpu = init_mem = 0
    sidecars: ResourceList = {}
    for container in spec.get("initContainers") or ():
        creqs = _container_requests(container)
        if is_sidecar(container):
            _add(sidecars, creqs)
            use = sidecars
        else:
            use = dict(creqs)
            _add(use, sidecars)
        init_cpu = max(init_cpu, use.get(CPU, DEFAULT_MILLI_CPU_REQUEST))
        init_mem = max(init_mem, use.get(MEMORY, DEFAULT_MEMORY_REQUEST))
    cpu = max(cpu, init_cpu)
    mem = max(mem, init_mem)
    overhead = spec.get("overhead") or {}
    if CPU in overhead:
        cpu += milli_value(overhead[CPU])
    if MEMORY in overhead:
        mem += value(overhead[MEMORY])
    return cpu, mem


class Resource:
    """The scheduler's ``framework.Resource``: cpu (milli), memory, ephemeral storage, scalars."""

    __slots__ = ("milli_cpu", "memory", "ephemeral_storage", "scalars")

    def __init__(self, milli_cpu: int = 0, memory: int = 0, ephemeral_storage: int = 0,
                 scalars: dict[str, int] | None = None) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.scalars = scalars if scalars is not None else {}

    @classmethod
    def from_list(cls, rl: Mapping[str, int]) -> "Resource":
        res = cls()
        for name, qty in rl.items():
            if name == CPU:
                res.milli_cpu = qty
            elif name == MEMORY:
                res.memory = qty
            elif name == EPHEMERAL_STORAGE:
                res.ephemeral_storage = qty
            elif is_scalar_resource(name):
                res.scalars[name] = qty
        return res

    def add(self, other: "Resource", sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for name, qty in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + sign * qty

    def clone(self) -> "Resource":
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, dict(self.scalars))

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or self.scalars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and (
            self.milli_cpu, self.memory, self.ephemeral_storage, self.scalars
        ) == (other.milli_cpu, other.memory, other.ephemeral_storage, other.scalars)

    def __repr__(self) -> str:
        return (f"Resource(milli_cpu={self.milli_cpu}, memory={self.memory}, "
                f"ephemeral_storage={self.ephemeral_storage}, scalars={self.scalars})")


def pod_resource(pod: Mapping[str, Any]) -> Resource:
    """What the Fit filter compares: ``computePodResourceRequest`` (real requests, no defaults)."""
    return Resource.from_list(pod_requests(pod))


def node_allocatable(node: Mapping[str, Any]) -> tuple[Resource, int]:
    """Allocatable resources and allowed pod count of a Node object."""
    alloc = (node.get("status") or {}).get("allocatable") or {}
    rl = resource_list(alloc)
    pods = rl.pop(PODS, 0)
    return Resource.from_list(rl), pods
