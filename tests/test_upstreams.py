"""`aistack upstreams STACK` with a directory mirror: where each piece comes from, and whether the mirror
holds it (exit 1 naming what is missing, with the fix). The mirror here is the shared air-gapped one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, STACKS, run_aistack

MIRROR = (ROOT.parent / "shared" / "mirror").resolve()
pytestmark = pytest.mark.need("mirror", f"no {MIRROR} in this workspace", have=MIRROR.is_dir())


def _stack_with_mirror(tmp_path: Path, base: str, charts: Path, manifests: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load((STACKS / f"Pulumi.{base}.yaml").read_text())
    doc["config"]["aistack:upstream"] = {
        "install": True,
        "charts_mirror": str(charts),
        "manifests_mirror": str(manifests),
    }
    path = tmp_path / f"Pulumi.{base}-mirrored.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("base", ["local", "onprem-gpu"])
def test_the_shared_mirror_holds_everything_a_stack_installs(tmp_path: Path, base: str) -> None:
    stack = _stack_with_mirror(tmp_path, base, MIRROR, MIRROR)
    result = run_aistack("upstreams", str(stack), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["in_mirror"] for r in rows} == {"ok"}, [r for r in rows if r["in_mirror"] != "ok"]
    names = {r["name"] for r in rows}
    assert {"gpu-operator", "kueue", "kube-prometheus-stack"} <= names
    assert all(r["from"].startswith(str(MIRROR)) for r in rows)
    # The local stack's h100-dra pool installs NVIDIA's DRA driver chart: a mirror check that skipped it would
    # pass while the air-gapped install then fails.
    assert ("nvidia-dra-driver-gpu" in names) == (base == "local")


def test_a_missing_chart_is_named_with_the_fix(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    for tgz in MIRROR.glob("*.tgz"):
        if not tgz.name.startswith("kueue-"):
            (charts / tgz.name).symlink_to(tgz)
    stack = _stack_with_mirror(tmp_path, "local", charts, MIRROR)
    result = run_aistack("upstreams", str(stack))
    assert result.returncode == 1
    assert "missing from the mirror: kueue 0.19.2" in result.stderr
    assert "To fix:" in result.stderr and "/charts/kueue-0.19.2.tgz" in result.stderr
    missing = [r for r in json.loads(run_aistack("upstreams", str(stack), "--json").stdout) if r["in_mirror"] != "ok"]
    assert [r["name"] for r in missing] == ["kueue"]


def test_a_manifest_tree_without_the_kustomization_is_missing(tmp_path: Path) -> None:
    tree = tmp_path / "manifests" / "kubeflow-manifests-26.03"
    tree.mkdir(parents=True)
    (tmp_path / "manifests" / "local-path-storage-v0.0.37.yaml").symlink_to(MIRROR / "local-path-storage-v0.0.37.yaml")
    stack = _stack_with_mirror(tmp_path, "local", MIRROR, tmp_path / "manifests")
    result = run_aistack("upstreams", str(stack), "--json")
    assert result.returncode == 1
    missing = {r["name"] for r in json.loads(result.stdout) if r["in_mirror"] == "missing"}
    assert {"profiles", "trainer"} <= missing, missing
    assert "gpu-operator" not in missing


JOBSET = "https://github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml"


def test_each_remote_reference_of_the_kubeflow_components_is_listed(tmp_path: Path) -> None:
    stack = _stack_with_mirror(tmp_path, "local", MIRROR, MIRROR)
    result = run_aistack("upstreams", str(stack), "--json")
    assert result.returncode == 0, result.stderr
    remote = {r["source"]: r for r in json.loads(result.stdout) if r["kind"] == "remote"}
    jobset = remote[JOBSET]
    assert jobset["name"] == "trainer" and jobset["in_mirror"] == "ok" and jobset["version"] == "v0.10.1"
    assert jobset["mirror_as"] == "remote/github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml"
    assert jobset["from"] == f"{MIRROR}/{jobset['mirror_as']}"
    assert jobset["referenced_by"].endswith("applications/trainer/upstream/third-party/jobset/kustomization.yaml")
    argo = [r for url, r in remote.items() if "argoproj/argo-workflows" in url]
    assert argo and {r["name"] for r in argo} == {"pipelines"}
    assert all(r["mirror_as"].startswith("remote/github.com/argoproj/argo-workflows@v3.7.3/manifests/") for r in argo)


def test_a_missing_remote_copy_is_named_with_the_fix(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    (manifests / "remote" / "github.com" / "kubernetes-sigs").mkdir(parents=True)
    (manifests / "kubeflow-manifests-26.03").symlink_to(MIRROR / "kubeflow-manifests-26.03")
    (manifests / "local-path-storage-v0.0.37.yaml").symlink_to(MIRROR / "local-path-storage-v0.0.37.yaml")
    (manifests / "remote" / "github.com" / "argoproj").symlink_to(MIRROR / "remote" / "github.com" / "argoproj")
    stack = _stack_with_mirror(tmp_path, "local", MIRROR, manifests)
    result = run_aistack("upstreams", str(stack))
    assert result.returncode == 1
    assert f"missing from the mirror: trainer remote reference {JOBSET}" in result.stderr
    assert "third-party/jobset/kustomization.yaml" in result.stderr and "To fix:" in result.stderr
    listed = json.loads(run_aistack("upstreams", str(stack), "--json").stdout)
    assert [r["source"] for r in listed if r["in_mirror"] != "ok"] == [JOBSET]
