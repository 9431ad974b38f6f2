"""Quantities and the v1.29 pod-request rules (init containers, sidecars, overhead, non-zero defaults)."""

from fractions import Fraction

import pytest
from sched_builders import container, pod

from scheduler.core.resources import (
    DEFAULT_MEMORY_REQUEST, NON_ZERO_DEFAULTS, QuantityError, milli_value, non_zero_requests, parse_quantity,
    pod_requests, pod_resource, value,
)


@pytest.mark.parametrize("text,expected", [
    ("100m", Fraction(1, 10)), ("1", Fraction(1)), ("0.5", Fraction(1, 2)), ("1Gi", Fraction(2**30)),
    ("1G", Fraction(10**9)), ("1.5Gi", Fraction(3 * 2**29)), ("200Mi", Fraction(200 * 2**20)),
    ("1e3", Fraction(1000)), ("1k", Fraction(1000)), ("1Ki", Fraction(1024)), (".5", Fraction(1, 2)),
    (3, Fraction(3)), (0.25, Fraction(1, 4)),
])
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "5Xi", True, None])
def test_invalid_quantities_raise(bad):
    with pytest.raises(QuantityError):
        parse_quantity(bad)


def test_values_round_up_like_resource_quantity():
    assert milli_value("0.0001") == 1       # MilliValue rounds up
    assert milli_value("1.5") == 1500
    assert value("1.5") == 2                 # Value rounds up
    assert value("100m") == 1
    assert value("1Gi") == 1073741824


def test_containers_are_summed():
    p = pod("p", {"cpu": "100m", "memory": "1Gi"}, {"cpu": "250m"})
    assert pod_requests(p) == {"cpu": 350, "memory": 2**30}


def test_regular_init_containers_take_the_max():
    p = pod("p", {"cpu": "100m", "memory": "100Mi"},
            init=[container("i1", {"cpu": "500m"}), container("i2", {"memory": "1Gi"})])
    assert pod_requests(p) == {"cpu": 500, "memory": 2**30}


def test_native_sidecars_add_up_and_stack_under_later_init_containers():
    # request = max(sum(containers)+sum(sidecars), max_i(init_i + sidecars before i))
    p = pod("p", {"cpu": "100m"}, init=[
        container("sidecar", {"cpu": "200m"}, restart_policy="Always"),
        container("init-after-sidecar", {"cpu": "400m"}),
    ])
    # containers + sidecar = 300m; init after sidecar = 400m + 200m = 600m
    assert pod_requests(p)["cpu"] == 600
    q = pod("q", {"cpu": "1"}, init=[container("init", {"cpu": "500m"}),
                                     container("sc", {"cpu": "200m"}, restart_policy="Always")])
    # init before the sidecar does not see it: max(1000+200, 500, 200) = 1200
    assert pod_requests(q)["cpu"] == 1200


def test_overhead_is_added():
    p = pod("p", {"cpu": "100m", "memory": "64Mi"}, overhead={"cpu": "250m", "memory": "120Mi"})
    assert pod_requests(p) == {"cpu": 350, "memory": 184 * 2**20}
    assert pod_resource(p).milli_cpu == 350


def test_non_zero_defaults_fill_only_missing_keys():
    assert pod_requests(pod("p", None), NON_ZERO_DEFAULTS) == {"cpu": 100, "memory": DEFAULT_MEMORY_REQUEST}
    explicit_zero = pod("p", {"cpu": "0", "memory": "0"})
    assert pod_requests(explicit_zero, NON_ZERO_DEFAULTS) == {"cpu": 0, "memory": 0}
    assert pod_requests(pod("p", {"cpu": "1"}), NON_ZERO_DEFAULTS) == {"cpu": 1000, "memory": DEFAULT_MEMORY_REQUEST}


def test_pod_without_containers_requests_nothing_even_with_defaults():
    assert pod_requests(pod("p", containers=[]), NON_ZERO_DEFAULTS) == {}


def test_node_side_non_zero_requests():
    assert non_zero_requests(pod("p", None, None)) == (200, 2 * DEFAULT_MEMORY_REQUEST)
    assert non_zero_requests(pod("p", {"cpu": "0"})) == (0, DEFAULT_MEMORY_REQUEST)
    # max(containers, init uses) + overhead
    p = pod("p", {"cpu": "100m", "memory": "1Mi"}, init=[container("i", {"cpu": "2", "memory": "1Mi"})],
            overhead={"cpu": "10m"})
    assert non_zero_requests(p) == (2010, 2**20)
    # sidecars are not summed into the containers part of the non-zero tracker
    s = pod("s", {"cpu": "100m", "memory": "1Mi"},
            init=[container("sc", {"cpu": "50m", "memory": "1Mi"}, restart_policy="Always")])
    assert non_zero_requests(s) == (100, 2**20)
    assert pod_requests(s)["cpu"] == 150


def test_extended_and_hugepages_are_scalar_resources():
    p = pod("p", {"cpu": "1", "nvidia.com/gpu": "2", "hugepages-2Mi": "4Mi", "storage": "1"})
    res = pod_resource(p)
    assert res.scalars == {"nvidia.com/gpu": 2, "hugepages-2Mi": 4 * 2**20}
