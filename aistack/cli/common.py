"""What every command shares: the consoles, stack loading and exit codes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # imported where used: `aistack --help` need not build the spec's pydantic models
    from components.spec import LoadedStack, SpecError

# The exit-code contract, the same for every command (README, SECURITY.md; the fuzz tests hold us to it).
EXIT_OK = 0
EXIT_FOUND = 1  # the command worked and found something (violations, drift, no option, unreachable host)
EXIT_INVALID = 2  # bad input, or the command could not run (missing tool, unwritable output, no backend)
EXIT_BUG = 70  # a bug in aistack itself (sysexits EX_SOFTWARE): never the user's fault, always worth a report


# Piped output (CI logs, `| less`, files) has no terminal width; rich would assume 80 and squeeze
# tables until words split. Unless COLUMNS says otherwise, lay tables out this wide instead.
PIPE_WIDTH = 160


def _console(stderr: bool) -> Console:
    """User text is never markup (a value like '[/bad]' is printed as written, not parsed) and never
    emoji codes. Errors are printed with soft_wrap (one line each, whole in CI logs); tables and trees
    fold long cells at the width instead of cropping them: the terminal's, $COLUMNS, or PIPE_WIDTH."""
    probe = Console(stderr=stderr)
    piped = not probe.is_terminal and "COLUMNS" not in os.environ
    return Console(stderr=stderr, markup=False, emoji=False, width=PIPE_WIDTH if piped else None)


console = _console(stderr=False)
err = _console(stderr=True)


def styled(template: str, /, **values: object) -> Text:
    """Our own markup around user values, which are inserted as literal text:
    ``styled("[red]{path}[/] exists", path=p)`` colours the path but never interprets it."""
    return Text.from_markup(template.format(**{k: escape(str(v)) for k, v in values.items()}))


def write_report(path: Path, text: str, option: str = "--junit") -> None:
    """Write a report file the user named; an unwritable path is bad input (exit 2), not a crash."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{option} {path}: cannot write it ({exc.strerror or exc}).", f"pass a writable file path to {option}.")


def fail(message: str, fix: str = "", code: int = EXIT_INVALID) -> NoReturn:
    """Print one error line (what is wrong, then 'To fix: …') on stderr and exit with `code`."""
    text = styled("[red]{message}[/]", message=message)
    if fix:
        text.append(f" To fix: {fix}")
    err.print(text, soft_wrap=True)
    raise typer.Exit(code)


STACKS_DIR = Path("stacks")
StackArg = Annotated[str, typer.Argument(help="Stack name (stacks/Pulumi.<name>.yaml) or path to a stack file.")]


def print_spec_error(exc: SpecError) -> None:
    """Every problem with its field, reason and fix: a table on a terminal; one plain line per problem
    (`field: reason To fix: fix`) when stderr is a file or a pipe, so CI logs and grep read it whole."""
    where = f" in {exc.source}" if exc.source else ""
    if not err.is_terminal:
        err.print(f"{len(exc.issues)} problem(s){where}:", soft_wrap=True)
        for issue in exc.issues:  # a value quoted in a reason may hold line breaks: keep one line per problem
            err.print("  " + "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(issue)), soft_wrap=True)
        return
    table = Table(title=f"{len(exc.issues)} problem(s){where}", show_lines=True, title_justify="left")
    table.add_column("field", style="bold red", overflow="fold")
    table.add_column("problem", overflow="fold")
    table.add_column("to fix", style="green", overflow="fold")
    for issue in exc.issues:
        table.add_row(issue.path, issue.reason, issue.fix)
    err.print(table)


def load_or_exit(stack: str) -> LoadedStack:
    """Load and validate a stack; on bad input print every problem and exit 2."""
    from components.spec import SpecError, load_stack

    try:
        return load_stack(stack, STACKS_DIR)
    except SpecError as exc:
        print_spec_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
