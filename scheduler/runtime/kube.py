"""Talking to the API server: client construction, raw JSON requests, client-side QPS/burst.

Everything the scheduler sends goes through `KubeClient.request` (or `open_stream` for watches):

* objects travel as plain dicts (no client models: building them costs more than scheduling);
* every non-watch request first takes a token from a token bucket built from
  `clientConnection.qps/burst`, as client-go's rate limiter does (the Python client has none);
* every request has a connect and a read timeout, so a dead connection cannot hang a thread;
* every failure becomes one `ApiError` with the HTTP status (0 for transport errors), the API
  server's message and any Retry-After hint, so callers classify errors in one place.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from scheduler.core.validation.kubeconfig import KubeConfigValidationError, check_kubeconfig
from scheduler.core.validation.text import safe_text, truncate

__all__ = [
    "ApiError",
    "KubeClient",
    "TokenBucket",
    "load_configuration",
    "KubeConfigError",
]

JSON = "application/json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class KubeConfigError(Exception):
    """No usable cluster connection could be configured (one-line message)."""


class ApiError(Exception):
    """A failed API request. `status` is the HTTP status, 0 for a transport error."""

    def __init__(self, status: int, message: str, *, reason: str = "", retry_after: float | None = None,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"transport error: {message}")
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after
        self.body = dict(body or {})

    @classmethod
    def from_api_exception(cls, exc: ApiException) -> ApiError:
        status = int(exc.status or 0)
        raw = exc.body
        body: dict[str, Any] = {}
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if isinstance(raw, str) and raw:
            try:
                parsed = json.loads(raw)
                if isinstance(parsed, dict):
                    body = parsed
            except ValueError:
                pass
        message = str(body.get("message") or exc.reason or raw or "")
        retry_after = None
        details = body.get("details") or {}
        if isinstance(details, dict) and details.get("retryAfterSeconds"):
            retry_after = float(details["retryAfterSeconds"])
        headers = getattr(exc, "headers", None) or {}
        if retry_after is None and headers.get("Retry-After"):
            try:
                retry_after = float(headers["Retry-After"])
            except ValueError:
                retry_after = None
        return cls(status, message, reason=str(body.get("reason") or exc.reason or ""),
                   retry_after=retry_after, body=body)


class TokenBucket:
    """client-go's token-bucket rate limiter: `qps` tokens per second, at most `burst` saved up.

    `acquire()` reserves a token and sleeps until it is due (like golang.org/x/time/rate's Wait),
    so concurrent callers are served in order without busy-waiting. `qps <= 0` means unlimited.
    """

    def __init__(self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.qps = float(qps)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return how many seconds the caller must wait before using it."""
        if self.qps <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.qps

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; return the time waited."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


def load_configuration(kubeconfig: str | None) -> k8s_client.Configuration:
    """Client configuration from a kubeconfig file, or the in-cluster service account when none.

    Like kube-scheduler: an explicit kubeconfig wins; without one the process must run in a pod.
    """
    configuration = k8s_client.Configuration()
    if kubeconfig:
        shown = safe_text(kubeconfig)
        if not os.path.isfile(kubeconfig):
            raise KubeConfigError(f"kubeconfig {shown}: no such file")
        try:
            check_kubeconfig(kubeconfig)
        except KubeConfigValidationError as exc:
            raise KubeConfigError(f"kubeconfig {shown}: {exc}") from None
        try:
            k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except Exception as exc:  # noqa: BLE001 - whatever the client library raises on a bad file: one line
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise KubeConfigError(f"kubeconfig {shown}: {truncate(text, 200)}") from None
    else:
        try:
            # Keeps the token-refresh hook on this very object (bound service account tokens rotate).
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise KubeConfigError(
                "no --kubeconfig (or clientConnection.kubeconfig) given and no in-cluster configuration: "
                f"{str(exc).splitlines()[0]}") from None
    # Retries live in one place (tenacity, in the callers); urllib3 must not add its own.
    configuration.retries = False
    return configuration


class KubeClient:
    """One connection pool, one token bucket and one timeout policy for a group of API calls.

    kube-scheduler uses separate clients (and rate limiters) for scheduling, events and leader
    election so that an event storm can never delay a lease renewal; `derive()` does the same.
    """

    def __init__(self, configuration: k8s_client.Configuration, *, qps: float, burst: int,
                 timeout: float = 30.0, user_agent: str = "scheduler-lab", pool_size: int = 16) -> None:
        configuration = _copy_configuration(configuration)
        configuration.connection_pool_maxsize = pool_size
        self.configuration = configuration
        self.api_client = k8s_client.ApiClient(configuration)
        self.api_client.user_agent = user_agent
        self.host = configuration.host.rstrip("/")
        self.bucket = TokenBucket(qps, burst)
        self.timeout = float(timeout)
        self.user_agent = user_agent

    def derive(self, *, qps: float, burst: int, timeout: float, user_agent: str,
               pool_size: int = 4) -> KubeClient:
        """A sibling client to the same cluster with its own pool, bucket and timeout."""
        return KubeClient(self.configuration, qps=qps, burst=burst, timeout=timeout,
                          user_agent=user_agent, pool_size=pool_size)

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": JSON, "Content-Type": content_type, "User-Agent": self.user_agent}
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    def _send(self, method: str, path: str, query: Mapping[str, Any] | None, body: Any,
              content_type: str, timeout: tuple[float, float], preload: bool):
        params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        try:
            return self.api_client.rest_client.request(
                method, self.host + path, query_params=params, headers=self._headers(content_type),
                body=body, _preload_content=preload, _request_timeout=timeout)
        except ApiException as exc:
            raise ApiError.from_api_exception(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}") from None

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: Any = None, content_type: str = JSON, timeout: float | None = None,
                rate_limited: bool = True) -> dict[str, Any]:
        """Send one request and return the decoded JSON body (a dict; {} when empty).

        The response is read raw (`_preload_content=False`), which is also what makes `pods/binding`
        work: the API server answers it with a Status, not the Binding the OpenAPI spec promises.
        """
        if rate_limited:
            self.bucket.acquire()
        limit = float(timeout if timeout is not None else self.timeout)
        response = self._send(method, path, query, body, content_type, (min(limit, 10.0), limit),
                              preload=False)
        try:
            data = response.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}") from None
        finally:
            response.release_conn()
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:
            raise ApiError(0, f"undecodable response from {method} {path}") from None
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def open_stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float):
        """Open a watch; returns the raw urllib3 response to read newline-delimited events from.

        The read timeout bounds every socket read, so a silently dead connection surfaces as an
        error after `read_timeout` seconds instead of hanging forever.
        """
        return self._send("GET", path, query, None, JSON, (10.0, read_timeout), preload=False)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _copy_configuration(configuration: k8s_client.Configuration) -> k8s_client.Configuration:
    # Configuration's copy keeps the refresh hook and certificate paths; a fresh ApiClient per
    # KubeClient then gets its own pool of connections.
    import copy

    duplicate = copy.copy(configuration)
    duplicate.api_key = dict(configuration.api_key)
    duplicate.api_key_prefix = dict(configuration.api_key_prefix)
    return duplicate
