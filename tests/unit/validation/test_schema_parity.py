"""The object validator's types agree with the v1.29 OpenAPI schema (kubernetes-validate's copy).

``scheduler/core/validation/objects.py`` checks the fields scheduling reads by hand (fast enough
for 10,000 nodes); this test pins each of those fields to its type and format in the v1.29
schema, and each enum to the values the schema's description lists, so a hand-written check
cannot drift from the API.
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from scheduler.core.validation import objects

SCHEMA = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.29.0-local" / "_definitions.json"
DEFS = json.loads(SCHEMA.read_text())["$defs"]
CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."

# (definition, field, type, format) for every field objects.py type-checks.
FIELDS = [
    (CORE + "PodSpec", "priority", "integer", "int32"), (CORE + "PodSpec", "nodeName", "string", None),
    (CORE + "PodSpec", "schedulerName", "string", None), (CORE + "PodSpec", "containers", "array", None),
    (CORE + "PodSpec", "initContainers", "array", None), (CORE + "PodSpec", "tolerations", "array", None),
    (CORE + "PodSpec", "topologySpreadConstraints", "array", None), (CORE + "PodSpec", "nodeSelector", "object", None),
    (CORE + "PodSpec", "overhead", "object", None), (CORE + "PodSpec", "hostNetwork", "boolean", None),
    (CORE + "PodSpec", "priorityClassName", "string", None), (CORE + "PodSpec", "schedulingGates", "array", None),
    (CORE + "NodeSpec", "unschedulable", "boolean", None), (CORE + "NodeSpec", "taints", "array", None),
    (CORE + "NodeStatus", "allocatable", "object", None), (CORE + "NodeStatus", "capacity", "object", None),
    (CORE + "NodeStatus", "images", "array", None), (CORE + "ContainerImage", "sizeBytes", "integer", "int64"),
    (CORE + "Taint", "key", "string", None), (CORE + "Taint", "value", "string", None),
    (CORE + "Taint", "effect", "string", None),
    (CORE + "Toleration", "key", "string", None), (CORE + "Toleration", "operator", "string", None),
    (CORE + "Toleration", "value", "string", None), (CORE + "Toleration", "effect", "string", None),
    (CORE + "Toleration", "tolerationSeconds", "integer", "int64"),
    (CORE + "TopologySpreadConstraint", "maxSkew", "integer", "int32"),
    (CORE + "TopologySpreadConstraint", "minDomains", "integer", "int32"),
    (CORE + "TopologySpreadConstraint", "topologyKey", "string", None),
    (CORE + "TopologySpreadConstraint", "whenUnsatisfiable", "string", None),
    (CORE + "TopologySpreadConstraint", "matchLabelKeys", "array", None),
    (CORE + "NodeSelectorRequirement", "operator", "string", None),
    (CORE + "NodeSelectorRequirement", "values", "array", None),
    (CORE + "PreferredSchedulingTerm", "weight", "integer", "int32"),
    (CORE + "WeightedPodAffinityTerm", "weight", "integer", "int32"),
    (CORE + "PodAffinityTerm", "topologyKey", "string", None), (CORE + "PodAffinityTerm", "namespaces", "array", None),
    (CORE + "ContainerPort", "containerPort", "integer", "int32"), (CORE + "ContainerPort", "hostPort", "integer", "int32"),
    (CORE + "ContainerPort", "protocol", "string", None), (CORE + "Container", "name", "string", None),
    (CORE + "Container", "image", "string", None), (CORE + "Container", "restartPolicy", "string", None),
    (CORE + "PodStatus", "phase", "string", None), (CORE + "PodStatus", "nominatedNodeName", "string", None),
    (META + "LabelSelectorRequirement", "operator", "string", None),
    (META + "LabelSelector", "matchLabels", "object", None),
    (META + "ObjectMeta", "labels", "object", None), (META + "ObjectMeta", "name", "string", None),
    (META + "OwnerReference", "controller", "boolean", None),
]

# (definition, field, the values objects.py accepts): each must be named in the schema's description.
ENUMS = [
    (CORE + "Taint", "effect", objects.TAINT_EFFECTS),
    (CORE + "Toleration", "operator", ("Exists", "Equal")),
    (CORE + "TopologySpreadConstraint", "whenUnsatisfiable", ("DoNotSchedule", "ScheduleAnyway")),
    (CORE + "TopologySpreadConstraint", "nodeAffinityPolicy", ("Honor", "Ignore")),
    (CORE + "NodeSelectorRequirement", "operator", objects.NODE_SELECTOR_OPS),
    (META + "LabelSelectorRequirement", "operator", objects.SELECTOR_OPS),
    (CORE + "ContainerPort", "protocol", ("TCP", "UDP", "SCTP")),
    (CORE + "PodStatus", "phase", ("Pending", "Running", "Succeeded", "Failed", "Unknown")),
]


@pytest.mark.parametrize("definition,field,kind,fmt", FIELDS)
def test_field_types_match_the_v129_schema(definition, field, kind, fmt):
    prop = DEFS[definition]["properties"][field]
    types = prop.get("type")
    types = set(types) if isinstance(types, list) else {types}
    assert types - {"null"} == {kind}, prop  # "null" allowed: null means unset, as objects.py treats it
    if fmt:
        assert prop.get("format") == fmt, prop


@pytest.mark.parametrize("definition,field,values", ENUMS)
def test_enum_values_are_the_ones_the_schema_documents(definition, field, values):
    description = DEFS[definition]["properties"][field]["description"]
    for value in values:
        assert value in description, (value, description)


def test_quantities_are_strings_or_numbers_in_the_schema():
    quantity = DEFS["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    types = {t for alt in quantity["oneOf"] for t in alt["type"]}
    assert types == {"string", "number", "null"}  # objects.py: parse_quantity takes strings and numbers
