"""`lab status`: components, nodes with their allocation as bars, and who leads each Lease."""
from __future__ import annotations

from pathlib import Path

from lab.cluster import LabCluster
from lab.providers.base import Provider


def show(provider: Provider, workdir: Path) -> int:
    st = provider.status()
    print(f"provider: {provider.name}   kubeconfig: {st.kubeconfig or '-'}")
    if st.components:
        print(f"{'COMPONENT':<26}{'PID':>8}  {'HEALTH':<10}VERSION")
        for c in st.components:
            print(f"{c.name:<26}{c.pid if c.pid else '-':>8}  {'ok' if c.healthy else 'DOWN':<10}{c.version}")
    if not st.up or st.kubeconfig is None:
        print("the lab is not up (run: make lab-up)")
        return 1
    cluster = LabCluster(workdir, kubeconfig=st.kubeconfig, spec=provider.spec, provider=provider.name)
    print()
    print(f"{'NODE':<16}{'READY':<7}{'CPU requested':<34}{'MEMORY requested':<34}PODS")
    for n in sorted(cluster.nodes_view(), key=lambda v: v.name):
        cpu_a, mem_a = n.allocatable.get("cpu", 0.0), n.allocatable.get("memory", 0.0)
        cpu_r, mem_r = n.requested.get("cpu", 0.0), n.requested.get("memory", 0.0)
        print(f"{n.name:<16}{'yes' if n.ready else 'NO':<7}"
              f"{bar(cpu_r / cpu_a if cpu_a else 0, 16)} {cpu_r:4.2f}/{cpu_a:<4.0f} "
              f"{bar(mem_r / mem_a if mem_a else 0, 16)} {mem_r / 2**30:4.1f}/{mem_a / 2**30:<4.0f}Gi "
              f"{len(n.pods)}")
    held = [lease for lease in cluster.leases() if lease["holder"] and "scheduler" in lease["name"]]
    if held:
        print()
        print(f"{'LEASE (kube-system)':<26}HOLDER")
        for lease in sorted(held, key=lambda x: x["name"]):
            print(f"{lease['name']:<26}{lease['holder']}")
    return 0


def bar(fraction: float, width: int = 20) -> str:
    """A text bar: '[#######.............]  35%'."""
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:4.0f}%"
