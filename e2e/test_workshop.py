"""The workshop runs verbatim: every ```bash block of docs/labs/NN-*.md, in order, on the lab.

For each step (one test per step, in order):

* every ```bash block not marked ``<!-- test: skip (why) -->`` and meant for this session's
  provider (no ``<!-- test: only ... -->`` marker, or one naming it) runs with
  ``bash -euo pipefail`` from the repository root, with KUBECONFIG and PATH as
  ``python -m lab env`` prints them and .venv/bin on PATH, within its timeout (default 120 s,
  ``<!-- test: timeout N -->``);
* its stdout and stderr, together, must contain the lines of each following ```text block meant
  for this provider (the rule is ``lab.steps.missing_lines``: in order, whitespace collapsed,
  ``...`` as wildcard, ages/timestamps/klog headers masked) unless the block is marked as an
  example;
* at the step's ``Check: make verify STEP=NN`` line, ``python -m lab verify NN`` must pass.

A failing block ends its step (the next steps still run, so one report shows every drift). The
workshop needs an empty ``default`` namespace and idle workers; it waits for namespaces other
tests are deleting, and refuses a cluster where someone else's pods would change the outputs.
It runs on the local lab and on kind (the cluster's own add-ons, kube-system and kind's
local-path-storage, are part of what the kind outputs show); other providers are skipped until
their outputs have been checked on a real cluster.
Whatever happens, step 14's commands run at the end, and the last test asserts that the cluster
is as the workshop found it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e.harness import LabCluster, NotYet, wait_for
from lab.providers import PROVIDERS, Capability, capabilities, lacking
from lab.steps import DOCS, CheckPoint, Command, Step, load_steps, missing_lines

ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = load_steps(DOCS)
OUTPUT_TAIL = 4000  # characters of a command's output shown when it fails

pytestmark = pytest.mark.cluster


# Providers whose outputs the step files have been checked against on a real cluster.
PROVIDERS_CHECKED = tuple(p for p in PROVIDERS if Capability.WORKSHOP_OUTPUTS_CHECKED in capabilities(p))
# Namespaces whose pods belong to the cluster itself, per provider: they are there before the
# workshop starts and the expected outputs account for them. Anything else on a node means
# someone else's workload, which would change where the workshop's pods go.
SYSTEM_NAMESPACES = {
    "local": frozenset({"kube-system"}),
    "kind": frozenset({"kube-system", "local-path-storage"}),
}


@dataclass
class Tally:
    """What the doc test did, reported at the end of the session."""

    ran: int = 0
    skipped: list[str] = field(default_factory=list)
    other_providers: int = 0  # blocks (commands and outputs) meant for other providers
    compared: int = 0
    examples: list[str] = field(default_factory=list)
    checks: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class Workshop:
    cluster: LabCluster
    env: dict[str, str]
    tally: Tally

    @property
    def provider(self) -> str:
        return self.cluster.provider


def _env(cluster: LabCluster) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_DIR", "VIRTUAL_ENV", "PYTHONHOME")}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    env["PATH"] = os.pathsep.join(
        [
            str(cluster.workdir / "bin"),
            str(ROOT / ".venv" / "bin"),
            str(Path(sys.executable).parent),
            env.get("PATH", ""),
        ]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _where(step: Step, line: int) -> str:
    return f"{step.path.relative_to(ROOT)}:{line}"


def run_bash(code: str, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run a block like a participant's shell would; None as exit code means it timed out."""
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", code],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the block's own process group, nothing else
        out, _ = proc.communicate()
        return None, out


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_TAIL else "[...]\n" + text[-OUTPUT_TAIL:]


def run_step(step: Step, ws: Workshop) -> None:
    t0 = time.monotonic()
    try:
        for item in step.items:
            if isinstance(item, CheckPoint):
                code, out = run_bash(f"python -m lab verify {item.step}", ws.env, 90)
                ws.tally.checks += 1
                assert code == 0, f"{_where(step, item.line)}: `make verify STEP={item.step}` failed:\n{out}"
                continue
            assert isinstance(item, Command)
            if item.skip:
                ws.tally.skipped.append(f"{_where(step, item.line)} ({item.skip})")
                continue
            if not item.runs_on(ws.provider):
                ws.tally.other_providers += 1 + len(item.expected)
                continue
            code, out = run_bash(item.code, ws.env, item.timeout)
            ws.tally.ran += 1
            if code is None:
                pytest.fail(
                    f"{_where(step, item.line)}: the command did not finish within {item.timeout:.0f}s\n"
                    f"--- command ---\n{item.code}\n--- output so far ---\n{_tail(out)}",
                    pytrace=False,
                )
            if code != 0:
                pytest.fail(
                    f"{_where(step, item.line)}: the command exited with {code}\n"
                    f"--- command ---\n{item.code}\n--- output ---\n{_tail(out)}",
                    pytrace=False,
                )
            for expected in item.expected:
                if not expected.applies_to(ws.provider):
                    ws.tally.other_providers += 1
                    continue
                if expected.example:
                    ws.tally.examples.append(f"{_where(step, expected.line)} ({expected.example})")
                    continue
                missing = missing_lines(expected.text, out, any_order=expected.any_order)
                ws.tally.compared += 1
                if missing:
                    pytest.fail(
                        f"{_where(step, expected.line)}: the output of the command at line {item.line} "
                        f"lacks these expected lines ({'any order' if expected.any_order else 'in order'}):\n"
                        + "\n".join(f"  {m}" for m in missing)
                        + f"\n--- command ---\n{item.code}\n--- actual output ---\n{_tail(out)}",
                        pytrace=False,
                    )
    except BaseException as exc:
        ws.tally.failed[step.number] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        ws.tally.seconds[step.number] = time.monotonic() - t0


# -- preconditions and teardown ----------------------------------------------------------------


def _live(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _wait_until_quiet(cluster: LabCluster) -> None:
    """The outputs assume an empty default namespace and workers that carry nothing but the
    cluster's own pods (SYSTEM_NAMESPACES of the provider)."""
    system = SYSTEM_NAMESPACES[cluster.provider]
    default = _live(cluster.get("/api/v1/namespaces/default/pods")["items"])
    if default:
        owners = sorted(
            {(o["kind"], o["name"]) for p in default for o in p["metadata"].get("ownerReferences", [])}
        )
        pytest.fail(
            "the workshop needs an empty default namespace (its steps create pods there, as the seeds do); "
            f"it has pods {', '.join(p['metadata']['name'] for p in default)}"
            + (f" (owned by {', '.join(f'{k} {n}' for k, n in owners)})" if owners else "")
            + ". Left by an interrupted workshop run? step 14's commands remove its objects; otherwise whoever "
            "created them should delete them.",
            pytrace=False,
        )

    def quiet() -> None:
        busy = []
        for p in cluster.get("/api/v1/pods")["items"]:
            ns = p["metadata"]["namespace"]
            if (
                ns not in system
                and p["spec"].get("nodeName")
                and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            ):
                busy.append((ns, p["metadata"]["name"], bool(p["metadata"].get("deletionTimestamp"))))
        terminating_ns = [
            n["metadata"]["name"]
            for n in cluster.get("/api/v1/namespaces")["items"]
            if n.get("status", {}).get("phase") == "Terminating"
        ]
        if busy or terminating_ns:
            raise NotYet(
                f"pods on the nodes: {', '.join(f'{n}/{p}' for n, p, _ in busy[:8])}; "
                f"namespaces being deleted: {', '.join(terminating_ns[:8])}"
            )

    wait_for(
        quiet,
        timeout=120,
        interval=1,
        what="idle workers (other tests' namespaces deleted): the workshop's expected outputs assume them",
    )


@pytest.fixture(scope="module")
def workshop(cluster: LabCluster, request: pytest.FixtureRequest):
    reason = lacking(cluster.provider, Capability.WORKSHOP_OUTPUTS_CHECKED)
    if reason:
        pytest.skip(
            f"{reason}; checked on {' and '.join(PROVIDERS_CHECKED)} only: follow docs/labs by hand "
            "(blocks marked `test: only ...` say where a provider differs)"
        )
    if Path(cluster.workdir).resolve() != (ROOT / ".lab").resolve():
        pytest.fail(
            f"the workshop's commands use the lab in {ROOT / '.lab'}, this session's lab is "
            f"{cluster.workdir}: run the doc test with the default --lab-dir",
            pytrace=False,
        )
    _wait_until_quiet(cluster)
    ws = Workshop(cluster, _env(cluster), Tally())
    t0 = time.monotonic()
    yield ws
    if "14" in ws.tally.failed or "14" not in ws.tally.seconds:
        # Something failed on the way: put the cluster back with step 14's own commands.
        for cmd in WORKSHOP[-1].commands:
            if cmd.runs_on(ws.provider):
                run_bash(cmd.code, ws.env, cmd.timeout)
    _report(request.config, ws.provider, ws.tally, time.monotonic() - t0)


def _report(config: pytest.Config, provider: str, t: Tally, seconds: float) -> None:
    """The summary a maintainer reads: how long, what ran, what was skipped and why."""
    lines = [
        f"workshop doc test on {provider}: {len(WORKSHOP)} steps in {seconds:.0f}s; {t.ran} command blocks "
        f"run, {t.compared} outputs compared, {t.checks} checks, {len(t.skipped)} blocks skipped, "
        f"{len(t.examples)} example outputs not compared, {t.other_providers} blocks for other providers"
    ]
    for number, secs in t.seconds.items():
        status = f"FAILED: {t.failed[number]}" if number in t.failed else "ok"
        lines.append(f"  step {number}  {secs:6.1f}s  {status}"[:200])
    lines += [f"  skipped: {s}" for s in t.skipped] + [f"  example: {e}" for e in t.examples]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():  # fixture teardown output is captured otherwise
        reporter.ensure_newline()
        for line in lines:
            reporter.write_line(line)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("step", WORKSHOP, ids=[f"{s.number}-{s.path.stem[3:]}" for s in WORKSHOP])
def test_step_runs_as_written(step: Step, workshop: Workshop) -> None:
    run_step(step, workshop)


def test_the_workshop_leaves_the_cluster_as_it_found_it(workshop: Workshop) -> None:
    def no_pods_in_default() -> None:
        left = _live(workshop.cluster.get("/api/v1/namespaces/default/pods")["items"])
        if left:
            raise NotYet(", ".join(p["metadata"]["name"] for p in left))

    wait_for(no_pods_in_default, timeout=60, what="no workshop pods left in namespace default")
    assert not (ROOT / ".lab" / "workshop").exists(), "step 14 leaves .lab/workshop behind"
    for name in ("custom-k8s-scheduler", "py-scheduler"):
        assert workshop.cluster.lease_holder(name), f"the workshop left {name} without a leader"
    assert not workshop.tally.failed, f"steps failed: {', '.join(sorted(workshop.tally.failed))}"
