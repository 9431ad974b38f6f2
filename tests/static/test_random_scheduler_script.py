"""scripts/random-scheduler.sh against a fake `kubectl proxy` (tests/static/fake_kubectl.py): the
real script, the real curl and jq, an in-memory API on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from tests.static.conftest import REPO, free_port, python_tool, tool_env, write_tool

SCRIPT = REPO / "scripts" / "random-scheduler.sh"
FAKE = Path(__file__).with_name("fake_kubectl.py")

pytestmark = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                                reason="random-scheduler.sh needs curl and jq, not installed here")


def node(name: str, *, taint: str | None = None, cordoned: bool = False) -> dict:
    spec: dict = {}
    if taint:
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": taint}]
    if cordoned:
        spec["unschedulable"] = True
    return {"metadata": {"name": name}, "spec": spec}


def pod(ns: str, name: str, scheduler: str, node_name: str = "", phase: str = "Pending") -> dict:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"schedulerName": scheduler, "nodeName": node_name}, "status": {"phase": phase}}


@pytest.fixture
def api(tmp_path: Path) -> dict:
    state = {
        "nodes": [node("master-node", taint="NoSchedule"), node("worker-node01"), node("worker-node02"),
                  node("worker-node03", cordoned=True)],
        "pods": [
            pod("lab-a", "nginx", "my-scheduler"),
            pod("lab-a", "nginx-2", "my-scheduler"),
            pod("lab-a", "other", "default-scheduler"),          # another scheduler's pod
            pod("lab-a", "bound", "my-scheduler", "worker-node01", "Running"),
            pod("lab-b", "nginx", "my-scheduler"),               # another namespace
        ],
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = python_tool(bin_dir, "kubectl", FAKE)
    port = free_port()
    env = tool_env(bin_dir, system=True, KUBECTL=str(kubectl), PROXY_PORT=str(port),
                   FAKE_API_STATE=str(tmp_path / "state.json"), FAKE_API_LOG=str(tmp_path / "api.log"))
    return {"env": env, "log": tmp_path / "api.log", "port": port}


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def proxy_pid(log: Path) -> int:
    return next(e["proxy"]["pid"] for e in read_log(log) if "proxy" in e)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@retry(stop=stop_after_delay(10), wait=wait_fixed(0.1), retry=retry_if_result(lambda gone: not gone),
       retry_error_callback=lambda state: state.outcome.result())
def gone_within_deadline(pid: int) -> bool:
    return not alive(pid)


def test_once_binds_only_its_own_pending_pods_in_its_namespace(api: dict) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "-n", "lab-a", "--once"], env=api["env"], text=True,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assigned = sorted(line for line in proc.stdout.splitlines() if line.startswith("Assigned "))
    assert [a.split(" to ")[0] for a in assigned] == ["Assigned lab-a/nginx", "Assigned lab-a/nginx-2"]
    # Only schedulable nodes: not the NoSchedule-tainted master, not the cordoned worker.
    assert {a.split(" to ")[1] for a in assigned} <= {"worker-node01", "worker-node02"}
    log = read_log(api["log"])
    bound = {e["bound"]: e["node"] for e in log if "bound" in e}
    assert set(bound) == {"lab-a/nginx", "lab-a/nginx-2"}
    posts = [e for e in log if e.get("method") == "POST"]
    assert all(p["contentType"] == "application/json" and p["body"]["kind"] == "Binding" for p in posts)
    assert all(p["path"].endswith("/binding") for p in posts)
    # The proxy listened on loopback, on the port from PROXY_PORT, and is gone afterwards.
    proxy = next(e["proxy"] for e in log if "proxy" in e)
    assert proxy["address"] == "127.0.0.1" and proxy["port"] == api["port"]
    assert gone_within_deadline(proxy["pid"]), "kubectl proxy outlived the script"


def test_all_namespaces_flag(api: dict) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "-A", "--once"], env=api["env"], text=True,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    bound = {e["bound"] for e in read_log(api["log"]) if "bound" in e}
    assert bound == {"lab-a/nginx", "lab-a/nginx-2", "lab-b/nginx"}


def test_sigterm_stops_the_loop_and_its_proxy(api: dict) -> None:
    proc = subprocess.Popen(["bash", str(SCRIPT), "-n", "lab-b", "--interval", "1"], env=api["env"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()  # blocks until the first decision (or EOF if it died)
        assert first.startswith("Assigned lab-b/nginx to "), first + proc.stderr.read()
        pid = proxy_pid(api["log"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert gone_within_deadline(pid), "kubectl proxy outlived the script after SIGTERM"


def test_sigint_stops_cleanly_too(api: dict) -> None:
    # A shell ignores SIGINT for good if it starts with SIGINT ignored (as everything launched in
    # the background of a non-interactive shell does, e.g. a CI job): give the script the default.
    proc = subprocess.Popen(["bash", str(SCRIPT), "-n", "lab-a", "--interval", "1"], env=api["env"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().startswith("Assigned lab-a/")
        pid = proxy_pid(api["log"])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert gone_within_deadline(pid)


@pytest.mark.parametrize("args, env, message", [
    (["-n", "Bad_NS", "--once"], {}, "namespace 'Bad_NS' is not a valid namespace name"),
    (["--once"], {"PROXY_PORT": "70000"}, "port '70000' is not a TCP port"),
    (["--bogus"], {}, "unknown argument '--bogus'"),
])
def test_bad_input_is_one_line_and_exit_2(api: dict, args: list[str], env: dict, message: str) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), *args], env={**api["env"], **env}, text=True,
                          capture_output=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"random-scheduler: {message}"), proc.stderr
    assert not read_log(api["log"]), "nothing may start on bad input"


def test_no_command_substitution_for_a_signal_to_land_in() -> None:
    # bash 5.2 re-parses a $(...) when it expands it; a SIGINT trap that runs during that parse is
    # parsed inside it and fails ("interrupt trap: unexpected EOF while looking for matching `)'"),
    # so the script exited 2 instead of 0 when Ctrl-C landed there (seen under load in make test).
    code = [line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")]
    offenders = [line for line in code if "$(" in line.replace("$((", "")]
    assert offenders == [], offenders


def test_a_signal_during_a_request_leaves_stopping_as_the_last_line(api: dict, tmp_path: Path) -> None:
    """Seen on kind: SIGTERM landed while a pipeline's curl was talking to the proxy; the trap ran
    at once, the proxy went, and curl's "Empty reply from server" came after "stopping". Here a
    curl holds the pods request until the proxy is gone, then fails like the real one would."""
    bin_dir = Path(api["env"]["PATH"].split(os.pathsep)[0])
    held = tmp_path / "held"
    write_tool(bin_dir, "curl", f'''case "$*" in
  *fieldSelector*)
    touch "{held}"
    for _ in $(seq 200); do /usr/bin/curl -fsS -o /dev/null "http://127.0.0.1:{api["port"]}/version" 2>/dev/null || break; sleep 0.05; done
    echo "curl: (52) Empty reply from server" >&2
    exit 52;;
esac
exec /usr/bin/curl "$@"
''')
    proc = subprocess.Popen(["bash", str(SCRIPT), "-n", "lab-b", "--interval", "1"], env=api["env"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        @retry(stop=stop_after_delay(15), wait=wait_fixed(0.05), retry=retry_if_result(lambda held: not held),
               retry_error_callback=lambda state: state.outcome.result())
        def request_held() -> bool:
            return held.exists()

        assert request_held(), "the script never asked for the pending pods"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        _, err = proc.communicate(timeout=15)  # EOF once every writer to the pipe (curl too) is gone
    finally:
        if proc.poll() is None:
            proc.kill()
    assert err.splitlines()[-1] == "random-scheduler: stopping", err
