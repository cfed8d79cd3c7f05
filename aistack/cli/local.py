"""`aistack local up|deploy|preview|refresh|destroy|drift|teams|env|down|status`: the local simulated GPU
cluster the `local` stack deploys to, and the stack deployed into it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .common import EXIT_FOUND, EXIT_INVALID, console, err, load_or_exit

app = typer.Typer(
    help="The local simulated GPU cluster (etcd, control plane and KWOK on loopback).", no_args_is_help=True
)
TOOLS_DIR = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()


def tools_bin() -> Path:
    """The newest tool set scripts/tools.sh built (its bin directory)."""
    from ..local import cluster  # each command imports the local-cluster modules it uses, not `aistack --help`

    candidates = sorted(TOOLS_DIR.glob("*/bin"), key=lambda p: p.stat().st_mtime)
    for bin_dir in reversed(candidates):
        if all((bin_dir / c).exists() for c in cluster.COMPONENTS):
            return bin_dir
    err.print(
        f"no local-cluster tools in {TOOLS_DIR}/*/bin. To fix: scripts/tools.sh (builds them from the Go module proxy)"
    )
    raise typer.Exit(EXIT_INVALID)


@app.command("up")
def up(
    stack: Annotated[str, typer.Option("--stack", help="Stack whose nodes to simulate.")] = "local",
) -> None:
    """Start the cluster (idempotent), create the stack's fake nodes and choose where the upstreams come
    from (a mirror, the public repositories, or their CRDs only, installed here); one line says which."""
    from ..local import cluster, seed, upstream

    spec = load_or_exit(stack).spec
    try:
        route = upstream.decide(spec)
    except ValueError as e:
        err.print(str(e))
        raise typer.Exit(EXIT_INVALID) from None
    console.print(route.why, soft_wrap=True)
    phases: list[tuple[str, float]] = []
    t0 = time.monotonic()
    with err.status("starting etcd and the control plane..."):
        layout = cluster.up(tools_bin(), on_step=lambda name, s: phases.append((name, s)))
    upstream.record(route, layout.root)
    t1 = time.monotonic()
    with err.status("creating fake nodes..."):
        crds = 0
        if not (route.installs_upstream and spec.upstream.install):
            # Nothing installs the upstreams: their CRDs, so aistack's own custom resources apply.
            crds = seed.apply(layout.kubeconfig, list(seed.crd_documents()))
        nodes = seed.fake_nodes(spec)
        seed.apply(layout.kubeconfig, nodes)
        seed.apply(layout.kubeconfig, seed.resource_slices(spec))  # dra pools' GPUs, as NVIDIA's driver publishes
    phases.append(("CRDs and nodes" if crds else "nodes", time.monotonic() - t1))
    table = Table(title="local cluster", title_justify="left")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for name, seconds in phases:
        table.add_row(name, f"{seconds:.1f}")
    table.add_row("total", f"{time.monotonic() - t0:.1f}")
    console.print(table)
    console.print(
        f"{crds} CRDs, {len(nodes)} nodes; kubeconfig: {layout.kubeconfig}"
        if crds
        else f"{len(nodes)} nodes; kubeconfig: {layout.kubeconfig}"
    )


@app.command("down")
def down() -> None:
    """Stop the processes `up` started (by pid); state stays for the next `up`."""
    from ..local import cluster

    stopped = cluster.down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Which components run and whether the API server is ready (exit 1 when it is not)."""
    from ..local import cluster

    s = cluster.status()
    if as_json:
        typer.echo(json.dumps(s, indent=2))
    else:
        table = Table(title=f"local cluster ({s['state_dir']})", title_justify="left")
        table.add_column("component")
        table.add_column("pid")
        for c, pid in s["components"].items():
            table.add_row(c, str(pid) if pid else Text("stopped", style="red"))
        console.print(table)
        console.print(f"API server ready: {s['api_ready']}")
    if not s["api_ready"]:
        raise typer.Exit(EXIT_FOUND)


def _changes(changes: dict[str, int], planned: bool = False) -> str:
    """{'create': 56, 'same': 2} → '56 created, 2 unchanged' (what people read, not a Python repr);
    ``planned``: '56 to create, 2 unchanged'."""
    words = {"create": "created", "update": "updated", "delete": "deleted", "same": "unchanged", "replace": "replaced"}
    if planned:
        words = {op: "unchanged" if op == "same" else f"to {op}" for op in words}
    parts = [f"{n} {words.get(op, op)}" for op, n in sorted(changes.items(), key=lambda kv: -kv[1]) if n]
    return ", ".join(parts) or "no changes"


def _program() -> None:
    from aistack.preflight.hook import run_preflight
    from components.program import main

    main(preflight=run_preflight)


def _upstream() -> dict[str, Any] | None:
    """The upstream section `aistack local up` chose for this cluster (None: the stack's own)."""
    from ..local import upstream

    route = upstream.recorded()
    return route.overrides() if route is not None else None


def _engine(stack: str) -> Any:
    from ..local import deploy  # Pulumi's Automation API: only the commands that run the engine load it

    return deploy.select(stack, tools_bin(), _program, upstream=_upstream())


def _route(verb: str, stack: str) -> Any:
    """The `pulumi` CLI in the project directory when a language host can run the program, else None
    (the Automation API); prints the one line that says which."""
    from ..local import deploy

    bin_dir = tools_bin()
    host = deploy.language_host(bin_dir)
    console.print(deploy.route_line(verb, host), soft_wrap=True)  # one line, whatever the width
    if host is None:
        return None
    cli = deploy.Cli.for_stack(stack, bin_dir, upstream=_upstream())
    try:
        cli.ensure_stack()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        err.print(f"{e}. To fix: check the file backend {deploy.backend_url()} (or remove it to start afresh)")
        raise typer.Exit(EXIT_INVALID) from None
    return cli


def _run_cli(cli: Any, label: str, *args: str, verbose: bool) -> Any:
    """One `pulumi` command with its output streamed (every line with --verbose, else the latest on a
    status line); on failure its last lines and exit 2."""
    with err.status(f"{label}...") as st:

        def show(line: str) -> None:
            if verbose:
                console.out(line.rstrip("\n"), highlight=False)
            elif line.strip():
                st.update(Text(f"{label}: {line.strip()[:100]}"))

        outcome = cli.run(*args, on_line=show)
    if outcome.rc != 0:
        err.print(outcome.tail())
        err.print(f"{label} failed (exit {outcome.rc}). To fix: the error above; rerun with --verbose for all of it")
        raise typer.Exit(EXIT_INVALID)
    return outcome


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print all of pulumi's output.")]


@app.command("deploy")
def deploy_cmd(
    stack: Annotated[str, typer.Option("--stack", help="Stack to deploy into the local cluster.")] = "local",
    verbose: Verbose = False,
) -> None:
    """`pulumi up -s STACK` in the project directory (file backend), or through the Automation API
    (inline program) where no Python language host is installed."""
    from ..local import cluster

    load_or_exit(stack)
    cli = _route("up", stack)
    t0 = time.monotonic()
    if cli is not None:
        changes = _run_cli(cli, "pulumi up", "up", "--yes", "--skip-preview", verbose=verbose).changes
        outputs = cli.outputs()
    else:
        target = _engine(stack)
        with err.status("pulumi up (real engine)...") as st:
            result = target.up(on_output=lambda line: st.update(Text(f"pulumi up: {line.strip()[:100]}")))
        changes = result.summary.resource_changes or {}
        outputs = {k: v.value for k, v in result.outputs.items() if not v.secret}
    console.print(f"pulumi up: {_changes(changes)} in {time.monotonic() - t0:.1f} s")
    # Kueue's namespace and queues exist now: start its controller so Jobs are admitted for real.
    if cluster.start_kueue(tools_bin(), cluster.Layout(cluster.STATE_DIR), stack):
        console.print("kueue controller started: Jobs in a team's 'default' LocalQueue are admitted by quota")
    console.print_json(json.dumps(outputs, default=str))


@app.command("preview")
def preview_cmd(stack: Annotated[str, typer.Option("--stack")] = "local", verbose: Verbose = False) -> None:
    """`pulumi preview -s STACK`: what `deploy` would change; exit 1 when it would change anything."""
    load_or_exit(stack)
    cli = _route("preview", stack)
    if cli is not None:
        changes = _run_cli(cli, "pulumi preview", "preview", verbose=verbose).changes
    else:
        with err.status("pulumi preview..."):
            changes = dict(_engine(stack).preview(on_output=lambda line: None).change_summary)
    console.print(f"pulumi preview: {_changes(changes, planned=True)}")
    if set(changes) - {"same"}:
        raise typer.Exit(EXIT_FOUND)


@app.command("refresh")
def refresh_cmd(stack: Annotated[str, typer.Option("--stack")] = "local", verbose: Verbose = False) -> None:
    """`pulumi refresh -s STACK`: read the cluster back into the state (accepts drift; `drift` only reports it)."""
    load_or_exit(stack)
    cli = _route("refresh", stack)
    if cli is not None:
        changes = _run_cli(cli, "pulumi refresh", "refresh", "--yes", "--skip-preview", verbose=verbose).changes
    else:
        with err.status("pulumi refresh..."):
            changes = _engine(stack).refresh(on_output=lambda line: None).summary.resource_changes or {}
    console.print(f"pulumi refresh: {_changes(changes)}")


@app.command("destroy")
def destroy_cmd(stack: Annotated[str, typer.Option("--stack")] = "local", verbose: Verbose = False) -> None:
    """`pulumi destroy -s STACK` (protected resources stay, as data protection says)."""
    cli = _route("destroy", stack)
    if cli is not None:
        changes = _run_cli(cli, "pulumi destroy", "destroy", "--yes", "--skip-preview", verbose=verbose).changes
    else:
        with err.status("pulumi destroy..."):
            changes = _engine(stack).destroy(on_output=lambda line: None).summary.resource_changes or {}
    console.print(f"pulumi destroy: {_changes(changes)}")


def _kubeconfig_if_moved(stack: str) -> Path | None:
    """The local cluster's kubeconfig when it is not the one the committed stack file names (AISTACK_LOCAL_DIR
    moved the cluster's state), else None."""
    from ..local import cluster

    here = cluster.Layout(cluster.STATE_DIR).kubeconfig
    named = load_or_exit(stack).spec.cluster.kubeconfig
    return None if named is not None and Path(named).expanduser() == here.expanduser() else here


@app.command("env")
def env_cmd() -> None:
    """Shell exports for running `pulumi` yourself against the local backend: eval "$(aistack local env)"."""
    import shlex

    from ..local import deploy

    for key, value in deploy.engine_env(tools_bin()).items():
        typer.echo(f"export {key}={shlex.quote(value)}")
    # The sources `aistack local up` chose (a mirror, or the CRDs only) reach plain `pulumi` the way they reach
    # the demo's: without this, `pulumi preview -s local` would plan to move every chart to its public source.
    var, chosen = deploy.overrides_env("local", upstream=_upstream(), kubeconfig=_kubeconfig_if_moved("local"))
    typer.echo(f"unset {var}" if chosen is None else f"export {var}={shlex.quote(chosen)}")


@app.command("teams")
def teams() -> None:
    """Teams → queues → accelerators, read from the cluster's Kueue objects."""
    from kubernetes import config, dynamic

    from ..local import cluster

    layout = cluster.Layout(cluster.STATE_DIR)
    api = dynamic.DynamicClient(config.new_client_from_config(config_file=str(layout.kubeconfig)))  # type: ignore[no-untyped-call]
    cqs = api.resources.get(api_version="kueue.x-k8s.io/v1beta2", kind="ClusterQueue").get().to_dict()["items"]
    lqs = api.resources.get(api_version="kueue.x-k8s.io/v1beta2", kind="LocalQueue").get().to_dict()["items"]
    by_cq = {lq["spec"]["clusterQueue"]: lq for lq in lqs}
    table = Table(title="teams → queues → accelerators", title_justify="left")
    for col in ("namespace", "local queue", "cluster queue", "cohort", "flavor", "resource", "nominal", "borrowing"):
        table.add_column(col, overflow="fold")
    for cq in sorted(cqs, key=lambda q: q["metadata"]["name"]):
        lq = by_cq.get(cq["metadata"]["name"], {})
        for group in cq["spec"].get("resourceGroups", []):
            for flavor in group["flavors"]:
                for r in flavor["resources"]:
                    if "/" not in r["name"]:
                        continue  # accelerators only; cpu and memory are in the object
                    table.add_row(
                        lq.get("metadata", {}).get("namespace", "-"),
                        lq.get("metadata", {}).get("name", "-"),
                        cq["metadata"]["name"],
                        cq["spec"].get("cohortName", "-"),
                        flavor["name"],
                        r["name"],
                        str(r["nominalQuota"]),
                        str(r.get("borrowingLimit", "unlimited")),
                    )
    console.print(table)


@app.command("drift")
def drift_cmd(stack: Annotated[str, typer.Option("--stack")] = "local") -> None:
    """Drift of the locally deployed stack (preview-only refresh); exit 1 on drift."""
    from ..drift.report import StackReport, refresh_items
    from .drift import table as drift_table

    target = _engine(stack)
    seen: list[Any] = []
    with err.status("refresh (preview only)..."):
        target.preview_refresh(on_event=seen.append, on_output=lambda line: None)
    report = StackReport(stack, refresh_items(stack, seen))
    console.print(drift_table([report]))
    if report.drifted:
        raise typer.Exit(EXIT_FOUND)
