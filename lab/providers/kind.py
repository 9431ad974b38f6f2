"""kind provider: the lab as a 1 control-plane + 3 worker kind cluster (Kubernetes in Docker).

What `up` does, in order (``KindProvider.plan()`` returns exactly these commands, so they can
be read and tested on a machine without Docker):

1. ``kind create cluster --name <clusterName> --config .lab/kind-config.yaml
   --kubeconfig .lab/kubeconfig --wait 120s``. Every node runs the same digest-pinned
   ``versions.kindNodeImage``; a cluster that already exists is reused only if its nodes are
   exactly the expected ones on exactly that image, otherwise ``up`` stops and says how to
   recreate it (a silently reused stale cluster is pytest-kind's classic trap).
2. Label and taint the nodes as lab/lab.yaml says. kind names its nodes
   ``<cluster>-control-plane``, ``<cluster>-worker``, ``<cluster>-worker2``, ... and they cannot
   be renamed, so each node also gets ``scheduler-lab.dev/name: master-node|worker-node01|...``
   and ``scheduler-lab.dev/role``; tests address nodes by those labels, never by name.
   Labels under kubernetes.io / k8s.io are applied only after creation: in the kind config they
   become kubelet ``--node-labels`` and break the join (kind#3536, #2817).
3. ``docker build -t scheduler-lab/py-scheduler:0.1.0-<cluster> .``, ``kind load docker-image``
   of that tag, and on every node ``ctr images tag`` it as ``scheduler-lab/py-scheduler:0.1.0``,
   the name the Deployment asks for (imagePullPolicy IfNotPresent, so the loaded image is used).
   The per-lab tag keeps two checkouts on one Docker from overwriting each other's build
   between their `docker build` and `kind load`; the nodes are the lab's own.
4. ``kubectl apply -k manifests/kube-scheduler`` and ``-k manifests/py-scheduler``, then wait for
   both 2-replica Deployments to roll out.

Node capacity: kind nodes report the host's real CPU and memory, not lab.yaml's capacity
(which the local kwok nodes and the Vagrant VM sizes follow).

Why this stays one module of about 600 lines: it is the ``KindProvider`` class alone, one lifecycle
(prerequisites, plan, up and its undo, prepare, down, status) whose methods share the runner, the
cluster name and the Docker engine; the kind config is lab/providers/kindconfig.py and the command
plumbing lab/providers/plan.py.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from lab import doctor
from lab.doctor import INOTIFY_MINIMUMS
from lab.host import labdir
from lab.host.docker_netns import DockerEngine, EngineError, lab_id
from lab.providers.base import ComponentStatus, Provider, ProviderError, ProviderStatus
from lab.providers.kindconfig import capacity_reservation, kind_config, kind_node_names, render_kind_config
from lab.providers.plan import (
    PY_SCHEDULER_IMAGE,
    REPO_ROOT,
    SCHEDULER_DEPLOYMENTS,
    SCHEDULER_NAMESPACE,
    EngineRunner,
    Runner,
    Step,
    SubprocessRunner,
    deploy_steps,
    last_line,
    node_label_steps,
)
from lab.providers.tools import find_tool, parse_version
from lab.spec import LabSpec

CREATE_WAIT = "240s"
PULL_TIMEOUT = 180.0


@dataclass
class KindPlan:
    """What `up` writes and runs: the kind config and the commands, in order."""

    config: dict
    config_yaml: str
    config_path: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def commands(self) -> list[list[str]]:
        return [list(s.argv) for s in self.steps]

    def render(self) -> str:
        lines = [f"# {self.config_path}", self.config_yaml.rstrip(), ""]
        lines += [f"$ {s.render()}    # {s.why}" for s in self.steps]
        return "\n".join(lines)


# -- the Python scheduler's image ----------------------------------------------------------------
def py_scheduler_build_image(cluster: str) -> str:
    """The tag a kind lab builds and loads the Python scheduler under: PY_SCHEDULER_IMAGE plus the
    lab's cluster name. On a machine's own Docker two checkouts share the image namespace; with one
    tag, one checkout's `docker build` could replace the image the other is about to `kind load`."""
    return f"{PY_SCHEDULER_IMAGE}-{cluster}"


def containerd_ref(image: str) -> str:
    """An image name as containerd stores it (what `kind load` imports and the kubelet resolves
    a short name to): Docker Hub names get docker.io/ (and library/ for a one-part name)."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


# -- prerequisites helpers -------------------------------------------------------------------------
def check_inotify(sysctl_root: Path) -> str | None:
    """A one-line problem with the inotify limits, or None (also when there is no /proc: macOS).
    The limits and the check are lab.doctor's (as the user: root raises them, see _check_with_engine)."""
    problem = doctor.inotify_problem(doctor.Machine(sysctl_root=sysctl_root))
    return f"{problem.what} — run: {problem.fix}" if problem else None


# -- the provider ----------------------------------------------------------------------------------
class KindProvider(Provider):
    name = "kind"

    def __init__(self, spec: LabSpec, workdir: Path, *, repo_root: Path = REPO_ROOT,
                 env: dict[str, str] | None = None, runner: Runner | None = None,
                 sysctl_root: Path = Path("/proc/sys"), say: Callable[[str], None] = print,
                 engine: DockerEngine | None = None) -> None:
        super().__init__(spec, workdir)
        self.repo_root = repo_root
        self.env = dict(os.environ if env is None else env)
        # engine: may start dockerd in a network namespace (lab/host/docker_netns.py); None (the static
        # tests) means Docker is whatever `docker` on PATH talks to.
        self.engine = engine
        if runner is None:
            runner = EngineRunner(engine, self.env) if engine is not None else SubprocessRunner(self.env)
        self.run: Runner = runner
        self.sysctl_root = sysctl_root
        self.say = say
        self.node_image = spec.versions.kind_node_image
        self.python_base: str | None = None
        self.reserved: dict[str, str] | None = None
        self._started_engine = False  # this process started the lab's dockerd (a failed `up` stops it)

    def _tool_env(self) -> dict[str, str]:
        return self.engine.env(self.env) if self.engine is not None else self.env

    @property
    def cluster_name(self) -> str:
        """The lab's kind cluster, named after its directory (lab_id): two checkouts sharing one
        Docker get two clusters, and one's `down` never deletes the other's."""
        return lab_id(self.workdir)

    @property
    def cluster_record(self) -> Path:
        """Written before `kind create cluster`, removed once the cluster is deleted: what `down`
        must account for when kind itself is missing."""
        return self.workdir / "kind-cluster.json"

    @property
    def config_path(self) -> Path:
        return self.workdir / "kind-config.yaml"

    # tools: an explicit override, then the lab's own pinned kubectl, then PATH
    def kind_binary(self) -> str | None:
        return find_tool("kind", self._tool_env(), "LAB_KIND_BIN", self._built_tool_dirs())

    def kubectl_binary(self) -> str | None:
        return find_tool("kubectl", self._tool_env(), "LAB_KUBECTL_BIN", [self.workdir / "bin"])

    def docker_binary(self) -> str | None:
        return find_tool("docker", self._tool_env(), "LAB_DOCKER_BIN")

    def _built_tool_dirs(self) -> list[Path]:
        # kind v0.27.0 as `lab build --kind-node-image` built it (checked before PATH: the pin).
        return [self.workdir / "bin"] if self.engine is not None else []

    def _kind(self) -> str:
        return self.kind_binary() or "kind"

    def _kubectl(self) -> tuple[str, ...]:
        return (self.kubectl_binary() or "kubectl", "--kubeconfig", str(self.kubeconfig))

    def _docker(self) -> str:
        return self.docker_binary() or "docker"

    # -- prerequisites ------------------------------------------------------------------------
    def check_prerequisites(self) -> None:
        if self.engine is not None:
            return self._check_with_engine()
        self._check_docker()
        self._check_tools()

    def _check_with_engine(self) -> None:
        """With an engine: Docker, kind and kubectl may be missing; `up` provides them."""
        if not self.engine.usable(self._tool_env()) and os.geteuid() != 0:
            self._check_docker()  # the usual one-line error: this user cannot start Docker
        if check_inotify(self.sysctl_root) and os.geteuid() == 0:
            # As root the lab may do what the error would ask for (kind's known issue).
            for key, minimum in INOTIFY_MINIMUMS.items():
                path = self.sysctl_root / "fs" / "inotify" / key
                try:
                    if int(path.read_text()) < minimum:
                        path.write_text(f"{minimum}\n")
                        self.say(f"raised fs.inotify.{key} to {minimum} (kind: 4 nodes need it)")
                except (OSError, ValueError):
                    pass
        problem = check_inotify(self.sysctl_root)
        if problem:
            raise ProviderError(f"kind provider: {problem}")

    def _check_docker(self) -> None:
        docker = self.docker_binary()
        if docker is None:
            raise ProviderError("kind provider: docker not found on PATH — install Docker Engine 20.10+ "
                                "(or Docker Desktop) and start it, or use --provider local")
        info = self.run(Step((docker, "info", "--format", "{{.ServerVersion}}"),
                             "ask the Docker daemon for its version"), check=False, timeout=30)
        if info.returncode != 0:
            why = last_line(info.stderr) or last_line(info.stdout) or f"exit code {info.returncode}"
            raise ProviderError(f"kind provider: the Docker daemon is not reachable ({why}) — start it "
                                "(e.g. sudo systemctl start docker) or point DOCKER_HOST at a running one")

    def _check_tools(self) -> None:
        kind = self.kind_binary()
        pinned = self.spec.versions.kind
        if kind is None:
            raise ProviderError(f"kind provider: kind not found on PATH — install kind {pinned} "
                                f"(go install sigs.k8s.io/kind@{pinned}) or set LAB_KIND_BIN")
        out = self.run(Step((kind, "version"), "read the kind version"), check=False, timeout=30)
        found = parse_version(out.stdout)
        if found is None or "v%d.%d.%d" % found != pinned:
            have = "v%d.%d.%d" % found if found else (last_line(out.stdout) or "unknown")
            raise ProviderError(f"kind provider: {kind} is kind {have}, the lab pins {pinned} (the release "
                                f"whose notes list {self.spec.versions.kind_node_image.split('@')[0]}) — "
                                f"install it: go install sigs.k8s.io/kind@{pinned}, or set LAB_KIND_BIN")
        kubectl = self.kubectl_binary()
        if kubectl is None:
            raise ProviderError(f"kind provider: kubectl not found on PATH — install kubectl "
                                f"{self.spec.versions.kubernetes_minor}.x or set LAB_KUBECTL_BIN")
        self._warn_kubectl_skew(kubectl)
        problem = check_inotify(self.sysctl_root)
        if problem:
            raise ProviderError(f"kind provider: {problem}")

    def _warn_kubectl_skew(self, kubectl: str) -> None:
        out = self.run(Step((kubectl, "version", "--client"), "read the kubectl version"),
                       check=False, timeout=30)
        found = parse_version(out.stdout)
        want = parse_version(self.spec.versions.kubernetes)
        if found and want and abs(found[1] - want[1]) > 1:
            print(f"warning: kubectl v{found[0]}.{found[1]} is more than one minor version away from the "
                  f"lab's {self.spec.versions.kubernetes_minor}; set LAB_KUBECTL_BIN to a matching kubectl "
                  "if a command misbehaves", file=sys.stderr)

    # -- the plan ---------------------------------------------------------------------------------
    def plan(self, reuse: bool = False) -> KindPlan:
        """The config and commands `up` runs. ``reuse``: the cluster exists and matches the pin."""
        kind, kubectl, docker = self._kind(), self._kubectl(), self._docker()
        name, kubeconfig = self.cluster_name, str(self.kubeconfig)
        if reuse:
            first = Step((kind, "export", "kubeconfig", "--name", name, "--kubeconfig", kubeconfig),
                         f"reuse the existing kind cluster {name}")
        else:
            first = Step((kind, "create", "cluster", "--name", name, "--config", str(self.config_path),
                          "--kubeconfig", kubeconfig, "--wait", CREATE_WAIT),
                         f"create the kind cluster {name} (1 control plane, {len(self.spec.workers)} workers)",
                         stream=True)
        steps = [first, *node_label_steps(kubectl, self.spec, {n.name: n.name for n in self.spec.nodes})]
        build_args: tuple[str, ...] = ()
        if self.python_base:
            # No registry: the Python base is the debootstrapped one `lab build --kind-node-image` made.
            build_args = ("--build-arg", f"PYTHON_IMAGE={self.python_base}")
        built = py_scheduler_build_image(name)
        steps.append(Step((docker, "build", "-t", built, *build_args, "-f",
                           str(self.repo_root / "Dockerfile"), str(self.repo_root)),
                          "build the Python scheduler image", stream=True))
        steps.append(Step((kind, "load", "docker-image", built, "--name", name),
                          "load the Python scheduler image into every node", stream=True))
        for node in kind_node_names(self.spec, name).values():
            # --force: a later `up` replaces the name; the per-lab tag keeps the image's content.
            steps.append(Step((docker, "exec", node, "ctr", "--namespace=k8s.io", "images", "tag", "--force",
                               containerd_ref(built), containerd_ref(PY_SCHEDULER_IMAGE)),
                              f"name the loaded image {PY_SCHEDULER_IMAGE} on {node}, as the Deployment asks"))
        steps += deploy_steps(kubectl, self.repo_root)
        return KindPlan(config=kind_config(self.spec, self.node_image, self.reserved, name),
                        config_yaml=render_kind_config(self.spec, self.node_image, self.reserved, name),
                        config_path=self.config_path, steps=steps)

    # -- up / down / status -----------------------------------------------------------------------
    def existing_clusters(self) -> list[str]:
        out = self.run(Step((self._kind(), "get", "clusters"), "list kind clusters"), timeout=60)
        return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]

    def check_existing_cluster(self) -> None:
        """Raise unless the existing cluster has exactly the lab's nodes, all on the pinned image."""
        name, pinned = self.cluster_name, self.node_image
        recreate = (f"recreate it: `{self._kind()} delete cluster --name {name}` (or `python -m lab down`), "
                    "then `python -m lab up --provider kind`")
        out = self.run(Step((self._kind(), "get", "nodes", "--name", name), "list the cluster's nodes"),
                       timeout=60)
        nodes = sorted(ln.strip() for ln in out.stdout.splitlines() if ln.strip())
        expected = sorted(kind_node_names(self.spec, self.cluster_name).values())
        if nodes != expected:
            raise ProviderError(f"kind cluster {name} exists with nodes {', '.join(nodes) or 'none'}, "
                                f"not the lab's {', '.join(expected)} — {recreate}")
        out = self.run(Step((self._docker(), "inspect", "--format", "{{.Name}} {{.Config.Image}}", *nodes),
                            "read the image of each node container"), timeout=60)
        for line in out.stdout.splitlines():
            if not line.strip():
                continue
            node, _, image = line.strip().lstrip("/").partition(" ")
            if image != pinned:
                raise ProviderError(f"kind cluster {name} exists but node {node} runs {image}, not the pinned "
                                    f"{pinned} — {recreate}")

    def up(self) -> Path:
        with labdir.recording(self.workdir):  # refuses a directory the lab did not make; records what it makes
            return self._up()

    def _up(self) -> Path:
        self._started_engine = False
        created = False
        try:
            if self.engine is not None:
                self._prepare_engine_and_images()
            reuse = self.cluster_name in self.existing_clusters()
            if reuse:
                self.check_existing_cluster()
                self.say(f"kind cluster {self.cluster_name} exists on the pinned image: reusing it")
            plan = self.plan(reuse=reuse)
            self.config_path.write_text(plan.config_yaml)
            for step in plan.steps:
                self.say(f"$ {step.render()}")
                if step.argv[1:3] == ("create", "cluster"):
                    self.cluster_record.write_text(json.dumps({"cluster": self.cluster_name}) + "\n")
                    created = True
                if step.argv[1:3] == ("load", "docker-image"):
                    self._load_image(step)
                else:
                    self.run(step)
        except BaseException:
            self._undo_up(created)
            raise
        return self.kubeconfig

    def _undo_up(self, created: bool) -> None:
        """A failed `up` takes back what it started itself: the cluster it created (also half
        created) and the dockerd and namespaces it started. What was there before stays."""
        if not created and not self._started_engine:
            return
        self.say("failed: undoing what this run started (logs stay in "
                 f"{self.workdir / 'logs'} and {self.workdir / 'docker'})")
        kind = self.kind_binary()
        if created and kind is not None:
            try:
                deleted = self.run(self._delete_step(kind), check=False, timeout=300).returncode == 0
            except ProviderError as exc:
                self.say(f"  could not delete the kind cluster {self.cluster_name}: {exc}")
                deleted = False
            if deleted:
                self.cluster_record.unlink(missing_ok=True)
        if self._started_engine and self.engine is not None:
            if created:
                self.cluster_record.unlink(missing_ok=True)  # its containers go with this dockerd
            for what in self.engine.stop(self.say):
                self.say(f"  left behind: {what}")

    # -- Docker, kind, kubectl and the node image, when the lab provides them ---------------------
    def prepare(self) -> None:
        """Everything `up` needs before `kind create` (public: `lab build --kind`)."""
        if self.engine is None:
            raise ProviderError("kind provider: prepare() needs a Docker engine handle")
        self._started_engine = False
        try:
            self._prepare_engine_and_images()
        except BaseException:
            self._undo_up(created=False)  # e.g. debootstrap missing: the dockerd it started goes
            raise

    @property
    def _choice_file(self) -> Path:
        return self.workdir / "kind-node-image.json"

    def _prepare_engine_and_images(self) -> None:
        """Start Docker if it must (netns), then pick the node image: the pinned kindest/node when
        it is here or can be pulled, else the offline-built one (built now if not cached)."""
        assert self.engine is not None
        try:
            self._started_engine = self.engine.ensure(self.say) or self._started_engine
        except EngineError as exc:
            raise ProviderError(f"kind provider: {exc}") from None
        choice = self.env.get("LAB_KIND_NODE_IMAGE", "auto")
        if choice not in ("auto", "pinned", "built"):
            raise ProviderError(f"LAB_KIND_NODE_IMAGE={choice!r}: expected auto, pinned or built")
        pinned = self.spec.versions.kind_node_image
        recorded = self._recorded_choice()
        if choice == "auto" and recorded in ("pinned", "built"):
            choice = recorded  # decided by an earlier `up`/`build --kind`: no second pull attempt
        if choice == "pinned" or (choice == "auto" and self._have_or_pull(pinned)):
            self.node_image, self.python_base = pinned, None
        else:
            if choice == "auto":
                self.say(f"{pinned.split('@')[0]} cannot be pulled here: using the node image built offline "
                         f"(python -m lab build --kind-node-image)")
            from lab.images.kindimage import ensure_kind_images

            images = ensure_kind_images(self.spec, self.engine, self.workdir / "logs", self.say)
            self.node_image, self.python_base = images.node_image, images.python_base
            self._link_tools(images.bins)
        self._choice_file.write_text(json.dumps({"choice": "pinned" if self.node_image == pinned else "built",
                                                 "image": self.node_image}) + "\n")
        info = self.run(Step((self._docker(), "info", "--format", "{{.NCPU}} {{.MemTotal}}"),
                             "read the Docker host's CPUs and memory"), timeout=60).stdout.split()
        if len(info) == 2 and all(x.isdigit() for x in info):
            self.reserved = capacity_reservation(self.spec, int(info[0]), int(info[1]))
        if self.kind_binary() is None or self.kubectl_binary() is None:
            from lab.images.kindimage.gobins import ensure_go_bins

            self._link_tools(ensure_go_bins(self.spec, self.workdir / "logs" / "kind-build.log", self.say))
        self._check_tools()

    def _recorded_choice(self) -> str:
        try:
            return json.loads(self._choice_file.read_text())["choice"]
        except (OSError, ValueError, KeyError):
            return ""

    def _link_tools(self, bins: Path) -> None:
        """kind v0.27.0 and kubectl v1.29.15 as built, in .lab/bin (first on `lab env`'s PATH)."""
        bin_dir = self.workdir / "bin"
        if bin_dir.is_symlink():
            bin_dir.unlink()  # the local lab's link to its binaries: never add to that cache directory
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, target in (("kind", bins / "kind"), ("kubectl", bins / "k8s")):
            link = bin_dir / name
            if not link.exists():
                link.unlink(missing_ok=True)
                link.symlink_to(target)

    def _have_or_pull(self, image: str) -> bool:
        docker = self._docker()
        if self.run(Step((docker, "image", "inspect", image), f"look for {image}"), check=False,
                    timeout=60).returncode == 0:
            return True
        self.say(f"$ {docker} pull {image}")
        try:
            pulled = self.run(Step((docker, "pull", image), f"pull {image}"), check=False, timeout=PULL_TIMEOUT)
        except ProviderError:  # timed out: as good as unreachable
            return False
        return pulled.returncode == 0

    def kill_pod_containers(self, namespace: str, pod: str, grace: int = 0) -> None:
        """Signal a pod's containers now, on its node: `crictl stop --timeout <grace>` sends SIGTERM
        and SIGKILL after ``grace`` seconds (0: SIGKILL at once, as `kill -9` would)."""
        out = self.run(Step((*self._kubectl(), "-n", namespace, "get", "pod", pod, "-o", "json"),
                            f"read pod {pod}"), timeout=60)
        obj = json.loads(out.stdout)
        node = kind_node_names(self.spec, self.cluster_name).get(obj["spec"].get("nodeName", ""), "")
        ids = [c.get("containerID", "").split("://", 1)[-1] for c in obj["status"].get("containerStatuses", [])]
        ids = [i for i in ids if i]
        if node and ids:
            self.run(Step((self._docker(), "exec", node, "crictl", "--timeout=60s", "stop", "--timeout", str(grace), *ids),
                          f"stop the containers of {pod}"), timeout=60 + grace)

    def _load_image(self, step: Step) -> None:
        """`kind load docker-image`, falling back to save + image-archive: with Docker's containerd
        image store the direct load fails with 'content digest ... not found' (kind#3845)."""
        if self.run(step, check=False).returncode == 0:
            return
        archive = self.workdir / "py-scheduler-image.tar"
        self.say("kind load docker-image failed (known with Docker's containerd image store); "
                 "retrying through docker save + kind load image-archive")
        built = py_scheduler_build_image(self.cluster_name)
        for fallback in (Step((self._docker(), "save", "-o", str(archive), built),
                              "save the Python scheduler image to a tar file"),
                         Step((self._kind(), "load", "image-archive", str(archive), "--name", self.cluster_name),
                              "load the saved image into every node", stream=True)):
            self.say(f"$ {fallback.render()}")
            self.run(fallback)

    def _delete_step(self, kind: str) -> Step:
        return Step((kind, "delete", "cluster", "--name", self.cluster_name, "--kubeconfig", str(self.kubeconfig)),
                    f"delete the kind cluster {self.cluster_name}")

    def down(self, wipe: bool = False) -> None:
        """Delete the lab's kind cluster and stop what the lab started (its dockerd, namespaces),
        also when kind is missing; raise only if something this lab recorded is left."""
        kind = self.kind_binary()
        own = self.engine is not None and self.engine.managed  # the lab's own dockerd holds the cluster
        docker_up = self.engine is None or self.engine.usable(self._tool_env())
        failed = ""
        if kind is None:
            failed = "kind not found on PATH"
        elif not docker_up:
            failed = "Docker is not reachable"
        else:
            try:  # kind deletes a cluster that does not exist without complaint: idempotent
                self.run(self._delete_step(kind), timeout=300)
            except ProviderError as exc:
                failed = str(exc)
        if failed and own:
            # Everything in the lab's own dockerd is the lab's: remove the node containers as kind
            # would (label io.x-k8s.kind.cluster); what is left stops with that dockerd.
            if kind is None:
                self.say("kind not found: the cluster's containers go with the lab's dockerd")
            if docker_up:
                try:
                    self._remove_node_containers()
                except ProviderError as exc:
                    self.say(f"  {exc}")
            failed = ""
        if not failed:
            self.cluster_record.unlink(missing_ok=True)
        if own:
            assert self.engine is not None
            # The lab's dockerd stops and its namespaces go; its images stay in its data root
            # (lab_data_root), so the next `up` needs no rebuild (`--wipe` deletes it, below).
            left = self.engine.stop(self.say)
            if left:
                raise ProviderError(f"kind provider: still there after stopping the lab's dockerd: {', '.join(left)}")
        if failed and self.cluster_record.exists():
            raise ProviderError(f"kind provider: {failed}, so the kind cluster {self.cluster_name} this lab created "
                                f"was not deleted — install kind {self.spec.versions.kind} (or start Docker) and rerun "
                                f"`python -m lab down`, or `docker rm -f` its containers {self.cluster_name}-*")
        if failed:
            self.say(f"{failed}; this lab recorded no kind cluster ({self.cluster_name}): nothing to delete")
        if wipe:
            labdir.remove_owned(self.workdir, [self.config_path.name, "py-scheduler-image.tar"])
            if not own and docker_up:
                self._remove_build_image()
            if self.engine is not None:
                # The data root this lab's dockerd was started with (1.5-3 GB), now that the
                # dockerd is stopped: only the recorded <cache>/docker-data/<lab id>, never one
                # a running process uses; a machine's own Docker recorded none.
                try:
                    self.engine.remove_data_root(lab_id(self.workdir), self.say)
                except EngineError as exc:
                    raise ProviderError(f"kind provider: {exc}") from None

    def _remove_build_image(self) -> None:
        """On a Docker the lab does not own: untag the scheduler image this lab built (its own
        tag only; `docker image rm` without -f keeps an image another tag or a container uses).
        The lab's own dockerd needs none of this: its data root goes as a whole."""
        built = py_scheduler_build_image(self.cluster_name)
        try:
            out = self.run(Step((self._docker(), "image", "rm", built), f"remove this lab's image tag {built}"),
                           check=False, timeout=120)
        except ProviderError as exc:
            self.say(f"left the image tag {built}: {exc}")
            return
        if out.returncode == 0:
            self.say(f"removed this lab's image tag {built}")

    def _remove_node_containers(self) -> None:
        """What `kind delete cluster` removes, done with docker: the containers labelled with this
        lab's cluster, in the lab's own dockerd (nothing else runs there)."""
        docker = self._docker()
        label = f"label=io.x-k8s.kind.cluster={self.cluster_name}"
        ids = self.run(Step((docker, "ps", "-aq", "--filter", label), "list the cluster's node containers"),
                       timeout=60).stdout.split()
        if ids:
            self.run(Step((docker, "rm", "-f", "-v", *ids), f"remove the {self.cluster_name} node containers"),
                     timeout=300)

    def status(self) -> ProviderStatus:
        try:
            if self.kind_binary() is None:
                return ProviderStatus(up=False, kubeconfig=None, detail="kind is not installed")
            if self.engine is not None and not self.engine.usable(self._tool_env()):
                return ProviderStatus(up=False, kubeconfig=None, detail="Docker is not running")
            if self.cluster_name not in self.existing_clusters():
                return ProviderStatus(up=False, kubeconfig=None,
                                      detail=f"no kind cluster named {self.cluster_name}")
            components = self._node_components() + self._deployment_components()
        except ProviderError as exc:
            return ProviderStatus(up=False, kubeconfig=None, detail=str(exc))
        return ProviderStatus(up=True, kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
                              components=components, detail=f"kind cluster {self.cluster_name}")

    def _node_components(self) -> list[ComponentStatus]:
        names = kind_node_names(self.spec, self.cluster_name)
        out = self.run(Step((self._docker(), "inspect", "--format", "{{.Name}} {{.State.Running}} {{.Config.Image}}",
                             *names.values()), "read the node containers' state"), check=False, timeout=60)
        running = {}
        for line in out.stdout.splitlines():
            parts = line.strip().lstrip("/").split(" ")
            if len(parts) == 3:
                running[parts[0]] = (parts[1] == "true", parts[2])
        result = []
        for lab_name, kind_name in names.items():
            ok, image = running.get(kind_name, (False, ""))
            result.append(ComponentStatus(name=f"node {lab_name} ({kind_name})", pid=None, healthy=ok,
                                          version=image.split("@")[0].rpartition(":")[2],
                                          detail="running" if ok else "not running"))
        return result

    def _deployment_components(self) -> list[ComponentStatus]:
        result = []
        for name in SCHEDULER_DEPLOYMENTS:
            out = self.run(Step((*self._kubectl(), "-n", SCHEDULER_NAMESPACE, "get", "deployment", name,
                                 "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}"),
                                f"read {name}'s replicas"), check=False, timeout=60)
            ready, _, wanted = out.stdout.strip().partition("/")
            healthy = out.returncode == 0 and wanted != "" and ready == wanted
            result.append(ComponentStatus(name=f"deployment {name}", pid=None, healthy=healthy,
                                          detail=f"{ready or 0}/{wanted or '?'} ready" if out.returncode == 0
                                          else "not deployed"))
        return result
