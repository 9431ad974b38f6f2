"""``python -m bench [NAME ...] [--quick|--large] [--nodes N --pods M --rounds R --setting S]``:
run the registered benchmarks (default: all)."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import BENCHMARK_MODULES, BENCHMARKS


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _at_least_3(text: str) -> int:
    value = int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(f"must be at least 3 (the within-noise rule needs three), not {text}")
    return value


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
                      help="the lab-sized runs at scale: 5,000 nodes (throughput: 24 runs of 2,000 pods, "
                           "about 2 minutes each on 2 cores; --setting uncapped halves it)")
    # The throughput comparison's size, overriding --quick/--large (e.g. a smoke run).
    parser.add_argument("--nodes", type=_positive, help="kwok nodes (throughput)")
    parser.add_argument("--pods", type=_positive, help="pods per contender and round (throughput)")
    parser.add_argument("--rounds", type=_at_least_3, help="measured rounds, at least 3 (throughput)")
    parser.add_argument("--setting", action="append", choices=["uncapped", "seed qps 100/burst 200"],
                        help="only this client setting (throughput; repeatable; default both)")
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
