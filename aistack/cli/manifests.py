"""`aistack manifests STACK --out DIR`: the plan's Kubernetes objects as YAML files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import StackArg, console, fail, load_or_exit, styled

# A file-name part: what Kubernetes allows in kinds, namespaces and object names (DNS-1123 subdomain;
# ':' appears in some RBAC names and is mapped to '_'). Anything else — '/', '..', a leading '.' —
# is refused before a single file is written.
_PART = re.compile(r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")


class UnsafeNameError(ValueError):
    """An object whose kind, namespace or name cannot become a file name inside --out."""


def manifest_filename(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [str(obj["kind"]).lower(), str(meta.get("namespace") or "cluster"), str(meta["name"]).replace(":", "_")]
    for part in parts:
        if not _PART.match(part) or ".." in part:
            raise UnsafeNameError(
                f"{obj['kind']} {meta.get('namespace') or ''}/{meta['name']}: {part!r} cannot be part of a file name "
                "(it is not a valid Kubernetes name either)"
            )
    return "-".join(parts) + ".yaml"


def plan_files(objects: list[dict[str, Any]], out: Path) -> dict[Path, dict[str, Any]]:
    """Every file to write, decided before anything is written: each path checked to stay inside `out`,
    and two objects that would share a file name (same kind and name in different API groups) kept apart."""
    root = out.resolve()
    files: dict[Path, dict[str, Any]] = {}
    for obj in objects:
        name = manifest_filename(obj)
        path = root / name
        if path in files:
            group = str(obj["apiVersion"]).split("/")[0].replace(".", "-")
            path = root / f"{group}-{name}"
        if path.resolve().parent != root:
            raise UnsafeNameError(f"{name} would be written outside {out}")
        files[path] = obj
    return files


def write_manifests(objects: list[dict[str, Any]], out: Path) -> list[Path]:
    import yaml

    files = plan_files(objects, out)  # raises before the directory is touched
    out.mkdir(parents=True, exist_ok=True)
    for path, obj in files.items():
        # apiVersion and kind first, as people (and some tools) expect to read them.
        ordered = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **obj}
        path.write_text(yaml.safe_dump(ordered, sort_keys=False), encoding="utf-8")
    return list(files)


def manifests(
    stack: StackArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write <kind>-<namespace>-<name>.yaml files into.")
    ],
) -> None:
    """Write every Kubernetes object in the offline plan as YAML, for kubectl apply or GitOps."""
    from ..offline import plan  # imported here: the offline plan pulls in Pulumi and every provider SDK

    loaded = load_or_exit(stack)
    p = plan(loaded)
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a directory.", "pass a directory (it is created if missing).")
    try:
        written = write_manifests(p.kubernetes_objects(), out)
    except UnsafeNameError as exc:
        fail(f"nothing written: {exc}.", "rename it in the stack config (lowercase letters, digits, '-', '.').")
    except OSError as exc:
        fail(f"--out {out}: cannot write ({exc.strerror or exc}).", "pass a writable directory.")
    for name in p.omitted_secrets():
        console.print(
            f"note: Secret {name} is not written: its data is a Pulumi secret (the stack's credentials); "
            "`pulumi up` creates it, or create it yourself from your secret store."
        )
    for w in p.warnings:
        console.print(styled("[yellow]warning:[/] {w}", w=w))
    console.print(f"wrote {len(written)} manifest(s) to {out}/ (cluster-scoped objects use 'cluster' as namespace)")
