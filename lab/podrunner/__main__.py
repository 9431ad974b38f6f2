"""python -m lab.podrunner --workdir DIR --kubeconfig FILE --kube-scheduler BIN --api-port PORT NODE=IP..."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kubernetes import client, config
from tenacity import Retrying, retry_if_exception_type, wait_fixed

from lab.podrunner.images import Programs
from lab.podrunner.kubelet import UNREACHABLE, Kubelet
from lab.podrunner.logserver import serve
from lab.podrunner.process import stop_recorded


def write_kubelet_port(core: client.CoreV1Api, node: str, port: int) -> None:
    """Until it is written: the API server may be restarting just now."""
    body = {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
    for attempt in Retrying(retry=retry_if_exception_type(UNREACHABLE), wait=wait_fixed(1)):
        with attempt:
            core.patch_node_status(node, body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab.podrunner")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--kube-scheduler", type=Path, required=True)
    p.add_argument("--api-port", type=int, required=True)
    p.add_argument("--log-port", type=int, required=True, help="the nodes' kubelet port: /containerLogs")
    p.add_argument("--pki", type=Path, required=True, help="the lab's pki directory (CA, serving cert)")
    p.add_argument("nodes", nargs="+", help="NODE=INTERNAL_IP")
    args = p.parse_args(argv)
    nodes = dict(n.split("=", 1) for n in args.nodes)
    core = client.CoreV1Api(config.new_client_from_config(args.kubeconfig))
    workdir = args.workdir.resolve()
    left = stop_recorded(workdir / "pods")
    if left:
        print(f"podrunner: stopped {left} container process(es) an earlier run left", flush=True)
    kubelet = Kubelet(core, workdir, nodes, Programs(args.kube_scheduler, Path(sys.executable)), args.api_port)
    # The statuses in the API server are those of the processes just stopped (or of a run before
    # `lab down`): Ready until someone says otherwise. One pass first, as a restarted kubelet does,
    # restarts the containers and writes them not ready until their probes pass; only then does the
    # log port open, which is what `lab up` waits for. So `lab deploy` never counts a stale Ready.
    kubelet.first_pass()
    serve(workdir / "pods", list(nodes.values()), args.log_port, args.pki / "podrunner-kubelet.crt",
          args.pki / "podrunner-kubelet.key", args.pki / "ca.crt")
    for node in nodes:  # where the API server asks for logs
        write_kubelet_port(core, node, args.log_port)
    print(f"podrunner: running pods of the lab's known images on {', '.join(nodes)}", flush=True)
    kubelet.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
