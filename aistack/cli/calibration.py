"""`aistack calibration`: how well the utilisation model predicts published runs it was not fitted on.

JSON contract (`--json`; keys are added, never removed): {"model", "left_out", "left_out_units",
"median_abs_error", "group_median_abs_error", "ranking_accuracy", "ranking_pairs",
"close_call_ranking_accuracy", "close_call_pairs", "goals", "families": [{family, name, rows,
benchmarks, median_abs_error, bias, validated, status}], "groups": [...], "rows": [...]}
(blueprints/calibration.py Report.as_json).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from .common import console


def _pct(x: float, signed: bool = False) -> str:
    if x != x:  # nan: no rows
        return "—"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


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
        typer.echo(json.dumps(report.as_json(), indent=2, allow_nan=False))
        return
    fam = Table(
        title=f"Out-of-sample error per hardware family (each {unit} predicted by a fit without it; "
        "error = predicted ÷ measured time − 1, bias = median signed error, + = predicted slower)",
        title_justify="left",
    )
    for col in ("family", "rows", "benchmarks", "median |error|", "bias", "status"):
        fam.add_column(col, justify="left" if col in ("family", "status") else "right")
    for f in report.families:
        # validation is decided by the leave-one-benchmark-out check, also under --strict
        status = calibration.families()[f.family].status if strict else f.status
        fam.add_row(f.name, str(f.rows), str(f.groups), _pct(f.median_abs_error), _pct(f.bias, True), status)
    fam.caption = (
        f"validated: ≥{calibration.MIN_FAMILY_ROWS} rows in ≥{calibration.MIN_FAMILY_GROUPS} benchmarks and "
        f"median |error| ≤ {calibration.FAMILY_GOAL:.0%}; estimates for other families say UNVALIDATED and "
        f"their band widens ×{calibration.UNVALIDATED_WIDENING:g} (log space)"
    )
    fam.caption_justify = "left"
    console.print(fam)
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
        f"{report.median_abs_error:.1%} over rows (goal ≤ {calibration.OVERALL_GOAL:.0%}), "
        f"{report.group_median_abs_error:.1%} with every benchmark weighing the same; every family with enough "
        f"rows ≤ {calibration.FAMILY_GOAL:.0%}: goals {'met' if report.goals_met else 'NOT met'}. Two-option ranking "
        f"{report.ranking_right}/{report.ranking_pairs} = {report.ranking_accuracy:.0%} (goal ≥ 90%); close calls "
        f"(measured within 2×) {report.close_right}/{report.close_pairs} = {report.close_ranking_accuracy:.0%}."
    )
    console.print(
        f"Fitted on all rows: m0={m.m0:.3f} γ={m.gamma:.3f} fp8×{m.fp8_speedup:.2f} (δ8={m.fp8_size_exponent:.3f}) "
        f"int8×{m.int8_speedup:.2f} α={m.alpha:.3f} δ={m.size_exponent:.3f} (knee {m.knee_params:.0e}) "
        f"κ={m.context_exponent:.3f} LoRA×{m.lora_factor:.2f} QLoRA×{m.qlora_factor:.2f} "
        f"TPU×{m.tpu_factor:.2f} Neuron×{m.neuron_factor:.2f}. See docs/estimator.md."
    )
