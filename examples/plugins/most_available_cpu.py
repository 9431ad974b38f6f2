"""Seed 003's MostAvailableCPU score plugin, written outside the scheduler package.

Prefers the node with the most unrequested CPU.  Enable it from a
KubeSchedulerConfiguration (see examples/configs/most-available-cpu.yaml), or with
``--plugin examples/plugins/most_available_cpu.py:MostAvailableCPU``.
"""

from scheduler.framework import MAX_NODE_SCORE, Plugin


class MostAvailableCPU(Plugin):
    name = "MostAvailableCPU"

    def score(self, cycle, pod, node):
        free = node.allocatable.milli_cpu - node.requested.milli_cpu
        return max(0, free) * MAX_NODE_SCORE // max(1, node.allocatable.milli_cpu)
