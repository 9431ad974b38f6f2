"""bench.profile_cycle: the cluster-free profile binds every pod, plain or mixed, and its decision
digest is a function of code, seed and inputs only (what the optimisations are checked against)."""
from __future__ import annotations

from bench import profile_cycle


def test_plain_and_mixed_runs_bind_every_pod_with_a_repeatable_digest() -> None:
    digests = {}
    for mix in (False, True):
        first = profile_cycle.run(profile_cycle.prepare(40, 60, mix=mix), seed=3)
        again = profile_cycle.run(profile_cycle.prepare(40, 60, mix=mix), seed=3)
        assert first["bound"] == again["bound"] == 60
        assert first["decisions"] == again["decisions"]
        digests[mix] = first["decisions"]
    assert digests[False] != digests[True]  # the mix's constraints change where pods go


def test_the_mix_carries_bench_throughputs_constraints_and_zones() -> None:
    templates = profile_cycle._Templates(mix=True)
    pods = [templates.make_pending(i) for i in range(3)]
    assert "podAntiAffinity" in pods[0]["spec"]["affinity"]
    assert len(pods[1]["spec"]["topologySpreadConstraints"]) == 2
    assert "podAffinity" in pods[2]["spec"]["affinity"]
    assert templates.make_node(7)["metadata"]["labels"]["topology.kubernetes.io/zone"] == "bench-zone-7"
    assert "topology.kubernetes.io/zone" not in profile_cycle._Templates().make_node(7)["metadata"]["labels"]
