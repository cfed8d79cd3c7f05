"""The floors only point down: aistack (CLI) → components → blueprints → foundation.

The contract lives in pyproject.toml ([tool.importlinter]); import-linter reads every import,
function-level ones included. The second test proves the check can fail: the same contract over a
copy of the tree with one upward import added must break, naming that import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ["aistack", "components", "blueprints", "foundation"]
_LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the copy's packages shadow the editable install (its finder comes after sys.path).
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", _LINT], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_contract_names_every_floor_top_down() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    assert contract["type"] == "layers" and contract["layers"] == FLOORS
    assert set(config["root_packages"]) == set(FLOORS)


def test_floors_point_down() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in FLOORS:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.yaml"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "foundation" / "words.py").open("a") as f:
        f.write("\nfrom components import naming  # an upward import, for this test only\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "foundation.words -> components.naming" in result.stdout
