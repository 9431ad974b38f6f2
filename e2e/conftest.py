"""The e2e fixture: a connected lab cluster for the selected provider.

    pytest e2e                      # local provider: starts the embedded lab if it is not up
    pytest e2e --provider kind      # or LAB_PROVIDER=kind; vagrant; existing (--kubeconfig K)

Per-provider differences live here, not in the tests. A provider that cannot run on this
machine (no Docker, no VirtualBox) stops the session with one line saying what is missing.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from kubernetes.client.rest import ApiException

from e2e.decoys import decoys  # noqa: F401 - the fixture (processes the lab must never signal)
from e2e.harness import SuiteCluster, NotYet, wait_for
from lab.cli import make_provider
from lab.providers import PROVIDERS, lacking
from lab.providers.base import ProviderError
from lab.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scheduler-lab")
    group.addoption("--provider", default=os.environ.get("LAB_PROVIDER", "local"), choices=PROVIDERS,
                    help="which lab cluster the e2e suite runs on (default: local, or $LAB_PROVIDER)")
    group.addoption("--lab-dir", default=os.environ.get("LAB_DIR", str(ROOT / ".lab")),
                    help="lab state directory (default: .lab in the project)")
    group.addoption("--keep-lab", action="store_true",
                    help="leave a lab this session started running afterwards")
    group.addoption("--workshop-order", default="in-order", choices=("in-order", "shuffled"),
                    help="the doc test's order of steps 02-13 (each starts with lab reset NN; 01 first, 14 last)")
    group.addoption("--workshop-seed", type=int, default=None,
                    help="the seed of --workshop-order=shuffled (default: a random one, printed)")
    # --kubeconfig (for --provider existing) is pytest-kind's option; we read it, not redefine it.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*capabilities): skip unless the --provider has them "
                                       "(lab.providers.Capability names, e.g. restart_apiserver)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture (the lab included): a test its provider cannot serve starts nothing.
    for marker in item.iter_markers("requires"):
        reason = lacking(item.config.getoption("provider"), *marker.args)
        if reason:
            pytest.skip(reason)


def _kubectl_for(provider: str, workdir: Path) -> str:
    local = workdir / "bin" / "kubectl"
    if provider in ("local", "kind", "vagrant-containers") and local.exists():  # the lab's own kubectl v1.29.15
        return str(local)
    found = shutil.which("kubectl")
    if not found:
        raise ProviderError("kubectl is not on PATH; install kubectl v1.29 for this provider")
    return found


@pytest.fixture(scope="session")
def host_network_watch():
    """Private addresses on the host's own interfaces, sampled from before the lab starts to the end."""
    from e2e.hostnet import HostNetworkWatch

    watch = HostNetworkWatch()
    watch.start()
    yield watch
    watch.stop()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, host_network_watch):
    """Yield a connected SuiteCluster; start (and later stop) the lab if this session has to."""
    name = request.config.getoption("provider")
    workdir = Path(request.config.getoption("lab_dir")).resolve()
    spec = load_spec()
    try:
        provider = make_provider(name, spec, workdir, kubeconfig=request.config.getoption("kubeconfig"))
        provider.check_prerequisites()
        before = provider.status()
        # A lab that exists (even with a component down) belongs to someone: repair it with up(),
        # but only stop at the end a lab that this session created.
        existed = before.up or any(c.pid for c in before.components)
        kubeconfig = provider.up() if not before.up else provider.kubeconfig
        if name == "local":
            (workdir / "provider.json").write_text('{"provider": "local"}\n')
        handle = SuiteCluster(provider=name, kubeconfig=kubeconfig, spec=spec, workdir=workdir,
                            kubectl_path=_kubectl_for(name, workdir))
        if name == "kind":
            handle.kind = _pytest_kind_cluster(provider, kubeconfig, handle.kubectl_path)
    except ProviderError as exc:
        pytest.exit(f"--provider {name}: {exc}", returncode=4)
    yield handle
    if not existed and not request.config.getoption("keep_lab") and name in ("local", "kind"):
        provider.down(wipe=False)


def _pytest_kind_cluster(provider, kubeconfig: Path, kubectl: str):
    """pytest-kind's handle on the cluster our KindProvider made (4 nodes from lab.yaml).

    pytest-kind would otherwise fetch its bundled kind v0.17.0 and, in create(), silently reuse
    any cluster of the same name; pointed at the pinned kind binary and an existing cluster, its
    create() only writes the kubeconfig, and its helpers (load_docker_image, kubectl) work.
    """
    from pytest_kind import KindCluster

    kind = KindCluster(provider.cluster_name, kubeconfig=kubeconfig, kind_path=Path(provider.kind_binary()),
                       kubectl_path=Path(kubectl))
    kind.create()
    return kind


@pytest.fixture
def namespace(cluster: SuiteCluster, request: pytest.FixtureRequest):
    """A fresh namespace for one test, deleted afterwards (the suite touches nothing else)."""
    base = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40].strip("-")
    name = f"e2e-{base}-{uuid.uuid4().hex[:5]}"
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"scheduler-lab.dev/e2e": "true"}}})

    def default_sa() -> None:
        # Pods are rejected until the service-account controller has made "default".
        try:
            cluster.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
        except ApiException as exc:
            raise NotYet(f"HTTP {exc.status}") from None

    request.node.lab_namespace = name
    try:
        wait_for(default_sa, timeout=60, what=f"the default ServiceAccount in {name}")
        yield name
    finally:
        cluster.core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def fleet(cluster: SuiteCluster, tmp_path: Path):
    """Python scheduler processes a test starts itself (stopped, and their logs printed, after it)."""
    from e2e.pyscheduler import SchedulerFleet

    fleet = SchedulerFleet(cluster, tmp_path)
    yield fleet
    fleet.stop_all()
    print(fleet.dump_logs())  # shown by pytest only when the test fails


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, attach what a person would look at: events, pods, scheduler logs."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    ns = getattr(item, "lab_namespace", None)
    lab = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if lab is None:
        return
    if ns:
        ev = lab.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False)
        report.sections.append(("events", ev.stdout + ev.stderr))
        pods = lab.kubectl("describe", "pods", "-n", ns, check=False)
        report.sections.append(("describe pods", pods.stdout[-6000:] + pods.stderr))
    if not lab.can("lab_processes"):
        # The replicas are the Deployments' pods (their logs from the API server, as `lab logs`
        # shows them); a local lab's .lab/deploy/logs in the same directory would be stale here.
        from lab.logs import replica_logs

        for app in ("py-scheduler", "custom-k8s-scheduler"):
            try:
                replicas = replica_logs(Path(lab.workdir), lab.provider, app)
            except Exception as exc:  # a failure report must never fail itself
                report.sections.append((f"log {app}", f"(not available: {exc})"))
                continue
            for replica in replicas:
                text = replica.text if replica.text is not None else f"(no log: {replica.why})"
                report.sections.append((f"log {replica.replica}", "\n".join(text.splitlines()[-30:])))
        return
    logs = Path(lab.workdir) / "deploy" / "logs"
    if logs.is_dir():
        for log in sorted(logs.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-30:]
            report.sections.append((f"log {log.name}", "\n".join(lines)))
