"""What every command shares: the consoles, stack loading and exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from components.spec import LoadedStack, SpecError, load_stack

EXIT_OK = 0
EXIT_FOUND = 1  # the command worked and found something (violations, drift, no option)
EXIT_INVALID = 2  # bad input: invalid stack, unknown file

console = Console()
err = Console(stderr=True)

STACKS_DIR = Path("stacks")
StackArg = Annotated[str, typer.Argument(help="Stack name (stacks/Pulumi.<name>.yaml) or path to a stack file.")]


def print_spec_error(exc: SpecError) -> None:
    where = f" in {exc.source}" if exc.source else ""
    table = Table(title=f"{len(exc.issues)} problem(s){where}", show_lines=True, title_justify="left")
    table.add_column("field", style="bold red", no_wrap=True)
    table.add_column("problem")
    table.add_column("to fix", style="green")
    for issue in exc.issues:
        table.add_row(issue.path, issue.reason, issue.fix)
    err.print(table)


def load_or_exit(stack: str) -> LoadedStack:
    """Load and validate a stack; on bad input print every problem and exit 2."""
    try:
        return load_stack(stack, STACKS_DIR)
    except SpecError as exc:
        print_spec_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
