"""Every benchmark runs once at a tiny size inside `make test`, so none can rot unnoticed (the timed
runs are `make bench`). Their timings are not judged here; only that they run to the end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.test_e2e_local import tools_bin


def bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_plan_scale_smoke() -> None:
    result = bench("plan_scale", "--smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "offline plan vs the SDK floors" in result.stdout


@pytest.mark.e2e
def test_apply_smoke() -> None:
    if tools_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("no engine/cluster tools: .ci/run builds them with scripts/tools.sh")
        pytest.skip("engine and cluster tools not built here (scripts/tools.sh)")
    before = (ROOT / "benchmarks" / "results-apply.json").read_text()
    result = bench("apply", "--smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratio pulumi/kubectl" in result.stdout
    assert (ROOT / "benchmarks" / "results-apply.json").read_text() == before, "smoke runs write no results"
