"""The workshop's markdown parser (lab/workshop/stepfile.py), output rule (match.py), checks (checks.py,
verify.py), and the real step files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.workshop import checks, verify
from lab.cluster import LabCluster
from lab.workshop.match import missing_lines, normalize
from lab.workshop.problems import lease_problems
from lab.workshop.stepfile import (
    DEFAULT_TIMEOUT,
    DOCS,
    TAB_PROVIDERS,
    CheckPoint,
    Command,
    StepFileError,
    load_steps,
    parse_step,
)

ROOT = Path(__file__).resolve().parents[2]
P = Path("docs/labs/05-demo.md")


CHECK_LINE = "Check: `make verify STEP=05`\n"


def doc(body: str, check: str = CHECK_LINE, title: str = "# 05 · A demo step\n") -> str:
    return title + "\n" + body + "\n" + check


def fence(lang: str, text: str) -> str:
    return f"```{lang}\n{text}\n```\n"


# -- parsing ---------------------------------------------------------------------------------


def test_bash_blocks_become_commands_and_text_blocks_their_expected_output() -> None:
    step = parse_step(
        doc(
            fence("bash", "echo one")
            + "prose\n"
            + fence("text", "one")
            + fence("text", "also")
            + fence("yaml", "a: 1")
            + fence("bash", "echo two")
        ),
        P,
    )
    assert step.number == "05" and step.title == "A demo step"
    cmds = step.commands
    assert [c.code for c in cmds] == ["echo one", "echo two"]
    assert [e.text for e in cmds[0].expected] == ["one", "also"]
    assert cmds[1].expected == []
    assert cmds[0].timeout == DEFAULT_TIMEOUT and cmds[0].skip is None


def test_the_check_line_is_an_item_in_document_order() -> None:
    text = "# 05 · t\n" + fence("bash", "a") + "Check: `make verify STEP=05` says done\n"
    text += fence("bash", "b")
    items = parse_step(text, P).items
    assert [type(i) for i in items] == [Command, CheckPoint, Command]
    assert items[1] == CheckPoint("05", 5)


def test_markers_set_skip_timeout_any_order_and_example() -> None:
    text = doc(
        "<!-- test: skip (needs Docker) -->\n"
        + fence("bash", "kind create cluster")
        + "<!-- test: timeout 300 -->\n"
        + fence("bash", "make lab-up")
        + "<!-- test: any-order -->\n"
        + fence("text", "x\ny")
        + "<!-- test: example (random) -->\n"
        + fence("text", "z")
    )
    skipped, slow = parse_step(text, P).commands
    assert skipped.skip == "needs Docker"
    assert slow.skip is None and slow.timeout == 300.0
    assert slow.expected[0].any_order and slow.expected[0].example is None
    assert slow.expected[1].example == "random" and not slow.expected[1].any_order


def test_only_marks_commands_and_outputs_for_some_providers() -> None:
    text = doc(
        "<!-- test: only local -->\n"
        + fence("bash", "make lab-up")
        + "<!-- test: only kind,vagrant -->\n"
        + fence("bash", "make lab-up PROVIDER=kind")
        + fence("bash", "kubectl get nodes")
        + "<!-- test: only local -->\n"
        + fence("text", "kwok")
        + "<!-- test: only kind -->\n<!-- test: any-order -->\n"
        + fence("text", "containerd")
        + fence("text", "NAME")
    )
    local_up, kind_up, nodes = parse_step(text, P).commands
    assert local_up.only == {"local"} and local_up.runs_on("local") and not local_up.runs_on("kind")
    assert kind_up.only == {"kind", "vagrant"} and kind_up.runs_on("vagrant") and not kind_up.runs_on("local")
    assert nodes.only is None and nodes.runs_on("local") and nodes.runs_on("existing")
    kwok, containerd, both = nodes.expected
    assert kwok.applies_to("local") and not kwok.applies_to("kind")
    assert containerd.only == {"kind"} and containerd.any_order and not containerd.applies_to("local")
    assert both.only is None and both.applies_to("kind") and both.applies_to("local")


def test_a_skipped_command_runs_on_no_provider() -> None:
    cmd = parse_step(doc("<!-- test: skip (needs VirtualBox) -->\n" + fence("bash", "vagrant up")), P).commands[0]
    assert not cmd.runs_on("local") and not cmd.runs_on("kind")


def test_the_only_marker_takes_spaces_around_the_names() -> None:
    cmd = parse_step(doc("<!-- test: only  kind , vagrant-containers -->\n" + fence("bash", "a")), P).commands[0]
    assert cmd.only == {"kind", "vagrant-containers"}


def test_indented_blocks_are_dedented() -> None:
    cmd = parse_step(doc("1. run:\n\n   ```bash\n   echo hi\n     nested\n   ```\n"), P).commands[0]
    assert cmd.code == "echo hi\n  nested"


@pytest.mark.parametrize(
    "text, message",
    [
        (doc(fence("", "echo")), "say what the block is"),
        (doc(fence("sh", "echo")), "use ```bash"),
        (doc(fence("console", "$ echo")), "use ```bash"),
        (doc(fence("cobol", "x")), "unknown block language 'cobol'"),
        (doc(fence("text", "orphan")), "must follow the ```bash block"),
        (doc(fence("bash", "a") + fence("text", "  \n")), "empty ```text block"),
        (doc(fence("bash", "a"), check=""), "exactly one 'Check: make verify STEP=05' line, found 0"),
        (
            doc(fence("bash", "a"), check="Check: `make verify STEP=05`\nCheck: `make verify STEP=05`\n"),
            "found 2",
        ),
        (doc(fence("bash", "a"), check="Check: `make verify STEP=04`\n"), "says STEP=04 in step 05's file"),
        (doc("<!-- test: skipp (x) -->\n" + fence("bash", "a")), "unknown test marker 'skipp (x)'"),
        (
            doc("<!-- test: skip (x) -->\nsome prose\n" + fence("bash", "a")),
            "must come right before a ``` block",
        ),
        (doc("<!-- test: any-order -->\n" + fence("bash", "a")), "apply to ```text blocks"),
        (
            doc(fence("bash", "a") + "<!-- test: timeout 5 -->\n" + fence("text", "x")),
            "only any-order, example and only apply to ```text blocks",
        ),
        (
            doc("<!-- test: skip (x) -->\n" + fence("yaml", "a: 1")),
            "apply to ```bash and ```text blocks only",
        ),
        (doc(fence("bash", "a")) + "<!-- test: skip (x) -->\n", "marks nothing"),
        (doc("<!-- test: only -->\n" + fence("bash", "a")), "'only' needs providers separated by commas"),
        (doc("<!-- test: only kind, -->\n" + fence("bash", "a")), "'only' needs providers separated by commas"),
        (doc("<!-- test: only kind vagrant -->\n" + fence("bash", "a")), "'kind vagrant', not a lab provider"),
        (doc("<!-- test: only kind,minikube -->\n" + fence("bash", "a")), "'minikube', not a lab provider"),
        (doc("<!-- test: only kind,kind -->\n" + fence("bash", "a")), "names a provider twice"),
        (
            doc("<!-- test: only kind -->\n<!-- test: only local -->\n" + fence("bash", "a")),
            "two 'only' markers on one block",
        ),
        (
            doc("<!-- test: skip (x) -->\n<!-- test: only kind -->\n" + fence("bash", "a")),
            "either skipped or only for some providers",
        ),
        (
            doc("<!-- test: only kind -->\n" + fence("bash", "a") + "<!-- test: only local,kind -->\n"
                + fence("text", "x")),
            "this output is for local, but the command at line 4 runs only on kind",
        ),
        (doc("<!-- test: only kind -->\n" + fence("yaml", "a: 1")), "apply to ```bash and ```text blocks only"),
        (doc("```bash\necho never closed\n"), "never closed"),
        ("no title\n" + fence("bash", "a") + "Check: `make verify STEP=05`\n", "no '# ' title line"),
    ],
)
def test_malformed_step_files_are_rejected_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(StepFileError) as err:
        parse_step(text, P)
    assert message in str(err.value)
    assert str(err.value).startswith(str(P))


def test_step_file_names_and_numbering_are_checked(tmp_path: Path) -> None:
    with pytest.raises(StepFileError, match="named NN-words.md"):
        parse_step(doc(""), Path("five.md"))
    (tmp_path / "01-a.md").write_text("# 01 · a\nCheck: `make verify STEP=01`\n")
    (tmp_path / "03-c.md").write_text("# 03 · c\nCheck: `make verify STEP=03`\n")
    with pytest.raises(StepFileError, match="expected step 02 here"):
        load_steps(tmp_path)


# -- the output rule -------------------------------------------------------------------------


def test_expected_lines_must_appear_in_order_with_whitespace_collapsed() -> None:
    actual = "NAME    READY   STATUS\nnginx   0/1     Pending\nother line\n"
    assert missing_lines("NAME READY STATUS\n\nnginx 0/1 Pending", actual) == []
    assert missing_lines("nginx 0/1 Pending\nNAME READY STATUS", actual) == ["NAME READY STATUS"]
    assert missing_lines("nginx 1/1 Running", actual) == ["nginx 1/1 Running"]


def test_a_line_must_match_whole_not_as_a_substring() -> None:
    assert missing_lines("Pending", "nginx 0/1 Pending") == ["Pending"]
    assert missing_lines("...Pending", "nginx 0/1 Pending") == []


def test_three_dots_are_a_wildcard() -> None:
    actual = "Assigned default/nginx to worker-node02\n"
    assert missing_lines("Assigned default/nginx to worker-node0...", actual) == []
    assert missing_lines("Assigned default/... to ...", actual) == []
    assert missing_lines("Assigned default/nginx to master-...", actual) == [
        "Assigned default/nginx to master-..."
    ]


def test_a_line_of_only_three_dots_stands_for_omitted_lines() -> None:
    assert missing_lines("first\n...\nsecond", "first\nsecond\n") == []
    assert missing_lines("first\n...\nsecond", "first\nx\ny\nsecond\n") == []
    assert missing_lines("...", "") == []


def test_longer_runs_of_dots_are_literal_so_allocation_bars_are_compared() -> None:
    empty = "worker-node01   yes    [................]    0% 0.00/2"
    full = "worker-node01   yes    [########........]   50% 1.00/2"
    assert missing_lines(empty, empty) == []
    assert missing_lines(empty, full) == [empty]
    # exactly three dots inside a bar is still the wildcard: at least the # count is checked
    assert missing_lines("x [#############...] ...", "x [#############...]  80% 1.60/2") == []
    assert missing_lines("x [#############...] ...", "x [###.............]  20% 0.40/2") != []


def test_ages_timestamps_and_klog_headers_are_masked() -> None:
    assert normalize("nginx   1/1   Running   0   3m2s") == "nginx 1/1 Running 0 <age>"
    assert (normalize("  Normal  WaitForFirstConsumer  0s (x2 over 1s)  persistentvolume-controller  waiting")
            == normalize("  Normal  WaitForFirstConsumer  1s  persistentvolume-controller  waiting"))
    assert normalize("a 5s b 12m c 2d4h") == "a <age> b <age> c <age>"
    assert normalize('renewTime: "2026-11-23T13:37:02.740767Z"') == 'renewTime: "<time>"'
    assert normalize("I1123 13:41:18.456894   11806 run.go:74] x") == "I<klog> run.go:74] x"
    # not ages: versions, quantities with suffixes, ratios
    assert normalize("v1.29.15 64Mi 0/1 10.96.0.0/12 x7") == "v1.29.15 64Mi 0/1 10.96.0.0/12 x7"
    expected = "I1123 10:41:37.608586 22480 leaderelection.go:281] successfully renewed lease kube-system/x"
    actual = "I0101 00:00:01.000001       1 leaderelection.go:281] successfully renewed lease kube-system/x"
    assert missing_lines(expected, actual) == []


def test_any_order_needs_a_distinct_actual_line_for_each_expected_line() -> None:
    actual = "b\na\n"
    assert missing_lines("a\nb", actual) == ["b"]
    assert missing_lines("a\nb", actual, any_order=True) == []
    assert missing_lines("a\na", actual, any_order=True) == ["a"]


# -- the real workshop -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["local", "kind"])
def test_every_step_has_a_check_and_commands_and_cleanup_comes_last(provider: str) -> None:
    workshop = load_steps(DOCS)
    assert [s.number for s in workshop] == [f"{i:02d}" for i in range(1, 15)] == sorted(checks.CHECKS)
    assert workshop[0].number == "01" and workshop[-1].path.name.endswith("-cleanup.md")
    for s in workshop:
        assert [i.step for i in s.items if isinstance(i, CheckPoint)] == [s.number]
        assert any(c.runs_on(provider) for c in s.commands), f"{s.path} has nothing the doc test runs on {provider}"
        assert set(checks.CHECKS) >= {s.number}


def test_a_command_with_outputs_per_provider_has_one_for_each_provider_it_runs_on() -> None:
    """A command whose expected output is split by provider must not leave one of the checked
    providers (local, kind) with nothing to compare."""
    gaps = []
    for s in load_steps(DOCS):
        for c in s.commands:
            if not any(e.only is not None for e in c.expected):
                continue
            for provider in ("local", "kind"):
                if c.runs_on(provider) and not any(e.applies_to(provider) for e in c.expected):
                    gaps.append(f"{s.path.name}:{c.line} ({provider})")
    assert gaps == []


def test_a_step_file_says_which_provider_a_block_is_for_one_way_only() -> None:
    """Tabs are what the reader sees; a file converted to them keeps no hidden 'only' marker."""
    mixed = []
    for path in sorted(DOCS.glob("[0-9][0-9]-*.md")):
        text = path.read_text(encoding="utf-8")
        if re.search(r'^ *===[!+]* "', text, re.M) and re.search(r"<!--\s*test:\s*only\b", text):
            mixed.append(path.name)
    assert mixed == []


def test_every_file_a_step_command_names_exists() -> None:
    """A renamed manifest or script must break the docs here, before any cluster is involved."""
    names = re.compile(
        r"(?<![\w./-])((?:docs/labs/files|manifests|scripts|examples)/[\w./-]+\.(?:ya?ml|sh|py))"
    )
    missing = []
    for s in load_steps(DOCS):
        for c in s.commands:
            for path in names.findall(c.code):
                if not (ROOT / path).exists():
                    missing.append(f"{s.path.name}:{c.line}: {path}")
    assert missing == []


def test_every_workshop_object_is_removed_by_step_11() -> None:
    """Step 14 must delete every pod name and file the other steps create."""
    workshop = load_steps(DOCS)
    cleanup = "\n".join(c.code for c in workshop[-1].commands)
    created = set()
    for s in workshop[:-1]:
        for c in s.commands:
            created |= set(re.findall(r"kubectl apply -f (\S+\.yaml)", c.code))
    for path in sorted(created):
        objects = [d for d in _docs(ROOT / path) if d.get("kind") in ("Pod", "Deployment")]
        for obj in objects:
            name = obj["metadata"]["name"]
            assert path in cleanup or re.search(
                rf"\b{re.escape(name)}\b", cleanup
            ), f"step 14 does not delete {obj['kind']} {name} from {path}"


def _docs(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# -- the checks, on canned API answers ---------------------------------------------------------


class FakeLab(LabCluster):
    """LabCluster without a cluster: GET answers come from a dict of path -> object."""

    def __init__(self, workdir: Path, objects: dict[str, dict]) -> None:
        from lab.spec import load_spec

        self.workdir = workdir
        self.spec = load_spec()
        self._names = None
        self.objects = objects

    def find(self, path: str, **query: str) -> dict | None:
        if path.endswith("/events"):
            wanted = dict(kv.split("=", 1) for kv in query.get("fieldSelector", "").split(",") if kv)
            items = [
                e
                for e in self.objects.get(path, {}).get("items", [])
                if e["involvedObject"]["name"] == wanted.get("involvedObject.name")
                and e["reason"] == wanted.get("reason")
            ]
            return {"items": items}
        return self.objects.get(path)


def pod(name: str, scheduler: str, node: str | None = None) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"schedulerName": scheduler, **({"nodeName": node} if node else {})},
    }


def scheduled(p: dict, by: str) -> dict:
    return {
        "involvedObject": {"name": p["metadata"]["name"], "uid": p["metadata"]["uid"]},
        "reason": "Scheduled",
        "reportingComponent": by,
    }


def lab_with(tmp_path: Path, pods: list[dict], events: list[dict] = ()) -> FakeLab:
    objects = {f"/api/v1/namespaces/default/pods/{p['metadata']['name']}": p for p in pods}
    objects["/api/v1/namespaces/default/events"] = {"items": list(events)}
    objects["/api/v1/nodes"] = {
        "items": [{"metadata": {"name": n.name}} for n in FakeLab(tmp_path, {}).spec.nodes]
    }
    return FakeLab(tmp_path, objects)


def test_check_02_says_what_to_apply_and_rejects_a_pod_another_scheduler_took(tmp_path: Path) -> None:
    assert checks.check_02(lab_with(tmp_path, [])) == [
        "pod default/nginx does not exist: kubectl apply -f manifests/samples/nginx-my-scheduler.yaml"
    ]
    assert (
        "asks for scheduler 'default-scheduler'"
        in checks.check_02(lab_with(tmp_path, [pod("nginx", "default-scheduler")]))[0]
    )
    assert checks.check_02(lab_with(tmp_path, [pod("nginx", "my-scheduler")])) == []
    # bound by the bash scheduler of step 03 (no event): still step 02's state
    assert checks.check_02(lab_with(tmp_path, [pod("nginx", "my-scheduler", "worker-node01")])) == []
    taken = pod("nginx", "my-scheduler", "worker-node01")
    assert checks.check_02(lab_with(tmp_path, [taken], [scheduled(taken, "default-scheduler")])) == [
        "pod default/nginx was scheduled by default-scheduler: nothing but my-scheduler may take it"
    ]


def test_check_07_wants_the_right_schedulers_and_workers_not_a_layout(tmp_path: Path) -> None:
    """The workers carry the scheduler replicas on every provider, so spread may share a worker and pack may not."""

    def run(spread_nodes: list[str], pack_nodes: list[str], pack_by: str = "custom-k8s-scheduler") -> list[str]:
        pods = [pod(f"spread-{i}", "default-scheduler", n) for i, n in enumerate(spread_nodes, 1)]
        pods += [pod(f"pack-{i}", "custom-k8s-scheduler", n) for i, n in enumerate(pack_nodes, 1)]
        events = [scheduled(p, "default-scheduler" if p["metadata"]["name"].startswith("spread") else pack_by)
                  for p in pods]
        return checks.check_07(lab_with(tmp_path, pods, events))

    workers = ["worker-node01", "worker-node02", "worker-node03"]
    assert run(["worker-node01"] * 3, workers) == []
    assert run(workers, ["master-node"] * 3)[0].startswith("pod default/pack-1 is bound to master-node")
    assert run(workers, workers, pack_by="default-scheduler")[0] == (
        "pod default/pack-1 has no Scheduled event from custom-k8s-scheduler (it has one from default-scheduler)"
    )


def test_a_stale_or_missing_lease_is_a_problem(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    def lease(holder: str, age: float) -> FakeLab:
        when = (datetime.now(timezone.utc) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": holder, "renewTime": when, "leaseDurationSeconds": 15}
        return FakeLab(
            tmp_path, {"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x": {"spec": spec}}
        )

    assert lease_problems(lease("vm_1", 1), "x", "it", "fix") == []
    assert "not been renewed for over 25s" in lease_problems(lease("vm_1", 60), "x", "it", "fix")[0]
    assert "nobody holds" in lease_problems(lease("", 1), "x", "it", "fix")[0]
    assert "does not exist" in lease_problems(FakeLab(tmp_path, {}), "x", "it", "fix")[0]


def test_every_file_a_check_tells_you_to_apply_exists() -> None:
    source = (ROOT / "lab" / "workshop" / "checks.py").read_text()
    hints = re.findall(r"kubectl apply -f (\S+?\.yaml)", source)
    assert hints and [h for h in hints if not (ROOT / h).exists()] == []


def test_verify_without_a_lab_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.verify(tmp_path, "5") == 1
    assert (
        capsys.readouterr().out
        == f"step 05: the lab is not up ({tmp_path / 'kubeconfig'} does not exist): make lab-up\n"
    )
    assert verify.verify(tmp_path, "15") == 2  # no step 15


def _step_13_objects(tmp_path: Path, phase: str = "Bound", swapped: bool = False) -> FakeLab:
    py, up = pod("pvc-py", "py-scheduler", "worker-node03"), pod("pvc-upstream", "custom-k8s-scheduler", "worker-node02")
    lab = lab_with(tmp_path, [py, up], [scheduled(py, "py-scheduler"), scheduled(up, "custom-k8s-scheduler")])
    volumes = {"data-py": "workshop-pv-large", "data-upstream": "workshop-pv-small"}
    for claim, volume in volumes.items():
        if swapped:
            volume = "workshop-pv-small" if volume == "workshop-pv-large" else "workshop-pv-large"
        lab.objects[f"/api/v1/namespaces/default/persistentvolumeclaims/{claim}"] = {
            "metadata": {"name": claim}, "spec": {"volumeName": volume if phase == "Bound" else None},
            "status": {"phase": phase}}
    lab.objects["/apis/storage.k8s.io/v1/storageclasses/workshop-local"] = {"metadata": {"name": "workshop-local"}}
    return lab


def test_check_13_wants_both_pods_on_the_nodes_of_their_bound_volumes(tmp_path: Path) -> None:
    assert checks.check_13(_step_13_objects(tmp_path)) == []
    assert checks.check_13(lab_with(tmp_path, [])) == [
        "storageclass workshop-local does not exist: kubectl apply -f docs/labs/files/13-local-storage.yaml",
        "pod default/pvc-py does not exist: kubectl apply -f docs/labs/files/13-local-storage.yaml -f "
        "docs/labs/files/13-claims.yaml and then kubectl apply -f docs/labs/files/13-pvc-pod-py.yaml",
        "persistentvolumeclaim default/data-py does not exist: kubectl apply -f docs/labs/files/13-claims.yaml",
        "pod default/pvc-upstream does not exist: kubectl apply -f docs/labs/files/13-local-storage.yaml -f "
        "docs/labs/files/13-claims.yaml and then kubectl apply -f docs/labs/files/13-pvc-pod-upstream.yaml",
        "persistentvolumeclaim default/data-upstream does not exist: kubectl apply -f docs/labs/files/13-claims.yaml",
    ]
    pending = checks.check_13(_step_13_objects(tmp_path, phase="Pending"))
    assert pending == [
        "persistentvolumeclaim default/data-py is Pending on volume (none), expected Bound to workshop-pv-large "
        "(is py-scheduler running? python -m lab status)",
        "persistentvolumeclaim default/data-upstream is Pending on volume (none), expected Bound to "
        "workshop-pv-small (is custom-k8s-scheduler running? python -m lab status)",
    ]
    assert len(checks.check_13(_step_13_objects(tmp_path, swapped=True))) == 2


def test_check_14_reports_step_13s_storage_left_behind(tmp_path: Path) -> None:
    lab = _step_13_objects(tmp_path)
    for name in ("pvc-py", "pvc-upstream"):
        del lab.objects[f"/api/v1/namespaces/default/pods/{name}"]
    lab.pods = lambda namespace, selector="": []  # type: ignore[method-assign]
    problems = checks.check_14(lab)
    assert "storageclass workshop-local still exists" in problems
    assert "persistentvolumeclaim default/data-py still exists" in problems


# -- provider tabs (Material's content tabs) --------------------------------------------------


def tab(title: str, body: str, flags: str = "") -> str:
    """A pymdownx.tabbed tab: header, blank line, body indented 4 spaces."""
    indented = "".join(f"    {ln}\n" if ln.strip() else "\n" for ln in body.splitlines())
    return f'==={flags} "{title}"\n\n{indented}\n'


def test_a_block_inside_a_tab_is_for_that_tabs_provider_and_one_outside_for_all() -> None:
    text = doc(
        tab("local", fence("bash", "make lab-up") + "prose\n\n" + fence("text", "The local lab is up"))
        + tab("kind", "<!-- test: timeout 900 -->\n" + fence("bash", "make lab-up PROVIDER=kind"))
        + tab("vagrant", "<!-- test: skip (needs VirtualBox) -->\n" + fence("bash", "vagrant up"))
        + "After the tabs.\n\n"
        + fence("bash", "kubectl get nodes")
        + tab("local", fence("text", "kwok"))
        + tab("kind", fence("text", "containerd"))
    )
    local_up, kind_up, vagrant_up, nodes = parse_step(text, P).commands
    assert local_up.only == {"local"} and local_up.expected[0].only == {"local"}
    assert local_up.code == "make lab-up" and local_up.expected[0].text == "The local lab is up"
    assert kind_up.only == {"kind"} and kind_up.timeout == 900.0 and kind_up.runs_on("kind")
    assert not kind_up.runs_on("local") and not local_up.runs_on("kind")
    assert vagrant_up.only == {"vagrant", "vagrant-containers"} and vagrant_up.skip == "needs VirtualBox"
    assert nodes.only is None and nodes.runs_on("existing")
    assert [(e.text, e.only) for e in nodes.expected] == [("kwok", {"local"}), ("containerd", {"kind"})]


def test_a_tab_of_prose_only_is_fine_and_a_check_after_the_tabs_counts() -> None:
    text = "# 05 · t\n\n" + tab("local", "Processes.") + tab("kind", "Pods.") + CHECK_LINE
    assert parse_step(text, P).items == [CheckPoint("05", 11)]


def test_an_exclamation_mark_starts_a_new_set_so_a_title_may_repeat() -> None:
    text = doc(fence("bash", "a") + tab("local", fence("text", "x")) + tab("local", fence("text", "y"), flags="!"))
    assert [e.text for e in parse_step(text, P).commands[0].expected] == ["x", "y"]


def test_tabs_in_a_list_item_use_the_items_indentation() -> None:
    text = doc('1. Start it:\n\n   === "kind"\n\n       ```bash\n       make lab-up PROVIDER=kind\n       ```\n')
    (cmd,) = parse_step(text, P).commands
    assert cmd.only == {"kind"} and cmd.code == "make lab-up PROVIDER=kind"


@pytest.mark.parametrize(
    "body, message",
    [
        ("=== kind\n\n    text\n", 'line 3: a tab is === "TITLE" with the title in double quotes'),
        ('=== "minikube"\n\n    text\n', "line 3: tab 'minikube' is not a provider (tabs of a step file: 'local'"),
        ('=== "kind"\n\n  ```bash\n  a\n  ```\n', 'line 5: this line of tab "kind" (line 3) is indented 2 spaces; '
         "tab content is indented 4"),
        ('=== "kind"\n\nnot indented\n', 'line 3: tab "kind" is empty (its content follows the header'),
        ('=== "kind"\n=== "local"\n\n    x\n', 'line 3: tab "kind" is empty'),
        ('=== "kind"\n', 'line 3: tab "kind" is empty'),
        ('=== "kind"\n\n    x\n\n=== "kind"\n\n    y\n', 'line 7: tab "kind" twice in one set of tabs (first at line 3)'),
        ('=== "kind"\n\n    === "local"\n\n        x\n', 'line 5: tab "local" inside tab "kind" (line 3): '
         "provider tabs do not nest"),
        ('=== "kind"\n\n    <!-- test: only kind -->\n    ```bash\n    a\n    ```\n',
         "line 5: an 'only' marker inside tab \"kind\" (line 3)"),
        ('=== "kind"\n\n    Check: `make verify STEP=05`\n', 'line 5: the Check line is inside tab "kind" (line 3)'),
        ('=== "kind"\n\n    ```bash\n    a\n```\n', 'line 7: the ``` closing the block at line 5 leaves tab "kind"'),
        ('=== "kind"\n\n    ```bash\n    a\nb\n    ```\n', 'line 7: this line of the ``` block at line 5 leaves tab'),
        ('<!-- test: timeout 5 -->\n=== "kind"\n\n    x\n', "line 3: a test marker must come right before a ``` block"),
        ('=== "kind"\n\n    ```bash\n    a\n    ```\n\n=== "local"\n\n    ```text\n    x\n    ```\n',
         "line 11: this output is for local, but the command at line 5 runs only on kind"),
    ],
)
def test_malformed_tabs_are_one_line_with_file_and_line(body: str, message: str) -> None:
    with pytest.raises(StepFileError) as err:
        parse_step(doc(body), P)
    assert str(err.value).startswith(f"{P}:" + message.removeprefix("line "))
    assert "\n" not in str(err.value)


# -- property tests of the tab parser ----------------------------------------------------------

SAFE_LINE = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters=" -_./=$"),
                    min_size=1, max_size=30).filter(lambda s: s.strip() and not s.lstrip().startswith("==="))
BLOCK = st.tuples(
    st.sampled_from([None, *TAB_PROVIDERS]),  # the tab the command is in (None: outside the tabs)
    st.lists(SAFE_LINE, min_size=1, max_size=3),  # its code
    st.lists(st.tuples(st.sampled_from([None, *TAB_PROVIDERS]), SAFE_LINE), max_size=3),  # its outputs
)


def _render(blocks: list[tuple[str | None, list[str], list[tuple[str | None, str]]]]) -> str:
    """Each command, then its outputs; every block in its own set of tabs (===! when in a tab)."""
    out = ""
    for where, code, outputs in blocks:
        cmd = fence("bash", "\n".join(code))
        out += tab(where, cmd, flags="!") if where else cmd + "\n"
        for out_where, text in outputs:
            if where and out_where and out_where != where:
                out_where = where  # an output for another provider than its command's is an error
            block = fence("text", text)
            out += tab(out_where, block, flags="!") if out_where else block + "\n"
    return doc(out)


# No deadline: the machine's two cores are shared, and a slow example is not a wrong one.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(BLOCK, max_size=6))
def test_every_block_is_for_the_providers_of_its_tab(blocks) -> None:
    commands = parse_step(_render(blocks), P).commands
    assert len(commands) == len(blocks)
    for cmd, (where, code, outputs) in zip(commands, blocks):
        assert cmd.code == "\n".join(code)
        assert cmd.only == (TAB_PROVIDERS[where] if where else None)
        assert [e.text for e in cmd.expected] == [text for _, text in outputs]
        for e, (out_where, _) in zip(cmd.expected, outputs):
            out_where = where if where and out_where else out_where  # as _render wrote it
            assert e.only == (TAB_PROVIDERS[out_where] if out_where else None)


@PROPERTY
@given(st.lists(st.sampled_from(['=== "kind"', "=== kind", '===! "local"', '=== "vagrant"', "    x", "  y", "",
                                 "```bash", "    ```bash", "```", "    ```", "```text", "    ```text", "z",
                                 "<!-- test: only kind -->", "    <!-- test: skip (x) -->",
                                 "Check: `make verify STEP=05`", "    Check: `make verify STEP=05`"]),
                max_size=14))
def test_any_arrangement_of_tabs_and_blocks_parses_or_fails_with_one_line(lines: list[str]) -> None:
    try:
        parse_step("# 05 · t\n" + "\n".join(lines) + "\n", P)
    except StepFileError as err:
        assert str(err).startswith(f"{P}") and "\n" not in str(err)


def _my_scheduler_lab(tmp_path: Path, pods: list[dict], ready: int, transitions: int, by: str) -> FakeLab:
    from datetime import datetime, timezone

    lab = lab_with(tmp_path, pods, [scheduled(p, by) for p in pods])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lab.objects["/apis/apps/v1/namespaces/kube-system/deployments/my-kube-scheduler"] = {
        "status": {"readyReplicas": ready}
    }
    lab.objects["/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/my-kube-scheduler"] = {
        "spec": {"holderIdentity": "my-kube-scheduler-abc_1", "renewTime": now, "leaseDurationSeconds": 15,
                 "leaseTransitions": transitions}
    }
    return lab


def test_check_05_wants_two_ready_replicas_the_lease_and_mine_bound_by_my_kube_scheduler(tmp_path: Path) -> None:
    assert checks.check_05(lab_with(tmp_path, [])) == [
        "deployment kube-system/my-kube-scheduler does not exist: "
        "kubectl apply -f docs/labs/files/05-deploy-your-own-scheduler/solution/",
        "Lease kube-system/my-kube-scheduler does not exist: my-kube-scheduler has never run "
        "(kubectl logs -n kube-system deployment/my-kube-scheduler)",
        "pod default/mine does not exist: kubectl apply -f docs/labs/files/05-deploy-your-own-scheduler/solution/5-pod.yaml",
    ]
    mine = pod("mine", "my-kube-scheduler", "worker-node01")
    assert checks.check_05(_my_scheduler_lab(tmp_path, [mine], 2, 0, "my-kube-scheduler")) == []
    assert checks.check_05(_my_scheduler_lab(tmp_path, [mine], 1, 0, "my-kube-scheduler")) == [
        "deployment kube-system/my-kube-scheduler has 1 of 2 pods ready (kubectl describe pod -n kube-system)"
    ]
    assert checks.check_05(_my_scheduler_lab(tmp_path, [mine], 2, 0, "default-scheduler")) == [
        "pod default/mine has no Scheduled event from my-kube-scheduler (it has one from default-scheduler)"
    ]


def test_check_06_wants_a_lease_transition_and_after_failover_bound(tmp_path: Path) -> None:
    after = pod("after-failover", "my-kube-scheduler", "worker-node02")
    assert checks.check_06(_my_scheduler_lab(tmp_path, [after], 2, 1, "my-kube-scheduler")) == []
    assert checks.check_06(_my_scheduler_lab(tmp_path, [after], 2, 0, "my-kube-scheduler")) == [
        "Lease kube-system/my-kube-scheduler never changed hands: "
        "kubectl delete pod -n kube-system <the leader's pod>"
    ]


def test_challenge_06_reads_the_failover_bound_from_the_configmap(tmp_path: Path) -> None:
    from lab.workshop.challenges import s06
    from lab.workshop.progress import save_answer

    lab = lab_with(tmp_path, [])
    assert s06.check(lab) == ["configmap kube-system/my-kube-scheduler-config does not exist: do step 05 first"]
    config = (ROOT / "docs/labs/files/05-deploy-your-own-scheduler/solution/3-configmap.yaml").read_text()
    import yaml

    lab.objects[s06.CONFIGMAP] = yaml.safe_load(config)
    assert s06.bounds(lab) == (15.0, 17.0)
    assert s06.check(lab) == ["no answer yet: python -m lab answer 06 <seconds>"]
    save_answer(tmp_path, "06", "about 5 seconds")
    assert s06.check(lab)[0].startswith("5s is not it")
    s06.solution(lab)
    assert s06.check(lab) == []
