"""kube-scheduler's metrics, with its names, labels and buckets, in a registry of our own.

Names and buckets follow v1.29's pkg/scheduler/metrics (python-client.md §5.1,
upstream-scheduler.md §5.2). Queue and cache sizes are read when scraped (a collector asks the
queue and the cache), so they can never drift from the truth. No `_created` series: kube-scheduler
exposes none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["SchedulerMetrics", "exponential_buckets", "attempts_label"]

prometheus_client.disable_created_metrics()


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """Prometheus' ExponentialBuckets (prometheus_client has no helper for it)."""
    return tuple(start * factor**i for i in range(count))


def attempts_label(attempts: int) -> str:
    """kube-scheduler's getAttemptsLabel: cap the label's cardinality at "15+"."""
    return "15+" if attempts >= 15 else str(attempts)


class _SnapshotCollector(Collector):
    """Gauges computed at scrape time from callbacks."""

    def __init__(self) -> None:
        self.pending: Callable[[], Mapping[str, int]] = lambda: {}
        self.unschedulable: Callable[[], Mapping[tuple[str, str], int]] = lambda: {}
        self.cache_size: Callable[[], Mapping[str, int]] = lambda: {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pending = GaugeMetricFamily("scheduler_pending_pods",
                                    "Number of pending pods, by the queue type. 'active' means number of pods "
                                    "in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' "
                                    "means number of pods in unschedulablePods that the scheduler attempted "
                                    "to schedule and failed; 'gated' is the number of unschedulable pods that "
                                    "the scheduler never attempted to schedule because they are gated.",
                                    labels=["queue"])
        for queue, size in self.pending().items():
            pending.add_metric([queue], size)
        yield pending
        unschedulable = GaugeMetricFamily("scheduler_unschedulable_pods",
                                          "The number of unschedulable pods broken down by plugin name. A pod "
                                          "will increment the gauge for all plugins that caused it to not "
                                          "schedule and so this metric have meaning only when broken down by "
                                          "plugin.", labels=["plugin", "profile"])
        for (plugin, profile), size in sorted(self.unschedulable().items()):
            unschedulable.add_metric([plugin, profile], size)
        yield unschedulable
        cache = GaugeMetricFamily("scheduler_scheduler_cache_size",
                                  "Number of nodes, pods, and assumed (bound) pods in the scheduler cache.",
                                  labels=["type"])
        for kind, size in self.cache_size().items():
            cache.add_metric([kind], size)
        yield cache


class SchedulerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.schedule_attempts = Counter(
            "scheduler_schedule_attempts", "Number of attempts to schedule pods, by the result. 'unschedulable' "
            "means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
            ["result", "profile"], registry=r)
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            ["result", "profile"], buckets=exponential_buckets(0.001, 2, 15), registry=r)
        self.algorithm_duration = Histogram(
            "scheduler_scheduling_algorithm_duration_seconds", "Scheduling algorithm latency in seconds",
            buckets=exponential_buckets(0.001, 2, 15), registry=r)
        self.sli_duration = Histogram(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and "
            "might involve multiple scheduling attempts.",
            ["attempts"], buckets=exponential_buckets(0.01, 2, 20), registry=r)
        self.pod_attempts = Histogram(
            "scheduler_pod_scheduling_attempts", "Number of attempts to successfully schedule a pod.",
            buckets=exponential_buckets(1, 2, 5), registry=r)
        self.queue_incoming = Counter(
            "scheduler_queue_incoming_pods", "Number of pods added to scheduling queues by event and queue type.",
            ["queue", "event"], registry=r)
        self.leader_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates "
            "master. 'name' is the string used to identify the lease. Please make sure to group by name.",
            ["name"], registry=r)
        self.snapshot = _SnapshotCollector()
        r.register(self.snapshot)

    # -- recording helpers -------------------------------------------------------------------

    def attempt(self, result: str, profile: str, seconds: float) -> None:
        self.schedule_attempts.labels(result=result, profile=profile).inc()
        self.attempt_duration.labels(result=result, profile=profile).observe(seconds)

    def scheduled(self, attempts: int, since_first_attempt: float) -> None:
        self.pod_attempts.observe(attempts)
        self.sli_duration.labels(attempts=attempts_label(attempts)).observe(since_first_attempt)

    def incoming(self, queue: str, event: str) -> None:
        self.queue_incoming.labels(queue=queue, event=event).inc()

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = prometheus_client.exposition.choose_encoder(accept or "")
        return encoder(self.registry), content_type
