"""Start-up time of `aistack --help`, `validate` and `estimate`, against the interpreter's own floor.

Each command runs N times as ``python -m aistack`` from this checkout, each in a fresh process,
after one untimed warm-up run (which also writes the bytecode cache, as any install has one).
Reported per command: median wall and CPU time (user + system of the child), the time and share of
the run spent importing (up to 3 extra runs under ``-X importtime``), and the ratio to floors run the
same way: a bare interpreter (``python -c pass``), one that imports typer and rich, and the
smallest typer app (its ``--help``; a command with an argument, which makes typer import
pydantic). The same import trace shows which modules a command loads: none of the heavy SDKs
(Pulumi and its providers, grpc, the Kubernetes client, testinfra, paramiko) may load for these.

Exit status 1 when a median (wall or CPU) exceeds the limit (0.3 s), a command fails, or a heavy
module is imported. ``--smoke`` runs each command once, checks the exit codes and the imports and
reports the times without judging them (timing belongs to a full run on a quiet machine).

Run: python -m benchmarks.startup [--runs N] [--limit S] [--json FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results-startup.json")
LIMIT_S = 0.3
RUNS = 10

# A command, and the floor its time is compared with beyond the bare interpreter and `import typer, rich`.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "aistack --help": (["--help"], "typer app --help"),
    "aistack validate local": (["validate", "local"], "typer app cmd"),
    "aistack estimate": (
        ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--params", "7e9", "--tokens", "1e10"],
        "typer app cmd",
    ),
}
# The smallest typer app with two commands: its --help (typer's rich help), and a command with an
# argument (typer 0.29 validates arguments with pydantic, so every aistack command pays that import).
TYPER_APP = """
import typer
app = typer.Typer(add_completion=False)
@app.command()
def run(name: str) -> None:
    \"\"\"Print NAME.\"\"\"
    print(name)
@app.command()
def other() -> None:
    \"\"\"Do nothing.\"\"\"
app()
"""
FLOORS: dict[str, list[str]] = {
    "python": ["-c", "pass"],
    "typer, rich": ["-c", "import typer, rich"],
    "typer app --help": ["-c", TYPER_APP, "--help"],
    "typer app cmd": ["-c", TYPER_APP, "run", "x"],
}
# Top-level packages none of the commands above may import: each costs 0.1-1 s of start-up.
HEAVY = frozenset(
    {"pulumi", "pulumi_kubernetes", "pulumi_gcp", "pulumi_aws", "grpc", "kubernetes", "paramiko", "testinfra"}
)


def aistack_argv() -> list[str]:
    """`aistack` as this checkout's code (``python -m aistack`` from the repo root: the console script runs
    the same entry point, but may belong to another install)."""
    return [sys.executable, "-m", "aistack"]


def _env(**extra: str) -> dict[str, str]:
    # Bytecode is cached, as in any install (the warm-up writes it); no import tracing unless asked.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME")}
    return env | {"COLUMNS": "100", "NO_COLOR": "1"} | extra


def timed(argv: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds (user + system, the child's and its children's) of one run, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def import_trace(argv: list[str]) -> tuple[float, float, list[str]]:
    """One run under ``-X importtime``: seconds spent importing (top-level cumulative), its wall time, the modules."""
    env = _env(PYTHONPROFILEIMPORTTIME="1")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    total_us, modules = 0, []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|", 2)
        modules.append(name.strip())
        if not name.startswith("  "):  # depth 0: its cumulative time includes everything it imported
            total_us += int(cumulative)
    return total_us / 1e6, wall, modules


def measure(argv: list[str], runs: int, warm_up: bool) -> dict[str, Any]:
    if warm_up:
        timed(argv)  # bytecode caches and the page cache, not the start-up being measured
    samples = [timed(argv) for _ in range(runs)]
    walls = [s[0] for s in samples]
    cpus = [s[1] for s in samples]
    traces = [import_trace(argv) for _ in range(min(runs, 3))]  # tracing is noisy: the median of up to 3
    import_s, trace_wall, modules = sorted(traces)[len(traces) // 2]
    wall = statistics.median(walls)
    return {
        "argv": argv,
        "wall_s": wall,
        "cpu_s": statistics.median(cpus),
        "walls_s": walls,
        "cpus_s": cpus,
        "exit_codes": sorted({s[2] for s in samples}),
        "import_s": import_s,
        "import_share": min(1.0, import_s / trace_wall),  # both from the traced run: tracing slows imports
        "modules": len(modules),
        "heavy_modules": sorted({m for m in modules if m.split(".")[0] in HEAVY}),
    }


def run(runs: int, warm_up: bool) -> dict[str, Any]:
    floors = {name: measure([sys.executable, *args], runs, warm_up) for name, args in FLOORS.items()}
    commands = {}
    for name, (args, floor) in COMMANDS.items():
        r = measure([*aistack_argv(), *args], runs, warm_up)
        for key, base in (
            ("python", floors["python"]),
            ("typer_rich", floors["typer, rich"]),
            ("typer_app", floors[floor]),
        ):
            r[f"x_{key}_wall"] = r["wall_s"] / base["wall_s"]
            r[f"x_{key}_cpu"] = r["cpu_s"] / base["cpu_s"] if base["cpu_s"] else None
        commands[name] = r | {"typer_app_floor": floor}
    return {"floors": floors, "commands": commands}


def problems(result: dict[str, Any], limit: float, judge_time: bool) -> list[str]:
    found = []
    for name, r in result["commands"].items():
        if r["exit_codes"] != [0]:
            found.append(f"{name}: exit code(s) {r['exit_codes']}")
        if not r["modules"]:
            found.append(f"{name}: no import trace (-X importtime), so its imports were not checked")
        if r["heavy_modules"]:
            heavy = sorted({m.split(".")[0] for m in r["heavy_modules"]})
            found.append(f"{name}: imports {', '.join(heavy)} ({len(r['heavy_modules'])} modules)")
        if judge_time:
            found += [
                f"{name}: median {what} {r[key]:.3f} s > {limit} s"
                for what, key in (("wall", "wall_s"), ("CPU", "cpu_s"))
                if r[key] > limit
            ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"fresh processes per command (default {RUNS})")
    parser.add_argument("--limit", type=float, default=LIMIT_S, help=f"median seconds allowed (default {LIMIT_S})")
    parser.add_argument("--smoke", action="store_true", help="one run each, no warm-up; times are not judged")
    parser.add_argument("--json", type=Path, help=f"write the results here (default {RESULTS.name}; --smoke: none)")
    args = parser.parse_args()
    runs = 1 if args.smoke else max(1, args.runs)
    console = Console(width=None if sys.stdout.isatty() else 100)  # logs: the table unwrapped
    with console.status(f"starting each command {runs} time(s) in fresh processes…"):
        result = run(runs, warm_up=not args.smoke)
    found = problems(result, args.limit, judge_time=not args.smoke)
    result |= {
        "runs": runs,
        "smoke": args.smoke,
        "limit_s": args.limit,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "problems": found,
    }
    out = args.json or (None if args.smoke else RESULTS)
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(
        title=f"start-up, median of {runs} fresh process(es); {result['machine']}",
        caption="import: time importing (-X importtime) and its share of the run; ×: wall time over a floor's",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("", "wall s", "CPU s", "import", "×python", "×typer,rich", "×typer app", f"≤{args.limit}s"):
        table.add_column(col, justify="right" if col else "left")
    for name, r in result["floors"].items():
        imports = f"{r['import_s']:.3f} {r['import_share']:.0%}"
        table.add_row(f"[dim]{name}[/]", f"{r['wall_s']:.3f}", f"{r['cpu_s']:.3f}", imports)
    for name, r in result["commands"].items():
        ok = max(r["wall_s"], r["cpu_s"]) <= args.limit
        table.add_row(
            name.removeprefix("aistack "),
            f"{r['wall_s']:.3f}",
            f"{r['cpu_s']:.3f}",
            f"{r['import_s']:.3f} {r['import_share']:.0%}",
            f"{r['x_python_wall']:.1f}",
            f"{r['x_typer_rich_wall']:.1f}",
            f"{r['x_typer_app_wall']:.1f}",
            "[green]yes[/]" if ok else ("no" if args.smoke else "[red]no[/]"),
        )
    console.print(table)
    if args.smoke:
        console.print("--smoke: exit codes and imports checked; times shown, not judged")
    for p in found:
        console.print(f"[red]✗[/] {p}")
    if found:
        sys.exit(1)
    summary = "every command exited 0 without importing a heavy SDK"
    if not args.smoke:
        summary += f"; every median within {args.limit} s"
    console.print(f"[green]✓[/] {summary}")


if __name__ == "__main__":
    main()
