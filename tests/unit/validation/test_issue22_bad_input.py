"""Bad input of issue 22, item 11 (hypothesis): each refused in one line, non-zero, no traceback.

* a kubeconfig whose `server` is not a usable URL (no scheme, bad or out-of-range port, empty
  host, white space, control or non-ASCII characters, a scheme other than http(s), broken IPv6
  brackets, user info, a query): `scheduler` names the file, the cluster, the context and `server`;
* NaN, Infinity or -Infinity anywhere in a KubeSchedulerConfiguration's numbers (kube-scheduler
  v1.29.15 refuses those files too: "json: unsupported value: NaN"): the line names the file and
  the field;
* an argument value of any length and content: `scheduler` and `lab` echo at most ~200 characters.

The scheduler never gets to run: SchedulerApp is replaced by a stub that fails the test if reached,
so an accepted bad URL cannot make the test open a connection.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import random
import tempfile

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validation_harness import BASE_CONFIG, paths, put

from scheduler import cli
from scheduler.runtime.server_url import server_url_problem

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
MAX_LINE = 260  # "scheduler: " + 200 echoed characters + "... (truncated)" and the flag's name


class _Started(Exception):
    pass


@pytest.fixture
def never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import scheduler.runtime.app as app

    def refuse(*args: object, **kwargs: object) -> None:
        raise _Started("the scheduler started on input that should have been refused")

    monkeypatch.setattr(app, "SchedulerApp", refuse)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_line_refusal(code: int, out: str, err: str) -> str:
    assert code == 1, (code, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


# -- kubeconfig server URLs ------------------------------------------------------------------
HOSTS = st.sampled_from(["127.0.0.1", "localhost", "api.lab.internal", "[::1]", "10.96.0.1"])
PORTS = st.integers(1, 65535).map(str)
GOOD_URLS = st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{':' + port if port else ''}{path}",
                      st.sampled_from(["https", "http"]), HOSTS, st.one_of(st.just(""), PORTS),
                      st.sampled_from(["", "/", "/prefix"]))


def _insert(url: str, position: int, text: str) -> str:
    at = position % (len(url) + 1)
    return url[:at] + text + url[at:]


BAD_URLS = st.one_of(
    st.builds(lambda h, p: f"{h}:{p}", HOSTS, PORTS),  # no scheme
    st.builds(lambda h: h, HOSTS),
    st.builds(lambda s, h, p: f"{s}://{h}:{p}", st.sampled_from(["https", "http"]), HOSTS,  # bad port
              st.one_of(st.integers(65536, 10**12).map(str), st.just("0"), st.just(""),
                        st.text("abcxyz-+!", min_size=1, max_size=8))),
    st.sampled_from(["https://", "http://", "https://:6443", "https:///api", "https://?x", "//host:1"]),  # no host
    st.builds(_insert, GOOD_URLS, st.integers(0, 200),  # white space and control characters anywhere
              st.text(st.sampled_from(" \t\n\r\x00\x1b\x7f\u2028\u00a0"), min_size=1, max_size=3)),
    st.builds(_insert, GOOD_URLS, st.integers(0, 200),  # non-ASCII anywhere
              st.text(st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
                      min_size=1, max_size=3)),
    st.builds(lambda s, h: f"{s}://{h}", st.sampled_from(["ftp", "file", "ws", "unix", "HTTPS2"]), HOSTS),
    st.sampled_from(["https://[::1", "https://[zz::1]:443", "https://::1:443", "https://user:pw@h:443",
                     "https://h:443/?q=1", "https://h:443/#frag", "https://bad_host!:443", "https://-h-:1"]),
)


def kubeconfig_with(server: object, cluster: str, context: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "other", "cluster": {"server": "https://127.0.0.1:1"}},
                     {"name": cluster, "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": "u"}}],
        "current-context": context,
    }, allow_unicode=True)


@settings(max_examples=300, **SETTINGS)
@given(server=BAD_URLS, cluster=st.sampled_from(["lab", "c-1"]), context=st.sampled_from(["ctx", "x.y"]))
def test_unusable_server_urls_are_refused_in_one_line(never_run, server: str, cluster: str, context: str) -> None:
    assert server_url_problem(server) is not None, server
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kubeconfig")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(kubeconfig_with(server, cluster, context))
        line = one_line_refusal(*run_cli(["--kubeconfig", path, "--secure-port=0"]))
    assert path in line and f'cluster "{cluster}"' in line and f'context "{context}"' in line, line
    assert "clusters[1]" in line and " server " in line, line


@settings(max_examples=100, **SETTINGS)
@given(server=GOOD_URLS)
def test_usable_server_urls_pass_the_check(server: str) -> None:
    assert server_url_problem(server) is None, server


# -- non-finite numbers in the configuration ---------------------------------------------------
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def _numeric_paths() -> list[tuple]:
    out = []
    for path in paths(BASE_CONFIG):
        value = BASE_CONFIG
        for key in path:
            value = value[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(path)
    return out


NUMERIC_PATHS = _numeric_paths()


def test_the_base_config_has_numbers_to_spoil() -> None:
    assert len(NUMERIC_PATHS) >= 5, NUMERIC_PATHS


@settings(max_examples=200, **SETTINGS)
@given(index=st.integers(0, 10**6), value=NON_FINITE, anywhere=st.booleans(), seed=st.integers(0, 2**32 - 1),
       encoding=st.sampled_from(["yaml", "json"]))
def test_non_finite_numbers_anywhere_are_refused(never_run, index: int, value: float, anywhere: bool, seed: int,
                                                 encoding: str) -> None:
    if anywhere and encoding == "yaml":  # any field, numeric or not: a non-finite number is refused wherever it is
        candidates = [p for p in paths(BASE_CONFIG) if p]
        path = candidates[random.Random(seed).randrange(len(candidates))]
    else:
        path = NUMERIC_PATHS[index % len(NUMERIC_PATHS)]
    config = put(copy.deepcopy(BASE_CONFIG), path, value)
    # YAML spells them .nan / .inf / -.inf. JSON has no such numbers: Python writes NaN / Infinity, which
    # a YAML reader takes for strings, so only numeric fields are spoiled there (a string is refused).
    text = yaml.safe_dump(config, sort_keys=False) if encoding == "yaml" else json.dumps(config)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "config.yaml")
        with open(config_path, "w") as fh:
            fh.write(text)
        line = one_line_refusal(*run_cli(["--config", config_path, "--kubeconfig", os.path.join(tmp, "none"),
                                          "--secure-port=0"]))
    assert os.path.basename(config_path) in line, line
    if encoding == "yaml":
        field = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in path).replace(".[", "[")
        assert f": {field}: " in line and "not a finite number" in line, (line, field)


# -- long argument values --------------------------------------------------------------------
LONG = st.text(st.characters(blacklist_categories=("Cs",)), min_size=201, max_size=5000)


@settings(max_examples=150, **SETTINGS)
@given(value=LONG, flag=st.sampled_from(["--secure-port", "--port", "--v", "--leader-elect", "--bogus-flag",
                                         "--authorization-always-allow-paths", None]))
def test_scheduler_usage_errors_echo_a_bounded_value(never_run, value: str, flag: str | None) -> None:
    if flag == "--authorization-always-allow-paths":
        value = "*" + value  # only a trailing * is allowed: a refused value
    argv = [value] if flag is None else [f"{flag}={value}"]
    if flag == "--leader-elect" and value.strip().lower() in ("true", "1", "yes", "t", "false", "0", "no", "f"):
        return
    line = one_line_refusal(*run_cli(argv))
    assert len(line) <= MAX_LINE, len(line)
    assert line.startswith("scheduler: ")


@settings(max_examples=100, **SETTINGS)
@given(value=LONG, where=st.sampled_from(["command", "provider", "option"]))
def test_lab_usage_errors_echo_a_bounded_value(value: str, where: str) -> None:
    from lab import cli as lab_cli

    argv = {"command": [value], "provider": ["up", f"--provider={value}"], "option": ["status", f"--{value}"]}[where]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(SystemExit) as exit_info:
            lab_cli.main(argv)
    assert exit_info.value.code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()[:500]
    assert len(lines[0]) <= MAX_LINE, len(lines[0])
