"""`aistack drift`: has anything changed behind Pulumi's back (and is code waiting to deploy)?

Exit 0 no drift, 1 drift found, 2 error (no CLI, no credentials, no stack, locked backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from .common import EXIT_FOUND, EXIT_INVALID, STACKS_DIR, console, err, styled, write_report

if TYPE_CHECKING:  # aistack.drift needs Pulumi's Automation API: imported by the functions that use it
    from ..drift.report import StackReport

EXIT_ERROR = EXIT_INVALID


def stack_names(stacks_dir: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def table(reports: list[StackReport]) -> Table:
    from ..drift import report as fmt

    t = Table(title="aistack drift", title_justify="left", show_lines=True)
    for col in ("stack", "resource", "type", "drift", "property", "recorded", "live"):
        t.add_column(col, overflow="fold")
    for r in reports:
        if r.error:
            t.add_row(r.stack, "", "", Text("error", style="bold red"), r.error, "", "")
        elif not r.items:
            t.add_row(r.stack, "", "", Text("none", style="green"), "", "", "")
        for i in r.items:
            changes = i.changes or (fmt.PropertyChange("", "", ""),)
            for n, c in enumerate(changes):
                head = (r.stack, i.name, i.type, Text(i.kind, style="yellow")) if n == 0 else ("", "", "", "")
                t.add_row(*head, c.path, fmt._show(c.recorded) if c.path else "", fmt._show(c.live) if c.path else "")
    return t


def drift(
    stack: Annotated[str | None, typer.Argument(help="Stack to check (Pulumi stack name).")] = None,
    stacks: Annotated[str | None, typer.Option("--stacks", help="Comma-separated stacks to check.")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Every stack that has a file in stacks/.")] = False,
    include_pending: Annotated[
        bool, typer.Option("--include-pending", help="Also report code changes not yet deployed.")
    ] = False,
    accept: Annotated[bool, typer.Option("--accept", help="Write the refreshed live state into the stack.")] = False,
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=16, help="Stacks checked at once.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="JSON report on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Markdown report (PR/issue comment).")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML here.")] = None,
) -> None:
    """Detect drift with a preview-only refresh (state is never written unless --accept)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..drift import report as fmt
    from ..drift.runner import DriftError, check_stacks

    names = [stack] if stack else []
    if stacks:
        names += [s.strip() for s in stacks.split(",") if s.strip()]
    if all_stacks:
        names += stack_names(STACKS_DIR)
    names = list(dict.fromkeys(names))
    if not names:
        err.print("no stack: give STACK, --stacks a,b or --all")
        raise typer.Exit(EXIT_INVALID)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("refreshing (preview only)", total=len(names))
            reports = check_stacks(
                names,
                Path.cwd(),
                parallel=parallel,
                include_pending=include_pending,
                accept=accept,
                on_done=lambda r: progress.advance(task),
            )
    except DriftError as exc:
        err.print(styled("[red]error:[/] {exc}", exc=exc))
        raise typer.Exit(EXIT_ERROR) from None
    if junit is not None:
        write_report(junit, fmt.as_junit(reports))
    if as_json:
        typer.echo(fmt.as_json(reports))
    elif markdown:
        typer.echo(fmt.as_markdown(reports))
    else:
        console.print(table(reports))
    if any(r.error for r in reports):
        raise typer.Exit(EXIT_ERROR)
    if any(r.drifted for r in reports):
        raise typer.Exit(EXIT_FOUND)
