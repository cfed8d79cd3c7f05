"""`aistack plan STACK [--json]`: the offline plan."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .common import StackArg, console, load_or_exit, styled

if TYPE_CHECKING:  # aistack.offline pulls in Pulumi and every provider SDK: plan_cmd imports it
    from ..offline import Plan, PlannedResource

# Inputs worth showing next to a resource in the tree, in this order, when present.
_KEY_INPUTS = ("location", "region", "machineType", "instanceTypes", "nodeCount", "kubeconfig", "context")


def _key_props(r: PlannedResource) -> str:
    meta = r.inputs.get("metadata")
    if isinstance(meta, dict) and "name" in meta:
        ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{r.inputs.get('kind', '')} {ns}{meta['name']}"
    shown = [f"{k}={r.inputs[k]}" for k in _KEY_INPUTS if k in r.inputs]
    return ", ".join(shown[:3])


def _label(r: PlannedResource, descendants: int) -> Text:
    """Resource names and inputs come from the user's config: built as Text, never parsed as markup."""
    label = Text.assemble((r.name, "bold cyan" if not r.custom else "white"), " ", (r.type, "magenta"), overflow="fold")
    if not r.custom:
        label.append(f" ({descendants} resources)", style="dim")
    props = _key_props(r)
    if props:
        label.append(f" {props}", style="dim")
    for flag, on in (("protect", r.protect), ("retain", r.retain_on_delete)):
        if on:
            label.append(f" [{flag}]", style="yellow")
    return label


def render_tree(p: Plan) -> Tree:
    children: dict[str, list[PlannedResource]] = defaultdict(list)
    urns = {r.urn for r in p.resources}
    for r in p.resources:
        children[r.parent if r.parent in urns else ""].append(r)

    def count(urn: str) -> int:
        return sum(1 + count(c.urn) for c in children.get(urn, []))

    spec = p.spec
    root = Tree(
        styled("[bold]stack {stack}[/] — {target} / {region}", stack=p.stack, target=spec.target, region=spec.region)
    )

    def add(node: Tree, urn: str) -> None:
        for r in children.get(urn, []):
            add(node.add(_label(r, count(r.urn))), r.urn)

    add(root, "")
    return root


def _summary_table(p: Plan) -> Table:
    table = Table(title="resources by type", title_justify="left")
    table.add_column("type", overflow="fold")
    table.add_column("count", justify="right")
    summary: dict[str, Any] = p.summary()
    for type_, n in summary["by_type"].items():
        table.add_row(type_, str(n))
    table.add_row(Text("total", style="bold"), f"{summary['total']} ({summary['protected']} protected)")
    return table


def _zones_table(p: Plan) -> Table:
    table = Table(title="zones per pool", title_justify="left")
    table.add_column("pool", overflow="fold")
    table.add_column("zones", overflow="fold")
    where = {"gcp": "the cluster's zones", "aws": "the private subnets' zones"}.get(p.spec.target, "any node")
    for pool, zones in p.pool_zones().items():
        table.add_row(Text(pool), Text(", ".join(zones) if zones else where))
    return table


def plan_cmd(
    stack: StackArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as a JSON document.")] = False,
) -> None:
    """Show every resource the program would register, computed offline under Pulumi's mocks."""
    from ..offline import plan

    loaded = load_or_exit(stack)
    p = plan(loaded)
    if as_json:
        typer.echo(p.dumps())
        return
    console.print(render_tree(p))
    console.print(_summary_table(p))
    if p.spec.target in ("gcp", "aws") and p.pool_zones():
        console.print(_zones_table(p))
        if p.spec.target == "aws":
            console.print(
                "Karpenter NodePools: the zones EC2 offers each instance type in, asked at deploy time "
                "(offline: every zone).",
                style="dim",
            )
    if p.needs is not None and p.needs.quotas:
        from ..preflight.report import needs_table

        console.print(needs_table(p.needs.quotas))
        console.print("`aistack preflight` compares these with what the account has.", style="dim")
    for w in p.warnings:
        console.print(styled("[yellow]warning:[/] {w}", w=w))
    console.print(p.summary()["note"], style="dim")
