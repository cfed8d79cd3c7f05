"""`aistack verify-nodes [STACK]`: check that machines are ready to join the AI stack.

Hosts come from an on-prem stack's pools (named nodes, with the GPUs each should have), from
``--hosts``, or ``--local`` for this machine. Exit 0 when every required check passes, 1 when one
fails or a host cannot be reached, 2 on bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import yaml

from components.spec import StackSpec

from ..verify import report
from ..verify.checks import DEFAULT_CUDA, MIN_DRIVER_FOR_CUDA, Context
from ..verify.runner import Backend, Connection, Result, Target, verify
from .common import EXIT_FOUND, EXIT_INVALID, console, err, load_or_exit


def model_token(accelerator: str) -> str | None:
    """The part of an NVIDIA catalog id that nvidia-smi's name contains: nvidia-h100-80gb → h100."""
    parts = accelerator.split("-")
    return parts[1] if parts[0] == "nvidia" and len(parts) > 1 else None


def api_server_of(spec: StackSpec) -> tuple[str, int] | None:
    """host:port of the stack's cluster, read from its kubeconfig when it is a readable file."""
    value = spec.cluster.kubeconfig
    if value is None or "\n" in value:
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    current = spec.cluster.context or doc.get("current-context")
    cluster = contexts.get(current or "", {}).get("cluster")
    for c in doc.get("clusters", []):
        if c["name"] == cluster:
            url = urlsplit(c["cluster"]["server"])
            return (url.hostname or "", url.port or 443)
    return None


def parse_endpoint(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise typer.BadParameter(f"'{value}' is not HOST:PORT (e.g. 10.0.0.1:6443)")
    return host, int(port)


def targets_from_stack(spec: StackSpec, backend: Backend, base: Context) -> list[Target]:
    targets = []
    for pool in spec.accelerator_pools:
        if pool.node_selector and not pool.nodes:
            err.print(f"note: pool '{pool.name}' selects nodes by label; pass them with --hosts to check them")
        ctx = Context(
            gpu=pool.accelerator.startswith("nvidia-"),
            expected_gpus=pool.count,
            model=model_token(pool.accelerator),
            cuda=base.cuda,
            min_free_gb=base.min_free_gb,
            api_server=base.api_server,
            phase=base.phase,
        )
        targets += [Target(node, backend, ctx) for node in pool.nodes]
    return targets


def verify_nodes(
    stack: Annotated[str | None, typer.Argument(help="On-prem stack whose pool nodes to check.")] = None,
    hosts: Annotated[str | None, typer.Option("--hosts", help="Comma-separated hosts ([user@]host[:port]).")] = None,
    local: Annotated[bool, typer.Option("--local", help="Check this machine (testinfra local backend).")] = False,
    gpu: Annotated[bool, typer.Option("--gpu/--no-gpu", help="--hosts/--local: run the GPU checks too.")] = False,
    gpus: Annotated[int | None, typer.Option("--gpus", help="--hosts/--local: GPUs each host must have.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="--hosts/--local: GPU model, e.g. h100.")] = None,
    cuda: Annotated[str, typer.Option("--cuda", help="CUDA version the driver must support.")] = DEFAULT_CUDA,
    phase: Annotated[
        str, typer.Option("--phase", help="before: driver and toolkit may still come from the GPU Operator.")
    ] = "after",
    api_server: Annotated[str | None, typer.Option("--api-server", help="HOST:PORT every host must reach.")] = None,
    min_free_gb: Annotated[int, typer.Option("--min-free-gb", help="Free GiB needed on the image path.")] = 50,
    backend: Annotated[str, typer.Option("--backend", help="ssh (OpenSSH client) or paramiko.")] = "ssh",
    ssh_config: Annotated[str | None, typer.Option("--ssh-config", help="ssh_config file.")] = None,
    identity_file: Annotated[str | None, typer.Option("--identity-file", help="SSH private key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML here.")] = None,
) -> None:
    """Check GPU and generic prerequisites on the hosts (driver, nvidia-smi, runtime, swap, modules, sysctls,
    time sync, disk, API server). Each failing check says how to fix it."""
    if cuda not in MIN_DRIVER_FOR_CUDA:
        err.print(f"--cuda {cuda}: unknown; use one of {', '.join(MIN_DRIVER_FOR_CUDA)}")
        raise typer.Exit(EXIT_INVALID)
    if phase not in ("before", "after") or backend not in ("ssh", "paramiko"):
        err.print("--phase is before|after and --backend is ssh|paramiko")
        raise typer.Exit(EXIT_INVALID)
    endpoint = parse_endpoint(api_server) if api_server else None
    base = Context(
        gpu=gpu,
        expected_gpus=gpus,
        model=model,
        cuda=cuda,
        min_free_gb=min_free_gb,
        api_server=endpoint,
        phase=phase,  # type: ignore[arg-type]
    )
    targets: list[Target] = []
    if local:
        targets.append(Target("localhost", "local", base))
    if hosts:
        targets += [Target(h.strip(), backend, base) for h in hosts.split(",") if h.strip()]  # type: ignore[arg-type]
    if stack is not None:
        spec = load_or_exit(stack).spec
        if spec.target != "onprem":
            err.print(f"{stack} is a {spec.target} stack: the cloud creates its nodes; use --hosts")
            raise typer.Exit(EXIT_INVALID)
        if endpoint is None:
            base = Context(**{**base.__dict__, "api_server": api_server_of(spec)})
        targets += targets_from_stack(spec, backend, base)  # type: ignore[arg-type]
    if not targets:
        err.print("no hosts: give an on-prem STACK, --hosts or --local")
        raise typer.Exit(EXIT_INVALID)

    conn = Connection(ssh_config=ssh_config, identity_file=identity_file)
    with err.status("verifying...") as status:

        def progress(r: Result) -> None:
            status.update(f"{r.host}: {r.check} {r.status}")

        results = verify(targets, conn, progress)
    if junit is not None:
        junit.write_text(report.as_junit(results), encoding="utf-8")
    if as_json:
        typer.echo(report.as_json(results))
    else:
        console.print(report.table(results))
        s = report.summary(results)
        console.print(
            f"{s['hosts_ready']}/{s['hosts']} host(s) ready; {s['failed_required']} required check(s) failed, "
            f"{s['failed_advisory']} advisory"
        )
    if any(r.failed for r in results):
        raise typer.Exit(EXIT_FOUND)
