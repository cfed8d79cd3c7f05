"""`aistack preflight STACK [--json]`: does the cloud account have the quota and capacity the stack needs?"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_FOUND, EXIT_INVALID, EXIT_OK, StackArg, console, err, load_or_exit, styled


def preflight(
    stack: StackArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as a JSON document.")] = False,
) -> None:
    """Compare what the stack's pools need (quota, reservations, zones) with what the account has.

    Read-only calls, with the credentials the cloud CLIs use; on-prem stacks have nothing to check.

    Exit 0: everything fits. 1: something is short (each row says how to get more). 2: not checked.
    """
    from ..preflight import render_table, run

    loaded = load_or_exit(stack)
    report = run(loaded.spec, loaded.config)
    code = report.exit_code
    if as_json:
        typer.echo(report.dumps())
        raise typer.Exit(code)
    if not report.checks and report.problem is None:
        console.print(styled("{note}", note="; ".join(report.notes) or "nothing to check"))
        raise typer.Exit(EXIT_OK)
    if report.checks:
        console.print(render_table(report))
    for note in report.notes:
        console.print(styled("[dim]note:[/] {note}", note=note))
    if report.problem:
        err.print(styled("[red]could not check:[/] {p}", p=report.problem), soft_wrap=True)
    if code == EXIT_FOUND:
        err.print(styled("[red]{n} short[/]: see 'how to get more' above.", n=len(report.short)), soft_wrap=True)
    elif code == EXIT_INVALID and report.unchecked:
        err.print(
            styled("[yellow]{n} not checked[/]: see the rows marked 'not checked'.", n=len(report.unchecked)),
            soft_wrap=True,
        )
    raise typer.Exit(code)
