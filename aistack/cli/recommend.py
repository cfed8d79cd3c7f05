"""`aistack recommend` and `aistack estimate`: the decision blueprint's CLI (`calibration` is in calibration.py).

JSON contracts (relied on by scripts; keep them stable):
  recommend --json  {"options": [{target, region, accelerator, count, time_hours, cost_usd, spot, why, ...}],
                     "eliminated": [{option, reason, ...}]}   exit 1 when options is empty
                    added, never removed: options[].{purchase, tie_with, time_hours_low/high, cost_usd_low/high,
                    price_as_of}, "eliminated_groups" [{reason, constraint, count, options}], "prices"
  estimate --json   {"time_hours", "cost_usd", "mfu", "assumptions", ..., "prices"}; added: "precision" (the one
                    used: --precision, else the chip's best 16-bit one, blueprints/decide.py estimate_json)
  recommend --report FILE.html   the same decision as a self-contained page (blueprints/report.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from .common import EXIT_FOUND, console, err, fail, styled

if TYPE_CHECKING:  # the blueprints build the catalog's pydantic models: each command imports what it uses
    from blueprints import decide, workload
    from blueprints.estimator import Estimate


def options_table(decision: decide.Decision, title: str = "Ranked options") -> Table:
    from blueprints.decide import price_date, ranks_text

    serving = decision.workload.kind == "serving"
    table = Table(title=title, title_justify="left")
    for col in ("#", "≈", "accelerator", "where", "bought", "chips", "hours", "USD", "MFU"):
        table.add_column(
            col, justify="right" if col in ("#", "chips", "hours", "USD", "MFU") else "left", overflow="fold"
        )
    for i, o in enumerate(decision.options, 1):
        e = o.estimate
        where = f"{o.venue.target} {o.venue.region}"
        low, high = o.time_range
        hours = f"{e.time_hours:,.0f}*" if serving else _band(e.time_hours, low, high, "{:,.1f}")
        cost_range = o.cost_range
        if e.cost_usd is None or cost_range is None:
            cost = "?"
        else:
            # Whole dollars hide the difference between two cheap options ($1.04 vs $1.13): cents below $100.
            cost = _band(e.cost_usd, cost_range[0], cost_range[1], "{:,.2f}" if e.cost_usd < 100 else "{:,.0f}")
        tie = ranks_text(o.tie_with)
        acc = o.venue.accelerator + (" †" if e.unvalidated else "")  # family not validated (calibration, #29)
        table.add_row(str(i), tie, acc, where, o.purchase, str(e.chips), hours, cost, f"{e.mfu:.0%}")
    notes = []
    if serving:
        notes.append("* serving: hours priced (duration_hours), not a run time")
    notes.append("(a–b): the estimate's ≈80% band; ≈ #n: a tie, the bands overlap on the objective")
    if any(o.estimate.unvalidated for o in decision.options):
        notes.append("†: unvalidated hardware family (too few calibration rows): band widened; `aistack calibration`")
    notes.append(f"prices: {price_date()}")
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table


def _band(value: float, low: float, high: float, fmt: str) -> str:
    """`1,234` or `1,234 (1,100–1,400)`: the band where it is wider than the printed precision."""
    lo, hi = fmt.format(low), fmt.format(high)
    return fmt.format(value) if lo == hi else f"{fmt.format(value)} ({lo}–{hi})"


def print_decision(decision: decide.Decision, show_eliminated: int = 12) -> None:
    from blueprints.decide import group_eliminations, price_date

    if decision.options:
        console.print(options_table(decision))
        for i, o in enumerate(decision.options, 1):
            console.print(styled("  [bold]{i}[/] {why}", i=i, why=o.why.split("; ", 1)[-1]))
        risks = {r for o in decision.options[:3] for r in o.risks}
        for r in sorted(risks):
            console.print(styled("  [yellow]risk[/] {r}", r=r))
    else:
        console.print(f"prices: {price_date()}")
    groups = group_eliminations(decision)
    gone = Table(title=f"Eliminated ({len(decision.eliminated)}, by reason)", title_justify="left", show_lines=False)
    gone.add_column("reason", overflow="fold", ratio=3)
    gone.add_column("options", overflow="fold", ratio=2)
    for g in groups[:show_eliminated]:
        # One member: its own reason, with the numbers that differ per place; several: the shared reason.
        reason = g.options[0].reason if len(g.options) == 1 else g.reason
        gone.add_row(reason, g.short())
    if len(groups) > show_eliminated:
        rest = sum(len(g.options) for g in groups[show_eliminated:])
        gone.add_row(f"… {len(groups) - show_eliminated} more reasons ({rest} options)", "use --json for all")
    console.print(gone)


def recommend(
    workload_file: Annotated[
        Path | None, typer.Option("--workload", help="Workload YAML (see docs/decision.md).")
    ] = None,
    blueprint: Annotated[
        str | None,
        typer.Option("--blueprint", help="A shipped blueprint by name (blueprints/*.yaml), or a blueprint file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract instead of tables.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many ranked options to show (1-100).")] = 10,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a self-contained HTML page: the cost × time trade-off chart."),
    ] = None,
) -> None:
    """Rank where and on what to run a workload, with time, cost, reasons and eliminations."""
    from blueprints import decide

    wl, origin = _workload_from(workload_file, blueprint)
    decision = decide.decide(wl, limit=limit)
    if as_json:
        typer.echo(json.dumps(decision.as_json(), indent=2, allow_nan=False))
    else:
        print_decision(decision)
    if report is not None:
        write_report(decision, report, origin)
    if not decision.options:
        print_no_option(decision)
        raise typer.Exit(EXIT_FOUND)


def _workload_from(workload_file: Path | None, blueprint: str | None) -> tuple[workload.Workload, str]:
    """The workload `recommend` ranks, and where it came from: --workload FILE, or --blueprint NAME/FILE.

    A blueprint file given to --workload is used as one (its `workload:` section), with a note saying so.
    """
    from blueprints import named, workload

    if (workload_file is None) == (blueprint is None):
        known = ", ".join(named.names())
        fail(
            "--workload/--blueprint: give exactly one of them.",
            f"pass --workload FILE (a workload YAML), or --blueprint NAME (one of {known}) or a blueprint file.",
        )
    try:
        if blueprint is not None:
            return named.resolve(blueprint).workload, f"blueprint {blueprint}"
        assert workload_file is not None
        try:
            return workload.load(workload_file), str(workload_file)
        except workload.BlueprintFileGiven:
            err.print(
                f"note: {workload_file} is a blueprint file (title, workload, stack); using its `workload:` "
                f"section, as `--blueprint {workload_file}` does."
            )
            return named.load_file(workload_file).workload, str(workload_file)
    except workload.WorkloadError as exc:
        fail(str(exc))


def write_report(decision: decide.Decision, path: Path, origin: str) -> None:
    from blueprints import report

    try:
        path.write_text(report.page(decision, origin), encoding="utf-8")
    except OSError as exc:
        fail(f"--report {path}: cannot write it ({exc.strerror or exc}).", "pass a writable path.")
    err.print(f"wrote {path}")


def print_no_option(decision: decide.Decision) -> None:
    err.print(styled("[red]No option satisfies the constraints.[/] To fix:"))
    for line in decision.relax:
        err.print(f"  • {line}")


def estimate(
    accelerator: Annotated[str, typer.Option(help="Catalog id, e.g. nvidia-h100-80gb.")],
    count: Annotated[int, typer.Option(min=1, max=65536, help="Chips (1-65536).")],
    flops: Annotated[float | None, typer.Option(help="Total training FLOPs.")] = None,
    params: Annotated[float | None, typer.Option(help="Model parameters (with --tokens).")] = None,
    tokens: Annotated[float | None, typer.Option(help="Training tokens (with --params).")] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="bf16 | fp8 | fp16. Default: the chip's best 16-bit one (bf16; fp16 where it has no BF16)."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Price in this region. Default: cheapest sourced.")] = None,
    spot: Annotated[bool, typer.Option(help="Use the spot price.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {time_hours, cost_usd, mfu, assumptions}.")] = False,
) -> None:
    """Estimate time and cost of a training run on COUNT chips of ACCELERATOR."""
    from blueprints import decide, workload
    from blueprints.estimator import estimate_training
    from blueprints.utilisation import NotEstimable

    _check_estimate_inputs(accelerator, flops, params, tokens)
    chosen, why = _precision_for(accelerator, precision)
    try:
        wl = workload.parse(
            {"kind": "training", "flops": flops, "params": params, "tokens": tokens, "precision": chosen},
            "the options (--flops/--params/--tokens/--precision)",
        )
        price, where = decide.cheapest_price(accelerator, region, spot)
        est = estimate_training(wl, accelerator, count, price, None)
    except workload.WorkloadError as exc:
        fail(str(exc))
    except NotEstimable as exc:
        _explain_not_estimable(exc, wl, accelerator, count)
    notes = decide.estimate_notes(est, where, [why] if why else [])
    if as_json:
        typer.echo(json.dumps(decide.estimate_json(est, chosen, notes), indent=2, allow_nan=False))
        return
    print_estimate(est, count, accelerator, notes)


def _check_estimate_inputs(accelerator: str, flops: float | None, params: float | None, tokens: float | None) -> None:
    from foundation import catalog
    from foundation.errors import suggest

    if (flops is None) == (params is None or tokens is None):
        fail("Give either --flops, or both --params and --tokens.", "e.g. --params 7e9 --tokens 1.4e11")
    if catalog.accelerators().get(accelerator) is None:
        ids = catalog.accelerators().ids
        close = suggest(accelerator, ids)
        hint = f" Did you mean {close}?" if close else ""
        fail(f"--accelerator: unknown accelerator {accelerator!r}.{hint}", f"one of {', '.join(ids)}.")


def _precision_for(accelerator: str, precision: str | None) -> tuple[str, str | None]:
    """--precision as given, else the chip's best 16-bit precision, with a note saying which was used."""
    from blueprints.estimator import perf_of
    from blueprints.utilisation import NotEstimable, best_16bit

    if precision is not None:
        return precision, None
    try:
        best = best_16bit(perf_of(accelerator))
    except NotEstimable:
        best = None
    if best is None or best == "bf16":
        return "bf16", None  # the default; a chip with no 16-bit peak is refused with why, below
    return best, f"precision {best} used: {accelerator} has no BF16; {best} is its best 16-bit precision (--precision)"


def _explain_not_estimable(exc: Exception, wl: workload.Workload, accelerator: str, count: int) -> NoReturn:
    """Why the estimator refused, naming the option to change, then 'To fix: …'."""
    from blueprints.decide import missing_figure_text
    from blueprints.estimator import min_chips_for_memory
    from blueprints.utilisation import DoesNotFit, MissingFigure, NotEstimable, UnsupportedPrecision

    assert isinstance(exc, NotEstimable)
    if isinstance(exc, UnsupportedPrecision):
        fix = (
            f"use --precision {exc.best_16bit}, or leave --precision out (the chip's best 16-bit one is the default)."
            if exc.best_16bit
            else "choose another --accelerator."
        )
        fail(f"--precision {exc.precision}: {accelerator} has {exc}.", fix)
    if isinstance(exc, DoesNotFit):
        needed = min_chips_for_memory(wl, accelerator)
        fail(
            f"--count {count}: {exc}.",
            f"use --count {needed} or more, or an --accelerator with more memory; "
            "`aistack recommend` lists the options that fit.",
        )
    if isinstance(exc, MissingFigure):
        fail(
            f"--accelerator {accelerator}: cannot estimate: {missing_figure_text(accelerator, exc)}.",
            "choose another --accelerator (`aistack recommend` ranks the ones it can estimate), or source the "
            f"figure ({exc.figure or 'see the message'}) in foundation/catalog/performance.yaml.",
        )
    fail(f"cannot estimate: {exc}.", "choose another --accelerator; `aistack recommend` lists the options that fit.")


def print_estimate(est: Estimate, count: int, accelerator: str, notes: list[str]) -> None:
    hours = _band(est.time_hours, est.time_hours_low, est.time_hours_high, "{:,.1f}")
    if est.cost_usd is None:
        cost = "unknown (no sourced price)"
    else:
        low, high = est.cost_band or (est.cost_usd, est.cost_usd)
        cost = "$" + _band(est.cost_usd, low, high, "{:,.2f}" if est.cost_usd < 100 else "{:,.0f}")
    head = f"{hours} h, {cost}, MFU {est.mfu:.0%}" + (" (≈80% bands)" if est.time_band != (1.0, 1.0) else "")
    console.print(styled("[bold]{count} × {acc}[/]: {head}", count=count, acc=accelerator, head=head))
    for a in notes:
        console.print(f"  · {a}")
