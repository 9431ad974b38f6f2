"""A small wrapper around the docker CLI, logging every command (no shell, one-line errors)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from lab.build import BuildError


class DockerCLI:
    """Runs ``docker`` with the engine's environment (``DOCKER_HOST`` of the project's dockerd)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log

    def run(self, *args: str, what: str, input_bytes: bytes | None = None) -> str:
        argv = ["docker", *args]
        with open(self.log, "a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            if input_bytes is None:  # never let `docker exec -i` read the caller's terminal
                proc = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=out)
            else:
                proc = subprocess.run(argv, env=self.env, input=input_bytes, stdout=subprocess.PIPE, stderr=out)
        if proc.returncode != 0:
            raise BuildError(f"{what} failed (docker {args[0]}, exit {proc.returncode}); see {self.log}")
        return proc.stdout.decode(errors="replace")

    def image_exists(self, ref: str) -> bool:
        proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], env=self.env,
                              capture_output=True, text=True)
        return proc.returncode == 0

    def pipe(self, producer: list[str], consumer: list[str], what: str) -> None:
        """``docker <producer> | docker <consumer>`` (e.g. save | exec -i ctr import)."""
        with open(self.log, "a") as out:
            out.write(f"\n$ docker {' '.join(producer)} | docker {' '.join(consumer)}\n")
            out.flush()
            src = subprocess.Popen(["docker", *producer], env=self.env, stdout=subprocess.PIPE, stderr=out)
            dst = subprocess.run(["docker", *consumer], env=self.env, stdin=src.stdout, stdout=out, stderr=out)
            assert src.stdout is not None
            src.stdout.close()
            src.wait()
        if src.returncode != 0 or dst.returncode != 0:
            raise BuildError(f"{what} failed (exit {src.returncode}/{dst.returncode}); see {self.log}")
