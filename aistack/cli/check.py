"""`aistack check STACK`: the compliance policies of the stack's profile, evaluated on its offline plan."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .common import EXIT_FOUND, StackArg, console, load_or_exit


def check(
    stack: StackArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Evaluate the standard/hipaa/gdpr policy pack offline; exit 1 on a mandatory violation.

    The same rules run against the engine with `pulumi preview --policy-pack policies`, which
    also sees the objects charts render (privileged containers among them).
    """
    from ..offline import plan  # imported here: the offline plan pulls in Pulumi and every provider SDK
    from ..policy import check_plan
    from ..policy.rules import POLICIES

    loaded = load_or_exit(stack)
    profile = loaded.spec.compliance
    violations = check_plan(plan(loaded))
    mandatory = [v for v in violations if v.level == "mandatory"]
    if as_json:
        rows = [
            {
                "policy": v.policy,
                "level": v.level,
                "urn": v.resource.urn if v.resource else None,
                "type": v.resource.type if v.resource else None,
                "message": v.message,
                "fix": v.fix,
            }
            for v in violations
        ]
        typer.echo(json.dumps({"stack": loaded.name, "profile": profile, "violations": rows}, indent=2))
    else:
        active = [p for p in POLICIES if p.level(profile)]
        if violations:
            table = Table(title=f"{loaded.name}: {profile} profile", title_justify="left", show_lines=True)
            for col in ("policy", "level", "resource", "problem", "to fix"):
                table.add_column(col, overflow="fold")
            for v in violations:
                where = f"{v.resource.type} {v.resource.name}" if v.resource else "(stack)"
                style = "red" if v.level == "mandatory" else "yellow"
                table.add_row(v.policy, Text(v.level, style=style), where, v.message, v.fix)
            console.print(table)
        console.print(
            f"{loaded.name}: {len(active)} {profile} policies, {len(mandatory)} mandatory and "
            f"{len(violations) - len(mandatory)} advisory violation(s)"
        )
    if mandatory:
        raise typer.Exit(EXIT_FOUND)
