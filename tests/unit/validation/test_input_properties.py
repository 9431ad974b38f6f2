"""Property-based suite (hypothesis): mutated states, configs and kubeconfigs never crash, hang or pass silently.

For every generated case: valid input exits 0 with the unmutated result; invalid input exits
non-zero with one stderr line and no stdout; every case finishes within 5 s; no exception
escapes and the last-resort ``internal error`` never fires.  Mutations: wrong types, nulls,
missing keys, enum typos, huge and unicode values, deep nesting, unknown keys, aliases and
re-serialisations, hostile texts (alias bombs, deep brackets, duplicate and complex keys).

Case counts (derandomised, so every run checks the same cases): 450 + 300 + 150 + 60 + 60 + 200
+ 150 = 1,370 generated cases in ``make test``; ``make fuzz`` runs 10,000 more.
"""

from __future__ import annotations

import random
from fractions import Fraction

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validation_harness import (
    BASE_CONFIG, BASE_KUBECONFIG, base_state, classify, dump_state, kubeconfig_text, mutate, no_op_variants,
    simulate_texts, text_attacks,
)

from scheduler.core.resources import QuantityError, parse_quantity
from scheduler.core.validation import yamlload

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BASELINE: dict[str, str] = {}


def baseline() -> str:
    if "out" not in BASELINE:
        out = simulate_texts(dump_state(base_state()))
        assert out.code == 0, out.err
        BASELINE["out"] = out.out
    return BASELINE["out"]


def check(outcome, expect: str, what: str, base: str | None = None) -> None:
    result = classify(outcome, expect, base)
    assert result in ("ok", "rejected"), (result, what, outcome.code, outcome.err[:500], outcome.exception)


@settings(max_examples=450, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, len(base_state()) - 1))
def test_mutated_cluster_states(seed, index):
    objects = base_state()
    new, expect, desc = mutate(objects[index], random.Random(seed), "state")
    objects[index] = new
    check(simulate_texts(dump_state(objects)), expect, f"{desc} of object {index}", baseline())


@settings(max_examples=300, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_configs(seed):
    new, expect, desc = mutate(BASE_CONFIG, random.Random(seed), "config")
    text = yaml.safe_dump(new, sort_keys=False, allow_unicode=True)
    check(simulate_texts(dump_state(base_state()), config_text=text), expect, desc)


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_kubeconfigs(seed):
    new, expect, desc = mutate(BASE_KUBECONFIG, random.Random(seed), "kubeconfig")
    check(kubeconfig_text(yaml.safe_dump(new, sort_keys=False, allow_unicode=True)), expect, desc)


@settings(max_examples=60, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_reserialised_states_give_the_same_result(seed):
    text, desc = no_op_variants(base_state(), random.Random(seed))
    check(simulate_texts(text), "same", desc, baseline())


@settings(max_examples=60, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), target=st.sampled_from(("state", "config", "kubeconfig")))
def test_hostile_texts(seed, target):
    text, desc = text_attacks(random.Random(seed))
    if target == "state":
        outcome = simulate_texts(text)
    elif target == "config":
        outcome = simulate_texts(dump_state(base_state()), config_text=text)
    else:
        outcome = kubeconfig_text(text)
    check(outcome, "invalid", f"{desc} as {target}")


# ------------------------------------------------------------------ the YAML fast path reads what libyaml reads

SCALARS = st.one_of(
    st.text(max_size=12), st.integers(-10**20, 10**20), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["yes", "no", "on", "off", "0755", "0o7", "1e3", "1_000", "12:30", "2024-01-02", ".5", "~",
                     "Null", "0x1F", "+1", "-", "?", ":", "- a", "&a", "*a", "!x", "'", '"', "#", "[", "{", "100m"]),
)
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["on", "yes", "1", "0755", "a b", "a:b", "-x"])), inner, max_size=4)), max_leaves=20)


@settings(max_examples=200, **SETTINGS)
@given(docs=st.lists(DOCS, min_size=1, max_size=3), style=st.sampled_from((None, True, False)))
def test_fast_path_equals_libyaml(docs, style):
    text = yaml.safe_dump_all(docs, default_flow_style=style, allow_unicode=True)
    # The PyYAML path is the reference (fast=False); wherever the fast path answers, it must agree.
    try:
        slow = yamlload.load_yaml_documents(text, fast=False)
    except yamlload.YAMLLoadError:
        return
    before = yamlload.FAST_PATH_USED[0]
    assert yamlload.load_yaml_documents(text) == slow
    FAST_CASES[0] += yamlload.FAST_PATH_USED[0] - before


FAST_CASES = [0]


def test_the_fast_path_was_exercised_above():
    assert FAST_CASES[0] >= 50, f"only {FAST_CASES[0]} of the generated texts took the yaml_rs path"


# ------------------------------------------------------------------ quantities

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=8)


@settings(max_examples=150, **SETTINGS)
@given(sign=st.sampled_from(("", "+", "-")), whole=DIGITS, frac=st.one_of(st.none(), DIGITS),
       suffix=st.sampled_from(("", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "E-2", "n", "u")),
       junk=st.one_of(st.none(), st.text(max_size=3)))
def test_quantities_follow_the_apimachinery_grammar(sign, whole, frac, suffix, junk):
    text = f"{sign}{whole}{'.' + frac if frac is not None else ''}{suffix}"
    scale = {"": 1, "m": Fraction(1, 1000), "k": 1000, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20,
             "Gi": 2**30, "e3": 1000, "E-2": Fraction(1, 100), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6)}
    expected = Fraction(f"{whole}.{frac}" if frac else whole) * scale[suffix]
    expected = Fraction(-(-expected * 10**9 // 1), 10**9) if expected.denominator != 1 else expected  # round up
    expected = -expected if sign == "-" else expected
    assert parse_quantity(text) == expected
    if junk:
        try:
            parse_quantity(text + junk)
        except QuantityError as exc:
            assert "\n" not in str(exc)
