"""`aistack manifests STACK --out DIR`: the plan's Kubernetes objects as YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from ..offline import plan
from .common import StackArg, console, load_or_exit


def manifest_filename(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind'].lower()}-{meta.get('namespace') or 'cluster'}-{meta['name']}.yaml"


def write_manifests(objects: list[dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        # apiVersion and kind first, as people (and some tools) expect to read them.
        ordered = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **obj}
        path = out / manifest_filename(obj)
        path.write_text(yaml.safe_dump(ordered, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def manifests(
    stack: StackArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write <kind>-<namespace>-<name>.yaml files into.")
    ],
) -> None:
    """Write every Kubernetes object in the offline plan as YAML, for kubectl apply or GitOps."""
    loaded = load_or_exit(stack)
    p = plan(loaded)
    written = write_manifests(p.kubernetes_objects(), out)
    for name in p.omitted_secrets():
        console.print(
            f"[yellow]note:[/] Secret {name} is not written: its data is a Pulumi secret (the stack's credentials); "
            "`pulumi up` creates it, or create it yourself from your secret store."
        )
    for w in p.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"wrote {len(written)} manifest(s) to {out}/ (cluster-scoped objects use 'cluster' as namespace)")
