"""`aistack recommend`, `aistack estimate` and `aistack calibration`: the decision blueprint's CLI.

JSON contracts (relied on by scripts; keep them stable):
  recommend --json  {"options": [{target, region, accelerator, count, time_hours, cost_usd, spot, why, ...}],
                     "eliminated": [{option, reason, ...}]}   exit 1 when options is empty
                    added, never removed: options[].{purchase, tie_with, time_hours_low/high, cost_usd_low/high,
                    price_as_of}, "eliminated_groups" [{reason, constraint, count, options}], "prices"
  estimate --json   {"time_hours", "cost_usd", "mfu", "assumptions", ..., "prices"}
  recommend --report FILE.html   the same decision as a self-contained page (blueprints/report.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .common import EXIT_FOUND, console, err, fail, styled

if TYPE_CHECKING:  # the blueprints build the catalog's pydantic models: each command imports what it uses
    from blueprints import decide


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
        table.add_row(str(i), tie, o.venue.accelerator, where, o.purchase, str(e.chips), hours, cost, f"{e.mfu:.0%}")
    notes = []
    if serving:
        notes.append("* serving: hours priced (duration_hours), not a run time")
    notes.append("(a–b): the estimate's ≈80% band; ≈ #n: a tie, the bands overlap on the objective")
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
    workload_file: Annotated[Path, typer.Option("--workload", help="Workload YAML (see docs/decision.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract instead of tables.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many ranked options to show (1-100).")] = 10,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a self-contained HTML page: the cost × time trade-off chart."),
    ] = None,
) -> None:
    """Rank where and on what to run a workload, with time, cost, reasons and eliminations."""
    from blueprints import decide, workload

    try:
        wl = workload.load(workload_file)
    except workload.WorkloadError as exc:
        fail(str(exc))
    decision = decide.decide(wl, limit=limit)
    if as_json:
        typer.echo(json.dumps(decision.as_json(), indent=2, allow_nan=False))
    else:
        print_decision(decision)
    if report is not None:
        write_report(decision, report, str(workload_file))
    if not decision.options:
        print_no_option(decision)
        raise typer.Exit(EXIT_FOUND)


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


def _cheapest_price(accelerator: str, region: str | None, spot: bool) -> tuple[float | None, str]:
    from foundation import catalog

    prices = []
    for o in catalog.offerings().offerings:
        if o.accelerator != accelerator or (region and o.region != region):
            continue
        price = o.spot if spot else o.on_demand
        read = (o.spot_as_of or o.as_of) if spot else o.as_of
        if price is not None:
            where = f"{o.target} {o.region} {o.instance}{' spot' if spot else ''}, read {read}"
            prices.append((price / o.chips, where))
    if not prices:
        return None, "no sourced price for this accelerator" + (f" in {region}" if region else "")
    return min(prices)


def estimate(
    accelerator: Annotated[str, typer.Option(help="Catalog id, e.g. nvidia-h100-80gb.")],
    count: Annotated[int, typer.Option(min=1, max=65536, help="Chips (1-65536).")],
    flops: Annotated[float | None, typer.Option(help="Total training FLOPs.")] = None,
    params: Annotated[float | None, typer.Option(help="Model parameters (with --tokens).")] = None,
    tokens: Annotated[float | None, typer.Option(help="Training tokens (with --params).")] = None,
    precision: Annotated[str, typer.Option(help="bf16 | fp8 | fp16.")] = "bf16",
    region: Annotated[str | None, typer.Option(help="Price in this region. Default: cheapest sourced.")] = None,
    spot: Annotated[bool, typer.Option(help="Use the spot price.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {time_hours, cost_usd, mfu, assumptions}.")] = False,
) -> None:
    """Estimate time and cost of a training run on COUNT chips of ACCELERATOR."""
    from blueprints import workload
    from blueprints.decide import price_date
    from blueprints.estimator import estimate_training
    from blueprints.utilisation import NotEstimable
    from foundation import catalog

    if (flops is None) == (params is None or tokens is None):
        fail("Give either --flops, or both --params and --tokens.", "e.g. --params 7e9 --tokens 1.4e11")
    if catalog.accelerators().get(accelerator) is None:
        import difflib

        ids = catalog.accelerators().ids
        close = [i for i in ids if i.startswith(accelerator)] or difflib.get_close_matches(accelerator, ids, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        fail(f"--accelerator: unknown accelerator {accelerator!r}.{hint}", f"one of {', '.join(ids)}.")
    try:
        wl = workload.parse(
            {"kind": "training", "flops": flops, "params": params, "tokens": tokens, "precision": precision},
            "the options (--flops/--params/--tokens/--precision)",
        )
        price, where = _cheapest_price(accelerator, region, spot)
        est = estimate_training(wl, accelerator, count, price, None)
    except workload.WorkloadError as exc:
        fail(str(exc))
    except NotEstimable as exc:
        fail(
            f"cannot estimate: {exc}",
            "change --count or --accelerator (e.g. more chips, or a chip with more memory); "
            "`aistack recommend` lists the options that fit.",
        )
    notes = [*est.assumptions, f"price source: {where}", f"prices: {price_date()}"]
    out = est.as_json() | {"assumptions": notes, "prices": price_date()}
    if as_json:
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
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


def calibration_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Leave out whole sources (all llm-foundry tables at once), not benchmarks.")
    ] = False,
    rows: Annotated[bool, typer.Option("--rows", help="Also list every row's out-of-sample prediction.")] = False,
) -> None:
    """Show how well the utilisation model predicts published training runs it was not fitted on."""
    from blueprints import calibration

    report = calibration.check(strict)
    unit = "source" if strict else "benchmark group"
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model": report.model.__dict__,
                    "left_out": unit,
                    "left_out_units": report.left_out_units,
                    "median_abs_error": round(report.median_abs_error, 4),
                    "group_median_abs_error": round(report.group_median_abs_error, 4),
                    "ranking_accuracy": round(report.ranking_accuracy, 4),
                    "ranking_pairs": report.ranking_pairs,
                    "close_call_ranking_accuracy": round(report.close_ranking_accuracy, 4),
                    "close_call_pairs": report.close_pairs,
                    "groups": [
                        {
                            "category": g.category,
                            "value": g.value,
                            "rows": g.rows,
                            "benchmarks": g.groups,
                            "median_abs_error": round(g.median_abs_error, 4),
                            "ranking_accuracy": None if g.ranking_accuracy is None else round(g.ranking_accuracy, 4),
                            "ranking_pairs": g.ranking_pairs,
                        }
                        for g in report.groups
                    ],
                    "rows": [
                        {
                            "id": c.row.run.id,
                            "group": c.row.run.group,
                            "accelerator": c.row.run.accelerator,
                            "chips": c.row.chips,
                            "precision": c.row.run.precision,
                            "method": c.row.run.method,
                            "measured_tflops_per_chip": round(c.row.measured_tflops, 2),
                            "predicted_tflops_per_chip": round(c.predicted_tflops, 2),
                            "error": round(c.error, 4),
                            "source": c.row.run.source,
                        }
                        for c in report.rows
                    ],
                },
                indent=2,
                allow_nan=False,
            )
        )
        return
    table = Table(
        title=f"Out-of-sample error by group (each {unit} predicted by a fit without it; "
        "error = predicted ÷ measured time − 1)",
        title_justify="left",
    )
    for col in ("group", "", "rows", "benchmarks", "median |error|", "ranking right"):
        table.add_column(col, justify="left" if col in ("group", "") else "right")
    for g in report.groups:
        ranking = (
            "—" if g.ranking_accuracy is None else f"{g.ranking_right}/{g.ranking_pairs} = {g.ranking_accuracy:.0%}"
        )
        table.add_row(g.category, g.value, str(g.rows), str(g.groups), f"{g.median_abs_error:.1%}", ranking)
    console.print(table)
    if rows:
        detail = Table(title="Every row, out of sample", title_justify="left")
        for col in (
            "id",
            "group",
            "accelerator",
            "chips",
            "prec",
            "method",
            "measured TF/s",
            "predicted TF/s",
            "error",
        ):
            detail.add_column(
                col, justify="right" if col in ("chips", "measured TF/s", "predicted TF/s", "error") else "left"
            )
        for c in report.rows:
            r = c.row.run
            detail.add_row(
                r.id, r.group, r.accelerator, str(c.row.chips), r.precision, r.method,
                f"{c.row.measured_tflops:.0f}", f"{c.predicted_tflops:.0f}", f"{c.error:+.1%}",
            )  # fmt: skip
        console.print(detail)
    m = report.model
    console.print(
        f"{len(report.rows)} rows, {report.left_out_units} {unit}s left out in turn. Median |error| "
        f"{report.median_abs_error:.1%} over rows, {report.group_median_abs_error:.1%} with every benchmark "
        f"weighing the same (goal ≤ 25%); two-option ranking {report.ranking_right}/{report.ranking_pairs} = "
        f"{report.ranking_accuracy:.0%} (goal ≥ 90%); close calls (measured within 2×) {report.close_right}/"
        f"{report.close_pairs} = {report.close_ranking_accuracy:.0%}."
    )
    console.print(
        f"Fitted on all rows: m0={m.m0:.3f} γ={m.gamma:.3f} fp8×{m.fp8_speedup:.2f} (δ8={m.fp8_size_exponent:.3f}) "
        f"int8×{m.int8_speedup:.2f} α={m.alpha:.3f} δ={m.size_exponent:.3f} (knee {m.knee_params:.0e}) "
        f"κ={m.context_exponent:.3f} LoRA×{m.lora_factor:.2f} QLoRA×{m.qlora_factor:.2f}. See docs/estimator.md."
    )
