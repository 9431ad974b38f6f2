"""The pod status podrunner writes back, built from what it knows of each container (pure)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    name: str
    image: str
    restart_count: int = 0
    running_since: str = ""        # RFC 3339, "" when not running
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    last_exit: dict = field(default_factory=dict)  # the terminated state of the previous run
    started: bool = False          # startup probe passed (or none)
    ready: bool = False            # readiness probe passed (or none)

    def to_api(self) -> dict:
        if self.running_since:
            state: dict = {"running": {"startedAt": self.running_since}}
        else:
            waiting = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        out = {"name": self.name, "image": self.image, "imageID": "", "restartCount": self.restart_count,
               "started": bool(self.running_since) and self.started, "ready": bool(self.running_since) and self.ready,
               "state": state, "lastState": {"terminated": self.last_exit} if self.last_exit else {}}
        return out


def conditions(initialized: bool, containers: list[Container], since: dict[str, str]) -> list[dict]:
    ready = bool(containers) and all(c.running_since and c.ready for c in containers)
    values = {"Initialized": initialized, "Ready": ready, "ContainersReady": ready, "PodScheduled": True}
    return [{"type": t, "status": "True" if v else "False", "lastProbeTime": None,
             "lastTransitionTime": since.get(f"{t}={v}", now())} for t, v in values.items()]


def pod_status(*, host_ip: str, pod_ip: str, start_time: str, initialized: bool, containers: list[Container],
               since: dict[str, str]) -> dict:
    running = any(c.running_since for c in containers)
    return {
        "phase": "Running" if running or any(c.restart_count for c in containers) else "Pending",
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip if initialized else None, "podIPs": [{"ip": pod_ip}] if initialized else None,
        "startTime": start_time, "qosClass": "Burstable",
        "conditions": conditions(initialized, containers, since),
        "containerStatuses": [c.to_api() for c in containers],
    }


def terminated(code: int, started: str) -> dict:
    return {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
            "finishedAt": now()}
