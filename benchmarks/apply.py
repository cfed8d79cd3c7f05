"""`pulumi up` of the local platform vs `kubectl apply --server-side` of the same objects, as a ratio.

Two sizes, each a pair of fresh local clusters per round (same binaries, same fake nodes):

* **full** (the default when an upstream mirror is there: ``AISTACK_MIRROR`` or ../shared/mirror): the
  `local` stack with every upstream installed from the mirror (GPU Operator, Kueue, kube-prometheus-stack,
  Kubeflow with cert-manager/Istio/Dex/oauth2-proxy, local-path, NFS CSI, SeaweedFS, MetalLB), thousands
  of objects. The cluster starts with its nodes only: the charts bring their CRDs.
* **small**: the CRDs-only route (``upstream.install: false``): aistack's own objects on the upstream CRDs,
  which are installed before either tool runs.

Round A runs `pulumi up -s local --yes --skip-preview` as `aistack local deploy` does (the CLI in the
project directory with the language host; the Automation API where there is none), timed from the
command's start to its end. The objects it applied are then read back from its state (`pulumi stack
export --show-secrets`: every custom ``kubernetes:`` resource, its checked inputs, which are what the
provider sends, with the name and namespace the provider defaulted taken from its outputs; server-set
fields and ``pulumi.com/`` annotations dropped) and written one file each, in the state's order (a
dependency order). Partial objects (``…Patch`` resources, e.g. the GPU nodes' labels and taints) are
applied the way the provider applies them: a server-side apply of the partial object.

Round B, on a new cluster, applies those files with `kubectl apply --server-side --force-conflicts`:
CRDs and Namespaces first, then (once discovery lists every CRD; kubectl does not retry a `no matches
for kind`) everything else in one call per pass, a second and third pass for the files that failed
(a kind whose CRD or APIService became served later). Two times are kept: the applies alone, and the
applies plus a wait for what the provider waits for (Deployments, StatefulSets and DaemonSets rolled
out, Jobs complete, Pods ready, Services with a selector given a ready endpoint, claims bound,
quotas counted; ``pulumi.com/skipAwait`` objects excluded), so the comparison is fair either way.

    python -m benchmarks.apply [--size small|full] [--rounds N] [--smoke]

``--smoke`` (run by `make test`): one small round, nothing written. Other runs write this size's
results into results-apply.json, keeping the other size's. Goal: ratio ≤ 2×.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aistack.local import cluster, deploy, seed, upstream
from components.spec import load_stack

RESULTS = Path(__file__).with_name("results-apply.json")
GOAL = 2.0
STACK = "local"
SIZES = ("small", "full")
# Every download goes to a closed loopback port (as in tests/test_e2e_local.py): a run that reaches for
# the internet fails fast instead of waiting on a timeout.
CLOSED = "http://127.0.0.1:9"
OFFLINE = {
    **{k: CLOSED for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
# Fields the API server sets: never part of what a tool applies.
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
# Pulumi's wire format for a secret (pulumi/runtime/rpc.py); `stack export --show-secrets` gives its plaintext.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
FIRST = ("CustomResourceDefinition", "Namespace")
# What pulumi-kubernetes waits for after a create (provider/pkg/await/awaiters.go), by kind.
AWAITED = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Job": "jobs",
    "Pod": "pods",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "ResourceQuota": "resourcequotas",
}
PULUMI_TIMEOUT_S = 3600
UP_ARGS = ("up", "--yes", "--skip-preview")  # as `aistack local deploy` runs it
WAIT_TIMEOUT_S = 1200
PROGRESS_EVERY_S = 20.0

err = Console(stderr=True, highlight=False)


def progress(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}", soft_wrap=True)


def _program() -> None:
    from components.program import main

    main()


# ------------------------------------------------------------------ clusters


def kubectl_argv(bin_dir: Path, layout: cluster.Layout, *args: str) -> list[str]:
    return [str(bin_dir / "kubectl"), f"--kubeconfig={layout.kubeconfig}", *args]


def fresh(bin_dir: Path, root: Path, *, crds: bool) -> cluster.Layout:
    """A new cluster under ``root`` with the stack's fake nodes Ready (and the upstream CRDs served when
    ``crds``): both tools start from the same state, outside the timed part."""
    layout = cluster.up(bin_dir, cluster.Layout(root))
    docs = list(seed.crd_documents()) if crds else []
    if docs:
        seed.apply(layout.kubeconfig, docs)
    nodes = seed.fake_nodes(load_stack(STACK).spec)
    seed.apply(layout.kubeconfig, nodes)
    _wait_nodes_ready(bin_dir, layout, len(nodes))
    if docs:
        _wait_discoverable(bin_dir, layout, docs)
    return layout


def _wait_nodes_ready(bin_dir: Path, layout: cluster.Layout, count: int, timeout: float = 120) -> None:
    argv = kubectl_argv(bin_dir, layout, "get", "nodes", "-o", "json")
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        items = json.loads(out)["items"] if out.strip() else []
        ready = [n for n in items if _condition(n, "Ready")]
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ready)} of {count} fake nodes Ready after {timeout:.0f} s")
        time.sleep(0.2)


def _wait_discoverable(bin_dir: Path, layout: cluster.Layout, crds: list[dict[str, Any]], timeout: float = 120) -> None:
    """Until the API server's discovery lists every CRD just installed. An Established CRD can still be missing
    from discovery for a moment, and kubectl (unlike the Pulumi provider) does not retry: `no matches for kind`."""
    wanted = {f"{d['spec']['names']['plural']}.{d['spec']['group']}" for d in crds}
    argv = kubectl_argv(bin_dir, layout, "api-resources", "-o", "name")
    deadline = time.monotonic() + timeout
    while True:
        listed = set(subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split())
        missing = wanted - listed
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not discoverable after {timeout:.0f} s: {sorted(missing)[:5]}")
        time.sleep(0.2)


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def api_requests(bin_dir: Path, layout: cluster.Layout) -> Counter[str]:
    """The API server's request counts so far (``apiserver_request_total``), by verb and by
    ``verb resource[/subresource]``: what each tool asked of it, the controllers' requests included."""
    out = subprocess.run(
        kubectl_argv(bin_dir, layout, "get", "--raw", "/metrics"), capture_output=True, text=True, check=False
    ).stdout
    return parse_requests(out)


def parse_requests(metrics: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in metrics.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        n = int(float(line.rsplit(" ", 1)[1]))
        what = labels.get("resource") or "(non-resource)"
        if labels.get("subresource"):
            what += "/" + labels["subresource"]
        counts[labels.get("verb", "?")] += n
        counts[f"{labels.get('verb', '?')} {what}"] += n
    return counts


def request_delta(before: Counter[str], after: Counter[str], top: int = 20) -> dict[str, int]:
    """Per verb (all of them), then the busiest ``verb resource`` pairs."""
    delta = after - before
    verbs = {k: v for k, v in delta.most_common() if " " not in k}
    pairs = [(k, v) for k, v in delta.most_common() if " " in k][:top]
    return {"total": sum(verbs.values()), **verbs, **dict(pairs)}


# ------------------------------------------------------------------ where the CPU goes


def cpu_label(argv: list[str]) -> str | None:
    """Which part of a round a process is, from its command line (None: not one we count)."""
    if not argv or not argv[0]:
        return None
    name = Path(argv[0]).name
    if name == "pulumi":
        return "pulumi engine"
    if name.startswith("pulumi-resource-"):
        return "kubernetes provider"
    if name.startswith("pulumi-language-") or any(Path(a).name == deploy.EXEC_SHIM for a in argv[1:2]):
        return "program (language host)"
    if name in (*cluster.COMPONENTS, "kubectl"):
        return name
    if cluster.PROVISIONER_MODULE in argv:
        return "provisioner"
    return None


class CpuSampler:
    """CPU seconds (user + system) of this process's descendants, summed by :func:`cpu_label`, sampled
    from /proc every ``interval`` (a process's last fraction of a second before it exits is lost).
    Counts only what this benchmark started: other work on the machine is not in it."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.seen, self.labels = interval, dict[int, float](), dict[int, str]()
        self.baseline: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> dict[int, float]:
        stats: dict[int, tuple[int, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rfind(")") + 2 :].split()  # after "pid (comm) "
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / self._tick)
        me, mine = os.getpid(), {}
        for pid, (ppid, cpu) in stats.items():
            chain, parent = 0, ppid
            while parent not in (me, 0, 1) and parent in stats and chain < 64:
                parent, chain = stats[parent][0], chain + 1
            if parent == me:
                mine[pid] = cpu
        return mine

    def _record(self) -> None:
        for pid, cpu in self._sample().items():
            if pid not in self.labels:
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
                except OSError:
                    continue
                label = cpu_label(argv)
                if label is None:
                    continue
                self.labels[pid] = label
            self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def __enter__(self) -> CpuSampler:
        self._record()
        self.baseline = dict(self.seen)  # what the cluster's processes had used before the timed part
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._record()

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, cpu in self.seen.items():
            out[self.labels[pid]] = out.get(self.labels[pid], 0.0) + cpu - self.baseline.get(pid, 0.0)
        return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


# ------------------------------------------------------------------ what Pulumi applied, as manifests


@dataclass
class Manifests:
    """The objects of one `pulumi up`, as kubectl is to apply them (state order)."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    patches: list[dict[str, Any]] = field(default_factory=list)  # partial objects (`…Patch` resources)
    skip_await: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, namespace, name)
    wait_for: dict[tuple[str, str, str], str] = field(default_factory=dict)  # pulumi.com/waitFor expressions

    @property
    def crds(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == "CustomResourceDefinition"]

    def by_kind(self) -> Counter[str]:
        return Counter(o["kind"] for o in self.objects)


def _reveal(value: Any) -> Any:
    """A state value with every secret replaced by its plaintext (`--show-secrets` keeps the wrapper)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) is not None and "plaintext" in value:
            return _reveal(json.loads(value["plaintext"]))
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def as_manifest(inputs: dict[str, Any], outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What the provider applied for one resource: its checked inputs, named as its outputs are (an
    autoname, a defaulted namespace), without server-set fields or Pulumi's own annotations; and the
    ``pulumi.com/`` annotations it had."""
    obj = {k: v for k, v in _reveal(inputs).items() if not k.startswith("__") and k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    live = outputs.get("metadata") or {}
    for key in ("name", "namespace"):
        if key not in meta and live.get(key):
            meta[key] = live[key]
    annotations = dict(meta.pop("annotations", None) or {})
    pulumi_annotations = {k: str(v) for k, v in annotations.items() if k.startswith("pulumi.com/")}
    kept = {k: v for k, v in annotations.items() if not k.startswith("pulumi.com/")}
    if kept:
        meta["annotations"] = kept
    obj["metadata"] = meta
    return {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), **obj}, pulumi_annotations


def manifests_from_state(resources: list[dict[str, Any]]) -> Manifests:
    found = Manifests()
    for r in resources:
        kind_of = str(r.get("type", ""))
        if not kind_of.startswith("kubernetes:") or not r.get("custom") or r.get("delete"):
            continue
        inputs, outputs = r.get("inputs") or {}, r.get("outputs") or {}
        if "apiVersion" not in inputs or "kind" not in inputs:
            continue  # not a single object (a Helm release, say)
        obj, annotations = as_manifest(inputs, outputs)
        key = (str(obj["kind"]), str(obj["metadata"].get("namespace", "")), str(obj["metadata"].get("name", "")))
        if annotations.get("pulumi.com/skipAwait") == "true":
            found.skip_await.add(key)
        if annotations.get("pulumi.com/waitFor"):
            found.wait_for[key] = annotations["pulumi.com/waitFor"]
        (found.patches if kind_of.endswith("Patch") else found.objects).append(obj)
    return found


def export_state(bin_dir: Path, state: Path) -> list[dict[str, Any]]:
    """The stack's resources, secrets in plaintext (`pulumi stack export --show-secrets` in the work dir)."""
    argv = [str(bin_dir / "pulumi"), "stack", "export", "--show-secrets", "-s", STACK]
    env = {**os.environ, **deploy.engine_env(bin_dir, state)}
    out = subprocess.run(argv, cwd=deploy.work_dir(state), env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"pulumi stack export: {out.stderr.strip()}")
    return list(json.loads(out.stdout)["deployment"].get("resources") or [])


def write_files(manifests: Manifests, out: Path) -> tuple[Path, Path]:
    """CRDs and Namespaces into ``out/1-first``, everything else into ``out/2-rest`` (patches last), one
    file per object, numbered in state order: kubectl reads a directory in name order."""
    first, rest = out / "1-first", out / "2-rest"
    first.mkdir(parents=True)
    rest.mkdir(parents=True)
    for i, obj in enumerate([*manifests.objects, *manifests.patches]):
        folder = first if obj["kind"] in FIRST and i < len(manifests.objects) else rest
        (folder / f"{i:05d}-{str(obj['kind']).lower()}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    return first, rest


# ------------------------------------------------------------------ round A: pulumi up


@dataclass
class PulumiRun:
    seconds: float
    route: str
    changes: dict[str, int]
    manifests: Manifests
    resources: int  # everything in the state (components and the provider included)
    slowest: list[tuple[float, str]]  # (seconds, "type name") of the slowest steps, from pulumi's output
    cpu: dict[str, float]  # CPU seconds by process during `pulumi up` (CpuSampler)
    requests: dict[str, int]  # API server requests during it (request_delta)
    noop_s: float | None = None  # a second `pulumi up` right after, with nothing to change (CLI route only)


@contextlib.contextmanager
def offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in OFFLINE}
    os.environ.update(OFFLINE)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Ticker:
    """A progress line every PROGRESS_EVERY_S while a long command streams its output."""

    def __init__(self, label: str) -> None:
        self.label, self.t0, self.last, self.lines, self.latest = label, time.monotonic(), time.monotonic(), 0, ""
        self.done = 0

    def __call__(self, line: str) -> None:
        self.lines += 1
        text = line.strip()
        if text:
            self.latest = text
        if re.search(r"\b(created|updated)\b", text):
            self.done += 1
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            progress(f"{self.label}: {now - self.t0:.0f} s, {self.done} steps done; {self.latest[:110]}")


# `  +  kubernetes:apps/v1:Deployment name created (12s)` (pulumi's non-interactive diff display)
STEP_LINE = re.compile(r"^\s*[+~-]+\s+(\S+)\s+(\S+)\s+(?:created|updated)\s+\((\d+(?:\.\d+)?)s\)")


def slowest_steps(lines: list[str], top: int = 8) -> list[tuple[float, str]]:
    found = []
    for line in lines:
        m = STEP_LINE.match(line)
        if m and m.group(1) != "pulumi:pulumi:Stack":  # the whole update, not a step
            found.append((float(m.group(3)), f"{m.group(1)} {m.group(2)}"))
    return sorted(found, reverse=True)[:top]


def pulumi_round(bin_dir: Path, size: str, overrides: dict[str, Any] | None, label: str) -> PulumiRun:
    with tempfile.TemporaryDirectory(prefix="bench-pulumi-") as tmp:
        state = Path(tmp)
        progress(f"{label}: fresh cluster (nodes{' and upstream CRDs' if size == 'small' else ' only'})")
        layout = fresh(bin_dir, state, crds=size == "small")
        try:
            host = deploy.language_host(bin_dir)
            tick = Ticker(f"{label}: pulumi up")
            if host is not None:
                cli = deploy.Cli.for_stack(
                    STACK, bin_dir, state=state, kubeconfig=layout.kubeconfig, upstream=overrides
                )
                cli.ensure_stack()
                route = "pulumi up (CLI, language host)"
                progress(f"{label}: pulumi {' '.join(UP_ARGS)} -s {STACK}")
                before = api_requests(bin_dir, layout)
                with offline(), CpuSampler() as cpu:
                    t0 = time.perf_counter()
                    outcome = cli.run(*UP_ARGS, on_line=tick, timeout=PULUMI_TIMEOUT_S)
                    seconds = time.perf_counter() - t0
                if outcome.rc != 0:
                    errors = [line for line in outcome.output if "error" in line.lower()][:15]
                    lines_ = "\n".join(errors)
                    raise RuntimeError(
                        f"pulumi up exited {outcome.rc}; its first errors:\n{lines_}\n…\n{outcome.tail(20)}"
                    )
                changes, lines = outcome.changes, outcome.output
                with offline():  # what a user's rerun costs: everything read and diffed, nothing changed
                    t0 = time.perf_counter()
                    again = cli.run(*UP_ARGS, timeout=PULUMI_TIMEOUT_S)
                    noop_s: float | None = time.perf_counter() - t0
                if again.rc != 0 or set(again.changes) - {"same"}:
                    raise RuntimeError(f"the second pulumi up was not a no-op: exit {again.rc}, {again.changes}")
            else:
                noop_s = None
                stack = deploy.select(
                    STACK, bin_dir, _program, state=state, kubeconfig=layout.kubeconfig, upstream=overrides
                )
                route = "pulumi up (Automation API, no language host)"
                progress(f"{label}: pulumi up through the Automation API (no language host)")
                lines = []

                def collect(line: str) -> None:
                    lines.append(line.rstrip("\n"))
                    tick(line)

                before = api_requests(bin_dir, layout)
                with offline(), CpuSampler() as cpu:
                    t0 = time.perf_counter()
                    result = stack.up(on_output=collect)
                    seconds = time.perf_counter() - t0
                changes = {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}
            requests = request_delta(before, api_requests(bin_dir, layout))
            progress(f"{label}: pulumi up {seconds:.1f} s ({changes}); exporting its state")
            resources = export_state(bin_dir, state)
            found = manifests_from_state(resources)
            slowest = slowest_steps(lines)
            return PulumiRun(seconds, route, changes, found, len(resources), slowest, cpu.totals(), requests, noop_s)
        finally:
            cluster.down(layout)


# ------------------------------------------------------------------ round B: kubectl apply --server-side


@dataclass
class KubectlRun:
    apply_s: float
    wait_s: float  # apply and wait, from the first apply
    applied: int
    passes: int
    failed: list[str]  # the errors of the objects no pass could apply
    waited: int
    late: list[str]  # what never became ready (a timed-out wait)
    cpu_apply: dict[str, float]  # CPU seconds by process during the applies (CpuSampler)
    cpu_wait: dict[str, float]  # and during the wait after them
    requests: dict[str, int]  # API server requests during the applies and the wait (request_delta)


def _apply(argv: list[str], folder: Path | list[Path]) -> tuple[int, list[Path], list[str]]:
    """One `kubectl apply --server-side` call; (objects applied, the files that failed, their errors)."""
    paths = folder if isinstance(folder, list) else [folder]
    result = subprocess.run([*argv, *(a for p in paths for a in ("-f", str(p)))], capture_output=True, text=True)
    applied = sum(1 for line in result.stdout.splitlines() if line.strip().endswith("serverside-applied"))
    if result.returncode == 0:
        return applied, [], []
    roots = sorted({str(p if p.is_dir() else p.parent) for p in paths})
    pattern = re.compile("(" + "|".join(re.escape(r) for r in roots) + r")/[0-9]{5}-[a-z0-9.]+\.yaml")
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    failed = sorted({Path(m.group(0)) for line in errors for m in [pattern.search(line)] if m})
    if not failed:  # an error kubectl did not tie to a file: nothing to retry
        raise RuntimeError(f"kubectl apply failed:\n{result.stderr[-3000:]}")
    return applied, failed, errors


def apply_all(
    bin_dir: Path,
    layout: cluster.Layout,
    argv: list[str],
    folders: tuple[Path, Path],
    crds: list[dict[str, Any]],
    label: str,
) -> tuple[int, int, list[str]]:
    """CRDs and Namespaces, then (once discovery lists the CRDs) the rest, then up to two more passes over
    the files that failed. (objects applied, passes, the errors of what no pass applied)."""
    first, rest = folders
    applied, failed, errors = _apply(argv, first) if any(first.iterdir()) else (0, [], [])
    if crds:
        _wait_discoverable(bin_dir, layout, crds)
    more, failed_rest, errors_rest = _apply(argv, rest)
    applied, failed, errors = applied + more, failed + failed_rest, errors + errors_rest
    passes = 1
    while failed and passes < 3:
        passes += 1
        progress(f"{label}: pass {passes} for {len(failed)} objects kubectl could not apply yet")
        time.sleep(2)  # a kind whose CRD or APIService is still becoming served
        more, failed, errors = _apply(argv, failed)
        applied += more
    return applied, passes, errors if failed else []


def kubectl_round(bin_dir: Path, size: str, manifests: Manifests, label: str) -> KubectlRun:
    with tempfile.TemporaryDirectory(prefix="bench-kubectl-") as tmp:
        root = Path(tmp)
        first, rest = write_files(manifests, root / "manifests")
        progress(f"{label}: fresh cluster (nodes{' and upstream CRDs' if size == 'small' else ' only'})")
        layout = fresh(bin_dir, root / "cluster", crds=size == "small")
        try:
            argv = kubectl_argv(bin_dir, layout, "apply", "--server-side", "--force-conflicts")
            total = len(manifests.objects) + len(manifests.patches)
            progress(f"{label}: kubectl apply --server-side of {total} objects")
            before = api_requests(bin_dir, layout)
            t0 = time.perf_counter()
            with CpuSampler() as cpu_apply:
                applied, passes, errors = apply_all(bin_dir, layout, argv, (first, rest), manifests.crds, label)
            apply_s = time.perf_counter() - t0
            waits = awaited(manifests)
            progress(f"{label}: applied {applied} in {apply_s:.1f} s; waiting for {len(waits)} objects to be ready")
            with CpuSampler() as cpu_wait:
                late = wait_ready(bin_dir, layout, waits, manifests.wait_for, label)
            wait_s = time.perf_counter() - t0
            requests = request_delta(before, api_requests(bin_dir, layout))
            cpu = (cpu_apply.totals(), cpu_wait.totals())
            return KubectlRun(apply_s, wait_s, applied, passes, errors, len(waits), late, *cpu, requests)
        finally:
            cluster.down(layout)


# ------------------------------------------------------------------ waiting as the provider waits


def awaited(manifests: Manifests) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object the provider waits for after creating it."""
    keys = []
    for obj in manifests.objects:
        kind, meta = str(obj["kind"]), obj["metadata"]
        key = (kind, str(meta.get("namespace") or "default"), str(meta["name"]))
        if kind not in AWAITED or (kind, str(meta.get("namespace", "")), key[2]) in manifests.skip_await:
            continue
        if kind == "Service":
            spec = obj.get("spec") or {}
            # Pulumi waits for pods behind a Service only with a selector, not headless, not ExternalName.
            if spec.get("type") == "ExternalName":
                continue
        keys.append(key)
    return keys


def _replicas(obj: dict[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def is_ready(kind: str, obj: dict[str, Any], live: dict[str, dict[tuple[str, str], dict[str, Any]]]) -> bool:
    """The provider's success condition for one object (provider/pkg/await), read from a `kubectl get`."""
    st, meta = obj.get("status") or {}, obj["metadata"]
    current = int(st.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
    if kind == "Deployment":
        want = _replicas(obj)
        return current and st.get("updatedReplicas", 0) == want and st.get("availableReplicas", 0) == want
    if kind == "StatefulSet":
        want = _replicas(obj)
        revision = st.get("currentRevision") == st.get("updateRevision") or st.get("updatedReplicas", 0) == want
        return current and st.get("readyReplicas", 0) == want and revision
    if kind == "DaemonSet":
        desired = st.get("desiredNumberScheduled")
        scheduled = st.get("updatedNumberScheduled", 0)
        return current and desired is not None and st.get("numberReady") == desired == scheduled
    if kind == "Job":
        return _condition(obj, "Complete")
    if kind == "Pod":
        return st.get("phase") == "Succeeded" or _condition(obj, "Ready")
    if kind == "Service":
        spec = obj.get("spec") or {}
        if spec.get("type") == "LoadBalancer" and not (st.get("loadBalancer") or {}).get("ingress"):
            return False
        if not spec.get("selector") or spec.get("clusterIP") == "None":
            return True
        # The provider's rule (await/service.go): its Endpoints object exists and none of its addresses is
        # not ready; an Endpoints with no address at all passes (a Service whose pods nothing creates here).
        # Not copied: the 10 s the provider lets every Endpoints update settle before it trusts it.
        endpoints = live["Endpoints"].get((meta.get("namespace", ""), meta["name"]))
        subsets = (endpoints or {}).get("subsets") or []
        return endpoints is not None and not any(s.get("notReadyAddresses") for s in subsets)
    if kind == "PersistentVolumeClaim":
        phase = st.get("phase")
        cls = live["StorageClass"].get(("", str((obj.get("spec") or {}).get("storageClassName", ""))))
        if cls is not None and cls.get("volumeBindingMode") == "WaitForFirstConsumer":
            return phase in ("Pending", "Bound")
        return phase == "Bound"
    if kind == "ResourceQuota":
        hard = (obj.get("spec") or {}).get("hard") or {}
        return set(st.get("hard") or {}) == set(hard)
    return True


def wait_ready(
    bin_dir: Path,
    layout: cluster.Layout,
    keys: list[tuple[str, str, str]],
    wait_for: dict[tuple[str, str, str], str],
    label: str,
    timeout: float = WAIT_TIMEOUT_S,
) -> list[str]:
    """Poll (one `kubectl get` of every awaited kind a round) until each object is ready; what is not by
    ``timeout``. Objects with a ``pulumi.com/waitFor`` annotation are waited for with `kubectl wait`."""
    kinds = sorted({k for k, _, _ in keys})
    resources = [AWAITED[k] for k in kinds]
    if "Service" in kinds:
        resources.append("endpoints")
    if "PersistentVolumeClaim" in kinds:
        resources.append("storageclasses")
    argv = kubectl_argv(bin_dir, layout, "get", ",".join(resources), "-A", "-o", "json")
    deadline, last = time.monotonic() + timeout, time.monotonic()
    pending = set(keys)
    while pending and resources:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        live: dict[str, dict[tuple[str, str], dict[str, Any]]] = {"Endpoints": {}, "StorageClass": {}}
        for item in json.loads(out)["items"] if out.strip() else []:
            meta = item["metadata"]
            live.setdefault(item["kind"], {})[(meta.get("namespace", ""), meta["name"])] = item
        for key in list(pending):
            obj = live.get(key[0], {}).get(key[1:])
            if obj is not None and is_ready(key[0], obj, live):
                pending.discard(key)
        now = time.monotonic()
        if not pending or now > deadline:
            break
        if now - last >= PROGRESS_EVERY_S:
            last = now
            sample = ", ".join(f"{k.lower()} {ns}/{n}" for k, ns, n in sorted(pending)[:3])
            progress(f"{label}: {len(keys) - len(pending)} of {len(keys)} ready; waiting for {sample}")
        time.sleep(0.5)
    for (kind, ns, name), expr in wait_for.items():
        target = [f"{kind.lower()}/{name}", *(["-n", ns] if ns else [])]
        for one in json.loads(expr) if expr.startswith("[") else [expr]:
            left = max(1, int(deadline - time.monotonic()))
            cmd = kubectl_argv(bin_dir, layout, "wait", *target, f"--for={one}", f"--timeout={left}s")
            if subprocess.run(cmd, capture_output=True, text=True, check=False).returncode != 0:
                pending.add((kind, ns, name))
    return sorted(f"{k} {ns}/{n}" for k, ns, n in pending)


# ------------------------------------------------------------------ the run


def mirror_route() -> upstream.UpstreamRoute:
    """Where the full size takes the upstreams from: a mirror (AISTACK_MIRROR, ../shared/mirror), never the internet."""
    return upstream.decide(load_stack(STACK).spec, online=lambda: False)


def measure(bin_dir: Path, size: str, rounds: int, overrides: dict[str, Any] | None) -> dict[str, Any]:
    pulumi_runs: list[PulumiRun] = []
    kubectl_runs: list[KubectlRun] = []
    for i in range(rounds):
        label = f"[{size} {i + 1}/{rounds}]"
        run = pulumi_round(bin_dir, size, overrides, label)
        pulumi_runs.append(run)
        kubectl_runs.append(kubectl_round(bin_dir, size, run.manifests, label))
        k = kubectl_runs[-1]
        progress(f"{label}: pulumi {run.seconds:.1f} s, kubectl apply {k.apply_s:.1f} s, apply+wait {k.wait_s:.1f} s")
    last = pulumi_runs[-1]
    med_p = statistics.median(r.seconds for r in pulumi_runs)
    med_a = statistics.median(r.apply_s for r in kubectl_runs)
    med_w = statistics.median(r.wait_s for r in kubectl_runs)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "size": size,
        "upstream": overrides,
        "route": last.route,
        "objects": len(last.manifests.objects),
        "patches": len(last.manifests.patches),
        "state_resources": last.resources,
        "objects_by_kind": dict(last.manifests.by_kind().most_common()),
        "pulumi_changes": last.changes,
        "rounds": rounds,
        "pulumi_up_s": [r.seconds for r in pulumi_runs],
        "pulumi_noop_up_s": [r.noop_s for r in pulumi_runs if r.noop_s is not None],
        "kubectl_apply_s": [r.apply_s for r in kubectl_runs],
        "kubectl_apply_wait_s": [r.wait_s for r in kubectl_runs],
        "kubectl_objects_applied": [r.applied for r in kubectl_runs],
        "kubectl_passes": [r.passes for r in kubectl_runs],
        "kubectl_failed": kubectl_runs[-1].failed[:20],
        "kubectl_awaited": kubectl_runs[-1].waited,
        "kubectl_never_ready": kubectl_runs[-1].late[:20],
        "median_pulumi_s": med_p,
        "median_kubectl_apply_s": med_a,
        "median_kubectl_apply_wait_s": med_w,
        "ratio_vs_apply": med_p / med_a,
        "ratio_vs_apply_wait": med_p / med_w,
        "goal_ratio": GOAL,
        "slowest_pulumi_steps": [f"{s:.0f} s {what}" for s, what in last.slowest],
        "cpu_s_pulumi_up": last.cpu,
        "cpu_s_kubectl_apply": kubectl_runs[-1].cpu_apply,
        "cpu_s_kubectl_wait": kubectl_runs[-1].cpu_wait,
        "api_requests_pulumi_up": last.requests,
        "api_requests_kubectl": kubectl_runs[-1].requests,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def show(result: dict[str, Any], console: Console) -> None:
    where = "upstreams from the mirror" if result["size"] == "full" else "CRDs only"
    title = (
        f"local platform, {result['size']} ({where}): {result['objects']} objects"
        f" + {result['patches']} patches, median of {result['rounds']}"
    )
    console.print(title, soft_wrap=True, markup=False)
    table = Table()
    for col in ("tool", "median s", "runs"):
        table.add_column(col)

    def runs(xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    table.add_row(
        "kubectl apply --server-side", f"{result['median_kubectl_apply_s']:.2f}", runs(result["kubectl_apply_s"])
    )
    table.add_row(
        "kubectl apply + wait for readiness",
        f"{result['median_kubectl_apply_wait_s']:.2f}",
        runs(result["kubectl_apply_wait_s"]),
    )
    table.add_row(result["route"], f"{result['median_pulumi_s']:.2f}", runs(result["pulumi_up_s"]))
    if result.get("pulumi_noop_up_s"):
        noop = result["pulumi_noop_up_s"]
        table.add_row("pulumi up again (no-op)", f"{statistics.median(noop):.2f}", runs(noop))
    console.print(table)
    console.print(
        f"ratio pulumi/kubectl: {result['ratio_vs_apply']:.2f}× vs apply only, "
        f"{result['ratio_vs_apply_wait']:.2f}× vs apply + wait (goal ≤ {GOAL:g}×)",
        soft_wrap=True,
    )
    if result["kubectl_failed"]:
        failed = result["kubectl_failed"]
        console.print(f"kubectl could not apply {len(failed)}: {failed[:3]}", soft_wrap=True, markup=False)
    if result["kubectl_never_ready"]:
        late = result["kubectl_never_ready"]
        console.print(f"never ready after kubectl: {late[:5]}", soft_wrap=True, markup=False)
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in result["cpu_s_pulumi_up"].items() if v >= 0.5)
    console.print(f"CPU seconds during pulumi up: {cpu or 'none sampled'}", soft_wrap=True, markup=False)


def save(result: dict[str, Any], path: Path = RESULTS) -> None:
    """This size's result into the file, the other size's kept (a file in the old one-size layout is dropped)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        data = {}
    data = {k: data[k] for k in SIZES if isinstance(data.get(k), dict)}
    data[result["size"]] = result
    ordered = {"goal_ratio": GOAL, **{k: data[k] for k in SIZES if k in data}}
    path.write_text(json.dumps(ordered, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    from aistack.cli.local import tools_bin

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size", choices=SIZES, help="default: full when an upstream mirror is there, else small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one small round, results not written (make test)")
    args = parser.parse_args(argv)
    bin_dir = tools_bin()
    console = Console()
    if args.smoke:
        args.size, args.rounds = "small", 1
    overrides: dict[str, Any] | None = {"install": False}
    if args.size != "small":
        route = mirror_route()
        if route.kind == "mirror":
            args.size, overrides = "full", route.overrides()
            console.print(route.why, soft_wrap=True)
        else:
            console.print(
                "no upstream mirror (AISTACK_MIRROR or ../shared/mirror beside the checkout): the full size needs "
                "one, so the small size (CRDs only) only",
                soft_wrap=True,
            )
            args.size = "small"
    result = measure(bin_dir, args.size, args.rounds, overrides)
    if not args.smoke:
        save(result)
    show(result, console)
    if result["slowest_pulumi_steps"] and not args.smoke:
        steps = "; ".join(result["slowest_pulumi_steps"][:5])
        console.print(f"slowest pulumi steps: {steps}", soft_wrap=True, markup=False)


if __name__ == "__main__":
    main(sys.argv[1:])
