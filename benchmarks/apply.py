"""`pulumi up` of the local platform vs `kubectl apply --server-side` of the same objects.

Both run against a fresh local cluster each round (same binaries, same CRDs and fake nodes):
the objects are those `aistack manifests local` writes, so the difference is the engine's own
cost (plan, state, per-resource awaits) over a plain server-side apply. Goal: ratio ≤ 3×.

    python -m benchmarks.apply [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aistack.cli.manifests import write_manifests
from aistack.local import cluster, deploy, seed
from aistack.offline import plan
from components.spec import load_stack

RESULTS = Path(__file__).with_name("results-apply.json")


def _program() -> None:
    from components.program import main

    main()


def fresh(bin_dir: Path, root: Path) -> cluster.Layout:
    layout = cluster.up(bin_dir, cluster.Layout(root))
    crds = list(seed.crd_documents())
    seed.apply(layout.kubeconfig, crds)
    seed.apply(layout.kubeconfig, seed.fake_nodes(load_stack("local").spec))
    _wait_discoverable(bin_dir, layout, crds)
    return layout


def _wait_discoverable(bin_dir: Path, layout: cluster.Layout, crds: list[dict[str, Any]], timeout: float = 60) -> None:
    """Until the API server's discovery lists every CRD just installed. An Established CRD can still be missing
    from discovery for a moment, and kubectl (unlike the Pulumi provider) does not retry: `no matches for kind`.
    Outside the timed part, so both tools start from the same ready cluster."""
    wanted = {f"{d['spec']['names']['plural']}.{d['spec']['group']}" for d in crds}
    argv = [str(bin_dir / "kubectl"), f"--kubeconfig={layout.kubeconfig}", "api-resources", "-o", "name"]
    deadline = time.monotonic() + timeout
    while True:
        listed = set(subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split())
        missing = wanted - listed
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not discoverable after {timeout:.0f} s: {sorted(missing)[:5]}")
        time.sleep(0.2)


def kubectl_round(bin_dir: Path, manifests: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        layout = fresh(bin_dir, Path(tmp))
        try:
            base = [str(bin_dir / "kubectl"), f"--kubeconfig={layout.kubeconfig}", "apply", "--server-side"]
            namespaces = [str(p) for p in sorted(manifests.glob("namespace-*.yaml"))]
            t0 = time.perf_counter()
            # Namespaces first, as any kubectl-based install must (kubectl does not order a directory by kind).
            for files in (namespaces, [str(manifests)]):
                args = [a for f in files for a in ("-f", f)]
                subprocess.run([*base, "--force-conflicts", *args], check=True, capture_output=True, text=True)
            return time.perf_counter() - t0
        finally:
            cluster.down(layout)


def pulumi_round(bin_dir: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        layout = fresh(bin_dir, Path(tmp))
        try:
            stack = deploy.select("local", bin_dir, _program, state=Path(tmp), kubeconfig=layout.kubeconfig)
            t0 = time.perf_counter()
            stack.up(on_output=lambda _: None)
            return time.perf_counter() - t0
        finally:
            cluster.down(layout)


def main() -> None:
    from aistack.cli.local import tools_bin

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one round, results not written (make test runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 1
    bin_dir = tools_bin()
    with tempfile.TemporaryDirectory() as out:
        objects = plan(load_stack("local")).kubernetes_objects()
        write_manifests(objects, Path(out))
        kubectl = [kubectl_round(bin_dir, Path(out)) for _ in range(args.rounds)]
    pulumi = [pulumi_round(bin_dir) for _ in range(args.rounds)]
    result = {
        "objects": len(objects),
        "rounds": args.rounds,
        "kubectl_apply_server_side_s": kubectl,
        "pulumi_up_s": pulumi,
        "median_kubectl_s": statistics.median(kubectl),
        "median_pulumi_s": statistics.median(pulumi),
        "ratio": statistics.median(pulumi) / statistics.median(kubectl),
        "goal_ratio": 3.0,
    }
    if not args.smoke:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"local platform, {len(objects)} objects, median of {args.rounds}", title_justify="left")
    for col in ("tool", "median s", "runs"):
        table.add_column(col)
    table.add_row(
        "kubectl apply --server-side", f"{result['median_kubectl_s']:.2f}", ", ".join(f"{x:.2f}" for x in kubectl)
    )
    table.add_row("pulumi up (aistack)", f"{result['median_pulumi_s']:.2f}", ", ".join(f"{x:.2f}" for x in pulumi))
    Console().print(table)
    Console().print(f"ratio pulumi/kubectl: {result['ratio']:.2f}× (goal ≤ 3×)")


if __name__ == "__main__":
    main()
