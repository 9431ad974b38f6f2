"""Every provider runs the same Kubernetes: one minor everywhere, one patch for the local,
Vagrant and scheduler-image paths, and kind one patch back (the one documented exception)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from lab.providers.kindconfig import kind_config
from tests.static.conftest import REPO

# kind v0.27.0's release notes list this v1.29 image (no kind release lists v1.29.15).
KIND_V0_27_V1_29_IMAGE = ("kindest/node:v1.29.14@sha256:"
                          "8703bd94ee24e51b778d5556ae310c6c0fa67d761fae6379c8e0bb480e6fea29")


def minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def test_lab_pins_v1_29(spec) -> None:
    assert re.fullmatch(r"v1\.29\.\d+", spec.versions.kubernetes)


def test_kind_is_the_documented_exception(spec) -> None:
    """Same minor, and exactly: kind v0.27.0 with its v1.29.14 image while the rest runs v1.29.15."""
    assert spec.versions.kind == "v0.27.0"
    assert spec.versions.kind_node_image == KIND_V0_27_V1_29_IMAGE
    tag = spec.versions.kind_node_image.split(":")[1].split("@")[0]
    assert minor(tag) == minor(spec.versions.kubernetes)
    assert (tag, spec.versions.kubernetes) == ("v1.29.14", "v1.29.15")
    lab_yaml = (REPO / "lab" / "lab.yaml").read_text()
    assert "No kind" in lab_yaml and "v1.29.15" in lab_yaml, "lab.yaml must say why kind is one patch back"
    assert {n["image"] for n in kind_config(spec)["nodes"]} == {KIND_V0_27_V1_29_IMAGE}


def test_local_control_plane_builds_the_same_patch(spec) -> None:
    gomod = (REPO / "lab" / "controlplane" / "k8s" / "go.mod").read_text()
    assert re.search(rf"^\s*k8s\.io/kubernetes {re.escape(spec.versions.kubernetes)}\s*$", gomod, re.M)
    # The staging modules (required as v0.0.0) are pinned by replace directives to v0.<minor>.<patch>.
    staging = set(re.findall(r"=>\s*k8s\.io/[a-z-]+ v0\.(\d+\.\d+)", gomod))
    assert staging == {spec.versions.kubernetes.lstrip("v").split(".", 1)[1]}, staging


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby not installed")
def test_vagrant_installs_the_same_patch(spec) -> None:
    out = subprocess.run(["ruby", "-r", "./lab/vagrant/settings.rb", "-e", "puts LabVagrant.to_json(Dir.pwd)"],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    s = json.loads(out.stdout)
    assert "v" + s["kubernetes_version"] == spec.versions.kubernetes
    assert s["kubernetes_package"].startswith(spec.versions.kubernetes.lstrip("v") + "-")


def test_upstream_scheduler_image_is_the_same_patch(spec) -> None:
    deployment = yaml.safe_load((REPO / "manifests" / "kube-scheduler" / "deployment.yaml").read_text())
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"registry.k8s.io/kube-scheduler:{spec.versions.kubernetes}"


def test_python_client_matches_the_minor(spec) -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    client = re.search(r'"kubernetes==(\d+)\.\d+\.\d+"', pyproject).group(1)
    assert f"1.{client}" == minor(spec.versions.kubernetes), "kubernetes client N.x speaks the v1.N API"
