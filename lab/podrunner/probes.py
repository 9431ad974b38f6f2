"""httpGet probes against the pod's own IP, as the kubelet runs them (no certificate check)."""
from __future__ import annotations

import ssl
import urllib.error
import urllib.request


def http_get(pod_ip: str, probe: dict, default_port: int = 0) -> bool:
    """True when the probe's GET answers 200-399 within its timeoutSeconds."""
    get = probe.get("httpGet") or {}
    if not get:
        return True  # exec/tcpSocket probes are not emulated: counted as passing
    port = get.get("port", default_port)
    scheme = str(get.get("scheme", "HTTP")).lower()
    url = f"{scheme}://{pod_ip}:{port}{get.get('path', '/')}"
    ctx = ssl._create_unverified_context() if scheme == "https" else None
    try:
        with urllib.request.urlopen(url, timeout=float(probe.get("timeoutSeconds", 1)), context=ctx) as r:
            return 200 <= r.status < 400
    except urllib.error.HTTPError as exc:
        return 200 <= exc.code < 400
    except (OSError, ssl.SSLError):
        return False
