"""A stand-in for `kubectl proxy`: a tiny in-memory Kubernetes API on 127.0.0.1.

Used by the random-scheduler.sh tests. Only `kubectl proxy --address=A --port=P ...` is
supported; the API state comes from the JSON file $FAKE_API_STATE ({"nodes": [...], "pods":
[...]}), and every request plus every binding is appended to $FAKE_API_LOG (JSON lines).
It refuses to listen anywhere but loopback.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def _log(entry: dict) -> None:
    with open(os.environ["FAKE_API_LOG"], "a") as f:
        f.write(json.dumps(entry) + "\n")


def _matches(pod: dict, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, want = term.partition("=")
        value = pod
        for part in key.split("."):
            value = (value or {}).get(part) if isinstance(value, dict) else None
        if (value or "") != want:
            return False
    return True


class Api(BaseHTTPRequestHandler):
    state: dict = {}
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        _log({"method": "GET", "path": url.path, "query": url.query, "host": self.headers.get("Host")})
        parts = url.path.strip("/").split("/")
        selector = parse_qs(url.query).get("fieldSelector", [""])[0]
        with self.lock:
            if url.path == "/version":
                return self._send(200, {"gitVersion": "v1.29.15", "major": "1", "minor": "29"})
            if url.path == "/api/v1/nodes":
                return self._send(200, {"kind": "NodeList", "items": self.state["nodes"]})
            if url.path == "/api/v1/pods" or (len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"]
                                              and parts[4] == "pods"):
                ns = parts[3] if len(parts) == 5 else None
                items = [p for p in self.state["pods"]
                         if (ns is None or p["metadata"]["namespace"] == ns) and _matches(p, selector)]
                return self._send(200, {"kind": "PodList", "items": items})
        self._send(404, {"kind": "Status", "code": 404})

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        parts = url.path.strip("/").split("/")
        _log({"method": "POST", "path": url.path, "body": body,
              "contentType": self.headers.get("Content-Type")})
        if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods" \
                or parts[6] != "binding":
            return self._send(404, {"kind": "Status", "code": 404})
        ns, name = parts[3], parts[5]
        ok = (body.get("kind") == "Binding" and body.get("metadata", {}).get("name") == name
              and body.get("target", {}).get("kind") == "Node" and body.get("target", {}).get("name"))
        if not ok:
            return self._send(400, {"kind": "Status", "code": 400, "message": "bad binding"})
        with self.lock:
            pod = next((p for p in self.state["pods"]
                        if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == name), None)
            if pod is None:
                return self._send(404, {"kind": "Status", "code": 404})
            if pod["spec"].get("nodeName"):
                return self._send(409, {"kind": "Status", "code": 409, "reason": "Conflict"})
            pod["spec"]["nodeName"] = body["target"]["name"]
        _log({"bound": f"{ns}/{name}", "node": body["target"]["name"]})
        self._send(201, {"kind": "Status", "status": "Success", "code": 201})


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "proxy":
        print(f"fake kubectl: only `proxy` is supported, got {argv}", file=sys.stderr)
        return 1
    opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
    address, port = opts.get("address", "127.0.0.1"), int(opts.get("port", "8001"))
    if not address.startswith("127."):
        print(f"fake kubectl: refusing to listen on {address}", file=sys.stderr)
        return 1
    with open(os.environ["FAKE_API_STATE"]) as f:
        Api.state = json.load(f)
    _log({"proxy": {"address": address, "port": port, "args": argv, "pid": os.getpid()}})
    server = ThreadingHTTPServer((address, port), Api)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"Starting to serve on {address}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    _log({"proxy_stopped": os.getpid()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
