"""`aistack wizard`: ask only what the decision needs, show ranked options, write the stack file.

Interactive (questionary) by default; `--answers FILE` runs the same flow from a YAML file of
answers, for CI and tests. Both paths build the same answers dict, so they cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import EXIT_BUG, EXIT_FOUND, STACKS_DIR, console, err, fail, print_spec_error, styled
from .recommend import print_decision, print_no_option

if TYPE_CHECKING:  # the blueprints (pydantic catalog, jinja2 templates) are imported by the functions using them
    from blueprints import decide, workload

KINDS = ["training", "fine-tuning", "serving"]
# What an answers file (or the prompts) may set; anything else is a typo, reported, never ignored.
ANSWER_KEYS = frozenset(
    {
        *("name", "blueprint", "project", "choice"),
        *("kind", "params", "tokens", "target_tokens_per_s", "precision", "framework", "objective", "method"),
        *("deadline_hours", "budget_usd", "compliance", "spot_ok", "clouds", "regions"),
        # Ways of buying that are asked about only when an option bought that way is among the ranked
        # ones; false drops those options (an answers file without the key keeps them).
        *("capacity_block", "flex_start", "calendar", "reservation"),
    }
)
PURCHASE_QUESTIONS = {
    "capacity-block": "Book an EC2 Capacity Block? It is bought ahead for fixed dates and paid in full",
    "flex-start": "Wait for capacity with GKE flex-start? Nodes queue until free, at most 7 days a run",
    "calendar": "Book a GCP calendar-mode reservation? It is requested ahead for fixed dates",
    "reservation": "Use a reservation you hold (or will buy)?",
}
# Pulumi's own stack-name rule (pkg/backend: ^[A-Za-z0-9_.-]{1,100}$); the name is also the file name.
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _ask(answers: dict[str, Any]) -> dict[str, Any]:
    """Interactive questions; each is skipped when the answer is already known or not needed."""
    import questionary

    from blueprints import named

    def need(key: str) -> bool:
        return key not in answers

    def number(msg: str, default: str) -> float:
        raw = questionary.text(msg, default=default, validate=_is_number).unsafe_ask()
        return float(raw)

    if need("name"):
        answers["name"] = questionary.text(
            "Stack name (stacks/Pulumi.<name>.yaml):",
            default="ml",
            validate=lambda t: bool(STACK_NAME.match(t)) or "letters, digits, '-', '_', '.' (at most 100)",
        ).unsafe_ask()
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
    from blueprints import named, workload

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
    from blueprints import decide, render, workload

    answers = read_answers(answers_file) if answers_file is not None else _ask({})
    problems = check_answers(answers)
    if problems:
        fail("wizard answers: " + " ".join(problems))
    try:
        wl, title, extra = _workload(answers)
    except workload.WorkloadError as exc:
        fail(str(exc))
    decision = decide.decide(wl, limit=5)
    declined = frozenset(k for k in offered_purchases(decision) if not _accepts(k, decision, answers, answers_file))
    if declined:
        decision = decide.decide(wl, limit=5, exclude=declined)
    print_decision(decision, show_eliminated=6)
    if not decision.options:
        print_no_option(decision)
        raise typer.Exit(EXIT_FOUND)
    if "choice" in answers:
        index = answers["choice"]
    elif answers_file is not None:
        index = 1
    else:
        import questionary

        labels = [
            f"{i}. {o.venue.label}, {decide.chips_text(o.estimate.chips)}" for i, o in enumerate(decision.options, 1)
        ]
        picked = questionary.select("Which option?", choices=labels).unsafe_ask()
        index = labels.index(picked) + 1
    if not 1 <= index <= len(decision.options):
        fail(f"choice: {index} is not an option shown.", f"write a number from 1 to {len(decision.options)}.")
    option = decision.options[index - 1]
    if answers.get("project"):
        if option.venue.target == "gcp":
            extra["project"] = answers["project"]
        else:  # a GCP project id means nothing to an AWS or on-prem stack: say so rather than write it
            target = option.venue.target
            err.print(f"note: project {answers['project']} is not used: the chosen option runs on {target}.")
    path = stacks_dir / f"Pulumi.{answers['name']}.yaml"
    if path.exists() and not force:
        fail(f"{path} exists.", "pick another name or pass --force.")
    text = render.render(option, wl, title, "wizard", extra)
    write_validated(text, path, stacks_dir)
    done = (
        f"wrote {path} ({option.venue.label}, {decide.chips_text(option.estimate.chips)}); "
        f"it passes `aistack validate`. Next: `pulumi up --stack {answers['name']}`."
    )
    console.print(styled("[green]✓[/] {done}", done=done))


def offered_purchases(decision: decide.Decision) -> list[str]:
    """The purchase kinds worth a question: those of at least one ranked option, best-ranked first."""
    kinds: list[str] = []
    for o in decision.options:
        if o.purchase in PURCHASE_QUESTIONS and o.purchase not in kinds:
            kinds.append(o.purchase)
    return kinds


def _accepts(kind: str, decision: decide.Decision, answers: dict[str, Any], answers_file: Path | None) -> bool:
    """Whether options bought as `kind` stay: the answer given, else the prompt (an answers file: yes)."""
    key = kind.replace("-", "_")
    if key in answers:
        return bool(answers[key])
    if answers_file is not None:
        return True
    import questionary

    best = next(o for o in decision.options if o.purchase == kind)
    other = next((o for o in decision.options if o.purchase != kind), None)
    cost = best.estimate.cost_usd or 0.0
    versus = f" vs ${other.estimate.cost_usd or 0:,.0f} otherwise" if other is not None else ""
    where = f"best such option: {best.venue.accelerator} ${cost:,.0f}{versus}"
    return bool(questionary.confirm(f"{PURCHASE_QUESTIONS[kind]} ({where})", default=True).unsafe_ask())


def read_answers(path: Path) -> dict[str, Any]:
    """The --answers file: a YAML mapping, read through the bounded reader (exit 2 otherwise)."""
    from foundation import safe_yaml
    from foundation.errors import SpecError

    try:
        loaded = safe_yaml.load_file(path, "answers file")
    except SpecError as exc:
        fail(str(exc.issues[0]))
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        fail(
            f"{path}: is a {type(loaded).__name__}, not a mapping of answers.",
            "write `key: value` lines, e.g. `name: ml`.",
        )
    answers = {str(k): v for k, v in loaded.items()}
    answers.setdefault("blueprint", None)
    answers.setdefault("name", "ml")
    return answers


def check_answers(answers: dict[str, Any]) -> list[str]:
    """What the workload model does not check: unknown keys, the stack name (it becomes a file name and
    a Pulumi stack), the blueprint (it becomes a file look-up), the GCP project id and the choice."""
    import difflib

    from blueprints import named
    from components.naming import GCP_PROJECT_ID  # the same rule `validate` applies to aistack:project

    problems = []
    for key in answers:
        if key not in ANSWER_KEYS:
            close = difflib.get_close_matches(key, sorted(ANSWER_KEYS), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(sorted(ANSWER_KEYS)) + "."
            problems.append(f"unknown key {key!r}. To fix: {hint}")
    name = answers.get("name")
    if not isinstance(name, str) or not STACK_NAME.match(name):
        problems.append(
            f"name {name!r} is not a Pulumi stack name (1-100 letters, digits, '-', '_', '.'). To fix: write e.g. "
            "name: ml-team."
        )
    elif set(name) == {"."}:
        problems.append(f"name {name!r} is only dots. To fix: write e.g. name: ml-team.")
    blueprint = answers.get("blueprint")
    if blueprint is not None and blueprint not in named.names():
        problems.append(f"blueprint {blueprint!r} does not exist. To fix: one of {', '.join(named.names())}.")
    project = answers.get("project")
    if project is not None and not (isinstance(project, str) and GCP_PROJECT_ID.fullmatch(project)):
        problems.append(
            f"project {project!r} is not a GCP project id (6-30 lowercase letters, digits, '-', starting with a "
            "letter). To fix: write your project id, e.g. project: ml-platform-prod."
        )
    for key in ("capacity_block", "flex_start", "calendar", "reservation"):
        if key in answers and not isinstance(answers[key], bool):
            problems.append(f"{key} {answers[key]!r} is not true or false. To fix: write {key}: true or {key}: false.")
    choice = answers.get("choice")
    if "choice" in answers and (isinstance(choice, bool) or not isinstance(choice, int) or choice < 1):
        problems.append(f"choice {choice!r} is not a whole number ≥ 1. To fix: write e.g. choice: 1.")
    return problems


def write_validated(text: str, path: Path, stacks_dir: Path) -> None:
    """Validate the rendered stack file under a temporary name beside its target, then move it into place:
    a stack that does not validate (an aistack bug) never replaces or creates the real file."""
    import os
    import tempfile

    from components.spec import SpecError, load_stack

    try:
        stacks_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stacks_dir, prefix=f".{path.stem}.", suffix=".yaml")
    except OSError as exc:
        fail(f"--stacks-dir {stacks_dir}: cannot write there ({exc.strerror or exc}).", "pass a writable directory.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_stack(tmp, stacks_dir)
        except SpecError as exc:  # a bug in the template, not in the user's answers: say so loudly
            print_spec_error(exc)
            err.print(f"{path} was not written: the generated config does not validate. This is a bug in aistack.")
            raise typer.Exit(EXIT_BUG) from None
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
