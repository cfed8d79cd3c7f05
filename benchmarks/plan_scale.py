"""Offline plan time vs the bare Pulumi SDK floor, as stacks grow.

For each size (teams x pools) the real aistack program is planned under the SDK's mocks and
compared with two floors, each registering the same number of resources under the same mocks:
- bare: plain ``pulumi.CustomResource``s, flat (the floor the issue names);
- typed: the same typed pulumi-kubernetes classes aistack registers (a provider and Namespaces
  using it), flat: the SDK's own cost for these resources, so plan/typed is aistack's overhead.
Per-resource time across sizes shows whether growth is linear.

Run: make bench   (or: python -m benchmarks.plan_scale [--quick] [--json FILE])
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import mocks
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from rich.console import Console
from rich.table import Table

from aistack.offline import EchoMocks, RecordingMonitor, plan
from components.spec import LoadedStack, parse_spec

SIZES = [(1, 1), (4, 2), (16, 4), (64, 8), (128, 8), (256, 8)]
QUICK_SIZES = [(1, 1), (16, 4), (256, 8)]
SMOKE_SIZES = [(1, 1), (2, 2)]  # `make test` runs these once so the benchmark cannot rot unnoticed


def stack_values(teams: int, pools: int) -> dict[str, Any]:
    nodes_per_pool = max(1, teams // 8 + 1)
    return {
        "target": "onprem",
        "region": "bench",
        "accelerator_pools": [
            {
                "name": f"pool-{p}",
                "accelerator": "nvidia-h100-80gb",
                "count": 8,
                "min_nodes": nodes_per_pool,
                "max_nodes": nodes_per_pool,
                "nodes": [f"node-{p}-{n}" for n in range(nodes_per_pool)],
            }
            for p in range(pools)
        ],
        "teams": [{"name": f"team-{t}", "quotas": {f"pool-{t % pools}": 1}} for t in range(teams)],
        "scheduling": {"allow_overcommit": True},
        # on-prem volumes come from an existing class: name one, as every on-prem stack must
        "storage": {"default_storage_class": "ceph-rbd"},
    }


def loaded(teams: int, pools: int) -> LoadedStack:
    values = stack_values(teams, pools)
    spec = parse_spec(values)
    config = {f"aistack:{k}": v for k, v in values.items()}
    return LoadedStack(name=f"bench-{teams}x{pools}", path=Path("bench"), spec=spec, config=config)


def _run_flat(program: Any) -> None:
    mock = EchoMocks()
    set_root_resource(None)  # type: ignore[arg-type]
    SETTINGS.rpc_manager.clear()
    mocks.set_mocks(mock, project="aistack", stack="bare", preview=True, monitor=RecordingMonitor(mock))
    _sync_await(run_pulumi_func(program))


def bare(n: int) -> None:
    """Floor 1: n plain resources registered by the SDK under the same mocks, no aistack code."""

    def program() -> None:
        for i in range(n):
            pulumi.CustomResource(
                "bench:index:Plain", f"plain-{i}", {"metadata": {"name": f"plain-{i}", "labels": {"a": "b"}}}
            )

    _run_flat(program)


def typed(n: int) -> None:
    """Floor 2: the typed classes aistack registers (provider + namespaces using it), flat."""

    def program() -> None:
        provider = k8s.Provider("flat-k8s", kubeconfig="/dev/null")
        opts = pulumi.ResourceOptions(provider=provider)
        for i in range(n - 1):
            k8s.core.v1.Namespace(f"ns-{i}", metadata={"name": f"ns-{i}", "labels": {"a": "b"}}, opts=opts)

    _run_flat(program)


def best_of(fn: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(sizes: list[tuple[int, int]], reps: int) -> list[dict[str, Any]]:
    rows = []
    for teams, pools in sizes:
        stack = loaded(teams, pools)
        n = len(plan(stack).resources)  # warm-up, and the resource count the floor must match
        t_plan = best_of(lambda s=stack: plan(s), reps)
        t_bare = best_of(lambda n=n: bare(n), reps)
        t_typed = best_of(lambda n=n: typed(n), reps)
        rows.append(
            {
                "teams": teams,
                "pools": pools,
                "resources": n,
                "plan_s": t_plan,
                "bare_s": t_bare,
                "typed_s": t_typed,
                "ratio": t_plan / t_bare,
                "typed_ratio": t_plan / t_typed,
                "plan_ms_per_resource": 1000 * t_plan / n,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    parser.add_argument("--smoke", action="store_true", help="two tiny sizes, once: checks it runs, times not judged")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    sizes, reps = (SMOKE_SIZES, 1) if args.smoke else (QUICK_SIZES, 3) if args.quick else (SIZES, 5)
    console = Console()
    with console.status("planning stacks of growing size…"):
        rows = run(sizes, reps)
    table = Table(title=f"offline plan vs the SDK floors (median of {reps} runs)", title_justify="left")
    cols = ("teams x pools", "resources", "aistack plan", "bare floor", "ratio", "typed floor", "ratio", "ms/resource")
    for col in cols:
        table.add_column(col, justify="right", overflow="fold")
    for r in rows:
        table.add_row(
            f"{r['teams']} x {r['pools']}",
            str(r["resources"]),
            f"{r['plan_s']:.3f} s",
            f"{r['bare_s']:.3f} s",
            f"{r['ratio']:.2f}x",
            f"{r['typed_s']:.3f} s",
            f"{r['typed_ratio']:.2f}x",
            f"{r['plan_ms_per_resource']:.2f}",
        )
    console.print(table)
    first, last = rows[0], rows[-1]
    growth = (last["plan_s"] / first["plan_s"]) / (last["resources"] / first["resources"])
    console.print(
        f"growth: {last['resources'] / first['resources']:.0f}x the resources took "
        f"{last['plan_s'] / first['plan_s']:.1f}x the time (1.0 per resource = linear; got {growth:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
