"""python -m lab.podrunner --workdir DIR --kubeconfig FILE --kube-scheduler BIN --api-port PORT NODE=IP..."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kubernetes import client, config

from lab.podrunner.images import Programs
from lab.podrunner.kubelet import Kubelet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab.podrunner")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--kube-scheduler", type=Path, required=True)
    p.add_argument("--api-port", type=int, required=True)
    p.add_argument("nodes", nargs="+", help="NODE=INTERNAL_IP")
    args = p.parse_args(argv)
    nodes = dict(n.split("=", 1) for n in args.nodes)
    core = client.CoreV1Api(config.new_client_from_config(args.kubeconfig))
    print(f"podrunner: running pods of the lab's known images on {', '.join(nodes)}", flush=True)
    Kubelet(core, args.workdir.resolve(), nodes, Programs(args.kube_scheduler, Path(sys.executable)),
            args.api_port).run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
