"""`aistack upstreams [STACK]`: the pinned third-party sources, and where a stack takes each from.

Without a stack: the versions table. With one: the exact chart reference or manifest directory
the stack would install, which is the list to copy into an air-gapped mirror; and, where the stack
points at a directory mirror, whether the mirror holds each of them (exit 1 listing what is missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import EXIT_FOUND, console, err, load_or_exit

# Charts each platform part installs; Kubeflow's manifest trees come from install_plan; the
# target's own installs (on-prem storage, object store, MetalLB; EKS's Karpenter) from the target.
CHARTS = ("gpu-operator", "kueue", "kube-prometheus-stack")


def mirror_status(kind: str, where: str) -> str:
    """Whether a directory mirror holds one piece: "ok", "missing", or "-" (upstream or a registry: not a
    path this command can look at). Kustomization directories must hold a kustomization file."""
    if not where.startswith("/"):
        return "-"
    path = Path(where)
    if kind == "manifests":
        found = any((path / name).is_file() for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"))
    else:
        found = path.is_file()
    return "ok" if found else "missing"


def upstreams(
    stack: Annotated[str | None, typer.Argument(help="Stack whose sources to resolve (mirror included).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the pinned charts and manifests (one place to bump), or where STACK takes each from."""
    # Imported here, not at start-up: kubeflow and the on-prem target pull in Pulumi and its Kubernetes SDK.
    from components.handle import DEFAULT_CNI_BIN_DIR
    from components.platform.kubeflow import MANIFESTS, install_plan
    from components.sources import chart_source, manifest_directory, manifest_file
    from components.spec.model import UpstreamSpec
    from components.targets import eks
    from components.targets.onprem import upstream_keys
    from components.versions import UPSTREAMS

    upstream = UpstreamSpec()
    kubeflow_paths: list[tuple[str, str]] = []
    keys = [k for k, u in UPSTREAMS.items() if u.kind != "manifests"]
    if stack is not None:
        loaded = load_or_exit(stack)
        upstream = loaded.spec.upstream
        kubeflow_paths = install_plan(loaded.spec, DEFAULT_CNI_BIN_DIR)
        keys = [*CHARTS, *upstream_keys(loaded.spec), *eks.upstream_keys(loaded.spec)]
    rows = []
    for key in keys:
        u = UPSTREAMS[key]
        where = chart_source(key, upstream).reference if u.kind == "chart" else manifest_file(key, upstream)
        rows.append(
            {
                "name": key,
                "kind": u.kind,
                "version": u.version,
                "from": where,
                "mirror_as": u.mirror_name,
                "source": u.source,
            }
        )
    u = UPSTREAMS[MANIFESTS]
    paths = kubeflow_paths or [("kubeflow", "")]
    for name, path in paths:
        rows.append(
            {
                "name": name if kubeflow_paths else MANIFESTS,
                "kind": u.kind,
                "version": u.version if not kubeflow_paths else f"{u.version} ({(u.ref or '')[:12]})",
                "from": manifest_directory(MANIFESTS, path, upstream),
                "mirror_as": f"{u.mirror_name}/{path}".rstrip("/"),
                "source": u.source,
            }
        )
    for r in rows:
        r["in_mirror"] = mirror_status(r["kind"], r["from"])
    missing = [r for r in rows if r["in_mirror"] == "missing"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        if missing:
            raise typer.Exit(EXIT_FOUND)
        return
    title = "pinned upstreams" + (f" for {stack}" if stack else " (components/versions.py)")
    table = Table(title=title, title_justify="left")
    for col in ("name", "kind", "version", "from", "mirror as", "in mirror"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["version"], r["from"], r["mirror_as"], r["in_mirror"])
    console.print(table)
    if upstream.install is False:
        console.print("upstream.install is false: this stack installs none of these; they must be present already.")
    if missing:
        for r in missing:
            err.print(f"missing from the mirror: {r['name']} {r['version']} at {r['from']}", soft_wrap=True)
        err.print(
            f"{len(missing)} piece(s) missing. To fix: copy each into the mirror under the name in 'mirror as' "
            "(charts as `helm pull` delivers them: <chart>-<version>.tgz; manifest trees unpacked at the pinned "
            "commit), or point upstream.charts_mirror / manifests_mirror at the directory that holds them.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FOUND)
