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
    floors = result["floors"]
    assert set(floors) == {"python", "typer, rich", "typer app --help", "typer app cmd"}
    for name, r in result["commands"].items():
        assert r["exit_codes"] == [0], name
        assert r["heavy_modules"] == [], name
        # one run in smoke mode: the median is that run; the ratios are over the floors' medians
        assert result["runs"] == 1 and r["walls_s"] == [r["wall_s"]] and r["cpus_s"] == [r["cpu_s"]], name
        assert r["x_python_wall"] == r["wall_s"] / floors["python"]["wall_s"], name
        assert r["x_typer_app_wall"] == r["wall_s"] / floors[r["typer_app_floor"]]["wall_s"], name
        assert 0 <= r["import_share"] <= 1, name
        # an aistack command loads what the smallest typer app loads, and more
        assert r["modules"] > floors[r["typer_app_floor"]]["modules"] > floors["python"]["modules"], name


def test_startup_problems_from_hand_made_results() -> None:
    from benchmarks.startup import problems

    def command(**over: object) -> dict[str, object]:
        return {"exit_codes": [0], "modules": 900, "heavy_modules": [], "wall_s": 0.2, "cpu_s": 0.1} | over

    result = {
        "commands": {
            "fine": command(),
            "slow": command(wall_s=0.45, cpu_s=0.31),
            "broken": command(exit_codes=[0, 2], modules=0),
            "heavy": command(heavy_modules=["pulumi", "pulumi.runtime", "grpc._channel"]),
        }
    }
    assert problems(result, 0.3, judge_time=True) == [
        "slow: median wall 0.450 s > 0.3 s",
        "slow: median CPU 0.310 s > 0.3 s",
        "broken: exit code(s) [0, 2]",
        "broken: no import trace (-X importtime), so its imports were not checked",
        "heavy: imports grpc, pulumi (3 modules)",
    ]
    assert "slow" not in " ".join(problems(result, 0.3, judge_time=False))  # --smoke: times not judged


def test_startup_ratios_from_hand_made_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    """run(): each command's ratio to each floor, from hand-made medians."""
    from benchmarks import startup

    app = startup.TYPER_APP
    walls = {  # hand-made medians, by the arguments after the interpreter
        ("-c", "pass"): 0.02,
        ("-c", "import typer, rich"): 0.08,
        ("-c", app, "--help"): 0.16,
        ("-c", app, "run", "x"): 0.1,
        ("-m", "aistack", "--help"): 0.24,
    }

    def measure(argv: list[str], runs: int, warm_up: bool) -> dict[str, object]:
        wall = walls.get(tuple(argv[1:]), 0.3)  # 0.3: aistack validate local, aistack estimate
        return {"wall_s": wall, "cpu_s": wall / 2}

    monkeypatch.setattr(startup, "measure", measure)
    out = startup.run(1, warm_up=False)
    help_ = out["commands"]["aistack --help"]
    assert help_["x_python_wall"] == pytest.approx(0.24 / 0.02)  # 12
    assert help_["x_typer_rich_wall"] == pytest.approx(0.24 / 0.08)  # 3
    assert help_["x_typer_app_wall"] == pytest.approx(0.24 / 0.16)  # 1.5, against the typer app's --help
    validate = out["commands"]["aistack validate local"]
    assert validate["typer_app_floor"] == "typer app cmd"
    assert validate["x_typer_app_wall"] == pytest.approx(0.3 / 0.1)  # 3, against the typer app's command
    assert validate["x_python_cpu"] == pytest.approx(0.15 / 0.01)
