"""A Docker engine for the kind lab: the machine's own when it works, else one the project starts
inside a network namespace of its own.

Where Docker already runs (a laptop, a CI runner) it is used as it is and nothing here changes it.
Where it does not, :meth:`DockerEngine.start` installs Debian's ``docker.io`` (apt, if dockerd is
missing), creates the namespace ``scheduler-lab`` and starts dockerd in it with
``nsenter --net=/run/netns/<name>`` (``ip netns exec`` would remount /sys and lose the cgroup
mounts dockerd needs). Docker's bridges and the kind network's private addresses then exist only
inside that namespace: nothing links it to the host's network (no veth, NAT or route), so kind,
kubectl and the e2e suite run inside it too (:meth:`DockerEngine.wrap`).

Host quirks, applied only where detected (``quirks()``):

* the capability bounding set lacks CAP_SYS_RESOURCE: runc cannot grant the capabilities a
  ``--privileged`` kind node asks for, so dockerd's default runtime is a runc wrapper that drops
  that one capability from each container's config (and the node's containerd gets
  ``restrict_oom_score_adj = true``: without the capability no one may lower oom_score_adj);
* the host has no /lib/modules, which kind bind-mounts read-only into every node: a ``docker``
  shim first on kind's PATH points that mount at an empty directory of the project's.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

NETNS = "scheduler-lab"
# A name for the host's own namespace, so tests running inside the lab's can read the host's
# addresses (`ip netns attach`: a bind mount of a namespace reference, no network link).
HOST_NETNS = f"{NETNS}-host"
HOST_NETNS_REF = f"/run/netns/{HOST_NETNS}"
CAP_SYS_RESOURCE = 24

RUNC_WRAPPER = r"""#!/bin/sh
# runc without CAP_SYS_RESOURCE: this host's bounding set lacks it, so runc fails to grant it to
# --privileged containers ("unable to apply caps"). Written by lab/docker_netns.py.
for a in "$@"; do
  case "$prev" in
    --bundle|-b) b="$a/config.json"; [ -f "$b" ] && jq '.process.capabilities |= with_entries(.value |= map(select(. != "CAP_SYS_RESOURCE")))' "$b" > "$b.nosr" && mv "$b.nosr" "$b" ;;
    --process|-p) p="$a"; [ -f "$p" ] && jq '.capabilities |= with_entries(.value |= map(select(. != "CAP_SYS_RESOURCE")))' "$p" > "$p.nosr" && mv "$p.nosr" "$p" ;;
  esac
  prev="$a"
done
exec {runc} "$@"
"""

DOCKER_SHIM = r"""#!/bin/sh
# kind bind-mounts /lib/modules, which this host lacks: point it at an empty directory instead.
# Written by lab/docker_netns.py; everything else goes to the real docker client unchanged.
n=$#; i=0
while [ $i -lt $n ]; do
  a="$1"; shift; i=$((i+1))
  case "$a" in /lib/modules:*) a="{modules}:${{a#/lib/modules:}}" ;; esac
  set -- "$@" "$a"
done
exec {docker} "$@"
"""


class _NotYet(Exception):
    """Polled condition not reached yet."""


class EngineError(RuntimeError):
    """Docker could not be found or started; str() is one line saying what to do."""


@dataclass(frozen=True)
class Quirks:
    no_sys_resource: bool
    no_lib_modules: bool


def quirks(status: Path = Path("/proc/self/status"), modules: Path = Path("/lib/modules")) -> Quirks:
    """What this host needs worked around (nothing, on an ordinary laptop)."""
    cap_bnd = 0
    for line in status.read_text().splitlines():
        if line.startswith("CapBnd:"):
            cap_bnd = int(line.split()[1], 16)
    return Quirks(no_sys_resource=not cap_bnd & (1 << CAP_SYS_RESOURCE),
                  no_lib_modules=not modules.is_dir())


class DockerEngine:
    """The Docker the kind lab uses. ``state`` (.lab/docker) records a project-started dockerd."""

    def __init__(self, state: Path, data_root: Path, netns: str = NETNS) -> None:
        self.state = state
        self.data_root = data_root
        self.netns = netns
        self.socket = state / "docker.sock"
        self.pidfile = state / "dockerd.pid"
        self.bin_dir = state / "bin"
        self.record = state / "engine.json"

    # -- which engine ----------------------------------------------------------------------------
    @property
    def managed(self) -> bool:
        """True when `start` started dockerd (the state file says so)."""
        return self.record.exists()

    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for docker/kind: the project's socket and docker shim, when managed."""
        env = dict(os.environ if base is None else base)
        if self.managed:
            env["DOCKER_HOST"] = f"unix://{self.socket}"
            env["PATH"] = f"{self.bin_dir}:{env.get('PATH', '')}"
        return env

    def inside(self) -> bool:
        """True when this process already runs in the engine's network namespace."""
        try:
            return os.stat("/proc/self/ns/net").st_ino == os.stat(self.netns_path()).st_ino
        except OSError:
            return False

    def wrap(self, argv: list[str]) -> list[str]:
        """argv to run inside the engine's network (kind's API ports live there), when managed."""
        if not self.managed or self.inside():
            return argv
        return ["nsenter", f"--net={self.netns_path()}", *argv]

    def usable(self, env: dict[str, str] | None = None) -> bool:
        docker = shutil.which("docker")
        if docker is None:
            return False
        proc = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              env=env if env is not None else self.env(), timeout=60)
        return proc.returncode == 0 and proc.stdout.strip() != ""

    # -- start / stop ----------------------------------------------------------------------------
    def ensure(self, say=print) -> None:
        """Use a working Docker as it is; else start the project's dockerd in its namespace."""
        if self.managed and self.usable():
            return
        if not self.managed and self.usable(dict(os.environ)):
            return
        self.start(say)

    def start(self, say=print) -> None:
        if os.geteuid() != 0:
            raise EngineError("Docker is not running and starting it needs root: start Docker (or run "
                              "`sudo python -m lab up --provider kind`, which starts dockerd in a network namespace)")
        dockerd = shutil.which("dockerd") or self._install(say)
        self.state.mkdir(parents=True, exist_ok=True)
        self.bin_dir.mkdir(exist_ok=True)
        found = quirks()
        args = [dockerd, f"--host=unix://{self.socket}", f"--pidfile={self.pidfile}",
                f"--data-root={self.data_root}", f"--exec-root={self.state / 'exec'}",
                "--iptables=true", "--ip-masq=true"]
        if found.no_sys_resource:
            runc = shutil.which("runc")
            if runc is None or shutil.which("jq") is None:
                raise EngineError("this host lacks CAP_SYS_RESOURCE; the runc wrapper needs runc and jq "
                                  "(apt-get install runc jq)")
            wrapper = self.bin_dir / "runc-nosr"
            wrapper.write_text(RUNC_WRAPPER.replace("{runc}", runc))
            wrapper.chmod(0o755)
            args += [f"--add-runtime=runc-nosr={wrapper}", "--default-runtime=runc-nosr"]
        shim = self.bin_dir / "docker"
        if found.no_lib_modules:
            modules = self.state / "modules"
            modules.mkdir(exist_ok=True)
            shim.write_text(DOCKER_SHIM.format(modules=modules, docker=shutil.which("docker") or "docker"))
            shim.chmod(0o755)
        else:
            shim.unlink(missing_ok=True)
        if not self.netns_path().exists():
            subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["nsenter", f"--net={self.netns_path()}", "ip", "link", "set", "lo", "up"], check=True)
        if not Path(HOST_NETNS_REF).exists() and not self.inside():
            subprocess.run(["ip", "netns", "attach", HOST_NETNS, str(os.getpid())], check=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        log = open(self.state / "dockerd.log", "a")
        say(f"starting dockerd in network namespace {self.netns} (log: {self.state / 'dockerd.log'})")
        proc = subprocess.Popen(["nsenter", f"--net={self.netns_path()}", *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.record.write_text(json.dumps({"netns": self.netns, "pid": proc.pid, "quirks": found.__dict__}) + "\n")
        try:
            for attempt in Retrying(stop=stop_after_delay(90), wait=wait_fixed(1),
                                    retry=retry_if_exception_type(_NotYet), reraise=True):
                with attempt:
                    if proc.poll() is not None:
                        raise EngineError(f"dockerd exited with {proc.returncode}; see {self.state / 'dockerd.log'}")
                    if not self.usable():
                        raise _NotYet()
        except _NotYet:
            raise EngineError(f"dockerd did not answer within 90s; see {self.state / 'dockerd.log'}") from None

    def _install(self, say) -> str:
        if shutil.which("apt-get") is None:
            raise EngineError("Docker is not installed and apt-get is not available: install Docker Engine")
        say("installing Debian's docker.io (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
        # policy-rc.d 101: the package must not start dockerd on the host's network.
        policy = Path("/usr/sbin/policy-rc.d")
        placed = not policy.exists()
        if placed:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "docker.io", "iptables", "jq", "runc"],
                           check=True, env=env, capture_output=True)
        except subprocess.CalledProcessError as exc:
            raise EngineError(f"apt-get install docker.io failed: {exc.stderr.decode().strip().splitlines()[-1:]}"
                              ) from None
        finally:
            if placed:
                policy.unlink()
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineError("docker.io installed but dockerd is not on PATH")
        return dockerd

    def stop(self) -> None:
        """Stop the project's dockerd and remove its namespace (nothing, for a machine's own Docker)."""
        if not self.managed:
            return
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = json.loads(self.record.read_text()).get("pid", 0)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pid = 0
        if pid:
            try:
                for attempt in Retrying(stop=stop_after_delay(60), wait=wait_fixed(0.5), reraise=True):
                    with attempt:
                        if Path(f"/proc/{pid}").exists():
                            raise EngineError(f"dockerd (pid {pid}) still running")
            except EngineError:
                os.kill(pid, signal.SIGKILL)
        for ns in (self.netns, HOST_NETNS):
            if (Path("/run/netns") / ns).exists():
                subprocess.run(["ip", "netns", "delete", ns], check=True)
        self.record.unlink(missing_ok=True)


def engine_for(workdir: Path) -> DockerEngine:
    """The engine of the lab in ``workdir``; its images persist in the cache across `lab down`."""
    from lab.build import cache_root

    return DockerEngine(workdir / "docker", cache_root() / "docker")
