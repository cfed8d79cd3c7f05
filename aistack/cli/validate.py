"""`aistack validate STACK`."""

from __future__ import annotations

import re
from pathlib import Path

from .common import StackArg, console, load_or_exit, styled


def pulumi_project(stack_file: Path) -> str:
    """The Pulumi project the stack belongs to: the name in the Pulumi.yaml beside the stack file or above its
    directory (stacks/ in this repository), else this repository's."""
    for folder in (stack_file.parent, stack_file.parent.parent):
        try:
            text = (folder / "Pulumi.yaml").read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"^name:\s*['\"]?([^'\"\s#]+)", text, re.MULTILINE)
        if found:
            return found.group(1)
    from components.naming import PULUMI_PROJECT

    return PULUMI_PROJECT


def validate(stack: StackArg) -> None:
    """Validate a stack config; exit 0 if valid, 2 with every problem otherwise.

    A valid stack whose physical names differ from those versions before the stack identity gave it (#26)
    gets the list: on a deployed stack, the next `pulumi up` replaces those resources."""
    # imported here: `aistack --help` builds no spec model (tests/test_startup.py)
    from components.naming import DEFAULT_NAME, StackIdentity, name_is_set, renamed
    from components.spec.dra import notes as dra_notes

    loaded = load_or_exit(stack)
    spec = loaded.spec
    summary = (
        f"{loaded.path}: valid — target {spec.target}, region {spec.region}, "
        f"{len(spec.accelerator_pools)} accelerator pool(s), {len(spec.teams)} team(s), "
        f"compliance {spec.compliance}."
    )
    console.print(styled("[green]✓[/] {summary}", summary=summary))
    for note in dra_notes(spec):  # once per stack, not an error
        console.print(styled("[yellow]note:[/] {note}", note=note))
    identity = StackIdentity(pulumi_project(Path(loaded.path)), loaded.name)
    changes = renamed(spec, identity)
    if not changes:
        return
    why = (
        f"the stack sets no aistack:name, so its names now carry the stack ({identity.key}) and "
        "no longer collide with other stacks'"
        if not name_is_set(spec)
        else "GKE workload service accounts no longer cut aistack:name to 8 characters (they collided)"
    )
    keep = (
        f" To keep the old names (only if no other stack in this account or project uses them): "
        f"pulumi config set aistack:name {DEFAULT_NAME} --stack {loaded.name}."
        if not name_is_set(spec)
        else ""
    )
    console.print(
        styled(
            "[yellow]names:[/] {n} physical name(s) differ from what earlier aistack versions created (#26): {why}. "
            "If this stack is deployed, its next `pulumi up` replaces these resources.{keep}",
            n=str(len(changes)),
            why=why,
            keep=keep,
        )
    )
    for change in changes:
        console.print(styled("  {what}: {old} → {new}", what=change.what, old=change.old, new=change.new))
