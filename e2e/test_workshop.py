"""The workshop runs verbatim: every ```bash block of docs/labs/NN-*.md, in order, on the lab.

For each step (one test per step, in order):

* every ```bash block not marked ``<!-- test: skip (why) -->`` and meant for this session's
  provider (no ``<!-- test: only ... -->`` marker, or one naming it) runs with
  ``bash -euo pipefail`` from the repository root, with KUBECONFIG and PATH as
  ``python -m lab env`` prints them and .venv/bin on PATH, within its timeout (default 120 s,
  ``<!-- test: timeout N -->``);
* its stdout and stderr, together, must contain the lines of each following ```text block meant
  for this provider (the rule is ``lab.workshop.match.missing_lines``: in order, whitespace collapsed,
  ``...`` as wildcard, ages/timestamps/klog headers masked) unless the block is marked as an
  example;
* at the step's ``Check: make verify STEP=NN`` line, ``python -m lab verify NN`` must pass.

Each step after 01 starts with ``python -m lab reset NN`` (so any order works), and after its
guided part comes its challenge: ``lab reset NN``, then ``lab check NN`` must fail, ``lab solution
NN`` must succeed and ``lab check NN`` must pass. A step without a challenge module fails there,
saying so.
``--workshop-order=shuffled --workshop-seed=N`` runs steps 02-13 in a seeded random order (01
first, 14 last: it cleans up). The guided parts' durations go to docs/labs/durations.json (per
provider), which the docs site shows under each step's title (scripts/mkdocs_durations.py).

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

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e.harness import SuiteCluster, NotYet, wait_for
from lab.providers import PROVIDERS, Capability, capabilities, lacking
from lab.workshop.match import missing_lines
from lab.workshop.registry import has_challenge
from lab.workshop.stepfile import DOCS, CheckPoint, Command, Step, load_steps

ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = load_steps(DOCS)
OUTPUT_TAIL = 4000  # characters of a command's output shown when it fails
DURATIONS = DOCS / "durations.json"

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
    guided: dict[str, float] = field(default_factory=dict)  # guided parts that passed: their durations
    challenges: int = 0  # challenges run through reset, check (fails), solution, check (passes)
    no_challenge: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class Workshop:
    cluster: SuiteCluster
    env: dict[str, str]
    tally: Tally
    order: str = "in-order"

    @property
    def provider(self) -> str:
        return self.cluster.provider


def _env(cluster: SuiteCluster) -> dict[str, str]:
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


def _lab(ws: Workshop, step: Step, *args: str, want: int) -> str:
    """Run ``python -m lab ARGS`` as a participant would; its output, failing unless it exits ``want``."""
    command = "python -m lab " + " ".join(args)
    code, out = run_bash(command, ws.env, 180)
    if code != want:
        pytest.fail(f"{_where(step, 1)}: `{command}` exited with {code}, expected {want}"
                    + (f" ({ws.order})" if ws.order != "in-order" else "") + f"\n--- output ---\n{_tail(out)}",
                    pytrace=False)
    return out


def run_challenge(step: Step, ws: Workshop) -> None:
    """Reset, check fails, solution, check passes."""
    n = step.number
    if not has_challenge(n):
        ws.tally.no_challenge.append(n)
        pytest.fail(f"step {n} has no challenge: lab/workshop/challenges/s{n}.py does not exist; every step needs one",
                    pytrace=False)
    _lab(ws, step, "reset", n, want=0)
    before = _lab(ws, step, "check", n, want=1)
    assert before.strip() and all(ln.startswith(f"step {n}: ") for ln in before.strip().splitlines()), before
    _lab(ws, step, "solution", n, want=0)
    after = _lab(ws, step, "check", n, want=0)
    assert f"step {n}: challenge passed" in after, after
    ws.tally.challenges += 1


def run_step(step: Step, ws: Workshop, last: bool = False) -> None:
    t0 = time.monotonic()
    try:
        try:
            if step.number != WORKSHOP[0].number:
                _lab(ws, step, "reset", step.number, want=0)  # where the step starts, whatever came before
            guided = time.monotonic()
            run_guided(step, ws)
            ws.tally.guided[step.number] = time.monotonic() - guided
            run_challenge(step, ws)
        finally:
            if last:  # the challenge's reset brought back every step's objects: leave the cluster as found
                _lab(ws, step, "reset", WORKSHOP[0].number, want=0)
    except BaseException as exc:
        if step.number not in ws.tally.no_challenge:
            ws.tally.failed[step.number] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        ws.tally.seconds[step.number] = time.monotonic() - t0


def run_guided(step: Step, ws: Workshop) -> None:
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


# -- preconditions and teardown ----------------------------------------------------------------


def _live(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _wait_until_quiet(cluster: SuiteCluster) -> None:
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
def workshop(cluster: SuiteCluster, request: pytest.FixtureRequest):
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
    ws = Workshop(cluster, _env(cluster), Tally(), order=_order_label(request.config))
    t0 = time.monotonic()
    yield ws
    last = WORKSHOP[-1].number
    if last in ws.tally.failed or last not in ws.tally.seconds:
        # Something failed on the way: put the cluster back (lab reset 01; step 14's own commands if
        # even that fails).
        code, _ = run_bash(f"python -m lab reset {WORKSHOP[0].number}", ws.env, 180)
        if code != 0:
            for cmd in WORKSHOP[-1].commands:
                if cmd.runs_on(ws.provider):
                    run_bash(cmd.code, ws.env, cmd.timeout)
    _write_durations(ws.provider, ws.tally.guided)
    _report(request.config, ws, time.monotonic() - t0)


def _write_durations(provider: str, measured: dict[str, float]) -> None:
    """Merge this run's guided-part durations (whole seconds) into docs/labs/durations.json."""
    if not measured:
        return
    try:
        data = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    mine = data.setdefault(provider, {})
    mine.update({n: round(secs) for n, secs in measured.items()})
    data[provider] = dict(sorted(mine.items()))
    DURATIONS.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n", encoding="utf-8")


def _report(config: pytest.Config, ws: Workshop, seconds: float) -> None:
    """The summary a maintainer reads: how long, what ran, what was skipped and why."""
    t = ws.tally
    lines = [
        f"workshop doc test on {ws.provider} ({ws.order}): {len(WORKSHOP)} steps in {seconds:.0f}s; {t.ran} "
        f"command blocks run, {t.compared} outputs compared, {t.checks} checks, {t.challenges} challenges, "
        f"{len(t.skipped)} blocks skipped, {len(t.examples)} example outputs not compared, "
        f"{t.other_providers} blocks for other providers"
    ]
    for number, secs in t.seconds.items():
        status = (f"FAILED: {t.failed[number]}" if number in t.failed
                  else "guided part ok, NO CHALLENGE YET" if number in t.no_challenge else "ok")
        guided = f"(guided {t.guided[number]:5.1f}s)" if number in t.guided else " " * 16
        lines.append(f"  step {number}  {secs:6.1f}s {guided}  {status}"[:200])
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


def _seed(config: pytest.Config) -> int:
    """The shuffle's seed: --workshop-seed, else one drawn once per session (printed in the report)."""
    if getattr(config, "_workshop_seed", None) is None:
        given = config.getoption("workshop_seed")
        config._workshop_seed = given if given is not None else random.SystemRandom().randrange(10**6)  # type: ignore[attr-defined]
    return config._workshop_seed  # type: ignore[attr-defined]


def _order_label(config: pytest.Config) -> str:
    if config.getoption("workshop_order") == "shuffled":
        return f"shuffled: --workshop-order=shuffled --workshop-seed={_seed(config)}"
    return "in-order"


def ordered(steps: list[Step], order: str, seed: int) -> list[Step]:
    """Steps in order, or the middle ones (after the first, before the last: the cleanup) shuffled."""
    if order != "shuffled" or len(steps) < 3:
        return list(steps)
    middle = steps[1:-1]
    random.Random(seed).shuffle(middle)
    return [steps[0], *middle, steps[-1]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "step" not in metafunc.fixturenames:
        return
    order = metafunc.config.getoption("workshop_order")
    steps = ordered(WORKSHOP, order, _seed(metafunc.config) if order == "shuffled" else 0)
    metafunc.parametrize("step", steps, ids=[f"{s.number}-{s.path.stem[3:]}" for s in steps])


@pytest.mark.timeout(1800)
def test_step_runs_as_written(step: Step, workshop: Workshop) -> None:
    run_step(step, workshop, last=step is WORKSHOP[-1])


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
