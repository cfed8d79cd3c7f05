"""`aistack destroy STACK`: drain what controllers made, `pulumi destroy`, then sweep the cloud account."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from .common import EXIT_INVALID, StackArg, console, err, fail, load_or_exit, styled


def _pulumi_bin() -> Path:
    """The directory of `pulumi`: aistack's tool set when built (scripts/tools.sh), else PATH."""
    import shutil

    from .local import tools_bin

    try:
        return tools_bin()
    except (typer.Exit, SystemExit):
        found = shutil.which("pulumi")
        if found is None:
            fail("no `pulumi` found (aistack's tool set or PATH).", "install the Pulumi CLI or run scripts/tools.sh.")
        return Path(found).parent


def _local_target(loaded: Any) -> Any:
    """A simulated (local) stack: aistack's own file backend and cluster, as `aistack local` runs them."""
    from ..local import cluster, deploy
    from ..teardown.destroy import Target
    from .local import _upstream

    bin_dir = _pulumi_bin()
    if deploy.language_host(bin_dir) is None:
        fail(
            f"no Pulumi language host next to {bin_dir / 'pulumi'}: aistack destroy runs the pulumi CLI.",
            "run scripts/tools.sh (it builds pulumi-language-python), or `aistack local destroy`.",
        )
    cli = deploy.Cli.for_stack(loaded.name, bin_dir, upstream=_upstream())
    cli.ensure_stack()
    kubeconfig = cluster.Layout(cluster.STATE_DIR).kubeconfig
    return Target(loaded.spec, loaded.name, cli, deploy.backend_url(), kubeconfig, None, loaded.config)


def _user_backend() -> str:
    """The backend plain `pulumi` uses here: PULUMI_BACKEND_URL, else the project's, else the logged-in one."""
    from ..local.deploy import REPO

    if os.environ.get("PULUMI_BACKEND_URL"):
        return os.environ["PULUMI_BACKEND_URL"]
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text()) or {}
    return str((project.get("backend") or {}).get("url", ""))


def _stack_kubeconfig(runner: Any, workdir: Path) -> Path | None:
    """The cloud stack's kubeconfig output, written to a private file (None: the stack has none)."""
    result = subprocess.run(
        runner.argv("stack", "output", "kubeconfig", "--show-secrets", config=False),
        cwd=runner.project_dir,
        env=runner.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    path = workdir / "kubeconfig"
    path.write_text(result.stdout)
    path.chmod(0o600)
    return path


def _user_target(loaded: Any, workdir: Path, drain: bool) -> Any:
    """Any other stack: the user's own `pulumi` setup (backend, credentials), in the project directory."""
    from ..local.deploy import REPO, Cli
    from ..teardown.destroy import Target

    class UserCli(Cli):
        def env(self) -> dict[str, str]:
            return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    runner = UserCli(loaded.name, _pulumi_bin(), project_dir=REPO)
    spec = loaded.spec
    if spec.target == "onprem":
        kubeconfig = Path(spec.cluster.kubeconfig).expanduser() if spec.cluster.kubeconfig else None
        context = spec.cluster.context
    else:
        kubeconfig, context = (_stack_kubeconfig(runner, workdir) if drain else None), None
        if drain and kubeconfig is None:
            fail(
                f"stack {loaded.name} has no kubeconfig output: its cluster cannot be drained.",
                "check `pulumi stack output -s STACK`; if the cluster is already gone, rerun with --no-drain.",
            )
    return Target(spec, loaded.name, runner, _user_backend(), kubeconfig if drain else None, context, loaded.config)


def destroy(
    stack: StackArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for the drain before reporting what is stuck.")
    ] = 300.0,
    no_drain: Annotated[bool, typer.Option("--no-drain", help="Skip the drain (the cluster is already gone).")] = False,
    no_sweep: Annotated[
        bool, typer.Option("--no-sweep", help="Skip the cloud account sweep after the destroy.")
    ] = False,
    delete_leftovers: Annotated[
        bool, typer.Option("--delete-leftovers", help="Let the sweep delete what it finds (`aistack sweep --delete`).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as a JSON document.")] = False,
) -> None:
    """Tear the stack down and leave nothing behind.

    1. Drain, while the platform's controllers still run: Kueue Workloads (and their jobs), Services of
    type LoadBalancer, Ingresses, Gateways, Kubeflow Profiles (and their namespaces), claims (kept under
    data_protection) and Karpenter NodeClaims; anything stuck is named with its finalizer and controller.
    2. `pulumi destroy --exclude-protected` (a killed run's stale lock and pending operations cleared first).
    3. The cloud account sweep (`aistack sweep`), for aws and gcp stacks.

    Exit 0: all gone (protected resources kept, listed). 1: something is stuck or left. 2: could not run.
    """
    from ..teardown.destroy import destroy as run_destroy

    loaded = load_or_exit(stack)
    if not yes:
        if not sys.stdin.isatty():
            fail("aistack destroy asks for confirmation and stdin is not a terminal.", "pass --yes.")
        typer.confirm(f"Destroy stack {loaded.name} ({loaded.spec.target})?", abort=True)
    with tempfile.TemporaryDirectory(prefix="aistack-destroy-") as tmp:
        if loaded.spec.cluster.simulated:
            target = _local_target(loaded)
            if no_drain:
                target = dataclasses.replace(target, kubeconfig=None)
        else:
            target = _user_target(loaded, Path(tmp), drain=not no_drain)
        say = (
            (lambda _line: None)
            if as_json
            else (lambda line: err.print(line.rstrip("\n"), highlight=False, markup=False))
        )
        try:
            report = run_destroy(target, wait_s=wait, sweep=not no_sweep, delete_leftovers=delete_leftovers, say=say)
        except RuntimeError as exc:
            fail(str(exc), "see the pulumi error above.")
    if as_json:
        import json

        typer.echo(json.dumps(report.as_json(), indent=2))
        raise typer.Exit(report.exit_code)
    for line in report.lines():
        console.print(styled("{line}", line=line), soft_wrap=True)
    if report.sweep is not None:
        for line in report.sweep.lines():
            console.print(styled("{line}", line=line), soft_wrap=True)
    verdict = "[green]destroyed[/]" if report.exit_code == 0 else "[red]not everything is gone[/]: see above"
    err.print(styled(f"{verdict} ({{changes}})", changes=report.changes or "pulumi destroy not run"), soft_wrap=True)
    raise typer.Exit(report.exit_code if report.exit_code in (0, 1) else EXIT_INVALID)
