"""Watches the host's own network interfaces during the e2e run: the kind lab's private
addresses (Docker bridges, node and pod IPs) must only ever exist inside the project's network
namespace, never on the host's interfaces (`ip -br addr` read in the host's namespace)."""
from __future__ import annotations

import ipaddress
import os
import subprocess
import threading
from dataclasses import dataclass, field

PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def host_ip_br_addr() -> str:
    """`ip -br addr` of the host's namespace, also when this process runs in the lab's (the
    project's dockerd names the host's namespace /run/netns/<netns>-host when it starts)."""
    from lab.host.docker_netns import HOST_NETNS_REF

    argv = ["ip", "-br", "addr"]
    if os.path.exists(HOST_NETNS_REF) and os.stat("/proc/self/ns/net").st_ino != os.stat(HOST_NETNS_REF).st_ino:
        argv = ["nsenter", f"--net={HOST_NETNS_REF}", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def private_addresses(ip_br: str) -> set[str]:
    """'iface addr/len' for every IPv4 address of `ip -br addr` output in 10/8, 172.16/12, 192.168/16."""
    found = set()
    for line in ip_br.splitlines():
        parts = line.split()
        for cidr in parts[2:]:
            try:
                iface = ipaddress.ip_interface(cidr)
            except ValueError:
                continue
            if iface.version == 4 and any(iface.ip in net for net in PRIVATE):
                found.add(f"{parts[0]} {cidr}")
    return found


@dataclass
class HostNetworkWatch:
    """Samples the host's addresses every ``interval`` seconds in a thread, for the whole session."""

    interval: float = 2.0
    baseline: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    samples: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.baseline = private_addresses(host_ip_br_addr())
        threading.Thread(target=self._loop, name="host-network-watch", daemon=True).start()

    def sample(self) -> None:
        try:
            self.seen |= private_addresses(host_ip_br_addr()) - self.baseline
            self.samples += 1
        except (OSError, subprocess.SubprocessError) as exc:
            self.errors.append(str(exc))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)  # the sampling period, not a synchronisation

    def stop(self) -> None:
        self._stop.set()
