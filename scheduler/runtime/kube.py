"""Talking to the API server: client construction, raw JSON requests, client-side QPS/burst.

Everything the scheduler sends goes through `KubeClient.request` (or `open_stream` for watches):

* objects travel as plain dicts, encoded and decoded with orjson (the stdlib's json when orjson
  refuses a text, e.g. an integer beyond 64 bits, so what is read never differs); no client models;
* requests go straight to the API server over kept-alive connections, no retries of their own:
  no Kubernetes client library on the path, and none imported unless a kubeconfig needs its auth
  plugins (scheduler/runtime/connection.py). Unary requests (binds, events, lists, patches) use
  a minimal HTTP/1.1 client (http11.py) from a small pool (`_ConnectionPool`): urllib3 cost
  about 400 us of CPU per small request and http.client 220 us, against 125-140 us here; a bound
  pod takes two (its bind, its event). Watches stream through urllib3;
* every non-watch request first takes a token from a token bucket built from
  `clientConnection.qps/burst`, as client-go's rate limiter does;
* every unary request has one deadline covering resolution, connect, TLS, sending and reading
  the whole answer (client-go's request timeout), so neither a dead connection nor a server
  dripping its answer can hold a thread past it; watches have a per-read idle timeout;
* every failure becomes one `ApiError` with the HTTP status (0 for transport errors), the API
  server's message, any Retry-After hint and whether the request may have reached the server
  (`sent`: False only when it failed before a byte left), so callers classify errors in one place.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import urllib3
from urllib3.util.wait import wait_for_read

from scheduler.core.validation.kubeconfig import KubeConfigValidationError, read_kubeconfig
from scheduler.core.validation.text import safe_text, truncate
from scheduler.runtime.connection import (
    Connection,
    ConnectionError_,
    from_kubeconfig_data,
    from_library_configuration,
    in_cluster,
)
from scheduler.runtime.http11 import ConnectError, HttpConnection, TlsSessions

__all__ = [
    "ApiError",
    "UNSENDABLE",
    "KubeClient",
    "TokenBucket",
    "load_configuration",
    "KubeConfigError",
    "loads",
    "dumps",
]

JSON = "application/json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
UNSENDABLE = "Unsendable"  # ApiError.reason of a request refused before sending: trying again cannot help


def loads(data: bytes | str) -> Any:
    """Decode JSON as json.loads would, fast. orjson gives the same objects for everything the API
    server can send (Go encodes no integer beyond 64 bits: orjson would read one as a float); the
    stdlib takes what orjson refuses (lone surrogates, 1e400) and raises the ValueError for what
    neither reads."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(obj: Any) -> bytes:
    """Encode a request body (orjson; the stdlib for what orjson cannot encode)."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError: big integers, non-string keys, lone surrogates
        return json.dumps(obj).encode()


class KubeConfigError(Exception):
    """No usable cluster connection could be configured (one-line message)."""


class ApiError(Exception):
    """A failed API request. `status` is the HTTP status, 0 for a transport error."""

    def __init__(self, status: int, message: str, *, reason: str = "", retry_after: float | None = None,
                 body: Mapping[str, Any] | None = None, sent: bool = True, timed_out: bool = False) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"transport error: {message}")
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after
        self.body = dict(body or {})
        # A transport error (status 0) before any byte of the request left: the server cannot
        # have acted on it, so even a non-idempotent request may be sent again.
        self.sent = sent
        self.timed_out = timed_out  # the request's deadline (or its connect's) passed

    @classmethod
    def from_response(cls, status: int, http_reason: str, raw: bytes | str | None,
                      headers: Mapping[str, str] | None) -> ApiError:
        """From an error answer: the Status body's message, reason and retryAfterSeconds, or the
        Retry-After header."""
        body: dict[str, Any] = {}
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if isinstance(raw, str) and raw:
            try:
                parsed = loads(raw)
                if isinstance(parsed, dict):
                    body = parsed
            except ValueError:
                pass
        message = str(body.get("message") or http_reason or raw or "")
        retry_after = None
        details = body.get("details") or {}
        if isinstance(details, dict) and details.get("retryAfterSeconds"):
            retry_after = float(details["retryAfterSeconds"])
        headers = headers or {}
        if retry_after is None and headers.get("Retry-After"):
            try:
                retry_after = float(headers["Retry-After"])
            except ValueError:
                retry_after = None
        return cls(status, message, reason=str(body.get("reason") or http_reason or ""),
                   retry_after=retry_after, body=body)

    @classmethod
    def from_api_exception(cls, exc: Any) -> ApiError:
        """From a kubernetes-client ApiException (status, reason, body, headers)."""
        return cls.from_response(int(exc.status or 0), str(exc.reason or ""), exc.body,
                                 getattr(exc, "headers", None))


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

    def try_take(self) -> bool:
        """Take one token if one is there now; never waits and never goes into debt."""
        if self.qps <= 0:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; return the time waited."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


def load_configuration(kubeconfig: str | None) -> Connection:
    """The connection from a kubeconfig file, or the in-cluster service account when none.

    Like kube-scheduler: an explicit kubeconfig wins; without one the process must run in a pod.
    """
    if not kubeconfig:
        try:
            return in_cluster()
        except (ConnectionError_, OSError) as exc:
            raise KubeConfigError(
                "no --kubeconfig (or clientConnection.kubeconfig) given and no in-cluster configuration: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    shown = safe_text(kubeconfig)
    if not os.path.isfile(kubeconfig):
        raise KubeConfigError(f"kubeconfig {shown}: no such file")
    try:
        doc = read_kubeconfig(kubeconfig)
    except KubeConfigValidationError as exc:
        raise KubeConfigError(f"kubeconfig {shown}: {exc}") from None
    connection = from_kubeconfig_data(doc, kubeconfig)
    if connection is not None:
        return connection
    return _library_connection(kubeconfig, shown)


def _library_connection(kubeconfig: str, shown: str) -> Connection:
    """The Kubernetes client library's loader, for what connection.py does not read itself."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except Exception as exc:  # noqa: BLE001 - whatever the client library raises on a bad file: one line
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KubeConfigError(f"kubeconfig {shown}: {truncate(text, 200)}") from None
    return from_library_configuration(configuration)


class _ConnectionPool:
    """Kept-alive HTTP/1.1 connections (http11.py) to one API server, at most `maxsize` idle.

    Like urllib3's pool with block=False: a request finding none idle opens one more, and a
    connection coming back to a full pool is closed. An idle connection the server has closed (or
    that has unread bytes) is dropped before use, as urllib3 does (``is_connection_dropped``).
    """

    def __init__(self, connection: Connection, url: Any, maxsize: int) -> None:
        self._maxsize = maxsize
        self._idle: list[HttpConnection] = []
        self._lock = threading.Lock()
        host, port = url.hostname, url.port
        if url.scheme == "https":
            # OpenSSL checks the certificate against tls-server-name, or the host.
            context = connection.hostname_checking_context()
            server_hostname = connection.tls_server_name or host
            sessions = TlsSessions()  # the pool's connections resume one session (http11.TlsSessions)
            self._new: Callable[[], HttpConnection] = lambda: HttpConnection(
                host, port or 443, context=context, server_hostname=server_hostname, sessions=sessions)
        else:
            self._new = lambda: HttpConnection(host, port or 80)

    def get(self) -> HttpConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new()
            if conn.sock is not None and not wait_for_read(conn.sock, timeout=0.0):
                return conn
            conn.close()  # closed by the server meanwhile, or bytes nobody asked for

    def put(self, conn: HttpConnection) -> None:
        with self._lock:
            if len(self._idle) < self._maxsize:
                self._idle.append(conn)
                return
        conn.close()


class KubeClient:
    """One connection pool, one token bucket and one timeout policy for a group of API calls.

    kube-scheduler uses separate clients (and rate limiters) for scheduling, events and leader
    election so that an event storm can never delay a lease renewal; `derive()` does the same.
    """

    def __init__(self, connection: Connection, *, qps: float, burst: int,
                 timeout: float = 30.0, user_agent: str = "scheduler-lab", pool_size: int = 16) -> None:
        self.connection = connection
        self.host = connection.host.rstrip("/")
        self._prefix = urlsplit(self.host).path.rstrip("/")
        self.bucket = TokenBucket(qps, burst)
        self.timeout = float(timeout)
        self.user_agent = user_agent
        self.pool_size = pool_size
        self._pool: urllib3.HTTPConnectionPool | None = None  # watches
        self._pool_lock = threading.Lock()
        self._unary: _ConnectionPool | None = None  # everything else
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}
        self._transport: Callable[..., Any] | None = None

    def use_transport(self, send: Callable[..., Any]) -> None:
        """Send every request through `send(method, path, query, body)` instead of the network
        (bench/profile_cycle.py's in-process API server); it returns a urllib3-like response."""
        self._transport = send

    def derive(self, *, qps: float, burst: int, timeout: float, user_agent: str,
               pool_size: int = 4) -> KubeClient:
        """A sibling client to the same cluster with its own pool, bucket and timeout."""
        sibling = KubeClient(self.connection, qps=qps, burst=burst, timeout=timeout,
                             user_agent=user_agent, pool_size=pool_size)
        sibling._transport = self._transport
        return sibling

    def _connection_pool(self) -> urllib3.HTTPConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = self._new_pool()
            return self._pool

    def _unary_pool(self) -> _ConnectionPool:
        with self._pool_lock:
            if self._unary is None:
                self._unary = _ConnectionPool(self.connection, urlsplit(self.host), self.pool_size)
            return self._unary

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        url = urlsplit(self.host)
        if url.scheme == "https":
            conn = self.connection
            return urllib3.HTTPSConnectionPool(
                url.hostname, url.port or 443, maxsize=self.pool_size, block=False, retries=False,
                ssl_context=conn.ssl_context(), cert_reqs="CERT_REQUIRED" if conn.verify else "CERT_NONE",
                assert_hostname=False if not conn.verify else None,
                server_hostname=conn.tls_server_name)
        return urllib3.HTTPConnectionPool(url.hostname, url.port or 80, maxsize=self.pool_size, block=False,
                                          retries=False)

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": JSON, "Content-Type": content_type, "User-Agent": self.user_agent}
        try:
            authorization = self.connection.authorization()
        except (ConnectionError_, OSError) as exc:  # an unreadable rotated token: this request fails
            raise ApiError(0, f"{type(exc).__name__}: {exc}") from None
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def _timeout(self, timeout: tuple[float, float]) -> urllib3.Timeout:
        cached = self._timeouts.get(timeout)
        if cached is None:
            cached = self._timeouts[timeout] = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        return cached

    def _target(self, path: str, params: list[tuple[str, str]]) -> str:
        # Origin-form request target ("/api/v1/..."), as client-go sends: the pool knows the host,
        # and a full URL would go out in absolute form ("POST https://host/api/...").
        # A server URL may carry a path prefix (an API behind a proxy): kept in front of the path.
        return self._prefix + path + ("?" + urlencode(params) if params else "")

    def _exchange(self, method: str, path: str, params: list[tuple[str, str]], body: Any,
                  content_type: str, timeout: tuple[float, float]) -> bytes:
        """One unary request on a pooled HTTP/1.1 connection; the whole answer's body. Raises
        ApiError for transport failures and for answers outside 2xx."""
        payload = _payload(body)
        headers = self._headers(content_type)
        pool = self._unary_pool()
        conn = pool.get()
        try:
            response = conn.request(method, self._target(path, params), headers.items(), payload,
                                    connect_timeout=timeout[0], timeout=timeout[1])
        except ConnectError as exc:
            conn.close()
            raise ApiError(0, f"{type(exc).__name__}: {exc}", sent=False, timed_out=exc.timed_out) from None
        except ValueError as exc:  # a target or header that cannot be sent: nothing was
            conn.close()
            raise ApiError(0, f"{type(exc).__name__}: {exc}", reason=UNSENDABLE, sent=False) from None
        except OSError as exc:
            conn.close()
            raise ApiError(0, f"{type(exc).__name__}: {exc}", timed_out=isinstance(exc, TimeoutError)) from None
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            pool.put(conn)
        if not 200 <= response.status <= 299:
            raise ApiError.from_response(response.status, response.reason, response.body, response.headers)
        return response.body

    def _send(self, method: str, path: str, query: Mapping[str, Any] | None, body: Any,
              content_type: str, timeout: tuple[float, float]) -> Any:
        """Send on the urllib3 pool (watches); the response is unread (the caller reads and
        releases it). Raises ApiError for transport failures and for answers outside 2xx."""
        params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        if self._transport is not None:
            return self._transport(method, path, params, body)
        url = self._target(path, params)
        payload = _payload(body)
        try:
            response = self._connection_pool().urlopen(
                method, url, body=payload, headers=self._headers(content_type), retries=False,
                redirect=False, timeout=self._timeout(timeout), preload_content=False, assert_same_host=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status <= 299:
            try:
                data = response.data
            except (urllib3.exceptions.HTTPError, OSError):
                data = b""
            finally:
                response.release_conn()
            raise ApiError.from_response(response.status, response.reason or "", data, response.headers)
        return response

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: Any = None, content_type: str = JSON, timeout: float | None = None,
                rate_limited: bool = True) -> dict[str, Any]:
        """Send one request and return the decoded JSON body (a dict; {} when empty).

        The body is decoded as it is, whatever its kind: `pods/binding` answers with a Status,
        not the Binding the OpenAPI spec promises. `timeout` bounds the whole request (its
        connect within 10 s of it), as client-go's request timeout does.
        """
        if rate_limited:
            self.bucket.acquire()
        # (connect, whole request): the connect bound is part of the request's deadline.
        limit = float(timeout if timeout is not None else self.timeout)
        split = (min(limit, 10.0), limit)
        if self._transport is not None:  # a test's or profile_cycle's in-process API server
            response = self._send(method, path, query, body, content_type, split)
            try:
                data = response.data
            finally:
                response.release_conn()
        else:
            params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
            data = self._exchange(method, path, params, body, content_type, split)
        if not data:
            return {}
        try:
            parsed = loads(data)
        except ValueError:
            raise ApiError(0, f"undecodable response from {method} {path}") from None
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def open_stream(self, path: str, *, query: Mapping[str, Any], read_timeout: float):
        """Open a watch; returns the raw urllib3 response to read newline-delimited events from.

        The read timeout bounds every socket read, so a silently dead connection surfaces as an
        error after `read_timeout` seconds instead of hanging forever.
        """
        return self._send("GET", path, query, None, JSON, (10.0, read_timeout))


def _payload(body: Any) -> bytes | None:
    """A request body as bytes: a str as UTF-8 (what urllib3 sent; http.client would have used
    Latin-1), anything else but bytes as JSON."""
    if body is None or isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else dumps(body)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
