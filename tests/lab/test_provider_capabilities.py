"""The provider registry: every provider declares its capabilities, the e2e suite names only real
ones, and no provider-name comparison comes back into e2e/ (it asks for capabilities instead)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.providers import CAPABILITIES, PROVIDERS, Capability, capabilities, lacking

E2E = Path(__file__).resolve().parents[2] / "e2e"
# `requires("a", "b")` (marker or SuiteCluster.requires) and `can("a")`: the string literals inside.
_CAP_CALL = re.compile(r"\b(?:requires|can)\(([^)]*)\)")
_LITERAL = re.compile(r"""["']([^"']+)["']""")
# What the suite used to write: comparing the provider's name to pick behaviour.
_NAME_COMPARISON = re.compile(
    r"""provider\s*(?:==|!=)|\.provider\s+(?:not\s+)?in\b|provider\s+not\s+in\b"""
    r"""|getoption\(\s*["']provider["']\s*\)\s*(?:==|!=|in\b|not\s+in\b)"""
)


def _e2e_sources() -> list[Path]:
    files = sorted(E2E.glob("*.py"))
    assert files, f"no e2e sources under {E2E}"
    return files


def test_every_provider_declares_a_capability_set() -> None:
    assert set(CAPABILITIES) == set(PROVIDERS)
    for name in PROVIDERS:
        caps = capabilities(name)
        assert isinstance(caps, frozenset) and all(isinstance(c, Capability) for c in caps), name


def test_every_capability_says_what_it_means_and_some_provider_has_it() -> None:
    for cap in Capability:
        assert cap.meaning, cap
        assert any(cap in capabilities(p) for p in PROVIDERS), f"{cap.value}: no provider has it"


def test_every_capability_the_e2e_suite_names_exists() -> None:
    named: dict[str, str] = {}
    for path in _e2e_sources():
        text = path.read_text()
        for call in _CAP_CALL.finditer(text):
            for literal in _LITERAL.findall(call.group(1)):
                named[literal] = path.name
        for attr in re.findall(r"\bCapability\.([A-Z_]+)", text):
            named[attr.lower()] = path.name
    assert named, "the e2e suite names no capability: the pattern no longer matches its calls"
    known = {c.value for c in Capability}
    unknown = {name: where for name, where in named.items() if name not in known}
    assert not unknown, f"e2e names capabilities the registry lacks: {unknown}"


def test_no_provider_name_comparison_is_left_in_e2e() -> None:
    found = [f"{path.name}:{n}: {line.strip()}"
             for path in _e2e_sources()
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if _NAME_COMPARISON.search(line)]
    assert not found, "compare capabilities (lab.providers.capabilities), not provider names:\n" + "\n".join(found)


@pytest.mark.parametrize("line", ['if cluster.provider != "local":', 'if upstream.provider == "kind"',
                                  'if cluster.provider in ("local", "kind"):',
                                  'if pytestconfig.getoption("provider") != "local":'])
def test_the_comparison_guard_catches_the_old_forms(line: str) -> None:
    assert _NAME_COMPARISON.search(line)


def test_lacking_names_the_capability_what_it_means_and_the_provider() -> None:
    assert lacking("local", "restart_apiserver", Capability.FAULT_PROXY) is None
    assert lacking("kind", "restart_apiserver") == (
        "needs restart_apiserver (the lab's API server is a local process it can restart): provider kind lacks it")


def test_an_unknown_capability_or_provider_is_an_error_not_a_skip() -> None:
    with pytest.raises(ValueError):
        lacking("local", "restart_apiservr")
    with pytest.raises(KeyError):
        capabilities("minikube")
