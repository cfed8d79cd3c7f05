"""`aistack upstreams [STACK]`: the pinned third-party sources, and where a stack takes each from.

Without a stack: the versions table. With one: the exact chart reference or manifest directory
the stack would install, which is the list to copy into an air-gapped mirror; and, where the stack
points at a directory mirror, whether the mirror holds each of them (exit 1 listing what is missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .common import EXIT_FOUND, EXIT_INVALID, console, err, fail, load_or_exit

if TYPE_CHECKING:
    from components.spec import LoadedStack


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


def pull_secret(loaded: LoadedStack, pull_secret_file: Path | None) -> str | None:
    """The pull secret to check the image registry with: the file given, else the stack's own (a Pulumi
    secret, which the offline loader masks, read through `pulumi config get`)."""
    from aistack.images_check import SECRET_KEY, pulumi_secret
    from components.spec.loader import SECRET_PLACEHOLDER

    from .images import tool

    if pull_secret_file is not None:
        try:
            return pull_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(
                f"--pull-secret-file {pull_secret_file}: cannot read it ({exc.strerror or exc}).",
                "pass a readable file holding USER:PASSWORD or a .dockerconfigjson.",
            )
    given = loaded.spec.upstream.image_pull_secret
    if given is None:
        return None
    value = given.get_secret_value()
    if value != SECRET_PLACEHOLDER:
        return value
    try:
        return pulumi_secret(loaded.name, loaded.path, SECRET_KEY, tool("pulumi"))
    except RuntimeError as exc:
        fail(
            f"{SECRET_KEY} is a Pulumi secret and `pulumi config get` could not read it: {exc}.",
            "log in to the stack's backend with its passphrase or key at hand, or pass --pull-secret-file.",
        )


def image_rows(loaded: LoadedStack, registry: str, pull_secret_file: Path | None) -> list[dict[str, str]]:
    """One row per image the stack runs: where the site registry must hold it and whether it does (a manifest
    HEAD each); a check that cannot be made ends the command with one line."""
    from aistack.images_check import RegistryAuthError, RegistryError, check_images

    from .images import ImagesError, stack_images

    secret = pull_secret(loaded, pull_secret_file)
    try:
        found = stack_images(loaded)
        checked = check_images((ref.reference for ref in found), registry, secret)
    except ImagesError as exc:
        fail(str(exc).split(" To fix: ")[0], str(exc).partition(" To fix: ")[2])
    except RegistryError as exc:
        message, _, fix = str(exc).partition(" To fix: ")
        fail(message, fix, EXIT_INVALID if isinstance(exc, RegistryAuthError) else EXIT_FOUND)
    by_ref = {ref.reference: ref for ref in found}
    return [
        {
            "name": c.source,
            "kind": "image",
            "version": by_ref[c.source].digest or by_ref[c.source].tag or "latest",
            "from": c.mirrored,
            "mirror_as": c.mirrored.split("/", 1)[1],
            "source": c.source,
            "in_mirror": "ok" if c.present else "missing",
            "copy": c.copy_command,
        }
        for c in checked
    ]


def upstreams(
    stack: Annotated[str | None, typer.Argument(help="Stack whose sources to resolve (mirror included).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    pull_secret_file: Annotated[
        Path | None,
        typer.Option(
            help="With upstream.image_registry: a file holding the pull secret (USER:PASSWORD or a "
            ".dockerconfigjson) to check the registry with. Default: the stack's upstream.image_pull_secret "
            "(a Pulumi secret is read with `pulumi config get`)."
        ),
    ] = None,
) -> None:
    """List the pinned charts and manifests (one place to bump), or where STACK takes each from."""
    # Imported here, not at start-up: kubeflow and the on-prem target pull in Pulumi and its Kubernetes SDK.
    from aistack.preflight.sources import stack_keys
    from components.handle import DEFAULT_CNI_BIN_DIR
    from components.platform.kubeflow import MANIFESTS, install_plan
    from components.sources import chart_source, manifest_directory, manifest_file
    from components.spec.model import UpstreamSpec
    from components.versions import UPSTREAMS

    upstream = UpstreamSpec()
    loaded = None
    kubeflow_paths: list[tuple[str, str]] = []
    keys = [k for k, u in UPSTREAMS.items() if u.kind != "manifests"]
    if stack is not None:
        loaded = load_or_exit(stack)
        upstream = loaded.spec.upstream
        kubeflow_paths = install_plan(loaded.spec, DEFAULT_CNI_BIN_DIR)
        keys = stack_keys(loaded.spec)
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
    if loaded is not None and upstream.image_registry is not None:
        rows += image_rows(loaded, upstream.image_registry, pull_secret_file)
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
        if r["kind"] != "image":
            table.add_row(r["name"], r["kind"], r["version"], r["from"], r["mirror_as"], r["in_mirror"])
    console.print(table)
    images = [r for r in rows if r["kind"] == "image"]
    if images:
        held = sum(r["in_mirror"] == "ok" for r in images)
        console.print(
            f"images: {held} of {len(images)} in {upstream.image_registry} (`aistack images {stack}` lists them)"
        )
    if upstream.install is False:
        console.print("upstream.install is false: this stack installs none of these; they must be present already.")
    if missing:
        for r in missing:
            if r["kind"] == "image":
                err.print(f"missing from the image registry: {r['source']}. To fix: {r['copy']}", soft_wrap=True)
            elif r["kind"] == "remote" and "problem" in r:
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
            "or point upstream.charts_mirror / manifests_mirror at the directory that holds them; images with the "
            "`crane copy` (or `skopeo copy`) command printed for each.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FOUND)
