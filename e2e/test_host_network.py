"""Nothing the lab creates puts a private-range address on the host's own interfaces: on kind,
Docker's bridges and the nodes' addresses exist only in the project's network namespace (or in
the machine's own Docker, when one was already running)."""
from __future__ import annotations

from e2e.harness import SuiteCluster
from e2e.hostnet import HostNetworkWatch, host_ip_br_addr, private_addresses


def test_no_private_address_appears_on_the_host_interfaces(cluster: SuiteCluster,
                                                           host_network_watch: HostNetworkWatch) -> None:
    host_network_watch.sample()
    assert not host_network_watch.errors, host_network_watch.errors[:3]
    assert host_network_watch.samples >= 1
    assert not host_network_watch.seen, (
        f"private addresses appeared on the host's interfaces during the run: {sorted(host_network_watch.seen)}")


def test_the_nodes_addresses_are_not_the_hosts(cluster: SuiteCluster) -> None:
    nodes = cluster.get("/api/v1/nodes")["items"]
    node_ips = {a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    assert len(node_ips) == len(cluster.spec.nodes)
    host_ips = {entry.split()[1].split("/")[0] for entry in private_addresses(host_ip_br_addr())}
    assert not node_ips & host_ips, f"node addresses on the host's interfaces: {sorted(node_ips & host_ips)}"
