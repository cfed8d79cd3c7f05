"""`aistack upgrade plan STACK`: what moving the deployment to the stack's pins would do, before it does.

Reads the cluster (``--kubeconfig``; the local cluster's for the `local` stack) and, with ``--state``,
the stack's `pulumi stack export`; with ``--preview``, the steps of `pulumi preview --json` (objects the
engine would replace). Exit 0: nothing blocks (warnings are printed); 1: something blocks, each line
with its fix; 2: the deployment could not be read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import EXIT_FOUND, EXIT_INVALID, EXIT_OK, console, err, load_or_exit

app = typer.Typer(help="Day 2: check an upgrade before it runs.", no_args_is_help=True)


def _kubeconfig(stack: str, given: Path | None) -> str | None:
    if given is not None:
        return str(given)
    if stack == "local":
        from ..local.cluster import STATE_DIR, Layout

        path = Layout(STATE_DIR).kubeconfig
        return str(path) if path.exists() else None
    return os.environ.get("KUBECONFIG")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"{what} {path} could not be read: {exc}. To fix: pass the file `pulumi … --json` wrote.")
        raise typer.Exit(EXIT_INVALID) from None


def _table(findings: list[Any], source: str) -> None:
    table = Table(title=f"upgrade plan (deployed: {source})")
    for col in ("level", "component", "what", "fix"):
        table.add_column(col, overflow="fold")
    for f in findings:
        table.add_row(f.level.upper(), f.component, f.what, f.fix)
    console.print(table)


@app.command("plan")
def plan_cmd(
    stack: Annotated[str, typer.Argument(help="Stack whose pins to check against what is deployed.")],
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="The cluster to read.")] = None,
    state: Annotated[Path | None, typer.Option("--state", help="`pulumi stack export` of the stack.")] = None,
    preview: Annotated[Path | None, typer.Option("--preview", help="`pulumi preview --json` of the upgrade.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Check an upgrade before it runs: block what upstream forbids, warn on what disrupts."""
    from components.platform.gpu import DRIVER_UPGRADE_POLICY

    from ..upgrade import deployed as dep
    from ..upgrade.rules import Step, plan, stack_targets

    spec = load_or_exit(stack).spec
    cluster_path = _kubeconfig(stack, kubeconfig)
    try:
        cluster = dep.from_cluster(cluster_path) if cluster_path else None
    except dep.DeploymentUnreadableError as exc:
        err.print(f"{exc}; reading the stack's state only" if state else str(exc))
        cluster = None
    try:
        at_state = dep.from_state(_read_json(state, "state")) if state else None
        found = dep.merged(cluster, at_state)
    except dep.DeploymentUnreadableError as exc:
        err.print(f"{exc}. To fix: pass --kubeconfig for the cluster, or --state with `pulumi stack export`.")
        raise typer.Exit(EXIT_INVALID) from None
    steps = [Step.from_preview(s) for s in _read_json(preview, "preview").get("steps", [])] if preview else []
    targets = stack_targets(spec.upstream.versions, set(found.charts) | set(spec.upstream.versions))
    findings = plan(found, targets, steps, DRIVER_UPGRADE_POLICY)
    blocked = any(f.level == "block" for f in findings)
    if as_json:
        body = {
            "deployed": found.source,
            "targets": targets,
            "blocked": blocked,
            "findings": [f.as_json() for f in findings],
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        _table(findings, found.source)
        console.print("BLOCKED: fix each BLOCK line, then plan again" if blocked else "nothing blocks this upgrade")
    raise typer.Exit(EXIT_FOUND if blocked else EXIT_OK)
