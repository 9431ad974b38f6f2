"""Metric names/labels/buckets, the token bucket, API error parsing, and the probe server."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from scheduler.runtime.kube import ApiError, TokenBucket
from scheduler.runtime.metrics import SchedulerMetrics, attempts_label, exponential_buckets
from scheduler.runtime.auth import DelegatedAuth
from scheduler.runtime.server import Checks, ProbeServer


def exposition(metrics: SchedulerMetrics) -> str:
    return metrics.exposition(None)[0].decode()


def test_kube_scheduler_metric_names_and_labels() -> None:
    m = SchedulerMetrics()
    m.attempt("scheduled", "py-scheduler", 0.003)
    m.attempt("unschedulable", "py-scheduler", 0.002)
    m.algorithm_duration.observe(0.001)
    m.scheduled(attempts=2, since_first_attempt=0.5)
    m.incoming("active", "PodAdd")
    m.leader_status.labels(name="py-scheduler").set(1)
    m.snapshot.pending = lambda: {"active": 3, "backoff": 1, "unschedulable": 2, "gated": 0}
    m.snapshot.unschedulable = lambda: {("NodeResourcesFit", "py-scheduler"): 2}
    m.snapshot.cache_size = lambda: {"nodes": 4, "pods": 10, "assumed_pods": 1}
    text = exposition(m)
    for line in [
        'scheduler_schedule_attempts_total{profile="py-scheduler",result="scheduled"} 1.0',
        'scheduler_schedule_attempts_total{profile="py-scheduler",result="unschedulable"} 1.0',
        'scheduler_scheduling_attempt_duration_seconds_bucket{le="0.004",profile="py-scheduler",result="scheduled"} 1.0',
        'scheduler_scheduling_algorithm_duration_seconds_count 1.0',
        'scheduler_pod_scheduling_sli_duration_seconds_count{attempts="2"} 1.0',
        'scheduler_pod_scheduling_attempts_bucket{le="2.0"} 1.0',
        'scheduler_queue_incoming_pods_total{event="PodAdd",queue="active"} 1.0',
        'leader_election_master_status{name="py-scheduler"} 1.0',
        'scheduler_pending_pods{queue="active"} 3.0',
        'scheduler_pending_pods{queue="gated"} 0.0',
        'scheduler_unschedulable_pods{plugin="NodeResourcesFit",profile="py-scheduler"} 2.0',
        'scheduler_scheduler_cache_size{type="assumed_pods"} 1.0',
    ]:
        assert line in text, line
    assert "_created" not in text


def test_bucket_layouts_match_kube_scheduler() -> None:
    text = exposition(SchedulerMetrics())
    m = SchedulerMetrics()
    m.sli_duration.labels(attempts="1").observe(1)
    m.attempt("scheduled", "p", 1)
    m.pod_attempts.observe(1)
    text = exposition(m)
    assert text.count("scheduler_pod_scheduling_sli_duration_seconds_bucket") == 21  # 20 + Inf
    assert 'scheduler_pod_scheduling_sli_duration_seconds_bucket{attempts="1",le="5242.88"}' in text
    assert text.count("scheduler_scheduling_attempt_duration_seconds_bucket") == 16
    assert 'le="16.384"' in text
    assert text.count("scheduler_pod_scheduling_attempts_bucket") == 6
    assert exponential_buckets(1, 2, 5) == (1, 2, 4, 8, 16)


def test_attempts_label_is_capped() -> None:
    assert [attempts_label(n) for n in (1, 14, 15, 99)] == ["1", "14", "15+", "15+"]


def test_content_type_follows_the_accept_header() -> None:
    m = SchedulerMetrics()
    assert m.exposition(None)[1] != OPENMETRICS
    body, content_type = m.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type == OPENMETRICS
    assert body.endswith(b"# EOF\n")
    assert CONTENT_TYPE_LATEST  # the constant exists in the pinned version


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_burst_then_paces_at_qps() -> None:
    clock, slept = FakeClock(), []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = TokenBucket(10, 5, clock=clock, sleep=sleep)
    waits = [bucket.acquire() for _ in range(8)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([0.1, 0.1, 0.1])
    clock.now += 10
    assert [bucket.acquire() for _ in range(5)] == [0, 0, 0, 0, 0]  # refilled up to burst, not beyond
    assert bucket.acquire() == pytest.approx(0.1)


def test_concurrent_reservations_queue_up() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 1, clock=clock, sleep=lambda s: None)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0.5, 1.0, 1.5])


def test_unlimited_bucket() -> None:
    bucket = TokenBucket(0, 0)
    assert all(bucket.acquire() == 0 for _ in range(1000))


def test_api_error_from_status_body() -> None:
    exc = ApiException(status=429, reason="Too Many Requests")
    exc.body = b'{"kind":"Status","message":"slow down","reason":"TooManyRequests","details":{"retryAfterSeconds":3}}'
    err = ApiError.from_api_exception(exc)
    assert (err.status, err.message, err.reason, err.retry_after) == (429, "slow down", "TooManyRequests", 3.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Content-Type", "")


@pytest.fixture
def served():
    state = {"synced": False, "leader": None, "stopping": False}
    checks = Checks(synced=lambda: state["synced"], leader=lambda: state["leader"],
                    shutting_down=lambda: state["stopping"])
    metrics = SchedulerMetrics()
    metrics.leader_status.labels(name="lease-x").set(0)
    # Every path always allowed: these tests are about the endpoints (authn/authz: test_io_secure_serving.py).
    server = ProbeServer(metrics, checks, bind_address="127.0.0.1", port=free_port(), secure_port=free_port(),
                         auth=DelegatedAuth(None, always_allow_paths=["/*"]))
    urls = server.start()
    yield state, urls
    server.stop()


def test_health_readiness_and_metrics_over_http(served) -> None:
    state, urls = served
    http = next(u for u in urls if u.startswith("http:"))
    assert get(http + "/healthz")[:2] == (200, "ok")
    assert get(http + "/livez")[:2] == (200, "ok")
    code, body, _ = get(http + "/readyz")
    assert code == 500 and "[-]sched-handler-sync failed" in body
    assert get(http + "/readyz/ping")[0] == 200
    assert get(http + "/readyz/sched-handler-sync")[0] == 500
    state["synced"] = True
    assert get(http + "/readyz")[:2] == (200, "ok")
    assert "[+]leaderElection ok" in get(http + "/readyz?verbose")[1]
    state["leader"] = "failed election to renew leadership on lease x"
    code, body, _ = get(http + "/healthz")
    assert code == 500 and "[-]leaderElection failed" in body
    state["leader"] = None
    state["stopping"] = True
    assert get(http + "/readyz")[0] == 500
    assert get(http + "/healthz")[0] == 200
    code, body, content_type = get(http + "/metrics")
    assert code == 200 and 'leader_election_master_status{name="lease-x"} 0.0' in body
    assert content_type.startswith("text/plain")
    assert get(http + "/nope")[0] == 404


def test_https_with_a_self_signed_certificate(served) -> None:
    _, urls = served
    https = next(u for u in urls if u.startswith("https:"))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    assert get(https + "/healthz", insecure)[:2] == (200, "ok")
    with pytest.raises(urllib.error.URLError):
        get(https + "/healthz", ssl.create_default_context())  # not a trusted certificate
