"""`aistack sweep STACK [--json] [--delete]`: is anything of the stack left in the cloud account after a destroy?"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_INVALID, StackArg, console, err, load_or_exit, styled


def sweep(
    stack: StackArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as a JSON document.")] = False,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete", help="Delete what is found (in dependency order), then check again. Run it after a destroy."
        ),
    ] = False,
) -> None:
    """List what of the stack is still in its AWS account or GCP project and still costs money.

    Matched by the stack identity tags/labels (and the cluster's own controllers' tags), per type, each
    with the command that deletes it. Meant for after `pulumi destroy`: on a running stack it lists
    the stack itself, and --delete would delete it.

    Exit 0: nothing left. 1: something is left (after --delete: could not be deleted). 2: not checked.
    """
    from ..teardown import sweep as run_sweep

    loaded = load_or_exit(stack)
    report = run_sweep(loaded.spec, loaded.name, loaded.config, delete=delete)
    code = report.exit_code
    if as_json:
        typer.echo(report.dumps())
        raise typer.Exit(code)
    if report.problem:
        err.print(styled("[red]could not check:[/] {p}", p=report.problem), soft_wrap=True)
        raise typer.Exit(EXIT_INVALID)
    for line in report.lines():
        console.print(styled("{line}", line=line), soft_wrap=True)
    if report.findings:
        how = "run the commands above, or `aistack sweep {stack} --delete`" if not delete else "see the errors above"
        err.print(
            styled("[red]{n} left[/]: {how}.", n=len(report.findings), how=how.format(stack=stack)), soft_wrap=True
        )
    elif code:
        err.print(styled("[yellow]not everything was checked[/]: see 'not checked' above."), soft_wrap=True)
    raise typer.Exit(code)
