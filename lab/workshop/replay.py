"""What each step's guided part leaves in the cluster for the steps after it, declared per step, and
re-creating it ("replay") so that ``lab reset NN`` can rebuild the state step NN starts from.

Replaying is faster than the steps themselves: files are applied directly, and pods whose scheduler
only runs during its own step (the bash scheduler of 03, the plugin scheduler of 08) are bound here
as that scheduler would bind them. Steps 07 and 09-11 leave nothing a later step needs: no Piece."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.workshop.objects import NAMESPACE, apply_files, bind, wait_rollout, wait_scheduled

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.cluster import LabCluster

Binder = Callable[["LabCluster"], str]  # the node a replayed pod goes to


@dataclass(frozen=True)
class Piece:
    """What one step's guided part leaves behind."""

    step: str
    files: tuple[str, ...] = ()                        # applied in this order
    scheduled: tuple[str, ...] = ()                    # pods a running scheduler places: wait for them
    rollouts: tuple[str, ...] = ()                     # Deployments to wait for: name, or namespace/name
    bound_here: tuple[tuple[str, Binder], ...] = ()    # (pod, which node): bound by the replay itself
    shell: tuple[str, ...] = ()                        # commands (bash), e.g. directories on kind's nodes
    providers: frozenset[str] | None = None            # None: every provider


def first_worker(lab: "LabCluster") -> str:
    """Step 03's bash scheduler picks any worker at random; the replay picks the first, one of its
    possible choices, so that the worker steps 13's volumes need (worker-node02, -03) keeps room."""
    return lab.workers[0]


def freest_worker(lab: "LabCluster") -> str:
    """Step 08's MostAvailableCPU: the worker with the most CPU not yet requested."""
    views = {v.name: v for v in lab.nodes_view()}
    return max(lab.workers, key=lambda n: views[n].allocatable.get("cpu", 0) - views[n].requested.get("cpu", 0))


PIECES: tuple[Piece, ...] = (
    Piece("02", files=("manifests/samples/nginx-my-scheduler.yaml",)),
    Piece("03", bound_here=(("nginx", first_worker),)),
    Piece("04", files=("manifests/samples/sleep.yaml",), rollouts=("sleep",)),
    # Step 05's scheduler, as its solution files make it, and the pod it binds. Both replicas must be
    # Ready, as step 05's own rollout status leaves them: step 06 starts by showing them Running.
    Piece("05", files=("docs/labs/files/05-deploy-your-own-scheduler/solution",),
          rollouts=("kube-system/my-kube-scheduler",), scheduled=("mine",)),
    Piece("06", files=("docs/labs/files/06-after-failover.yaml",), scheduled=("after-failover",)),
    Piece("08", files=("docs/labs/files/08-cpu-hungry-pod.yaml",), bound_here=(("cpu-hungry", freest_worker),)),
    Piece("12", files=("docs/labs/files/12-workshop-scheduler-rbac.yaml", "docs/labs/files/12-workshop-scheduler.yaml",
                       "manifests/samples/annotation-pod.yaml"),
          rollouts=("workshop-scheduler",), scheduled=("custom-scheduler-pod",)),
    Piece("13", shell=('docker exec "$KIND_CLUSTER_NAME-worker2" mkdir -p /mnt/disks/small',
                       'docker exec "$KIND_CLUSTER_NAME-worker3" mkdir -p /mnt/disks/large'),
          providers=frozenset({"kind"})),
    # One pod after the other, as step 13 does: applied together, the two schedulers race for the
    # volumes, and when pvc-upstream (1Gi) wins the large one, data-py (2Gi) fits nowhere (CI saw it).
    Piece("13", files=("docs/labs/files/13-local-storage.yaml", "docs/labs/files/13-claims.yaml",
                       "docs/labs/files/13-pvc-pod-py.yaml"), scheduled=("pvc-py",)),
    Piece("13", files=("docs/labs/files/13-pvc-pod-upstream.yaml",), scheduled=("pvc-upstream",)),
)


def pieces_before(step: str, provider: str) -> list[Piece]:
    """What the guided parts of the steps before ``step`` leave, on this provider, in order."""
    return [p for p in PIECES if p.step < step and (p.providers is None or provider in p.providers)]


def replay(lab: "LabCluster", piece: Piece, env: dict[str, str]) -> list[str]:
    """Re-create one piece; what was done, one line each."""
    done: list[str] = []
    for command in piece.shell:
        subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, check=True, capture_output=True,
                       timeout=60)
        done.append(f"ran {command}")
    if piece.files:
        done += apply_files(lab.workdir, *piece.files)
    for pod, where in piece.bound_here:
        node = where(lab)
        bind(lab.workdir, pod, node)
        done.append(f"bound pod/{pod} to {node}")
    for rollout in piece.rollouts:
        namespace, _, deployment = rollout.rpartition("/")
        wait_rollout(lab.workdir, deployment, namespace=namespace or NAMESPACE)
    if piece.scheduled:
        wait_scheduled(lab.workdir, *piece.scheduled)
    return done


def replay_env(workdir: Path, provider: str) -> dict[str, str]:
    import os

    env = dict(os.environ, KUBECONFIG=str(workdir / "kubeconfig"))
    if provider == "kind":
        from lab.host.docker_netns import lab_id

        env["KIND_CLUSTER_NAME"] = lab_id(workdir)
    return env
