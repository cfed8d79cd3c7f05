"""The GitHub Actions workflows: actionlint finds nothing (with its shellcheck integration where
shellcheck is installed), the drift workflow installs the Pulumi CLI the SDK is pinned to, gets
cloud credentials through OIDC, and defines no environment variable that nothing reads.

actionlint is built from the Go module proxy by scripts/tools.sh into the same tool cache as the
engine (`make test` runs it); it knows the inputs of the popular actions, so a misspelt `with:`
key of the credentials actions fails here too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, need

TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
DRIFT = ROOT / ".github" / "workflows" / "drift.yml"

# Variables read by the programs a step runs rather than by the workflow text itself.
CONSUMED_BY_TOOLS = {
    "PULUMI_BACKEND_URL": "pulumi CLI",
    "PULUMI_ACCESS_TOKEN": "pulumi CLI",
    "PULUMI_CONFIG_PASSPHRASE": "pulumi CLI",
    "GH_TOKEN": "gh CLI",
}


def actionlint_bin() -> Path | None:
    for bin_dir in sorted(TOOLS.glob("*/bin")):
        if (bin_dir / "actionlint").exists():
            return bin_dir / "actionlint"
    return None


@pytest.fixture(scope="module")
def actionlint() -> Path:
    binary = actionlint_bin()
    if binary is None:
        need("actionlint", f"no actionlint under {TOOLS} (scripts/tools.sh builds it)")
    return binary


def run_actionlint(actionlint: Path, files: list[Path], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # shellcheck checks every `run:` script when installed (an empty value switches it off);
    # pyflakes is off: no step runs Python inline.
    shellcheck = shutil.which("shellcheck") or ""
    cmd = [str(actionlint), "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=", *map(str, files)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_actionlint_passes(actionlint: Path) -> None:
    assert WORKFLOWS, "no workflows found"
    result = run_actionlint(actionlint, WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_runs_shellcheck(actionlint: Path, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        need("shellcheck", "shellcheck not installed (Debian package `shellcheck`): run: scripts go unchecked")
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: exit ${{ github.run_id }}\n"
    )
    result = run_actionlint(actionlint, [bad], cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SC2242" in result.stdout, result.stdout


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def sdk_pin() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [str(d).split("==", 1)[1].strip() for d in deps if re.match(r"pulumi\s*==", d)]
    return pin


def test_drift_pins_the_sdk_cli_version() -> None:
    pulumi_steps = [s for s in steps(load(DRIFT)) if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi_steps, "drift.yml no longer installs the CLI with pulumi/actions"
    for step in pulumi_steps:
        assert str(step.get("with", {}).get("pulumi-version")) == sdk_pin()


def test_other_cli_pins_match_the_sdk() -> None:
    tools = re.search(r"^PULUMI_VERSION=(\S+)", (ROOT / "scripts" / "tools.sh").read_text(), re.M)
    assert tools and tools.group(1) == sdk_pin()
    docs = re.findall(r"get\.pulumi\.com.*--version (\S+)", (ROOT / "docs" / "drift.md").read_text())
    assert docs and set(docs) == {sdk_pin()}


def test_drift_uses_oidc() -> None:
    doc = load(DRIFT)
    scopes = [doc.get("permissions") or {}, *(job.get("permissions") or {} for job in doc["jobs"].values())]
    assert any(isinstance(p, dict) and p.get("id-token") == "write" for p in scopes)
    uses = {str(s.get("uses", "")).split("@")[0]: s for s in steps(doc)}
    aws = uses.get("aws-actions/configure-aws-credentials")
    assert aws and "role-to-assume" in aws["with"] and "aws-region" in aws["with"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"]), "long-lived AWS keys"
    gcp = [s for s in steps(doc) if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
    assert any("workload_identity_provider" in s["with"] and "service_account" in s["with"] for s in gcp)


def referenced(name: str, texts: list[str]) -> bool:
    pattern = re.compile(rf"\benv\.{name}\b|\benv\[['\"]{name}['\"]\]|\$\{{?{name}\b")
    return any(pattern.search(text) for text in texts)


def step_texts(step: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")), str(step.get("if", "")), yaml.safe_dump(step.get("with", {}))]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_unused_env(path: Path) -> None:
    doc = load(path)
    unused = []
    scopes: list[tuple[str, dict[str, Any], list[str]]] = []
    every_step = [t for s in steps(doc) for t in step_texts(s)]
    scopes.append(("workflow", doc.get("env") or {}, every_step))
    for job_id, job in doc["jobs"].items():
        job_steps = job.get("steps", [])
        scopes.append((f"job {job_id}", job.get("env") or {}, [t for s in job_steps for t in step_texts(s)]))
        for i, step in enumerate(job_steps):
            scopes.append((f"job {job_id} step {step.get('name', i)}", step.get("env") or {}, step_texts(step)))
    for where, env, texts in scopes:
        unused += [f"{name} ({where})" for name in env if name not in CONSUMED_BY_TOOLS and not referenced(name, texts)]
    assert not unused, f"defined but never read: {unused}"
