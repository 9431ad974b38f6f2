"""``make fuzz``: N generated hostile inputs through ``scheduler simulate`` and the kubeconfig loader.

    python tests/unit/validation/fuzz.py [--cases 10000] [--seed 1] [--show 5]

Prints the count of every outcome class and exits non-zero if any case ended in a
traceback, a hang, a malformed error, a silent acceptance or a changed result.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402

from validation_harness import (  # noqa: E402
    BASE_CONFIG, BASE_KUBECONFIG, FAILURES, base_state, classify, dump_state, kubeconfig_text, mutate,
    no_op_variants, simulate_texts, text_attacks,
)


def baseline() -> str:
    out = simulate_texts(dump_state(base_state()))
    assert out.code == 0, out.err
    return out.out


def one_case(rng: random.Random, base_out: str) -> tuple[str, str, str]:
    """(outcome class, target, description) of one generated case."""
    roll = rng.random()
    if roll < 0.55:
        objects = base_state()
        i = rng.randrange(len(objects))
        new, expect, desc = mutate(objects[i], rng, "state")
        objects[i] = new
        outcome = simulate_texts(dump_state(objects))
        return classify(outcome, expect, base_out), "state", f"{desc} of object {i}: {outcome.err.strip()[:160]}"
    if roll < 0.8:
        new, expect, desc = mutate(BASE_CONFIG, rng, "config")
        text = yaml.safe_dump(new, sort_keys=False, allow_unicode=True)
        outcome = simulate_texts(dump_state(base_state()), config_text=text)
        return classify(outcome, expect), "config", f"{desc}: {outcome.err.strip()[:160]}"
    if roll < 0.9:
        new, expect, desc = mutate(BASE_KUBECONFIG, rng, "kubeconfig")
        outcome = kubeconfig_text(yaml.safe_dump(new, sort_keys=False, allow_unicode=True))
        return classify(outcome, expect), "kubeconfig", f"{desc}: {outcome.err.strip()[:160]}"
    if roll < 0.95:
        text, desc = no_op_variants(base_state(), rng)
        outcome = simulate_texts(text)
        return classify(outcome, "same", base_out), "state-noop", f"{desc}: {outcome.err.strip()[:160]}"
    text, desc = text_attacks(rng)
    target = rng.choice(("state", "config", "kubeconfig"))
    if target == "state":
        outcome = simulate_texts(text)
    elif target == "config":
        outcome = simulate_texts(dump_state(base_state()), config_text=text)
    else:
        outcome = kubeconfig_text(text)
    return classify(outcome, "invalid"), f"{target}-text", f"{desc}: {outcome.err.strip()[:160]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=5, help="failures to print per class")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    base_out = baseline()
    counts: collections.Counter[str] = collections.Counter()
    targets: collections.Counter[str] = collections.Counter()
    shown: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    for _ in range(args.cases):
        result, target, desc = one_case(rng, base_out)
        counts[result] += 1
        targets[target] += 1
        if result in FAILURES and shown[result] < args.show:
            shown[result] += 1
            print(f"  {result:<10} {target:<12} {desc}")
    elapsed = time.perf_counter() - start
    print(f"fuzz: {args.cases} cases in {elapsed:.1f} s (seed {args.seed}); by target: "
          + ", ".join(f"{k} {v}" for k, v in sorted(targets.items())))
    print(f"fuzz: ok {counts['ok']}, rejected {counts['rejected']}; tracebacks {counts['traceback']}, "
          f"hangs {counts['hang']}, silent acceptances {counts['silent']}, malformed errors {counts['bad-error']}, "
          f"changed results {counts['changed']}")
    return 1 if any(counts[f] for f in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
