"""A Docker engine for the kind lab: the machine's own when it works, else one the project starts
inside a network namespace of its own.

Where Docker already runs (a laptop, a CI runner) it is used as it is and nothing here changes it.
Where it does not, :meth:`DockerEngine.start` installs Debian's ``docker.io`` (apt, if dockerd is
missing), creates the lab's namespace and starts dockerd in it with
``nsenter --net=/run/netns/<name>`` (``ip netns exec`` would remount /sys and lose the cgroup
mounts dockerd needs). Docker's bridges and the kind network's private addresses then exist only
inside that namespace: nothing links it to the host's network (no veth, NAT or route), so kind,
kubectl and the e2e suite run inside it too (:meth:`DockerEngine.wrap`).

Every name this creates on the host derives from the lab directory (:func:`lab_id`): the
namespaces, the data root (one per lab: two dockerds must never share one), the exec root and
socket (under the lab directory). Two checkouts' kind labs therefore run side by side, and one's
`lab down` never touches the other's. The data root the dockerd was started with is recorded
(``data-root.json``) and is what `lab down --wipe` deletes (:meth:`DockerEngine.remove_data_root`).
The dockerd is recorded with its process start time and is signalled only while that PID still
is that dockerd (:func:`owned_dockerd`).

Host quirks, applied only where detected (``quirks()``):

* the capability bounding set lacks CAP_SYS_RESOURCE: runc cannot grant the capabilities a
  ``--privileged`` kind node asks for, so dockerd's default runtime is a runc wrapper that drops
  that one capability from each container's config (and the node's containerd gets
  ``restrict_oom_score_adj = true``: without the capability no one may lower oom_score_adj);
* the host has no /lib/modules, which kind bind-mounts read-only into every node: a ``docker``
  shim first on kind's PATH points that mount at an empty directory of the project's.

Why this stays one module of about 500 lines: the ``DockerEngine`` and the names, records and host
checks only it uses (lab ids, data roots, the owned dockerd, quirks) describe one namespace and one
dockerd; apart, each would need the others to mean anything.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import psutil
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from lab.host.procs import OwnedProcess

# The one name before names were derived from the lab directory (a record written then names
# it, and the recorded name is what `down` removes); HOST_NETNS_REF's fallback still uses it.
NETNS = "scheduler-lab"
HOST_NETNS = f"{NETNS}-host"
# The host's namespace as named by the lab this process runs for: engine.env() exports it to
# everything run inside the lab's namespace (kind, kubectl, `lab exec`, the e2e suite), so
# e2e/hostnet.py can read the host's addresses from in there.
HOST_NETNS_ENV = "LAB_HOST_NETNS_REF"
HOST_NETNS_REF = os.environ.get(HOST_NETNS_ENV, f"/run/netns/{HOST_NETNS}")
CAP_SYS_RESOURCE = 24
LAB_ID_PREFIX = "scheduler-lab"
# kind: a cluster name of at most 50 characters ([a-z0-9.-]); its node containers are named
# <cluster>-control-plane (hostnames: 63). Kept well below both.
LAB_ID_MAX = 40
# sun_path is 108 bytes; dockerd's containerd socket is <exec-root>/containerd/containerd.sock.ttrpc.
_SOCKET_MAX = 100
_RUNTIME_SUFFIX = "exec/containerd/containerd.sock.ttrpc"

RUNC_WRAPPER = r"""#!/bin/sh
# runc without CAP_SYS_RESOURCE: this host's bounding set lacks it, so runc fails to grant it to
# --privileged containers ("unable to apply caps"). Written by lab/host/docker_netns.py.
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
# Written by lab/host/docker_netns.py; everything else goes to the real docker client unchanged.
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


def lab_id(workdir: Path, prefix: str = LAB_ID_PREFIX) -> str:
    """The lab's name on this host, from its directory: ``<prefix>-<checkout>-<8 hex>``.

    The hex is a hash of the resolved directory (stable for one directory, distinct for two);
    ``<checkout>`` (the directory holding ``.lab``, made a DNS label) only helps a person read
    `ip netns list` or `kind get clusters`. At most LAB_ID_MAX characters of [a-z0-9-]: valid as a
    network namespace, a kind cluster (its containers <id>-control-plane) and a container name.
    ``prefix`` (a DNS label well under LAB_ID_MAX) names what a provider other than kind runs
    for the same directory (``scheduler-lab-vagrant``), so the two never share a name."""
    path = Path(workdir).resolve()
    digest = hashlib.sha256(os.fsencode(str(path))).hexdigest()[:8]
    readable = path.parent.name if path.name == ".lab" else path.name
    room = max(LAB_ID_MAX - len(prefix) - len(digest) - 2, 0)
    slug = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:room].strip("-")
    return "-".join(part for part in (prefix, slug, digest) if part)


def docker_data_parent() -> Path:
    """Where the labs' Docker data roots live: ~/.cache/scheduler-lab/docker-data."""
    from lab.build import cache_root

    return cache_root() / "docker-data"


def lab_data_root(workdir: Path) -> Path:
    """This lab's Docker data root: one per lab (two dockerds must never share one), kept in the
    cache across `lab down` so the next `up` finds its images (`lab down --wipe` deletes it,
    :meth:`DockerEngine.remove_data_root`); a fresh one loads the node image from the cached
    archive (lab/images/kindimage/nodeimage.py)."""
    return docker_data_parent() / lab_id(workdir)


def owned_dockerd(pid: int, create_time: float | None, socket: Path, *,
                  start: OwnedProcess | None = None) -> psutil.Process | None:
    """The recorded dockerd, only while ``pid`` still is it: an executable named dockerd serving
    this lab's socket and the process ``start`` records (same boot, same start in clock ticks after
    boot; procs.py), or for a record from before those were kept, started at ``create_time``.
    Anything else (gone, or the PID reused by another process) is None and must not be signalled."""
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if start is not None:
            if start.pid != pid or not start.is_same():
                return None
        elif create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            # Wall-clock create_time moves with a step of the system clock: only older records.
            return None
        exe = proc.exe().removesuffix(" (deleted)")  # an upgraded package leaves the old file unlinked
        if Path(exe).name != "dockerd" or f"--host=unix://{socket}" not in proc.cmdline():
            return None
        return proc
    except (psutil.Error, OSError):
        return None


class DockerEngine:
    """The Docker the kind lab uses. ``state`` (.lab/docker) records a project-started dockerd."""

    def __init__(self, state: Path, data_root: Path, netns: str = NETNS) -> None:
        self.state = state
        self.data_root = data_root
        self.netns = netns
        self.host_netns = f"{netns}-host"
        # Sockets live under the lab directory, unless its path is too long for a socket address.
        self.runtime = state if len(str(state / _RUNTIME_SUFFIX)) <= _SOCKET_MAX else Path("/run") / netns
        self.socket = self.runtime / "docker.sock"
        self.exec_root = self.runtime / "exec"
        self.pidfile = state / "dockerd.pid"
        self.bin_dir = state / "bin"
        self.record = state / "engine.json"
        # Which data root this lab's dockerd was started with: kept after `down` (engine.json is
        # not), so `down --wipe` deletes exactly that directory and nothing else.
        self.data_root_record = state / "data-root.json"

    # -- which engine ----------------------------------------------------------------------------
    @property
    def managed(self) -> bool:
        """True when `start` started dockerd (the state file says so)."""
        return self.record.exists()

    def recorded(self) -> dict:
        """What `start` recorded ({} when nothing, or when the file is unreadable)."""
        try:
            data = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _netns(self) -> str:
        # A recorded lab keeps the namespace it was started in (also one named before lab_id()).
        return str(self.recorded().get("netns") or self.netns) if self.managed else self.netns

    def netns_path(self) -> Path:
        return Path("/run/netns") / self._netns()

    def host_netns_path(self) -> Path:
        return Path("/run/netns") / str(self.recorded().get("host_netns") or f"{self._netns()}-host")

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for docker/kind: the project's socket and docker shim, when managed."""
        env = dict(os.environ if base is None else base)
        if self.managed:
            # The socket `start` recorded (a lab started before names were derived has another).
            env["DOCKER_HOST"] = f"unix://{self.recorded().get('socket') or self.socket}"
            env["PATH"] = f"{self.bin_dir}:{env.get('PATH', '')}"
            env[HOST_NETNS_ENV] = str(self.host_netns_path())
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
    def ensure(self, say: Callable[[str], None] = print, *, machine_docker: bool = True) -> bool:
        """Use a working Docker as it is; else start the project's dockerd in its namespace.
        ``machine_docker=False``: never the machine's own Docker, always the project's (whose
        networks then exist only in its namespace). True when this call started it (the
        caller's to undo if what follows fails)."""
        if self.managed and self.usable():
            return False
        if machine_docker and not self.managed and self.usable(dict(os.environ)):
            return False
        if self.managed:
            self.stop(say)  # a record left by a dockerd that is gone: clear it, start afresh
        self.start(say)
        return True

    def start(self, say: Callable[[str], None] = print) -> None:
        if os.geteuid() != 0:
            raise EngineError("Docker is not running and starting it needs root: start Docker (or run "
                              "`sudo python -m lab up --provider kind`, which starts dockerd in a network namespace)")
        dockerd = shutil.which("dockerd") or self._install(say)
        self.state.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.bin_dir.mkdir(exist_ok=True)
        found = quirks()
        args = [dockerd, f"--host=unix://{self.socket}", f"--pidfile={self.pidfile}",
                f"--data-root={self.data_root}", f"--exec-root={self.exec_root}",
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
        created: list[str] = []  # namespaces this call made: a failed start removes them again
        proc: subprocess.Popen[bytes] | None = None
        try:
            if not self.netns_path().exists():
                subprocess.run(["ip", "netns", "add", self.netns], check=True)
                created.append(self.netns)
            subprocess.run(["nsenter", f"--net={self.netns_path()}", "ip", "link", "set", "lo", "up"], check=True)
            if not (Path("/run/netns") / self.host_netns).exists() and not self.inside():
                subprocess.run(["ip", "netns", "attach", self.host_netns, str(os.getpid())], check=True)
                created.append(self.host_netns)
            # Recorded before it is made: the lab never leaves a data root it has no record of.
            self.data_root_record.write_text(json.dumps({"data_root": str(self.data_root.absolute())}) + "\n")
            self.data_root.mkdir(parents=True, exist_ok=True)
            say(f"starting dockerd in network namespace {self.netns} (log: {self.state / 'dockerd.log'})")
            with open(self.state / "dockerd.log", "a") as log:
                proc = subprocess.Popen(["nsenter", f"--net={self.netns_path()}", *args], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            # nsenter execs dockerd: same PID, same start time; recorded before anything can fail.
            try:
                owned = OwnedProcess.of(proc.pid)
            except psutil.Error:
                raise EngineError(f"dockerd exited at once; see {self.state / 'dockerd.log'}") from None
            self.record.write_text(json.dumps({
                "netns": self.netns, "host_netns": self.host_netns, **asdict(owned), "socket": str(self.socket),
                "data_root": str(self.data_root), "quirks": found.__dict__}) + "\n")
            self._wait_until_usable(proc)
        except BaseException:
            self._undo_start(proc, created)
            raise

    def _wait_until_usable(self, proc: subprocess.Popen[bytes]) -> None:
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

    def _undo_start(self, proc: subprocess.Popen[bytes] | None, created: list[str]) -> None:
        """A start that failed: stop the dockerd it launched (its own child) and remove the
        namespaces it created, so a failed `up` leaves nothing running."""
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        for ns in created:
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
        self.record.unlink(missing_ok=True)

    def _install(self, say: Callable[[str], None]) -> str:
        if shutil.which("apt-get") is None:
            raise EngineError("Docker is not installed and apt-get is not available: install Docker Engine")
        say("installing Debian's docker.io (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
        # policy-rc.d 101: the package must not start dockerd on the host's network now. Its postinst
        # also enables docker.service, docker.socket and containerd.service, which would start them at
        # the next boot: the units this install enabled (not enabled before it) are disabled again below.
        before = {unit: _unit_state(unit) for unit in DOCKER_UNITS}
        policy = POLICY_RC_D
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
            enabled_now = [u for u in DOCKER_UNITS if before[u] != "enabled" and _unit_state(u) == "enabled"]
            if enabled_now:
                subprocess.run(["systemctl", "disable", "--quiet", *enabled_now], check=False, capture_output=True)
                say(f"disabled {', '.join(enabled_now)} (enabled by the docker.io package): the lab starts "
                    "its own dockerd, Docker does not start at boot")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineError("docker.io installed but dockerd is not on PATH")
        return dockerd

    def stop(self, say: Callable[[str], None] = print) -> list[str]:
        """Stop the dockerd this lab recorded and remove the namespaces it recorded (nothing, for a
        machine's own Docker). A recorded PID that is no longer that dockerd is never signalled;
        its record is just removed. Returns what is left (empty: everything recorded is gone)."""
        if not self.managed:
            return []
        record = self.recorded()
        if record.get("data_root") and not self.data_root_record.exists():
            # A dockerd started before data-root.json existed: its engine.json names the data root.
            self.data_root_record.write_text(json.dumps({"data_root": str(record["data_root"])}) + "\n")
        pid = int(record.get("pid") or 0)
        created = record.get("create_time")
        socket = Path(record.get("socket") or self.socket)
        start = OwnedProcess.from_record(record) if record.get("boot_id") else None
        if record.get("boot_id") and (start is None or start.pid != pid):
            pid = 0  # not what up wrote: nothing can be proved to be its dockerd
        proc = owned_dockerd(pid, float(created) if created is not None else None, socket, start=start)
        if proc is None and pid:
            say(f"dockerd (pid {pid}) of this lab is not running any more: nothing to stop")
        left: list[str] = []
        if proc is not None:
            try:
                proc.terminate()  # psutil refuses to signal a PID reused since Process() was made
                try:
                    proc.wait(60)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(30)
            except psutil.NoSuchProcess:
                pass
            except psutil.TimeoutExpired:
                left.append(f"dockerd (pid {pid})")
        netns = str(record.get("netns") or self.netns)
        for ns in (netns, str(record.get("host_netns") or f"{netns}-host")):
            if (Path("/run/netns") / ns).exists():
                out = subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True, text=True)
                if out.returncode != 0:
                    left.append(f"network namespace {ns} ({out.stderr.strip()})")
        if not left:
            self.record.unlink(missing_ok=True)
        return left

    def remove_data_root(self, lab: str, say: Callable[[str], None] = print,
                         mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
        """`lab down --wipe`: delete the data root this lab's dockerd was started with (the path in
        data-root.json), once that dockerd is gone. Only ``<docker_data_parent()>/<lab>`` is ever
        deleted, and only while no process runs with it as its --data-root and nothing is mounted
        in it; anything else is refused (EngineError, one line) and left in place. Nothing
        recorded (a machine's own Docker, or a lab that never started dockerd): nothing touched.
        Returns the deleted directory, or None."""
        if self.managed:
            raise EngineError(f"refusing to delete this lab's Docker data root: its dockerd is still recorded "
                              f"as running ({self.record}); run `python -m lab down` first")
        try:
            recorded = json.loads(self.data_root_record.read_text())["data_root"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            raise EngineError(f"refusing to delete a Docker data root: {self.data_root_record} is unreadable") from None
        path, parent = Path(str(recorded)), docker_data_parent()
        if (not re.fullmatch(r"[a-z0-9][a-z0-9-]*", lab) or not path.is_absolute()
                or os.path.normpath(path) != str(path) or path.parent != parent or path.name != lab):
            raise EngineError(f"refusing to delete {path} (named in {self.data_root_record}): the lab deletes only "
                              f"its own data root {parent / lab}")
        if not os.path.lexists(path):
            self.data_root_record.unlink()
            return None
        if path.is_symlink() or not path.is_dir():
            raise EngineError(f"refusing to delete {path}: not a directory (a symlink or a file)")
        user = data_root_user(path)
        if user is not None:
            raise EngineError(f"refusing to delete {path}: process {user} runs with it as its Docker data root")
        mounted = mounts_under(path, mountinfo)
        if mounted:
            raise EngineError(f"refusing to delete {path}: {mounted[0]} is still mounted (umount it, then rerun)")
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise EngineError(f"could not delete {path}: {exc.strerror or exc}") from None
        self.data_root_record.unlink()
        say(f"removed this lab's Docker data root {path}")
        return path


def data_root_user(path: Path) -> str | None:
    """``<pid> (<name>)`` of a process started with ``--data-root <path>`` (a dockerd still using
    it), or None. Processes this user may not read are skipped (they cannot be this lab's)."""
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        argv = proc.info.get("cmdline") or []
        for i, arg in enumerate(argv):
            if arg.startswith("--data-root="):
                value = arg.split("=", 1)[1]
            elif arg == "--data-root" and i + 1 < len(argv):
                value = argv[i + 1]
            else:
                continue
            if value and Path(value) == path:
                return f"{proc.info['pid']} ({proc.info.get('name') or '?'})"
    return None


def mounts_under(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points at or below ``path`` (rmtree would descend into them)."""
    found = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if point == path or path in point.parents:
            found.append(str(point))
    return found


# Units Debian's docker.io and containerd packages enable in their postinst (seen: all three).
DOCKER_UNITS = ("docker.service", "docker.socket", "containerd.service")
# apt's hook: exit 101 = "do not start services now" (a module constant so tests can redirect it).
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def _unit_state(unit: str) -> str:
    """`systemctl is-enabled` of a unit ("" where there is no systemctl or no such unit)."""
    if shutil.which("systemctl") is None:
        return ""
    out = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def engine_for(workdir: Path) -> DockerEngine:
    """The engine of the lab in ``workdir``: its namespace, data root and sockets are its own."""
    return DockerEngine(workdir / "docker", lab_data_root(workdir), netns=lab_id(workdir))
