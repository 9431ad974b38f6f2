"""``python -m bench [NAME ...] [--quick]``: run the registered benchmarks (default: all)."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import BENCHMARK_MODULES, BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    for module in BENCHMARK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    parser = argparse.ArgumentParser(prog="python -m bench", description="scheduler-lab benchmarks")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    size.add_argument("--large", action="store_true",
                      help="the lab-sized runs at scale: 5,000 nodes (throughput takes about half an hour)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"python -m bench: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    for name in args.names or list(BENCHMARKS):
        BENCHMARKS[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
