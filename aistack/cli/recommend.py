"""`aistack recommend`, `aistack estimate` and `aistack calibration`: the decision blueprint's CLI.

JSON contracts (relied on by scripts; keep them stable):
  recommend --json  {"options": [{target, region, accelerator, count, time_hours, cost_usd, spot, why, ...}],
                     "eliminated": [{option, reason, ...}]}   exit 1 when options is empty
  estimate --json   {"time_hours", "cost_usd", "mfu", "assumptions", ...}
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
    serving = decision.workload.kind == "serving"
    table = Table(title=title, title_justify="left")
    for col in ("#", "accelerator", "where", "chips", "hours", "USD", "MFU"):
        table.add_column(
            col, justify="right" if col in ("#", "chips", "hours", "USD", "MFU") else "left", overflow="fold"
        )
    for i, o in enumerate(decision.options, 1):
        e = o.estimate
        where = f"{o.venue.target} {o.venue.region}" + (" spot" if o.venue.spot else "")
        hours = f"{e.time_hours:,.0f}*" if serving else f"{e.time_hours:,.1f}"
        cost = "?" if e.cost_usd is None else f"{e.cost_usd:,.0f}"
        table.add_row(str(i), o.venue.accelerator, where, str(e.chips), hours, cost, f"{e.mfu:.0%}")
    if serving:
        table.caption = "* serving: hours priced (duration_hours), not a run time"
    return table


def print_decision(decision: decide.Decision, show_eliminated: int = 12) -> None:
    if decision.options:
        console.print(options_table(decision))
        for i, o in enumerate(decision.options, 1):
            console.print(styled("  [bold]{i}[/] {why}", i=i, why=o.why.split("; ", 1)[-1]))
        risks = {r for o in decision.options[:3] for r in o.risks}
        for r in sorted(risks):
            console.print(styled("  [yellow]risk[/] {r}", r=r))
    gone = Table(title=f"Eliminated ({len(decision.eliminated)})", title_justify="left")
    gone.add_column("option", overflow="fold")
    gone.add_column("reason", overflow="fold")
    order = ("framework", "precision", "compliance", "deadline", "budget", "memory", "regions", "clouds", "spot")
    ranked = sorted(decision.eliminated, key=lambda e: order.index(e.constraint) if e.constraint in order else 99)
    for e in ranked[:show_eliminated]:
        gone.add_row(e.option, e.reason)
    if len(ranked) > show_eliminated:
        gone.add_row(f"… {len(ranked) - show_eliminated} more", "use --json for all")
    console.print(gone)


def recommend(
    workload_file: Annotated[Path, typer.Option("--workload", help="Workload YAML (see docs/decision.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract instead of tables.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many ranked options to show (1-100).")] = 10,
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
    if not decision.options:
        print_no_option(decision)
        raise typer.Exit(EXIT_FOUND)


def print_no_option(decision: decide.Decision) -> None:
    err.print(styled("[red]No option satisfies the constraints.[/] To fix:"))
    for line in decision.relax:
        err.print(f"  • {line}")


def _cheapest_price(accelerator: str, region: str | None, spot: bool) -> tuple[float | None, str]:
    from blueprints import catalog

    prices = []
    for o in catalog.offerings().offerings:
        if o.accelerator != accelerator or (region and o.region != region):
            continue
        price = o.spot if spot else o.on_demand
        if price is not None:
            prices.append((price / o.chips, f"{o.target} {o.region} {o.instance}{' spot' if spot else ''}"))
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
    from blueprints import catalog, workload
    from blueprints.estimator import estimate_training
    from blueprints.utilisation import NotEstimable

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
    notes = [*est.assumptions, f"price source: {where}"]
    out = est.as_json() | {"assumptions": notes}
    if as_json:
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    cost = "unknown (no sourced price)" if est.cost_usd is None else f"${est.cost_usd:,.0f}"
    head = f"{est.time_hours:,.1f} h, {cost}, MFU {est.mfu:.0%}"
    console.print(styled("[bold]{count} × {acc}[/]: {head}", count=count, acc=accelerator, head=head))
    for a in notes:
        console.print(f"  · {a}")


def calibration_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Show how well the utilisation model predicts published MLPerf results (leave-one-out)."""
    from blueprints import calibration

    report = calibration.check()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model": report.model.__dict__,
                    "median_abs_error": report.median_abs_error,
                    "ranking_accuracy": report.ranking_accuracy,
                    "rows": [
                        {
                            "round": c.row.result.round,
                            "accelerator": c.row.result.accelerator,
                            "chips": c.row.result.chips,
                            "minutes": c.row.result.minutes,
                            "predicted_minutes": round(c.predicted_minutes, 3),
                            "error": round(c.error, 4),
                            "source": c.row.result.source,
                        }
                        for c in report.rows
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(title="MLPerf Training GPT-3 175B: published vs predicted (leave-one-out)", title_justify="left")
    for col in ("round", "accelerator", "chips", "precision", "published min", "predicted min", "error"):
        table.add_column(col, justify="right" if "min" in col or col in ("chips", "error") else "left")
    for c in report.rows:
        r = c.row.result
        table.add_row(
            r.round,
            r.accelerator,
            str(r.chips),
            r.precision,
            f"{r.minutes:g}",
            f"{c.predicted_minutes:.2f}",
            f"{c.error:+.1%}",
        )
    console.print(table)
    console.print(
        f"median |error| {report.median_abs_error:.1%} (goal ≤ 25%); pairwise ranking "
        f"{report.ranking_right}/{report.ranking_pairs} = {report.ranking_accuracy:.0%} (goal ≥ 90%)"
    )
