"""`aistack wizard`: ask only what the decision needs, show ranked options, write the stack file.

Interactive (questionary) by default; `--answers FILE` runs the same flow from a YAML file of
answers, for CI and tests. Both paths build the same answers dict, so they cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from blueprints import decide, named, render, workload
from components.spec import SpecError, load_stack

from .common import EXIT_FOUND, EXIT_INVALID, STACKS_DIR, console, err, print_spec_error
from .recommend import print_decision

KINDS = ["training", "fine-tuning", "serving"]


def _ask(answers: dict[str, Any]) -> dict[str, Any]:
    """Interactive questions; each is skipped when the answer is already known or not needed."""
    import questionary

    def need(key: str) -> bool:
        return key not in answers

    def number(msg: str, default: str) -> float:
        raw = questionary.text(msg, default=default, validate=_is_number).unsafe_ask()
        return float(raw)

    if need("name"):
        answers["name"] = questionary.text("Stack name (stacks/Pulumi.<name>.yaml):", default="ml").unsafe_ask()
    if need("blueprint"):
        choice = questionary.select("Start from", choices=["a blank workload", *named.names()]).unsafe_ask()
        answers["blueprint"] = None if choice == "a blank workload" else choice
    if answers["blueprint"]:
        return answers
    if need("kind"):
        answers["kind"] = questionary.select("What will run?", choices=KINDS).unsafe_ask()
    if need("params"):
        answers["params"] = number("Model parameters (e.g. 7e9):", "7e9")
    if answers["kind"] != "serving" and need("tokens"):
        answers["tokens"] = number("Training tokens (e.g. 1.4e11):", "1.4e11")
    if answers["kind"] == "serving" and need("target_tokens_per_s"):
        answers["target_tokens_per_s"] = number("Generated tokens per second to sustain:", "2000")
    if need("framework"):
        answers["framework"] = questionary.select("Framework", choices=["pytorch", "jax", "tensorflow"]).unsafe_ask()
    if need("objective"):
        answers["objective"] = questionary.select("Optimise for", choices=["cost", "time", "balanced"]).unsafe_ask()
    if answers["kind"] != "serving" and need("deadline_hours"):
        raw = questionary.text(
            "Deadline in hours (blank = none):", default="", validate=_is_number_or_blank
        ).unsafe_ask()
        answers["deadline_hours"] = float(raw) if raw else None
    if need("compliance"):
        answers["compliance"] = questionary.select("Compliance", choices=["standard", "gdpr", "hipaa"]).unsafe_ask()
    if need("spot_ok"):
        answers["spot_ok"] = questionary.confirm(
            "Is spot (preemptible) capacity acceptable?", default=False
        ).unsafe_ask()
    return answers


def _is_number(text: str) -> bool | str:
    try:
        return float(text) > 0 or "must be positive"
    except ValueError:
        return "a number, e.g. 7e9"


def _is_number_or_blank(text: str) -> bool | str:
    return True if not text.strip() else _is_number(text)


def _workload(answers: dict[str, Any]) -> tuple[workload.Workload, str, dict[str, object]]:
    if answers.get("blueprint"):
        bp = named.load(str(answers["blueprint"]))
        return bp.workload, bp.title, dict(bp.stack)
    keys = ("kind", "params", "tokens", "target_tokens_per_s", "precision", "framework", "objective", "method")
    data: dict[str, object] = {k: answers[k] for k in keys if answers.get(k) is not None}
    constraints = {
        k: answers[k]
        for k in ("deadline_hours", "budget_usd", "compliance", "spot_ok", "clouds", "regions")
        if answers.get(k) is not None
    }
    data["constraints"] = constraints
    wl = workload.parse(data, "wizard answers")
    return wl, f"{wl.kind} of a {wl.params or 0:.3g}-parameter model (aistack wizard)", {}


def wizard(
    answers_file: Annotated[
        Path | None, typer.Option("--answers", help="YAML answers; runs without prompting (CI, tests).")
    ] = None,
    stacks_dir: Annotated[Path, typer.Option(help="Where to write Pulumi.<name>.yaml.")] = STACKS_DIR,
    force: Annotated[bool, typer.Option(help="Overwrite an existing stack file.")] = False,
) -> None:
    """Pick hardware for a workload and write a validated stack config."""
    answers: dict[str, Any] = {}
    if answers_file is not None:
        try:
            loaded = yaml.safe_load(answers_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            err.print(f"[red]{answers_file}: {exc}[/]")
            raise typer.Exit(EXIT_INVALID) from None
        answers = dict(loaded)
        answers.setdefault("blueprint", None)
        answers.setdefault("name", "ml")
    else:
        answers = _ask(answers)
    try:
        wl, title, extra = _workload(answers)
    except workload.WorkloadError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_INVALID) from None
    if answers.get("project"):
        extra["project"] = answers["project"]
    decision = decide.decide(wl, limit=5)
    print_decision(decision, show_eliminated=6)
    if not decision.options:
        err.print("[red]No option satisfies the constraints.[/] To fix:")
        for line in decision.relax:
            err.print(f"  • {line}")
        raise typer.Exit(EXIT_FOUND)
    if "choice" in answers:
        index = int(answers["choice"])
    elif answers_file is not None:
        index = 1
    else:
        import questionary

        labels = [f"{i}. {o.venue.label}, {o.estimate.chips} chips" for i, o in enumerate(decision.options, 1)]
        picked = questionary.select("Which option?", choices=labels).unsafe_ask()
        index = labels.index(picked) + 1
    if not 1 <= index <= len(decision.options):
        err.print(f"[red]choice {index} is not between 1 and {len(decision.options)}[/]")
        raise typer.Exit(EXIT_INVALID)
    option = decision.options[index - 1]
    path = stacks_dir / f"Pulumi.{answers['name']}.yaml"
    if path.exists() and not force:
        err.print(f"[red]{path} exists.[/] To fix: pick another name or pass --force.")
        raise typer.Exit(EXIT_INVALID)
    text = render.render(option, wl, title, "wizard", extra)
    stacks_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        load_stack(str(path), stacks_dir)
    except SpecError as exc:  # a bug in the template, not in the user's answers: say so loudly
        print_spec_error(exc)
        err.print(f"[red]{path} was written but does not validate; this is a bug in aistack's template.[/]")
        raise typer.Exit(EXIT_INVALID) from None
    console.print(
        f"[green]✓[/] wrote {path} ({option.venue.label}, {option.estimate.chips} chips); "
        f"it passes `aistack validate`. Next: `pulumi up --stack {answers['name']}`."
    )
