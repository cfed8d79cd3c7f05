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


def remote_rows(mirror: Path, tree: str, paths: list[tuple[str, str]]) -> list[dict[str, str]]:
    """One row per internet reference the components' kustomizations make (each URL once, named by the
    components that pull it in), and whether the directory mirror holds its copy under remote/. A tree
    the mirror lacks gives none: its own rows say it is missing."""
    from components import kustomize_mirror

    if not (mirror / tree).is_dir():
        return []
    rows: dict[str, dict[str, str]] = {}
    pulled_by: dict[str, list[str]] = {}
    for name, path in paths:
        found = kustomize_mirror.closure(mirror, tree, path)
        found_rows = [
            {
                "version": ref.remote.version,
                "from": str(ref.expected),
                "mirror_as": ref.remote.path.as_posix(),
                "source": ref.remote.url,
                "referenced_by": str(ref.kustomization.relative_to(found.mirror_root)),
                "in_mirror": "ok" if ref.present else "missing",
            }
            for ref in found.remotes
        ]
        found_rows += [
            {
                "version": "-",
                "from": problem.url,
                "mirror_as": "(none: cannot be served offline)",
                "source": problem.url,
                "referenced_by": str(problem.kustomization.relative_to(found.mirror_root)),
                "in_mirror": "missing",
                "problem": problem.message,
            }
            for problem in found.problems
        ]
        for row in found_rows:
            rows.setdefault(row["source"], row)
            names = pulled_by.setdefault(row["source"], [])
            if name not in names:
                names.append(name)
    return [{"name": ", ".join(pulled_by[url]), "kind": "remote", **row} for url, row in rows.items()]


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
                "from": manifest_directory(MANIFESTS, path, upstream, offline=False),
                "mirror_as": f"{u.mirror_name}/{path}".rstrip("/"),
                "source": u.source,
            }
        )
    for r in rows:
        r["in_mirror"] = mirror_status(r["kind"], r["from"])
    if upstream.manifests_mirror is not None:
        rows += remote_rows(Path(upstream.manifests_mirror), u.mirror_name, kubeflow_paths)
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
            if r["kind"] == "remote" and "problem" in r:
                err.print(f"missing from the mirror: {r['name']}: {r['problem']}", soft_wrap=True)
            elif r["kind"] == "remote":
                err.print(
                    f"missing from the mirror: {r['name']} remote reference {r['source']} (in {r['referenced_by']}) "
                    f"at {r['from']}",
                    soft_wrap=True,
                )
            else:
                err.print(f"missing from the mirror: {r['name']} {r['version']} at {r['from']}", soft_wrap=True)
        err.print(
            f"{len(missing)} piece(s) missing. To fix: copy each into the mirror under the name in 'mirror as' "
            "(charts as `helm pull` delivers them: <chart>-<version>.tgz; manifest trees unpacked at the pinned "
            "commit; remote references as the mirror's remote/ rule says: https://github.com/ORG/REPO//PATH?ref=REF "
            "at remote/github.com/ORG/REPO@REF/PATH, a release asset at its URL's path under remote/github.com/), "
            "or point upstream.charts_mirror / manifests_mirror at the directory that holds them.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FOUND)
