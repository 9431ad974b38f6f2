"""The kubelet's /containerLogs endpoint for podrunner's pods, so `kubectl logs` answers.

The API server asks the pod's node at InternalIP:daemonEndpoints.kubeletEndpoint.Port over TLS,
verifying the node with the lab's CA and presenting its kubelet-client certificate. Served here
rather than through kwok's Logs/ClusterLogs resources: kwok v0.5.2 forwards one file per container
and has no notion of a container's previous run, so `kubectl logs --previous` after a restart could
not work there, and each pod would need a resource created and deleted beside it. podrunner writes
one file per run (<restart>.log) and serves current, previous and follow from them directly.
"""
from __future__ import annotations

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# Only the API server's kubelet client may read logs (its certificate's common name).
ALLOWED_CLIENT = "kube-apiserver-kubelet-client"


def runs(pods_dir: Path, namespace: str, pod: str, container: str) -> list[Path]:
    """The container's log files, oldest run first (the newest pod of that name)."""
    dirs = sorted(pods_dir.glob(f"{namespace}_{pod}_*"), key=lambda d: d.stat().st_mtime)
    if not dirs:
        return []
    logs = dirs[-1] / "logs" / container
    return sorted(logs.glob("*.log"), key=lambda p: int(p.stem)) if logs.is_dir() else []


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    kept = data.splitlines(keepends=True)
    return b"".join(kept[-lines:]) if lines > 0 else b""


def handler_for(pods_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

        def _fail(self, code: int, message: str) -> None:
            body = message.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            cn = dict(x[0] for x in (cert or {}).get("subject", ())).get("commonName")
            if cn != ALLOWED_CLIENT:
                self._fail(403, f"forbidden: {cn or 'anonymous'} may not read container logs")
                return
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._fail(404, "not found")
                return
            _, namespace, pod, container = parts
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            files = runs(pods_dir, namespace, pod, container)
            previous = query.get("previous") == "true"
            if len(files) < (2 if previous else 1):
                what = "previous terminated container" if previous else "container"
                self._fail(400, f'{what} "{container}" in pod "{pod}" not found')
                return
            path = files[-2] if previous else files[-1]
            tail = int(query["tailLines"]) if "tailLines" in query else None
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            with open(path, "rb") as f:
                self.wfile.write(_tail(f.read(), tail))
                self.wfile.flush()
                if previous or query.get("follow") != "true":
                    return
                # Follow until this run is over: a newer run's file appears or the pod is gone.
                while path.exists() and runs(pods_dir, namespace, pod, container)[-1:] == [path]:
                    chunk = f.read()
                    if chunk:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    else:
                        time.sleep(0.2)
                self.wfile.write(f.read())

    return Handler


def serve(pods_dir: Path, ips: list[str], port: int, cert: Path, key: Path, ca: Path) -> None:
    """Serve on every node address (threads); returns at once."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    for ip in ips:
        server = ThreadingHTTPServer((ip, port), handler_for(pods_dir))
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
