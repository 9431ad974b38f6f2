"""Command line: `scheduler [run] --config FILE ...` and `scheduler simulate ...`.

Flags follow kube-scheduler where they exist there:

    --config FILE           KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1); defaults if absent
    --kubeconfig FILE       overrides clientConnection.kubeconfig; neither: in-cluster service account
    --bind-address ADDR     address of the HTTP(S) endpoints (default 0.0.0.0, like kube-scheduler)
    --secure-port N         HTTPS with a self-signed in-memory certificate (default 10259; 0 = off)
    --port N                plain HTTP with the same endpoints (default 0 = off)
    --authorization-always-allow-paths P,...
                            paths served without authorization (default /healthz,/readyz,/livez);
                            every other path needs a bearer token the API server accepts
                            (TokenReview) and allows (SubjectAccessReview), as on kube-scheduler
    --v N                   klog verbosity (2: decisions, 4: leader-election retries, 5: renewals)
    --leader-elect[=BOOL]   overrides leaderElection.leaderElect
    --plugin MODULE:CLASS   an out-of-tree plugin to register (repeatable)

Errors in what the user gave (config, kubeconfig, ports, plugins) are one line on stderr and exit 1;
a value echoed back in such a line is cut to MAX_ECHO characters.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from scheduler.core.validation.text import quote, safe_text, truncate
from scheduler.runtime import klog
from scheduler.runtime.auth import DEFAULT_ALWAYS_ALLOW_PATHS, PathMatcher

__all__ = ["main", "build_parser", "UsageError"]

log = logging.getLogger("scheduler.cli")

MAX_ECHO = 200  # characters of a usage error line (argparse repeats the bad value, however long)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 1. `echo` marks argparse's own
    messages, which repeat a bad value whole: those are cut to MAX_ECHO characters."""

    def __init__(self, message: str, echo: bool = False) -> None:
        super().__init__(message)
        self.echo = echo


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "t"):
        return True
    if value in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}" (use true or false)')


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid port "{text}"') from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} out of range 0-65535")
    return value


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, echo=True)


class _Once(argparse.Action):
    """Store a flag's value; giving a single-valued flag twice is an error, not "the last one wins"."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        seen = getattr(namespace, "_given", set())
        if self.dest in seen:
            raise UsageError(f"argument {'/'.join(self.option_strings)}: given more than once")
        seen.add(self.dest)
        namespace._given = seen
        setattr(namespace, self.dest, values)


def _path(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    return text


def _int(text: str) -> int:
    body = text.strip().lstrip("+-")
    if not body.isascii() or not body.isdigit():
        raise argparse.ArgumentTypeError(f'invalid integer value "{text}"')
    return int(text)


def _allow_paths(text: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in text.split(",") if p.strip())
    try:
        PathMatcher(paths)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="scheduler", description="The scheduler-lab Python scheduler.")
    parser.add_argument("--config", type=_path, action=_Once,
                        help="KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1)")
    parser.add_argument("--kubeconfig", type=_path, action=_Once,
                        help="kubeconfig file; overrides clientConnection.kubeconfig")
    parser.add_argument("--bind-address", default="0.0.0.0", action=_Once,
                        help="address to serve /healthz and /metrics on")
    parser.add_argument("--secure-port", type=_port, default=10259, action=_Once, help="HTTPS port (0 disables)")
    parser.add_argument("--port", type=_port, default=0, action=_Once, help="plain HTTP port (0 disables)")
    parser.add_argument("--authorization-always-allow-paths", type=_allow_paths, default=DEFAULT_ALWAYS_ALLOW_PATHS,
                        action=_Once, metavar="PATHS",
                        help="comma-separated paths served without authorization (a trailing * matches a prefix)")
    parser.add_argument("--v", "-v", type=_int, default=0, metavar="N", action=_Once, help="log verbosity")
    parser.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=None, metavar="BOOL",
                        action=_Once, help="override leaderElection.leaderElect")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                        help="register an out-of-tree plugin class (repeatable)")
    return parser


def plugin_registry(specs: Sequence[str]) -> Any:
    """The in-tree plugins, entry-point plugins, and every `--plugin MODULE:CLASS` given."""
    from scheduler.core.plugins.registry import PluginLoadError, default_registry

    registry = default_registry()
    for spec in specs:
        if not spec or ":" not in spec or not all(spec.rsplit(":", 1)):
            raise UsageError(f"--plugin {quote(spec)}: expected MODULE:CLASS or path/to/file.py:CLASS")
        try:
            registry.load(spec)
        except PluginLoadError as exc:
            raise UsageError(f"--plugin {quote(spec)}: {truncate(str(exc), 200)}") from None
        except (Exception, SystemExit) as exc:  # whatever importing the user's module raised
            raise UsageError(f"--plugin {quote(spec)}: cannot import: {type(exc).__name__}: "
                             f"{truncate(str(exc).splitlines()[0] if str(exc) else '', 200)}") from None
    return registry


def run(args: argparse.Namespace) -> int:
    from scheduler.core.config import ConfigError
    from scheduler.core.profiles import build_profiles, default_config, load_config
    from scheduler.runtime.kube import KubeClient, KubeConfigError, load_configuration
    from scheduler.runtime.server_url import ServerURLError, check_kubeconfig_server
    from scheduler.runtime.tuning import CLIENT_POOL_SIZE, pause_collector_for_start_up, tune_gc
    from scheduler.runtime import configz

    klog.configure(args.v)
    tune_gc()  # this is the long-running process (simulate keeps CPython's defaults)
    pause_collector_for_start_up()  # until the caches are synced (tuning.py)
    registry = plugin_registry(args.plugin)
    try:
        cfg = load_config(args.config, registry) if args.config else default_config(registry)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{args.config}: {exc.strerror or exc}") from None
    if args.leader_elect is not None:
        cfg = _with_leader_elect(cfg, args.leader_elect)
    kubeconfig = args.kubeconfig or cfg.client_connection.kubeconfig or None
    configz.install(cfg, kubeconfig or "", args.v)  # served at /configz, like kube-scheduler's componentconfig
    try:
        # cfg.registry: the copy holding the config's importPath plugins too (``registry`` has only
        # the --plugin ones; profiles naming an importPath plugin failed with KeyError).
        profiles = build_profiles(cfg, cfg.registry or registry)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        if kubeconfig:
            check_kubeconfig_server(kubeconfig, kubeconfig)
        configuration = load_configuration(kubeconfig)
    except (KubeConfigError, ServerURLError) as exc:
        raise UsageError(str(exc)) from None
    conn = cfg.client_connection
    name = next(iter(profiles), "scheduler")
    kube = KubeClient(configuration, qps=float(conn.qps), burst=int(conn.burst), user_agent=f"{name}/scheduler-lab",
                      pool_size=CLIENT_POOL_SIZE)
    # Everything the user gave is valid: ask for the nodes and pods now, so that the API server
    # answers while the rest of the process is imported and built (firstlists.py says why).
    from scheduler.runtime.firstlists import SCHEDULER_FIRST_LISTS, FirstListsInFlight

    first_lists = FirstListsInFlight(kube, SCHEDULER_FIRST_LISTS)
    from scheduler.core.state import ClusterState
    from scheduler.runtime.app import SchedulerApp, ServingOptions
    from scheduler.runtime.informer import KubeListWatch

    try:
        app = SchedulerApp(cfg, profiles, kube=kube, state=ClusterState(),
                           list_watch=KubeListWatch(kube, first_lists),
                           serving=ServingOptions(bind_address=args.bind_address, port=args.port,
                                                  secure_port=args.secure_port,
                                                  auth=_delegated_auth(kube, args.authorization_always_allow_paths)))
    except ValueError as exc:  # e.g. leader-election durations the elector cannot work with
        raise UsageError(f"{args.config or 'configuration'}: {exc}") from None
    log.info(klog.kv("Starting scheduler", version="scheduler-lab", profiles=",".join(profiles),
                     leaderElect=bool(cfg.leader_election.leader_elect), identity=app.identity))
    try:
        return app.run()
    except OSError as exc:
        # Typically the serving port is taken.
        where = ", ".join(f"{args.bind_address}:{p}" for p in (args.secure_port, args.port) if p)
        raise UsageError(f"cannot serve on {where or args.bind_address}: {exc.strerror or exc}") from None


def _delegated_auth(kube: Any, always_allow_paths: Sequence[str]) -> Any:
    """Delegated authn/authz for the HTTP endpoints, through a client of its own (kube-scheduler's
    delegating clients: QPS 200, burst 400, 10 s timeout), so reviews never take the scheduling
    client's rate budget."""
    from scheduler.runtime.auth import REVIEW_TIMEOUT, DelegatedAuth

    client = kube.derive(qps=200, burst=400, timeout=REVIEW_TIMEOUT, user_agent=f"{kube.user_agent}/auth-delegator",
                         pool_size=2)

    def review(path: str, body: Any) -> Any:
        return client.request("POST", path, body=body)

    return DelegatedAuth(review, always_allow_paths=always_allow_paths)


def _with_leader_elect(cfg: Any, value: bool) -> Any:
    le = cfg.leader_election
    try:
        return replace(cfg, leader_election=replace(le, leader_elect=value))
    except TypeError:  # not dataclasses: mutate in place
        le.leader_elect = value
        return cfg


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "simulate":
        from scheduler.core import simulate

        return int(simulate.main(args_list[1:]) or 0)
    if args_list and args_list[0] == "run":
        args_list = args_list[1:]
    debug = "--debug" in args_list
    try:
        args = build_parser().parse_args(args_list)
        return run(args)
    except UsageError as exc:
        # Escaped once (a value cannot forge a line), and argparse's echo of a value cut short.
        print(f"scheduler: {truncate(str(exc), MAX_ECHO) if exc.echo else safe_text(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: a bug, never the validation
        if debug:
            raise
        print(f"scheduler: internal error: {type(exc).__name__}: "
              f"{truncate(str(exc).splitlines()[0] if str(exc) else '', 200)} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 70
