"""`lab` — bring the scheduler-lab cluster up and down, deploy the schedulers, check steps.

    lab doctor [--provider P]   lab up [--provider local|kind|vagrant|existing]   lab down [--wipe]
    lab status        lab env        lab deploy        lab kill-leader NAME
    lab logs APP      lab verify NN     lab steps
    lab check NN      lab hint NN       lab solution NN   lab reset NN      lab answer NN TEXT
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lab.host import labdir
from lab.providers import PROVIDERS, record_provider, recorded_provider
from lab.providers.base import Provider, ProviderError
from lab.spec import SPEC_PATH, LabSpec, SpecError, load_spec
from scheduler.core.validation.text import quote, safe_text, truncate

if TYPE_CHECKING:
    from lab import doctor

def default_workdir() -> Path:
    return Path(os.environ.get("LAB_DIR") or (Path.cwd() / ".lab")).resolve()


def make_provider(name: str, spec: LabSpec, workdir: Path, kubeconfig: str | None = None) -> Provider:
    if name == "local":
        from lab.providers.local import LocalProvider

        return LocalProvider(spec, workdir)
    if name == "kind":
        from lab.host.docker_netns import engine_for
        from lab.providers.kind import KindProvider

        return KindProvider(spec, workdir, engine=engine_for(workdir))
    if name == "vagrant":
        from lab.providers.vagrant import VagrantProvider

        return VagrantProvider(spec, workdir)
    if name == "vagrant-containers":
        from lab.providers.vagrant_containers import VagrantContainersProvider

        return VagrantContainersProvider(spec, workdir)
    if name == "existing":
        from lab.providers.existing import ExistingProvider

        return ExistingProvider(spec, workdir, kubeconfig=kubeconfig)
    raise ProviderError(f"--provider: {name!r} is not one of {', '.join(PROVIDERS)}")


def _doctor_machine(args: argparse.Namespace, spec: LabSpec) -> doctor.Machine:
    from lab import doctor

    kubeconfig = None
    if args.provider == "existing":
        from lab.providers.existing import ExistingProvider

        kubeconfig = ExistingProvider(spec, args.workdir, kubeconfig=args.kubeconfig).source_kubeconfig()
    return doctor.Machine(kubeconfig=kubeconfig)


def cmd_doctor(args: argparse.Namespace, spec: LabSpec) -> int:
    """Every problem this machine has for the provider, each with its fix; exit 1 if any."""
    from lab import doctor

    machine = _doctor_machine(args, spec)
    found = doctor.require(args.provider, machine) if args.fix else doctor.problems(args.provider, machine)
    print(doctor.report(args.provider, found, machine), file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


def cmd_up(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab import doctor

    # Before any work: everything missing at once (as root with apt, kind installs its packages first).
    found = doctor.require(args.provider, _doctor_machine(args, spec))
    if found:
        print(doctor.report(args.provider, found), file=sys.stderr)
        return 1
    provider = make_provider(args.provider, spec, args.workdir, args.kubeconfig)
    provider.check_prerequisites()
    with labdir.recording(args.workdir):  # refuses a directory the lab did not make; records what it makes
        record_provider(args.workdir, args.provider)
        kubeconfig = provider.up()
    print()
    print(f"The {args.provider} lab is up. To use it from this shell:")
    print(f"  export KUBECONFIG={kubeconfig}")
    if (args.workdir / "bin").exists():
        print(f"  export PATH={args.workdir / 'bin'}:$PATH     # the lab's kubectl {spec.versions.kubernetes}")
    print("  kubectl get nodes -o wide")
    print("(or: eval \"$(python -m lab env)\")")
    return 0


def cmd_build(args: argparse.Namespace, spec: LabSpec) -> int:
    """Build (or find cached) the local lab's pinned binaries, without starting anything;
    with --kind-node-image, the kind lab's images instead (starting Docker if it must)."""
    with labdir.recording(args.workdir):  # its logs go to the lab directory: one the lab made
        return _build(args, spec)


def _build(args: argparse.Namespace, spec: LabSpec) -> int:
    if args.kind:
        from lab.host.docker_netns import engine_for
        from lab.providers.kind import KindProvider

        provider = KindProvider(spec, args.workdir, engine=engine_for(args.workdir))
        provider.prepare()
        print(f"kind lab ready to start: node image {provider.node_image}")
        return 0
    if args.vagrant_offline:
        from lab.providers.vagrant_containers import VagrantContainersProvider

        offline = VagrantContainersProvider(spec, args.workdir).prepare()
        print(f"Vagrant offline repository ready in {offline} (LAB_OFFLINE=1 vagrant up uses it)")
        return 0
    if args.kind_node_image:
        from lab.host.docker_netns import engine_for
        from lab.images.kindimage import ensure_kind_images

        engine = engine_for(args.workdir)
        started = engine.ensure()
        try:
            images = ensure_kind_images(spec, engine, args.workdir / "logs")
        except BaseException:
            if started:  # a failed build leaves no dockerd of its own running
                engine.stop()
            raise
        print(f"kind node image ready: {images.node_image} (Python base: {images.python_base})")
        return 0
    from lab.build import ensure_binaries

    bins = ensure_binaries(spec, args.workdir / "logs")
    print(f"control-plane binaries ready in {bins.bin_dir}")
    return 0


def cmd_exec(args: argparse.Namespace, spec: LabSpec) -> int:
    """Run a command where the kind lab's API is reachable: inside the project's network
    namespace when the project started dockerd, else as it is (a machine's own Docker)."""
    from lab.host.docker_netns import engine_for

    if args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    if not args.argv:
        raise ProviderError("lab exec: say which command, e.g. python -m lab exec -- kubectl get nodes")
    engine = engine_for(args.workdir)
    if recorded_provider(args.workdir) == "vagrant-containers":
        # That lab's machines live in a namespace (and dockerd) of their own.
        from lab.providers.vagrant_containers import VagrantContainersProvider

        engine = VagrantContainersProvider(spec, args.workdir).engine()
    if args.start_docker:
        engine.ensure()
    argv = engine.wrap(list(args.argv))
    env = engine.env()
    if recorded_provider(args.workdir) == "kind":
        from lab.host.docker_netns import lab_id

        env["KIND_CLUSTER_NAME"] = lab_id(args.workdir)  # kind's default --name: this lab's cluster
    sys.stdout.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise ProviderError(f"lab exec: {argv[0]}: not found") from None


def cmd_down(args: argparse.Namespace, spec: LabSpec) -> int:
    if args.wipe:
        # Before anything else, for every provider: only a directory the lab made may be wiped,
        # and then only what its marker lists (each provider's down deletes through lab.host.labdir).
        labdir.require_owned(args.workdir)
    name = recorded_provider(args.workdir)
    provider = make_provider(name, spec, args.workdir)
    provider.down(wipe=args.wipe)
    print(f"the {name} lab is down" + (" and wiped" if args.wipe else ""))
    return 0


def cmd_env(args: argparse.Namespace, spec: LabSpec) -> int:
    print(f"export KUBECONFIG={args.workdir / 'kubeconfig'}")
    if (args.workdir / "bin").exists():
        print(f"export PATH={args.workdir / 'bin'}:$PATH")
    if recorded_provider(args.workdir) == "kind":
        from lab.host.docker_netns import lab_id

        print(f"export KIND_CLUSTER_NAME={lab_id(args.workdir)}")
    return 0


def cmd_status(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab import status

    name = recorded_provider(args.workdir)
    provider = make_provider(name, spec, args.workdir)
    return status.show(provider, args.workdir)


def cmd_deploy(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab import deploy

    name = recorded_provider(args.workdir)
    provider = make_provider(name, spec, args.workdir)
    return deploy.deploy(provider, args.workdir, only=args.only)


def cmd_kill_leader(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab import deploy

    name = recorded_provider(args.workdir)
    provider = make_provider(name, spec, args.workdir)
    return deploy.kill_leader(provider, args.workdir, args.name, signal_name=args.signal)


def cmd_logs(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab import logs

    return logs.show(args.workdir, recorded_provider(args.workdir), args.app, args.grep, args.tail)


def cmd_verify(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab.workshop import verify

    return verify.verify(args.workdir, args.step)


def cmd_steps(args: argparse.Namespace, spec: LabSpec) -> int:
    from lab.workshop import verify

    return verify.list_steps(args.workdir)


def cmd_challenge(args: argparse.Namespace, spec: LabSpec) -> int:
    """check | hint | solution | reset | answer: lab.workshop.commands."""
    from lab.workshop import commands

    if args.command == "answer":
        return commands.answer(args.workdir, args.step, " ".join(args.text))
    if args.command == "hint":
        return commands.hint(args.workdir, args.step)
    action = {"check": commands.check, "solution": commands.solution, "reset": commands.reset}[args.command]
    return action(args.workdir, args.step)


def _step(text: str) -> str:
    """A workshop step number: one to three ASCII digits (``²`` or ``٣`` are not numbers here)."""
    if not (1 <= len(text) <= 3 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"invalid step number {quote(text)} (expected digits such as 05)")
    return text


def _regex(text: str) -> "re.Pattern[str]":
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {quote(text)}: {exc}") from None


def _line_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"invalid line count {quote(text)} (expected a number such as 10)")
    return int(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2; argparse echoes a bad value whole: cut it
        self.exit(2, f"{self.prog}: error: {truncate(message, 200)}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lab", description="Bring the scheduler-lab cluster up and down.")
    p.add_argument("--workdir", type=Path, default=None, help="lab state directory (default: ./.lab or $LAB_DIR)")
    p.add_argument("--spec", type=Path, default=SPEC_PATH, help="lab description (default: lab/lab.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create/start the cluster (idempotent)")
    up.add_argument("--provider", default=os.environ.get("LAB_PROVIDER", "local"), choices=PROVIDERS)
    up.add_argument("--kubeconfig", default=None, help="with --provider existing: the cluster to use")
    up.set_defaults(func=cmd_up)
    doc = sub.add_parser("doctor", help="what the provider needs from this machine: every problem and its fix")
    doc.add_argument("--provider", default=os.environ.get("LAB_PROVIDER", "local"), choices=PROVIDERS)
    doc.add_argument("--kubeconfig", default=None, help="with --provider existing: the cluster to use")
    doc.add_argument("--fix", action="store_true",
                     help="as root with apt-get: install the kind lab's missing packages first")
    doc.set_defaults(func=cmd_doctor)
    bld = sub.add_parser("build", help="build the local lab's pinned binaries (cached; nothing starts)")
    bld.add_argument("--kind-node-image", action="store_true",
                     help="build the kind lab's node and scheduler base images offline instead (cached)")
    bld.add_argument("--vagrant-offline", action="store_true",
                     help="build .lab/vagrant/offline (apt repository, images) and the vagrant-containers box")
    bld.add_argument("--kind", action="store_true",
                     help="get the kind lab ready without starting it: Docker, kind, kubectl, and the pinned node "
                          "image pulled or (no registry) the offline one built")
    bld.set_defaults(func=cmd_build)
    ex = sub.add_parser("exec", help="run a command in the kind lab's network (e.g. pytest, kubectl)")
    ex.add_argument("--start-docker", action="store_true", help="start the project's dockerd first if needed")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)
    down = sub.add_parser("down", help="stop everything the lab started")
    down.add_argument("--wipe", action="store_true", help="also delete cluster state")
    down.set_defaults(func=cmd_down)
    sub.add_parser("status", help="components, nodes, allocation, leaders").set_defaults(func=cmd_status)
    sub.add_parser("env", help="print export lines for KUBECONFIG and PATH").set_defaults(func=cmd_env)
    dep = sub.add_parser("deploy", help="apply the manifests and run both schedulers (2 replicas each)")
    dep.add_argument("--only", choices=("custom-k8s-scheduler", "py-scheduler"), default=None)
    dep.set_defaults(func=cmd_deploy)
    kl = sub.add_parser("kill-leader", help="kill the replica holding a scheduler's Lease (failover lab)")
    kl.add_argument("name", help="scheduler / Lease name, e.g. custom-k8s-scheduler")
    kl.add_argument("--signal", default="KILL", choices=("KILL", "TERM"))
    kl.set_defaults(func=cmd_kill_leader)
    lg = sub.add_parser("logs", help="print the log of every replica of a second scheduler (any provider)")
    lg.add_argument("app", choices=("custom-k8s-scheduler", "py-scheduler"), help="which scheduler")
    lg.add_argument("--grep", type=_regex, default=None, metavar="REGEX",
                    help="only the lines matching this regular expression")
    lg.add_argument("--tail", type=_line_count, default=None, metavar="N",
                    help="only the last N lines of each replica (after --grep)")
    lg.set_defaults(func=cmd_logs)
    ver = sub.add_parser("verify", help="check the cluster is where workshop step NN leaves it")
    ver.add_argument("step", type=_step, help="step number, e.g. 05")
    ver.set_defaults(func=cmd_verify)
    sub.add_parser("steps", help="list the workshop steps and their status").set_defaults(func=cmd_steps)
    for name, what in (("check", "grade step NN's challenge: what is still wrong"),
                       ("hint", "the next hint for step NN's challenge"),
                       ("solution", "apply the reference solution of step NN's challenge"),
                       ("reset", "put the cluster where step NN starts, from any state")):
        ch = sub.add_parser(name, help=what)
        ch.add_argument("step", help="step number, e.g. 07")
        ch.set_defaults(func=cmd_challenge)
    ans = sub.add_parser("answer", help="store your prediction for step NN's challenge")
    ans.add_argument("step", help="step number, e.g. 07")
    ans.add_argument("text", nargs="+", help="your prediction, e.g. worker-node02")
    ans.set_defaults(func=cmd_challenge)
    return p


# Commands that talk to the cluster's API: on a kind lab whose dockerd the project started, the
# API is only reachable inside its network namespace, so they re-run themselves there.
_API_COMMANDS = ("status", "deploy", "kill-leader", "logs", "verify", "steps", "check", "solution", "reset")


def _reexec_in_kind_netns(args: argparse.Namespace, argv: list[str] | None) -> None:
    if args.command not in _API_COMMANDS or recorded_provider(args.workdir) != "kind":
        return
    from lab.host.docker_netns import engine_for

    engine = engine_for(args.workdir)
    if not engine.managed or engine.inside() or not engine.netns_path().exists():
        return
    cmd = engine.wrap([sys.executable, "-m", "lab", *(sys.argv[1:] if argv is None else argv)])
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, engine.env())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.workdir = (args.workdir or default_workdir()).resolve()
    _reexec_in_kind_netns(args, argv)
    try:
        spec = load_spec(args.spec)
        return args.func(args, spec)
    except (ProviderError, SpecError) as exc:
        print(f"lab: {safe_text(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, for anything unforeseen
        from lab.build import BuildError

        if os.environ.get("LAB_DEBUG"):
            raise
        first = truncate(str(exc).splitlines()[0] if str(exc) else "", 200)
        if isinstance(exc, BuildError):
            print(f"lab: {first}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):  # the machine said no (a port, a file, a missing binary)
            print(f"lab: {type(exc).__name__}: {first}", file=sys.stderr)
            return 1
        # Last resort: a bug in the lab, never the validation.
        print(f"lab: internal error: {type(exc).__name__}: {first} (rerun with LAB_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 70
