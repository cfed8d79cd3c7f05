"""`aistack validate STACK`."""

from __future__ import annotations

from .common import StackArg, console, load_or_exit, styled


def validate(stack: StackArg) -> None:
    """Validate a stack config; exit 0 if valid, 2 with every problem otherwise."""
    loaded = load_or_exit(stack)
    spec = loaded.spec
    summary = (
        f"{loaded.path}: valid — target {spec.target}, region {spec.region}, "
        f"{len(spec.accelerator_pools)} accelerator pool(s), {len(spec.teams)} team(s), "
        f"compliance {spec.compliance}."
    )
    console.print(styled("[green]✓[/] {summary}", summary=summary))
