"""`aistack upstreams [STACK]`: the pinned third-party sources, and where a stack takes each from.

Without a stack: the versions table. With one: the exact chart reference or manifest directory
the stack would install, which is the list to copy into an air-gapped mirror.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from .common import console, load_or_exit

# Charts each platform part installs; Kubeflow's manifest trees come from install_plan; the
# target's own installs (on-prem storage, object store, MetalLB) from the target.
CHARTS = ("gpu-operator", "kueue", "kube-prometheus-stack")


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
    from components.targets.onprem import upstream_keys
    from components.versions import UPSTREAMS

    upstream = UpstreamSpec()
    kubeflow_paths: list[tuple[str, str]] = []
    keys = [k for k, u in UPSTREAMS.items() if u.kind != "manifests"]
    if stack is not None:
        loaded = load_or_exit(stack)
        upstream = loaded.spec.upstream
        kubeflow_paths = install_plan(loaded.spec, DEFAULT_CNI_BIN_DIR)
        keys = [*CHARTS, *upstream_keys(loaded.spec)]
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
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    title = "pinned upstreams" + (f" for {stack}" if stack else " (components/versions.py)")
    table = Table(title=title, title_justify="left")
    for col in ("name", "kind", "version", "from", "mirror as"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["version"], r["from"], r["mirror_as"])
    console.print(table)
    if upstream.install is False:
        console.print("upstream.install is false: this stack installs none of these; they must be present already.")
