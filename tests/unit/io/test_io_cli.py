"""Command line: bad input is one line on stderr and exit 1, never a traceback; simulate dispatch."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from scheduler import cli

GOOD_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
  - schedulerName: cli-test
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scheduler", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_config_file(tmp_path: Path) -> None:
    assert_one_line_error(run("--config", str(tmp_path / "nope.yaml")), "nope.yaml")


def test_wrong_api_version_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "old.yaml"
    bad.write_text(GOOD_CONFIG.replace("kubescheduler.config.k8s.io/v1", "kubescheduler.config.k8s.io/v1beta1"))
    assert_one_line_error(run("--config", str(bad)), "old.yaml", "apiVersion")


def test_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(GOOD_CONFIG + "podMaxBackofSeconds: 3\n")
    assert_one_line_error(run("--config", str(bad)), "typo.yaml", "podMaxBackofSeconds")


def test_missing_kubeconfig(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_CONFIG)
    assert_one_line_error(run("--config", str(good), "--kubeconfig", str(tmp_path / "kc")), "kubeconfig", "kc")


def test_no_kubeconfig_outside_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_CONFIG)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert_one_line_error(run("--config", str(good)), "in-cluster")


def test_bad_plugin_spec(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_CONFIG)
    assert_one_line_error(run("--config", str(good), "--plugin", "no_such_module_xyz:Plugin"), "--plugin")


@pytest.mark.parametrize("flag", ["--port=99999", "--leader-elect=maybe", "--no-such-flag"])
def test_bad_flags(flag: str) -> None:
    assert_one_line_error(run(flag))


def test_flags_parse() -> None:
    args = cli.build_parser().parse_args(["--config", "c.yaml", "--bind-address=127.0.0.1", "--secure-port=0",
                                          "--port=18080", "--v=5", "--leader-elect=false", "--plugin", "m:C",
                                          "--plugin", "n:D"])
    assert (args.config, args.bind_address, args.secure_port, args.port, args.v) == (
        "c.yaml", "127.0.0.1", 0, 18080, 5)
    assert args.leader_elect is False and args.plugin == ["m:C", "n:D"]
    assert cli.build_parser().parse_args(["--leader-elect"]).leader_elect is True
    defaults = cli.build_parser().parse_args([])
    assert (defaults.bind_address, defaults.secure_port, defaults.port, defaults.leader_elect) == (
        "0.0.0.0", 10259, 0, None)


def test_simulate_is_dispatched(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    fake = types.ModuleType("scheduler.core.simulate")
    fake.main = lambda argv: seen.append(list(argv)) or 7
    monkeypatch.setitem(sys.modules, "scheduler.core.simulate", fake)
    import scheduler.core

    monkeypatch.setattr(scheduler.core, "simulate", fake, raising=False)
    assert cli.main(["simulate", "--config", "c.yaml", "--cluster", "s.yaml"]) == 7
    assert seen == [["--config", "c.yaml", "--cluster", "s.yaml"]]


PLUGIN = '''
from scheduler.core.framework import MAX_NODE_SCORE, Plugin


class MostAvailableCPU(Plugin):
    name = "MostAvailableCPU"

    def score(self, cycle, pod, node):
        return max(0, node.allocatable.milli_cpu - node.requested.milli_cpu)

    def normalize_score(self, cycle, pod, nodes, scores):
        best = max(scores) or 1
        scores[:] = [s * MAX_NODE_SCORE // best for s in scores]
'''

PLUGIN_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
  - schedulerName: most-available-cpu
    plugins:
      score:
        disabled:
          - name: "*"
        enabled:
          - name: MostAvailableCPU
            weight: 1
"""


def test_plugin_from_a_file_is_registered_and_usable_by_a_profile(tmp_path: Path) -> None:
    from scheduler.core.profiles import build_profiles, load_config

    plugin = tmp_path / "most_available_cpu.py"
    plugin.write_text(PLUGIN)
    config = tmp_path / "c.yaml"
    config.write_text(PLUGIN_CONFIG)
    registry = cli.plugin_registry([f"{plugin}:MostAvailableCPU"])
    assert registry.has("MostAvailableCPU")
    profiles = build_profiles(load_config(str(config), registry), registry)
    assert profiles["most-available-cpu"].plugin_names("score") == ["MostAvailableCPU"]


def test_config_naming_an_unregistered_plugin_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(PLUGIN_CONFIG)
    assert_one_line_error(run("--config", str(config)), "c.yaml", "MostAvailableCPU")


def test_plugin_class_missing_is_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "p.py"
    plugin.write_text(PLUGIN)
    config = tmp_path / "c.yaml"
    config.write_text(PLUGIN_CONFIG)
    assert_one_line_error(run("--config", str(config), "--plugin", f"{plugin}:NoSuchClass"), "--plugin", "NoSuchClass")
