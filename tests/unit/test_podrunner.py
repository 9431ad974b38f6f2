"""The pure parts of podrunner: which images it runs, their commands, volume layout, status, back-off."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.podrunner import addresses, backoff, images
from lab.podrunner.status import Container, pod_status
from lab.podrunner.volumes import mounts_for

PROGRAMS = images.Programs(Path("/lab/bin/kube-scheduler"), Path("/venv/bin/python"))


def pod(*imgs: str, annotations: dict | None = None) -> dict:
    return {"metadata": {"annotations": annotations or {}},
            "spec": {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(imgs)]}}


@pytest.mark.parametrize(("image", "kind"), [
    ("registry.k8s.io/kube-scheduler:v1.29.15", "kube-scheduler"),
    ("registry.k8s.io/kube-scheduler:v1.30.0", None),
    ("scheduler-lab/py-scheduler:0.1.0", "py-scheduler"),
    ("py-scheduler", "py-scheduler"),
    ("localhost:5000/me/py-scheduler:dev", "py-scheduler"),
    ("me/py-scheduler@sha256:abc", "py-scheduler"),
    ("me/py-scheduler-old:1", None),
    ("nginx:1.25", None),
])
def test_kind_of(image: str, kind: str | None) -> None:
    assert images.kind_of(image) == kind


SAMPLES = [pod("registry.k8s.io/kube-scheduler:v1.29.15"), pod("scheduler-lab/py-scheduler:0.1.0", "nginx"),
           pod("nginx"), pod("localhost:5000/py-scheduler:x"),
           pod("registry.k8s.io/kube-scheduler:v1.29.15", annotations={images.STANDS_FOR: "the process"})]


def test_runs_here() -> None:
    assert [images.runs_here(p) for p in SAMPLES] == [True, False, False, True, False]


@pytest.mark.skipif(shutil.which("jq") is None, reason="needs jq to evaluate kwok's selector query")
def test_kwok_query_says_what_runs_here_says() -> None:
    for sample in SAMPLES:
        out = subprocess.run(["jq", images.kwok_excluded_query()], input=json.dumps(sample), capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == json.dumps(images.runs_here(sample)), sample


def test_command_mapping() -> None:
    upstream = {"name": "s", "image": images.KUBE_SCHEDULER_IMAGE,
                "command": ["/usr/local/bin/kube-scheduler", "--config=/etc/x.yaml"]}
    assert images.command_for(upstream, PROGRAMS) == ["/lab/bin/kube-scheduler", "--config=/etc/x.yaml"]
    py = {"name": "p", "image": "a/py-scheduler:1", "args": ["--v=4"]}
    assert images.command_for(py, PROGRAMS) == ["/venv/bin/python", "-m", "scheduler", "--v=4"]
    with pytest.raises(images.ImageError, match="'/bin/sh' is not a program"):
        images.command_for({"name": "p", "image": "a/py-scheduler:1", "command": ["/bin/sh"]}, PROGRAMS)


def test_bind_to_the_pod_ip() -> None:
    assert images.bind_to(["x", "--bind-address=0.0.0.0", "--v=5"], "127.3.0.7") == \
        ["x", "--v=5", "--bind-address=127.3.0.7"]
    assert images.bind_to(["x", "--bind-address", "0.0.0.0"], "127.3.0.7") == ["x", "--bind-address=127.3.0.7"]


def test_volume_layout() -> None:
    c = {"volumeMounts": [{"name": "config", "mountPath": "/etc/k", "readOnly": True},
                          {"name": "tmp", "mountPath": "/tmp"}]}
    m = mounts_for(c, Path("/p"))
    assert [(x.source, x.target, x.read_only) for x in m] == [
        ("/p/volumes/config", "/etc/k", True), ("/p/volumes/tmp", "/tmp", False)]


def test_backoff_doubles_to_five_minutes_and_resets() -> None:
    assert [backoff.delay(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.next_restarts(5, ran_for=5.0) == 6
    assert backoff.next_restarts(5, ran_for=601.0) == 1


def test_status_ready_only_when_every_container_is() -> None:
    ok = Container("a", "i", running_since="t", started=True, ready=True)
    waiting = Container("b", "i", restart_count=2, waiting_reason="CrashLoopBackOff")
    st = pod_status(host_ip="h", pod_ip="127.3.0.1", start_time="t", initialized=True, containers=[ok, waiting],
                    since={})
    cond = {c["type"]: c["status"] for c in st["conditions"]}
    assert cond == {"Initialized": "True", "Ready": "False", "ContainersReady": "False", "PodScheduled": "True"}
    assert st["phase"] == "Running" and st["podIP"] == "127.3.0.1"
    assert st["containerStatuses"][1]["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    creating = pod_status(host_ip="h", pod_ip="127.3.0.1", start_time="t", initialized=False,
                          containers=[Container("a", "i")], since={})
    assert creating["phase"] == "Pending" and creating["podIP"] is None


def test_addresses_are_distinct_and_stable() -> None:
    a = addresses.pick("uid-1", set())
    assert a == addresses.pick("uid-1", set()) and a.startswith("127.3.")
    assert addresses.pick("uid-1", {a}) != a


def test_log_runs_and_tail(tmp_path: Path) -> None:
    from lab.podrunner.logserver import _tail, runs

    logs = tmp_path / "kube-system_s-1_uid" / "logs" / "c"
    logs.mkdir(parents=True)
    for n in (0, 1, 10):
        (logs / f"{n}.log").write_text(f"run {n}\n")
    assert [p.name for p in runs(tmp_path, "kube-system", "s-1", "c")] == ["0.log", "1.log", "10.log"]
    assert runs(tmp_path, "kube-system", "s-2", "c") == []
    assert _tail(b"a\nb\nc\n", 2) == b"b\nc\n" and _tail(b"a\n", None) == b"a\n"


def test_a_mount_over_the_directory_holding_other_sources_comes_last() -> None:
    """The lab directory may be under /tmp (pytest's tmp_path): a pod's emptyDir at /tmp mounted
    first would hide the sources of the ConfigMap and token mounts after it."""
    from lab.podrunner.mountns import mount_order

    tmp = {"source": "/tmp/lab/pods/p/volumes/tmp", "target": "/tmp", "readOnly": False}
    config = {"source": "/tmp/lab/pods/p/volumes/config", "target": "/etc/kubernetes/s", "readOnly": True}
    token = {"source": "/tmp/lab/pods/p/volumes/token", "target": "/var/run/secrets/x", "readOnly": True}
    assert mount_order([tmp, config, token]) == [config, token, tmp]
    assert mount_order([config, token]) == [config, token]


class _Unreachable:
    """A CoreV1Api whose API server is down: urllib3 gives up with MaxRetryError."""

    def __getattr__(self, name: str):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        def call(*args, **kwargs):
            raise MaxRetryError(None, "/api/v1/pods", NewConnectionError(None, "Connection refused"))
        return call


def test_an_unreachable_api_server_is_a_failed_pass_not_a_crash(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Caught in CI: the API server restarted, podrunner died of MaxRetryError, and its restart
    # stopped every scheduler container. A kubelet keeps its containers through an outage.
    from lab.podrunner.kubelet import Kubelet

    kubelet = Kubelet(_Unreachable(), tmp_path, {"worker-node01": "127.0.10.11"}, None, 6443)  # type: ignore[arg-type]
    assert kubelet._sync_once() is False
    assert "the API server cannot be reached (MaxRetryError)" in capsys.readouterr().out


def test_a_pod_deletion_met_by_an_outage_is_tried_again(tmp_path: Path) -> None:
    from lab.podrunner.kubelet import Kubelet, PodRun

    kubelet = Kubelet(_Unreachable(), tmp_path, {"worker-node01": "127.0.10.11"}, None, 6443)  # type: ignore[arg-type]
    run = PodRun("uid-1", "default", "p", "127.1.0.2", tmp_path / "pods" / "p", stopping=True)
    run.directory.mkdir(parents=True)
    kubelet.pods[run.uid] = run
    kubelet._stop(run, grace=0, delete=True)
    assert run.stopping is False and kubelet.pods.get("uid-1") is run and run.directory.is_dir()
