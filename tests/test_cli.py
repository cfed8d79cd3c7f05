"""The aistack command as a user runs it: exit codes, and never a traceback for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE_STACKS, ROOT


def aistack(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aistack", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(Path.home())},
    )


def test_validate_valid_stack_by_name_and_path() -> None:
    assert aistack("validate", "local").returncode == 0
    assert aistack("validate", "stacks/Pulumi.gcp-tpu.yaml").returncode == 0


BAD_FILES = {
    "invalid spec": "config:\n  aistack:target: gcp\n  aistack:region: us-central1\n"
    "  aistack:accelerator_pools: [{name: a, accelerator: h100}]\n  aistack:teams: [{name: t, quotas: {b: 1}}]\n",
    "broken yaml": "config: [\n",
    "not a mapping": "- just\n- a list\n",
    "config not a mapping": "config: 3\n",
    "binary": "\udcff",
    "empty": "",
}


@pytest.mark.parametrize("content", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_input_exits_2_without_traceback(tmp_path: Path, content: str) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    for command in (["validate"], ["plan"], ["manifests", "--out", str(tmp_path / "m")]):
        result = aistack(command[0], str(path), *command[1:])
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_invalid_spec_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(BAD_FILES["invalid spec"])
    result = aistack("validate", str(path))
    assert "accelerator_pools[0].accelerator" in result.stderr
    assert "nvidia-h100-80gb" in result.stderr
    assert "teams[0].quotas.b" in result.stderr


def test_unknown_stack_name_suggests_one() -> None:
    result = aistack("validate", "locl")
    assert result.returncode == 2
    assert "did you mean 'local'" in result.stderr


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_plan_json_document(name: str) -> None:
    result = aistack("plan", name, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stack"] == name
    assert set(doc) >= {"stack", "target", "resources", "summary"}
    for r in doc["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs", "protect", "retain_on_delete", "dependencies"}
    assert doc["summary"]["total"] == len(doc["resources"])
    assert "unknown offline" in doc["summary"]["note"]


def test_plan_tree_names_components_and_counts() -> None:
    result = aistack("plan", "local")
    assert result.returncode == 0, result.stderr
    assert "aistack:index:AiStack" in result.stdout
    assert "Namespace alpha" in result.stdout
    assert "unknown offline" in result.stdout


def test_manifests_writes_one_file_per_object(tmp_path: Path) -> None:
    result = aistack("manifests", "local", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert {"namespace-cluster-alpha.yaml", "clusterqueue-cluster-alpha.yaml", "localqueue-alpha-default.yaml"} <= set(
        files
    )
    assert f"wrote {len(files)} manifest(s)" in " ".join(result.stdout.split())
    obj = yaml.safe_load((tmp_path / "namespace-cluster-alpha.yaml").read_text())
    assert list(obj)[:2] == ["apiVersion", "kind"] and obj["kind"] == "Namespace"


def test_usage_errors_exit_2() -> None:
    assert aistack("plan").returncode == 2
    assert aistack("frobnicate").returncode == 2


def test_upstreams_lists_the_pinned_table_and_a_stacks_mirror(tmp_path: Path) -> None:
    from components.versions import UPSTREAMS

    result = aistack("upstreams", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {k: rows[k]["version"] for k in UPSTREAMS} == {k: u.version for k, u in UPSTREAMS.items()}
    stack = tmp_path / "Pulumi.mirrored.yaml"
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    doc["config"]["aistack:upstream"] = {"charts_mirror": "/srv/charts", "manifests_mirror": "/srv/trees"}
    stack.write_text(yaml.safe_dump(doc))
    result = aistack("upstreams", str(stack), "--json")
    assert result.returncode == 1, result.stderr  # /srv/charts does not exist here: nothing is in the mirror
    sources = [r["from"] for r in json.loads(result.stdout)]
    assert {r["in_mirror"] for r in json.loads(result.stdout)} == {"missing"}
    assert all(s.startswith(("/srv/charts/", "/srv/trees/")) for s in sources), sources
