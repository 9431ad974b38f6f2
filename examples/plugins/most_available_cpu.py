"""Seed 003's MostAvailableCPU score plugin, written outside the scheduler package.

Prefers the node with the most unrequested CPU: the raw score is the free millicores,
NormalizeScore scales it to 0..100 (kube-scheduler rejects scores outside that range,
which is why seed 003's Go version, returning raw cores, needs this step).

Enable it from a KubeSchedulerConfiguration (examples/configs/most-available-cpu.yaml)
or with ``--plugin examples/plugins/most_available_cpu.py:MostAvailableCPU``.
"""

from scheduler.core.framework import MAX_NODE_SCORE, Plugin


class MostAvailableCPU(Plugin):
    name = "MostAvailableCPU"

    def score(self, cycle, pod, node):
        return max(0, node.allocatable.milli_cpu - node.requested.milli_cpu)

    def normalize_score(self, cycle, pod, nodes, scores):
        best = max(scores) or 1
        scores[:] = [s * MAX_NODE_SCORE // best for s in scores]
