"""`aistack verify-nodes [STACK]`: check that machines are ready to join the AI stack.

Hosts come from an on-prem stack's pools (named nodes, with the GPUs each should have), from
``--hosts``, or ``--local`` for this machine. Exit 0 when every required check passes, 1 when one
fails or a host cannot be reached, 2 on bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from ..verify.checks import DEFAULT_CUDA, MIN_DRIVER_FOR_CUDA, Context
from ..verify.hosts import HostError, parse_host
from .common import EXIT_FOUND, console, err, fail, load_or_exit, write_report

if TYPE_CHECKING:  # annotations only; the runner, its report and the spec load when the command runs
    from components.spec import StackSpec

    from ..verify.runner import Backend, Result, Target


def model_token(accelerator: str) -> str | None:
    """The part of an NVIDIA catalog id that nvidia-smi's name contains: nvidia-h100-80gb → h100."""
    parts = accelerator.split("-")
    return parts[1] if parts[0] == "nvidia" and len(parts) > 1 else None


def api_server_of(spec: StackSpec) -> tuple[str, int] | None:
    """host:port of the stack's cluster, read from its kubeconfig when it is a readable file."""
    from foundation import safe_yaml
    from foundation.errors import SpecError

    value = spec.cluster.kubeconfig
    if value is None or "\n" in value:
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_file():
        return None
    try:
        doc = safe_yaml.load_file(path, "kubeconfig")
        contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
        current = spec.cluster.context or doc.get("current-context")
        cluster = contexts.get(current or "", {}).get("cluster")
        for c in doc.get("clusters") or []:
            if c["name"] == cluster:
                url = urlsplit(c["cluster"]["server"])
                return (url.hostname or "", url.port or 443)
    except SpecError as exc:
        fail(str(exc.issues[0]))
    except (AttributeError, KeyError, TypeError, ValueError):
        fail(
            f"cluster.kubeconfig: {path} is not a kubeconfig (clusters/contexts with name, server).",
            "point cluster.kubeconfig at a kubeconfig file, or pass --api-server HOST:PORT.",
        )
    return None


def parse_endpoint(value: str) -> tuple[str, int]:
    """--api-server HOST:PORT, through the same host grammar as the hosts themselves."""
    try:
        parsed = parse_host(value)
    except HostError as exc:
        fail(f"--api-server {exc}.", "write HOST:PORT, e.g. 10.0.0.1:6443 or [fd00::1]:6443.")
    if parsed.port is None or parsed.user is not None:
        fail(f"--api-server {value!r} is not HOST:PORT.", "write HOST:PORT, e.g. 10.0.0.1:6443.")
    return parsed.host, parsed.port


def parse_hosts(value: str) -> list[str]:
    """--hosts a,b,c → host specs; every entry outside the grammar is reported at once (exit 2)."""
    hosts, bad = [], []
    for item in (h.strip() for h in value.split(",")):
        if not item:
            continue
        try:
            hosts.append(str(parse_host(item)))
        except HostError as exc:
            bad.append(f"{exc}")
    if bad:
        fail("--hosts: " + "; ".join(bad) + ".", HostError("", "").fix)
    return hosts


def _existing_file(option: str, value: str | None) -> str | None:
    if value is not None and not Path(os.path.expanduser(value)).is_file():
        fail(f"{option} {value!r}: no such file.", f"pass the path of an existing file to {option}.")
    return value


def targets_from_stack(spec: StackSpec, backend: Backend, base: Context) -> list[Target]:
    from ..verify.runner import Target

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
    from rich.text import Text

    from ..verify import report
    from ..verify.runner import Connection, Target, verify

    if cuda not in MIN_DRIVER_FOR_CUDA:
        fail(f"--cuda {cuda!r}: unknown CUDA version.", f"use one of {', '.join(MIN_DRIVER_FOR_CUDA)}.")
    if phase not in ("before", "after"):
        fail(f"--phase {phase!r}: not a phase.", "use --phase before or --phase after.")
    if backend not in ("ssh", "paramiko"):
        fail(f"--backend {backend!r}: not a backend.", "use --backend ssh or --backend paramiko.")
    ssh_config = _existing_file("--ssh-config", ssh_config)
    identity_file = _existing_file("--identity-file", identity_file)
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
        targets += [Target(h, backend, base) for h in parse_hosts(hosts)]  # type: ignore[arg-type]
    if stack is not None:
        spec = load_or_exit(stack).spec
        if spec.target != "onprem":
            fail(f"{stack} is a {spec.target} stack: the cloud creates its nodes.", "use --hosts to check machines.")
        if endpoint is None:
            base = Context(**{**base.__dict__, "api_server": api_server_of(spec)})
        targets += targets_from_stack(spec, backend, base)  # type: ignore[arg-type]
    if not targets:
        fail("no hosts to check.", "give an on-prem STACK, --hosts a,b or --local.")
    for t in targets:  # node names from a stack file meet the same grammar as --hosts
        if t.backend != "local":
            try:
                parse_host(t.name)
            except HostError as exc:
                fail(f"host {exc}.", exc.fix)

    conn = Connection(ssh_config=ssh_config, identity_file=identity_file)
    with err.status("verifying...") as status:

        def progress(r: Result) -> None:
            status.update(Text(f"{r.host}: {r.check} {r.status}"))  # host names are never markup

        results = verify(targets, conn, progress)
    if junit is not None:
        write_report(junit, report.as_junit(results))
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
