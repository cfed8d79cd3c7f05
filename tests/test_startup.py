"""Start-up stays light: the CLI and the stack spec import no provider SDK until a command needs one.

Timing is the benchmark's job (``python -m benchmarks.startup``); these checks are deterministic:
which modules a fresh interpreter has loaded, and that the benchmark's smoke mode runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Each of these costs 0.1-1 s at start-up; only the commands that use them may import them.
HEAVY = ("pulumi", "pulumi_kubernetes", "pulumi_gcp", "pulumi_aws", "grpc", "kubernetes", "paramiko", "testinfra")


def loaded_after(statement: str) -> set[str]:
    """Top-level packages a fresh interpreter has imported after running ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import aistack.cli",
        "from aistack.cli import app",
        "import components.spec",  # the spec is pure pydantic: validating a stack needs no Pulumi
    ],
)
def test_import_loads_no_provider_sdk(statement: str) -> None:
    heavy = loaded_after(statement) & set(HEAVY)
    assert not heavy, f"`{statement}` imports {sorted(heavy)}: import them inside the command that uses them"


def test_cli_import_builds_no_pydantic_model() -> None:
    """`aistack --help` lists commands; the spec and catalog (pydantic models, YAML) load when a command runs."""
    loaded = loaded_after("import aistack.cli")
    assert not loaded & {"components", "blueprints", "jinja2", "questionary"}, sorted(loaded)


def test_startup_benchmark_smoke(tmp_path: Path) -> None:
    """Each command runs once in a fresh process, exits 0 and imports no heavy SDK (times are not judged)."""
    out = tmp_path / "startup.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["smoke"] is True and result["problems"] == []
    assert set(result["commands"]) == {"aistack --help", "aistack validate local", "aistack estimate"}
    for name, r in result["commands"].items():
        assert r["exit_codes"] == [0], name
        assert r["modules"] > 0 and r["heavy_modules"] == [], name
        assert r["wall_s"] > 0 and r["cpu_s"] >= 0, name
