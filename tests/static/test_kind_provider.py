"""KindProvider without Docker: prerequisites against fake tools on an isolated PATH, and `up` /
`down` driven through a recording fake runner (nothing is executed for real)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lab.host.docker_netns import lab_id
from lab.providers.base import ProviderError
from lab.providers.kind import KindProvider, py_scheduler_build_image
from lab.providers.kindconfig import kind_node_names
from tests.static.conftest import FakeRunner, tool_env, write_tool

DOCKER_OK = 'if [ "$1" = info ]; then echo 27.3.1; exit 0; fi\nexit 0\n'
DOCKER_DOWN = ('echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. '
               'Is the docker daemon running?" >&2\nexit 1\n')
KIND = 'echo "kind {version} go1.23.6 linux/amd64"\n'
KUBECTL = 'echo "Client Version: v1.29.15"\necho "Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3"\n'


@pytest.fixture
def sysctl(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    (root / "fs" / "inotify").mkdir(parents=True)
    (root / "fs" / "inotify" / "max_user_watches").write_text("524288\n")
    (root / "fs" / "inotify" / "max_user_instances").write_text("512\n")
    return root


def provider(spec, tmp_path: Path, sysctl: Path, **tools: str) -> KindProvider:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, script in tools.items():
        write_tool(bin_dir, name, script)
    return KindProvider(spec, tmp_path / "lab", env=tool_env(bin_dir), sysctl_root=sysctl,
                        say=lambda _: None)


def one_line_error(call) -> str:
    with pytest.raises(ProviderError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith("kind provider: ")
    return message


def test_no_docker(spec, tmp_path, sysctl) -> None:
    message = one_line_error(provider(spec, tmp_path, sysctl).check_prerequisites)
    assert "docker not found on PATH" in message and "install Docker" in message


def test_docker_daemon_unreachable(spec, tmp_path, sysctl) -> None:
    message = one_line_error(provider(spec, tmp_path, sysctl, docker=DOCKER_DOWN).check_prerequisites)
    assert "Docker daemon is not reachable" in message and "Cannot connect" in message


def test_no_kind(spec, tmp_path, sysctl) -> None:
    message = one_line_error(provider(spec, tmp_path, sysctl, docker=DOCKER_OK).check_prerequisites)
    assert "kind not found" in message and spec.versions.kind in message


def test_wrong_kind_version(spec, tmp_path, sysctl) -> None:
    p = provider(spec, tmp_path, sysctl, docker=DOCKER_OK, kind=KIND.format(version="v0.17.0"))
    message = one_line_error(p.check_prerequisites)
    assert "kind v0.17.0" in message and f"pins {spec.versions.kind}" in message


def test_no_kubectl(spec, tmp_path, sysctl) -> None:
    p = provider(spec, tmp_path, sysctl, docker=DOCKER_OK, kind=KIND.format(version=spec.versions.kind))
    assert "kubectl not found" in one_line_error(p.check_prerequisites)


def test_low_inotify_limits(spec, tmp_path, sysctl) -> None:
    (sysctl / "fs" / "inotify" / "max_user_watches").write_text("8192\n")
    p = provider(spec, tmp_path, sysctl, docker=DOCKER_OK, kind=KIND.format(version=spec.versions.kind),
                 kubectl=KUBECTL)
    message = one_line_error(p.check_prerequisites)
    assert "fs.inotify.max_user_watches is 8192" in message and "sudo sysctl fs.inotify.max_user_watches=524288" \
        in message


def test_all_prerequisites_met(spec, tmp_path, sysctl, capsys) -> None:
    p = provider(spec, tmp_path, sysctl, docker=DOCKER_OK, kind=KIND.format(version=spec.versions.kind),
                 kubectl=KUBECTL)
    p.check_prerequisites()
    assert "warning" not in capsys.readouterr().err


def test_kubectl_skew_is_a_warning(spec, tmp_path, sysctl, capsys) -> None:
    p = provider(spec, tmp_path, sysctl, docker=DOCKER_OK, kind=KIND.format(version=spec.versions.kind),
                 kubectl='echo "Client Version: v1.33.1"\n')
    p.check_prerequisites()
    assert "warning: kubectl v1.33" in capsys.readouterr().err


def test_on_this_machine_without_a_docker_daemon(spec, tmp_path) -> None:
    """No fakes: the real PATH and the real /proc. Where Docker works this says nothing."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0:
        pytest.skip("a Docker daemon is reachable on this machine, so the missing-Docker path cannot be shown")
    message = one_line_error(KindProvider(spec, tmp_path).check_prerequisites)
    assert "docker not found" in message or "Docker daemon is not reachable" in message


# -- up / down through a recording runner ---------------------------------------------------------
def kind_provider(spec, tmp_path: Path, runner: FakeRunner) -> KindProvider:
    return KindProvider(spec, tmp_path / "lab", env={"PATH": str(tmp_path / "nothing")}, runner=runner,
                        say=lambda _: None)


def inspect_output(p: KindProvider, image: str) -> str:
    return "".join(f"/{n} {image}\n" for n in kind_node_names(p.spec, p.cluster_name).values())


def test_up_creates_a_fresh_cluster(spec, tmp_path: Path) -> None:
    runner = FakeRunner({("get", "clusters"): (0, "some-other-cluster\n")})
    p = kind_provider(spec, tmp_path, runner)
    assert p.up() == tmp_path / "lab" / "kubeconfig"
    assert runner.calls[0] == ["kind", "get", "clusters"]
    assert runner.calls[1:] == p.plan().commands
    assert (tmp_path / "lab" / "kind-config.yaml").read_text() == p.plan().config_yaml
    assert p.plan().config["name"] == p.cluster_name == lab_id(tmp_path / "lab")
    assert p.cluster_record.exists(), "a created cluster is recorded for `down`"


def test_up_reuses_a_matching_cluster(spec, tmp_path: Path) -> None:
    p = kind_provider(spec, tmp_path, FakeRunner({}))
    nodes = "\n".join(kind_node_names(spec, p.cluster_name).values())
    p.run = runner = FakeRunner({("get", "clusters"): (0, f"{p.cluster_name}\n"), ("get", "nodes"): (0, nodes),
                                 ("inspect",): (0, inspect_output(p, spec.versions.kind_node_image))})
    p.up()
    assert ["kind", "export", "kubeconfig", "--name", p.cluster_name, "--kubeconfig",
            str(tmp_path / "lab" / "kubeconfig")] in runner.calls
    assert not any(c[1:3] == ["create", "cluster"] for c in runner.calls)


def test_up_ignores_the_same_named_cluster_of_another_checkout(spec, tmp_path: Path) -> None:
    """The cluster of lab.yaml's bare name (or another checkout's) is not this lab's: never reused."""
    runner = FakeRunner({("get", "clusters"): (0, f"{spec.cluster_name}\n{lab_id(tmp_path / 'other')}\n")})
    p = kind_provider(spec, tmp_path, runner)
    p.up()
    create = next(c for c in runner.calls if c[1:3] == ["create", "cluster"])
    assert create[create.index("--name") + 1] == p.cluster_name != spec.cluster_name


def test_up_refuses_a_cluster_on_another_image(spec, tmp_path: Path) -> None:
    p = kind_provider(spec, tmp_path, FakeRunner({}))
    nodes = "\n".join(kind_node_names(spec, p.cluster_name).values())
    old = "kindest/node:v1.25.3@sha256:" + "0" * 64
    p.run = runner = FakeRunner({("get", "clusters"): (0, f"{p.cluster_name}\n"), ("get", "nodes"): (0, nodes),
                                 ("inspect",): (0, inspect_output(p, old))})
    with pytest.raises(ProviderError) as info:
        p.up()
    message = str(info.value)
    assert "\n" not in message and old in message and f"delete cluster --name {p.cluster_name}" in message
    assert not any(c[1:2] in (["create"], ["delete"], ["build"]) for c in runner.calls), "nothing may change"


def test_up_refuses_a_cluster_with_other_nodes(spec, tmp_path: Path) -> None:
    p = kind_provider(spec, tmp_path, FakeRunner({}))
    p.run = FakeRunner({("get", "clusters"): (0, f"{p.cluster_name}\n"),
                        ("get", "nodes"): (0, f"{p.cluster_name}-control-plane\n")})
    with pytest.raises(ProviderError, match="not the lab's"):
        p.up()


def test_image_load_falls_back_to_an_archive(spec, tmp_path: Path) -> None:
    runner = FakeRunner({("get", "clusters"): (0, ""), ("load", "docker-image"): (1, "")})
    p = kind_provider(spec, tmp_path, runner)
    p.up()
    archive = str(tmp_path / "lab" / "py-scheduler-image.tar")
    assert ["docker", "save", "-o", archive, py_scheduler_build_image(p.cluster_name)] in runner.calls
    assert ["kind", "load", "image-archive", archive, "--name", p.cluster_name] in runner.calls


def test_down_deletes_only_the_lab_cluster(spec, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kind = write_tool(bin_dir, "kind", "exit 0\n")
    runner = FakeRunner({})
    p = KindProvider(spec, tmp_path / "lab", env=tool_env(bin_dir), runner=runner, say=lambda _: None)
    p.down()
    assert runner.calls == [[str(kind), "delete", "cluster", "--name", lab_id(tmp_path / "lab"), "--kubeconfig",
                             str(tmp_path / "lab" / "kubeconfig")]]


def test_status_without_kind_is_down(spec, tmp_path: Path) -> None:
    status = kind_provider(spec, tmp_path, FakeRunner({})).status()
    assert status.up is False and "kind is not installed" in status.detail
