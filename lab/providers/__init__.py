"""The lab's providers by name, what each can do, and which one a lab directory was brought up with.

Kept here, below the CLI, so the CLI, the workshop machinery, the wipe guard and the e2e suite all
read one list without importing each other. Code that wants to know what a provider can do asks
``capabilities(name)`` instead of comparing provider names.
"""
from __future__ import annotations

import enum
import json
from pathlib import Path

PROVIDERS = ("local", "kind", "vagrant", "vagrant-containers", "existing")


class Capability(str, enum.Enum):
    """Something a provider's lab can do or guarantees; its value is the name the e2e suite uses."""

    LAB_PROCESSES = "lab_processes"
    RESTART_APISERVER = "restart_apiserver"
    FAULT_PROXY = "fault_proxy"
    KWOK_NODES = "kwok_nodes"
    PARITY_ORACLE = "parity_oracle"
    WORKSHOP_OUTPUTS_CHECKED = "workshop_outputs_checked"
    LOOPBACK_ADDRESSES = "loopback_addresses"
    SPEC_NODE_NAMES = "spec_node_names"
    PINNED_PATCH_VERSION = "pinned_patch_version"
    RESERVED_ALLOCATABLE = "reserved_allocatable"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS: dict[Capability, str] = {
    Capability.LAB_PROCESSES: "the lab's components, the schedulers' replicas included, are local processes "
                              "this suite may signal, restart and read logs of, on 127.0.0.1 ports",
    Capability.RESTART_APISERVER: "the lab's API server is a local process it can restart",
    Capability.FAULT_PROXY: "a loopback proxy can sit in front of the lab's API server",
    Capability.KWOK_NODES: "nodes can be added freely as kwok nodes, which report lab.yaml's capacity exactly",
    Capability.PARITY_ORACLE: "the lab's own kube-scheduler v1.29.15 binary can be run here against kwok node sets",
    Capability.WORKSHOP_OUTPUTS_CHECKED: "the workshop's expected outputs have been checked on it",
    Capability.LOOPBACK_ADDRESSES: "every node and pod address is on 127.0.0.0/8",
    Capability.SPEC_NODE_NAMES: "the nodes carry lab.yaml's names",
    Capability.PINNED_PATCH_VERSION: "the API server is exactly the pinned Kubernetes patch release",
    Capability.RESERVED_ALLOCATABLE: "kubelets reserve the machine's rest, so allocatable equals lab.yaml's capacity",
}

_LOCAL_ONLY = frozenset({
    Capability.LAB_PROCESSES, Capability.RESTART_APISERVER, Capability.FAULT_PROXY, Capability.KWOK_NODES,
    Capability.PARITY_ORACLE, Capability.LOOPBACK_ADDRESSES,
})

CAPABILITIES: dict[str, frozenset[Capability]] = {
    "local": _LOCAL_ONLY | {Capability.WORKSHOP_OUTPUTS_CHECKED, Capability.SPEC_NODE_NAMES,
                            Capability.PINNED_PATCH_VERSION},
    "kind": frozenset({Capability.WORKSHOP_OUTPUTS_CHECKED, Capability.RESERVED_ALLOCATABLE}),
    "vagrant": frozenset({Capability.SPEC_NODE_NAMES, Capability.PINNED_PATCH_VERSION}),
    "vagrant-containers": frozenset({Capability.SPEC_NODE_NAMES, Capability.PINNED_PATCH_VERSION}),
    # A cluster someone else made: only what the lab checks of it (lab.yaml's node names).
    "existing": frozenset({Capability.SPEC_NODE_NAMES}),
}


def capabilities(provider: str) -> frozenset[Capability]:
    """What ``provider``'s lab can do (KeyError for a name not in PROVIDERS)."""
    return CAPABILITIES[provider]


def lacking(provider: str, *needed: Capability | str) -> str | None:
    """Why ``provider`` cannot serve ``needed`` (the first missing capability), or None when it can.

    The text names the capability, what it means and the provider, e.g. "needs restart_apiserver
    (the lab's API server is a local process it can restart): provider kind lacks it".
    """
    have = capabilities(provider)
    for name in needed:
        cap = Capability(name)
        if cap not in have:
            return f"needs {cap.value} ({cap.meaning}): provider {provider} lacks it"
    return None


def recorded_provider(workdir: Path) -> str:
    """The provider the last `lab up` in this workdir used (local when none)."""
    try:
        return json.loads((workdir / "provider.json").read_text())["provider"]
    except (OSError, ValueError, KeyError, TypeError):
        return "local"


def record_provider(workdir: Path, name: str) -> None:
    """Note which provider `lab up` used in ``workdir`` (read back by ``recorded_provider``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "provider.json").write_text(json.dumps({"provider": name}) + "\n")
