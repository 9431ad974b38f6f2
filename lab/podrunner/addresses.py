"""Each pod's own loopback address (status.podIP), so replicas listening on one port do not clash.

kwok hands out the lab's podSubnet (127.1.0.0/16) to the pods it fakes; podrunner's pods take
127.3.0.0/16 so the two never hand out one address twice."""
from __future__ import annotations

import hashlib
import ipaddress

POD_RANGE = ipaddress.ip_network("127.3.0.0/16")


def pick(uid: str, taken: set[str]) -> str:
    """A free address for the pod ``uid``: derived from it (stable across podrunner restarts)."""
    size = POD_RANGE.num_addresses - 2
    start = int(hashlib.sha256(uid.encode()).hexdigest(), 16) % size
    for step in range(size):
        ip = str(POD_RANGE.network_address + 1 + (start + step) % size)
        if ip not in taken:
            return ip
    raise RuntimeError(f"no free address left in {POD_RANGE}")
