"""Benchmarks: ``python -m bench`` runs every registered benchmark.

Other modules add theirs with ``register_benchmark(name, fn)``; ``fn(args)`` receives the
parsed command line (``args.quick`` for a short run) and prints its own report.
Modules listed in ``BENCHMARK_MODULES`` are imported (if present) so they can register.
"""

from __future__ import annotations

from typing import Callable

BenchmarkFn = Callable[..., object]
BENCHMARKS: dict[str, BenchmarkFn] = {}

# Imported by ``python -m bench`` when they exist; each calls register_benchmark at import time.
BENCHMARK_MODULES = ("bench.core", "bench.compare", "bench.validation")


def register_benchmark(name: str, fn: BenchmarkFn) -> BenchmarkFn:
    BENCHMARKS[name] = fn
    return fn
