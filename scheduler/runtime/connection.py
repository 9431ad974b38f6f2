"""Where the API server is and how to authenticate to it, without importing the Kubernetes client.

Importing the `kubernetes` package costs about 0.6 CPU-seconds (every API class, google-auth,
oauthlib, ...) — more than a scheduling cycle's work for a hundred pods, and seconds of start-up
on a busy machine. The scheduler only needs a URL, TLS material and an Authorization header, so:

* the common kubeconfigs (a token, a token file, client certificates, basic auth; a CA file or
  data; insecure-skip-tls-verify; tls-server-name) are read here, field by field the way
  `kubernetes.config.kube_config.KubeConfigLoader` v29 reads them;
* anything else (auth-provider, exec plugins, proxy-url, fields this reader does not know) and
  every kubeconfig this reader cannot load goes to the library's own loader, imported only then,
  so its behaviour and its error messages stay the library's;
* in a pod, the service account is read like `load_incluster_config` does (the token re-read
  every minute, as bound service-account tokens rotate).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Connection", "ConnectionError_", "from_kubeconfig_data", "in_cluster", "from_library_configuration"]

SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"
SERVICE_PORT_ENV = "KUBERNETES_SERVICE_PORT"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_REFRESH_SECONDS = 60.0

# What this reader understands; a kubeconfig using anything else is left to the library.
_CLUSTER_FIELDS = frozenset({"server", "certificate-authority", "certificate-authority-data",
                             "insecure-skip-tls-verify", "tls-server-name"})
_USER_FIELDS = frozenset({"token", "tokenFile", "client-certificate", "client-certificate-data",
                          "client-key", "client-key-data", "username", "password"})


class ConnectionError_(Exception):  # noqa: N801 - not the builtin ConnectionError (an OSError)
    """The service account or kubeconfig cannot be used (one line)."""


@dataclass
class Connection:
    """The API server's URL, the TLS settings and the Authorization header to send."""

    host: str
    verify: bool = True
    ca_file: str | None = None  # PEM file; neither file nor data: certifi's bundle, like the library
    ca_data: str | None = None  # PEM text
    cert_pem: bytes | None = None  # client certificate and key, loaded into the TLS context
    key_pem: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_server_name: str | None = None
    authorization: Callable[[], str | None] = field(default=lambda: None)
    _context: ssl.SSLContext | None = field(default=None, repr=False)
    _checking_context: ssl.SSLContext | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_https(self) -> bool:
        return self.host.startswith("https")

    def ssl_context(self) -> ssl.SSLContext:
        """One TLS context for every client of this connection (built once)."""
        with self._lock:
            if self._context is None:
                self._context = self._build_context()
            return self._context

    def hostname_checking_context(self) -> ssl.SSLContext:
        """A TLS context that also checks the server's name (the one a connection is given:
        tls-server-name or the host), for clients that do not check it themselves (http.client)."""
        with self._lock:
            if self._checking_context is None:
                context = self._build_context()
                context.check_hostname = self.verify
                self._checking_context = context
            return self._checking_context

    def _build_context(self) -> ssl.SSLContext:
        """Trust exactly the kubeconfig's CA, as client-go does (a given CA replaces the system's
        roots, never adds to them); without one, the library's default store. The system store is
        never loaded: it would let any public CA vouch for the API server, and loading it cost
        0.2 s of every start-up (bench.profile_cycle --profile: set_default_verify_paths)."""
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_data is not None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.ca_data)
        elif self.ca_file is not None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        else:
            import certifi  # the library's default trust store

            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certifi.where())
        if self.verify:
            # urllib3 checks the name itself (it knows tls-server-name); the context only verifies the chain.
            context.check_hostname = False
        if self.cert_file or self.cert_pem:
            _load_client_certificate(context, self)
        return context


def _load_client_certificate(context: ssl.SSLContext, conn: Connection) -> None:
    """ssl loads certificates from files only: PEM data goes through a private temporary
    directory that is removed at once (the library leaves its temporary files behind)."""
    if conn.cert_file and conn.key_file:
        context.load_cert_chain(conn.cert_file, conn.key_file)
        return
    with tempfile.TemporaryDirectory(prefix="scheduler-tls-") as tmp:
        paths = []
        for name, data, path in (("cert.pem", conn.cert_pem, conn.cert_file), ("key.pem", conn.key_pem, conn.key_file)):
            if path:
                paths.append(path)
                continue
            target = os.path.join(tmp, name)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data or b"")
            paths.append(target)
        context.load_cert_chain(paths[0], paths[1] if conn.key_file or conn.key_pem else None)


def _named(entries: Any, name: str) -> Mapping[str, Any] | None:
    """The one entry called `name` (validation already made names unique)."""
    for entry in entries or ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return entry
    return None


def _file_or_data(obj: Mapping[str, Any] | None, file_key: str, base: str) -> tuple[str | None, bytes | None]:
    """The library's FileOrData(...).as_file(): `<key>-data` (base64) wins over `<key>` (a path,
    relative to the kubeconfig's directory); a named file must exist."""
    if not obj:
        return None, None
    data_key = file_key + "-data"
    if data_key in obj:
        data = obj[data_key]
        if not data:
            return None, None
        return None, base64.standard_b64decode(data.encode() if isinstance(data, str) else data)
    if file_key in obj:
        path = os.path.normpath(os.path.join(base, obj[file_key]))
        if not os.path.isfile(path):
            raise ConnectionError_(f"File does not exist: {path}")
        return path, None
    return None, None


def from_kubeconfig_data(doc: Mapping[str, Any], path: str) -> Connection | None:
    """A Connection for a validated kubeconfig document, or None when the library must read it
    (a field this reader does not know, an auth plugin, or anything it would refuse)."""
    try:
        return _from_kubeconfig(doc, os.path.abspath(os.path.dirname(path)))
    except Exception:  # noqa: BLE001 - whatever it is, the library decides and words it
        return None


def _from_kubeconfig(doc: Mapping[str, Any], base: str) -> Connection | None:
    current = doc.get("current-context")
    if not isinstance(current, str) or not current:
        return None
    ctx_entry = _named(doc.get("contexts"), current)
    context = ctx_entry.get("context") if ctx_entry else None
    if not isinstance(context, Mapping) or not isinstance(context.get("cluster"), str) or not context["cluster"]:
        return None
    user: Mapping[str, Any] | None = None
    if context.get("user") and doc.get("users"):
        user_entry = _named(doc["users"], context["user"])
        if user_entry is not None:
            user = user_entry.get("user")
            if not isinstance(user, Mapping):
                return None
    cluster_entry = _named(doc.get("clusters"), context["cluster"])
    cluster = cluster_entry.get("cluster") if cluster_entry else None
    if not isinstance(cluster, Mapping) or set(cluster) - _CLUSTER_FIELDS:
        return None
    if user is not None and set(user) - _USER_FIELDS:
        return None
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        return None

    # _load_authentication: token (or token file), then username/password.
    header: str | None = None
    if user:
        token: Any = None
        if "token" in user:
            token = user["token"]
        elif "tokenFile" in user:
            with open(os.path.normpath(os.path.join(base, user["tokenFile"]))) as fh:
                token = fh.read()
        if token:
            header = f"Bearer {token}"
        elif "username" in user and "password" in user:
            raw = f"{user['username']}:{user['password']}".encode("latin-1")
            header = "Basic " + base64.b64encode(raw).decode()

    conn = Connection(host=server.rstrip("/"), authorization=(lambda value=header: value))
    # _load_cluster_info: TLS material only for https servers.
    if conn.is_https:
        conn.ca_file, ca = _file_or_data(cluster, "certificate-authority", base)
        conn.ca_data = ca.decode("ascii") if ca is not None else None
        conn.cert_file, conn.cert_pem = _file_or_data(user, "client-certificate", base)
        conn.key_file, conn.key_pem = _file_or_data(user, "client-key", base)
    if "insecure-skip-tls-verify" in cluster:
        conn.verify = not cluster["insecure-skip-tls-verify"]
    if cluster.get("tls-server-name"):
        conn.tls_server_name = cluster["tls-server-name"]
    if conn.is_https:
        conn.ssl_context()  # bad TLS material: the library's turn (it fails later, at the first request)
    return conn


class _ServiceAccountToken:
    """The in-cluster token, re-read once a minute (InClusterConfigLoader's refresh hook)."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._value = self._read()
        self._expires = clock() + TOKEN_REFRESH_SECONDS

    def _read(self) -> str:
        with open(self.path) as fh:
            content = fh.read()
        if not content:
            raise ConnectionError_("Token file exists but empty.")
        return "bearer " + content

    def __call__(self) -> str:
        with self._lock:
            if self._clock() >= self._expires:
                self._value = self._read()
                self._expires = self._clock() + TOKEN_REFRESH_SECONDS
            return self._value


def in_cluster(environ: Mapping[str, str] = os.environ, directory: str = SERVICE_ACCOUNT_DIR) -> Connection:
    """The pod's service account (load_incluster_config's checks and messages)."""
    if SERVICE_HOST_ENV not in environ or SERVICE_PORT_ENV not in environ:
        raise ConnectionError_("Service host/port is not set.")
    host, port = environ[SERVICE_HOST_ENV], environ[SERVICE_PORT_ENV]
    if not host or not port:
        raise ConnectionError_("Service host/port is set but empty.")
    joined = f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"
    token_path, ca_path = os.path.join(directory, "token"), os.path.join(directory, "ca.crt")
    if not os.path.isfile(token_path):
        raise ConnectionError_("Service token file does not exist.")
    token = _ServiceAccountToken(token_path)
    if not os.path.isfile(ca_path):
        raise ConnectionError_("Service certification file does not exist.")
    with open(ca_path) as fh:
        if not fh.read():
            raise ConnectionError_("Cert file exists but empty.")
    return Connection(host="https://" + joined, ca_file=ca_path, authorization=token)


def from_library_configuration(configuration: Any) -> Connection:
    """A Connection over a `kubernetes.client.Configuration` the library's loader filled in
    (auth plugins keep working: the header is asked from the library before every request)."""

    def authorization() -> str | None:
        return configuration.get_api_key_with_prefix("authorization") if configuration.api_key else None

    return Connection(host=configuration.host.rstrip("/"), verify=bool(configuration.verify_ssl),
                      ca_file=configuration.ssl_ca_cert or None, cert_file=configuration.cert_file or None,
                      key_file=configuration.key_file or None,
                      tls_server_name=configuration.tls_server_name or None, authorization=authorization)
