"""The secure port (10259) of the Python scheduler answers like kube-scheduler's (the oracle).

For each caller — no token, a token the API server does not know, a valid ServiceAccount token
without permission, and the lab's metrics-reader token (get on /metrics) — and each of /metrics and
/healthz, the real `curl` asks every replica of the lab's custom-k8s-scheduler (kube-scheduler
v1.29.15) and of py-scheduler. The Python scheduler must give the status code kube-scheduler gives,
and the same metav1.Status body where the answer is an error. The only code written here is
/healthz's 200 for an anonymous caller (the kubelet's probe). Local replicas are reached on
127.0.0.1, pods elsewhere through `kubectl port-forward`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from e2e.harness import SuiteCluster

APPS = ("custom-k8s-scheduler", "py-scheduler")
PATHS = ("/metrics", "/healthz")
CALLERS = ("anonymous", "invalid-token", "token-without-permission", "metrics-reader")


@pytest.fixture(scope="module")
def curl() -> str:
    found = shutil.which("curl")
    if found is None:
        pytest.skip("needs the curl binary on PATH (apt-get install curl)")
    return found


@contextlib.contextmanager
def replica_urls(cluster: SuiteCluster, app: str) -> Iterator[list[tuple[str, str]]]:
    """[(replica, https://127.0.0.1:PORT)] for every replica of `app`, reachable while open."""

    if cluster.can("lab_processes"):  # podrunner's pods, on their loopback pod IPs
        yield [(p["metadata"]["name"], f"https://{p['status']['podIP']}:10259")
               for p in cluster.pods("kube-system", f"app.kubernetes.io/name={app}")]
        return
    with contextlib.ExitStack() as stack:
        urls = []
        for pod in cluster.pods("kube-system", f"app.kubernetes.io/name={app}"):
            name = pod["metadata"]["name"]
            local = stack.enter_context(cluster.port_forward("kube-system", name, 10259))
            urls.append((name, f"https://127.0.0.1:{local}"))
        yield urls


def curl_get(curl: str, url: str, token: str | None) -> tuple[int, str]:
    """(status, body) from the real curl. The token goes in a config read from stdin, never argv
    (where any local user could read it in the process list)."""
    config = f'header = "Authorization: Bearer {token}"\n' if token is not None else ""
    out = subprocess.run([curl, "--silent", "--show-error", "--insecure", "--max-time", "30", "--config", "-",
                          "--write-out", "\n%{http_code}", url], input=config, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, f"curl {url}: exit {out.returncode}: {out.stderr.strip()}"
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def no_permission_token(cluster: SuiteCluster, namespace: str) -> str:
    name = f"no-permission-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
    return cluster.kubectl("create", "token", name, "-n", namespace, "--duration=600s").stdout.strip()


def answers(cluster: SuiteCluster, curl: str, app: str, tokens: dict[str, str | None]) -> dict:
    """{(caller, path): [(replica, status, body)]} for every replica of `app`."""
    out: dict = {}
    with replica_urls(cluster, app) as urls:
        assert len(urls) == 2, f"{app}: expected 2 replicas, found {urls}"
        for caller, token in tokens.items():
            for path in PATHS:
                out[(caller, path)] = [(replica, *curl_get(curl, base + path, token)) for replica, base in urls]
    return out


def shape(status: int, body: str) -> object:
    """What must agree: the status code, and for an error the whole metav1.Status."""
    if status < 400:
        return status
    return status, json.dumps(json.loads(body), sort_keys=True)


def test_secure_port_answers_like_kube_scheduler(cluster: SuiteCluster, namespace: str, curl: str) -> None:
    for app in APPS:
        cluster.deploy(app)
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "invalid-token": secrets.token_urlsafe(32),
        "token-without-permission": no_permission_token(cluster, namespace),
        "metrics-reader": cluster.metrics_token(),
    }
    oracle = answers(cluster, curl, "custom-k8s-scheduler", tokens)
    ours = answers(cluster, curl, "py-scheduler", tokens)

    table = []
    for caller in CALLERS:
        for path in PATHS:
            expected = {shape(code, body) for _, code, body in oracle[(caller, path)]}
            got = {shape(code, body) for _, code, body in ours[(caller, path)]}
            table.append(f"{caller:26} {path:9} kube-scheduler {sorted(str(e)[:60] for e in expected)} "
                         f"py-scheduler {sorted(str(g)[:60] for g in got)}")
            assert len(expected) == 1, f"kube-scheduler's replicas disagree: {oracle[(caller, path)]}"
            assert got == expected, "\n".join(table)
    print("\n".join(table))
    # The kubelet's probe: an anonymous /healthz is served (the one code this test states itself).
    assert {code for _, code, _ in ours[("anonymous", "/healthz")]} == {200}
    # And the oracle is not trivially permissive: an anonymous caller does not get /metrics.
    assert {code for _, code, _ in oracle[("anonymous", "/metrics")]} != {200}
    assert {code for _, code, _ in oracle[("metrics-reader", "/metrics")]} == {200}
