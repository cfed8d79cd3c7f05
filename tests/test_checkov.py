"""checkov (Kubernetes framework) over `aistack manifests`: the regulated example stacks have no
failed checks beyond the skips listed, with reasons, in policies/checkov-skips.yaml.

checkov runs from its own virtualenv (`make test` builds .venv-checkov): it pins a `packaging`
major the rest of the toolchain does not accept. Severities need Prisma Cloud's API, which is not
reachable here, so the bar is zero failures of any severity.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.cli.manifests import write_manifests
from aistack.offline import plan
from components.spec import load_stack
from tests.conftest import ROOT, need

CHECKOV = Path(os.environ.get("AISTACK_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
SKIPS = yaml.safe_load((ROOT / "policies" / "checkov-skips.yaml").read_text())["skips"] or []
REGULATED = ["aws-gpu", "gcp-tpu", "onprem-gpu"]  # hipaa, gdpr, gdpr


@pytest.fixture(scope="module")
def checkov() -> Path:
    if not CHECKOV.exists():
        need("checkov", f"no {CHECKOV} here (make test installs checkov into .venv-checkov)")
    return CHECKOV


def scan(checkov: Path, directory: Path) -> dict[str, Any]:
    args = [str(checkov), "-d", str(directory), "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"]
    if SKIPS:
        args += ["--skip-check", ",".join(s["id"] for s in SKIPS)]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert result.returncode in (0, 1), result.stderr[-2000:]
    doc = json.loads(result.stdout)
    return doc[0] if isinstance(doc, list) else doc


def test_every_skip_has_a_reason() -> None:
    for s in SKIPS:
        assert s.get("id", "").startswith("CKV") and len(s.get("reason", "").strip()) > 10, s


@pytest.mark.parametrize("stack", REGULATED)
def test_regulated_stacks_pass_checkov(checkov: Path, stack: str, tmp_path: Path) -> None:
    written = write_manifests(plan(load_stack(stack)).kubernetes_objects(), tmp_path)
    assert written
    doc = scan(checkov, tmp_path)
    failed = [(f["check_id"], f["check_name"], f["resource"]) for f in doc["results"]["failed_checks"]]
    assert not failed, f"{stack}: {failed}"
    assert doc["summary"]["passed"] > 0, "checkov must actually have evaluated checks"


def test_the_scan_catches_a_bad_object(checkov: Path, tmp_path: Path) -> None:
    """The harness fails when a manifest breaks a rule: a privileged pod in a team namespace."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": "alpha"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    write_manifests([pod], tmp_path)
    ids = {f["check_id"] for f in scan(checkov, tmp_path)["results"]["failed_checks"]}
    assert "CKV_K8S_16" in ids  # "Container should not be privileged"
