"""Every benchmark runs once at a tiny size inside `make test`, so none can rot unnoticed (the timed
runs are `make bench`). Their timings are not judged here; what they compute from the timings is:
ratios and medians from hand-made timings, a row for every size, resource counts that grow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need
from tests.test_e2e_local import tools_bin


def bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_plan_scale_smoke(tmp_path: Path) -> None:
    from benchmarks.plan_scale import SMOKE_SIZES

    out = tmp_path / "rows.json"
    result = bench("plan_scale", "--smoke", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())
    assert [(r["teams"], r["pools"]) for r in rows] == SMOKE_SIZES  # a row for every size, in order
    counts = [r["resources"] for r in rows]
    assert counts == sorted(set(counts)), f"more teams and pools, more resources: {counts}"
    for r in rows:
        assert r["ratio"] == r["plan_s"] / r["bare_s"] and r["typed_ratio"] == r["plan_s"] / r["typed_s"]
        assert r["plan_ms_per_resource"] == 1000 * r["plan_s"] / r["resources"]
    # every row is in the printed table (rich folds cells, so compare without spaces and borders)
    printed = re.sub(r"[\s│┃|]+", "", result.stdout)
    for r in rows:
        assert f"{r['teams']}x{r['pools']}{r['resources']}" in printed


def test_plan_scale_rows_from_hand_made_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() with the timer replaced by hand-made medians (plan, bare floor, typed floor per size)."""
    from benchmarks import plan_scale

    timings = iter([0.2, 0.05, 0.1, 0.9, 0.3, 0.6])  # (1, 1): plan, bare, typed; then (2, 2)
    monkeypatch.setattr(plan_scale, "best_of", lambda fn, reps: next(timings))
    small, large = plan_scale.run([(1, 1), (2, 2)], reps=1)
    assert (small["plan_s"], small["bare_s"], small["typed_s"]) == (0.2, 0.05, 0.1)
    assert small["ratio"] == pytest.approx(4.0) and small["typed_ratio"] == pytest.approx(2.0)
    assert large["ratio"] == pytest.approx(3.0) and large["typed_ratio"] == pytest.approx(1.5)
    assert small["plan_ms_per_resource"] == pytest.approx(200 / small["resources"])
    assert large["plan_ms_per_resource"] == pytest.approx(900 / large["resources"])
    # 2 teams and 2 pools hold more than 1 and 1: a team namespace and queue, a pool flavor at least
    assert large["resources"] >= small["resources"] + 3


@pytest.mark.e2e
def test_apply_smoke() -> None:
    if tools_bin() is None:
        need("tools", "engine and cluster tools not built here (scripts/tools.sh)")
    before = (ROOT / "benchmarks" / "results-apply.json").read_text()
    result = bench("apply", "--smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    flat = " ".join(result.stdout.split())
    found = re.search(r"ratio pulumi/kubectl: ([0-9.]+)× vs apply only, ([0-9.]+)× vs apply \+ wait", flat)
    assert found and float(found.group(1)) > 0 and float(found.group(2)) > 0, result.stdout
    assert (ROOT / "benchmarks" / "results-apply.json").read_text() == before, "smoke runs write no results"


def _pulumi_run(seconds: float) -> Any:
    from benchmarks.apply import Manifests, PulumiRun

    manifests = Manifests(objects=[{"kind": "Namespace"}, {"kind": "ConfigMap"}], patches=[{"kind": "Node"}])
    return PulumiRun(seconds, "pulumi up", {"create": 3}, manifests, 5, [(12.0, "x")], {"pulumi engine": 4.0}, {})


def _kubectl_run(apply_s: float, wait_s: float) -> Any:
    from benchmarks.apply import KubectlRun

    return KubectlRun(apply_s, wait_s, 2, 1, [], 1, [], {}, {}, {})


def test_apply_ratio_is_the_median_pulumi_time_over_the_median_kubectl_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """measure() and show() on hand-made rounds: medians 20 s (pulumi), 8 s (apply), 20 s (apply + wait)."""
    from rich.console import Console

    from benchmarks import apply

    pulumi_rounds = iter([_pulumi_run(s) for s in (30.0, 10.0, 20.0)])
    kubectl_rounds = iter([_kubectl_run(a, w) for a, w in ((5.0, 10.0), (8.0, 40.0), (10.0, 20.0))])
    monkeypatch.setattr(apply, "pulumi_round", lambda *a, **k: next(pulumi_rounds))
    monkeypatch.setattr(apply, "kubectl_round", lambda *a, **k: next(kubectl_rounds))
    monkeypatch.setattr(apply, "progress", lambda message: None)
    result = apply.measure(Path("/nonexistent"), "small", 3, {"install": False})
    assert (result["median_pulumi_s"], result["median_kubectl_apply_s"], result["median_kubectl_apply_wait_s"]) == (
        20.0,
        8.0,
        20.0,
    )
    assert result["ratio_vs_apply"] == 2.5 and result["ratio_vs_apply_wait"] == 1.0
    assert result["pulumi_up_s"] == [30.0, 10.0, 20.0] and result["kubectl_apply_s"] == [5.0, 8.0, 10.0]
    assert (result["objects"], result["patches"], result["rounds"]) == (2, 1, 3)
    console = Console(record=True, width=200)
    apply.show(result, console)
    text = console.export_text()
    assert "ratio pulumi/kubectl: 2.50× vs apply only, 1.00× vs apply + wait" in text
    assert "local platform, small (CRDs only): 2 objects + 1 patches, median of 3" in text


# ------------------------------------------------------------------ benchmarks/apply.py's own logic (no cluster)

SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": '"s3cr3t"'}


def state_resource(kind_of: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": kind_of, "custom": True, "inputs": inputs, "outputs": outputs or inputs}


def test_apply_manifests_are_what_the_provider_applied() -> None:
    from benchmarks.apply import manifests_from_state

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web"},
            "annotations": {"pulumi.com/skipAwait": "true", "team": "alpha"},
            "uid": "u",
            "resourceVersion": "7",
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
        "__initialApiVersion": "apps/v1",
    }
    resources = [
        {"type": "pulumi:providers:kubernetes", "custom": True, "inputs": {"kubeconfig": "x"}},
        {"type": "kubernetes:helm.sh/v4:Chart", "custom": False, "inputs": {}},
        state_resource("kubernetes:helm.sh/v3:Release", {"chart": "x"}),
        state_resource(
            "kubernetes:core/v1:Secret",
            {"apiVersion": "v1", "kind": "Secret", "metadata": {}, "stringData": {"key": SECRET}},
            {"metadata": {"name": "creds-1a2b", "namespace": "alpha"}},
        ),
        state_resource("kubernetes:apps/v1:Deployment", deployment),
        state_resource(
            "kubernetes:core/v1:NodePatch",
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-node-0", "labels": {"pool": "h100"}}},
            {"metadata": {"name": "gpu-node-0"}, "status": {"capacity": {}}},
        ),
    ]
    found = manifests_from_state(resources)
    assert [o["kind"] for o in found.objects] == ["Secret", "Deployment"]
    secret, web = found.objects
    # The autoname and the defaulted namespace from the outputs; the secret's plaintext.
    assert secret["metadata"] == {"name": "creds-1a2b", "namespace": "alpha"}
    assert secret["stringData"] == {"key": "s3cr3t"}
    assert web == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "alpha"}},
        "spec": {"replicas": 2},
    }
    assert found.skip_await == {("Deployment", "", "web")}
    assert found.patches == [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-node-0", "labels": {"pool": "h100"}}}
    ]


def test_apply_waits_for_what_the_provider_waits_for() -> None:
    from benchmarks.apply import Manifests, awaited, is_ready

    manifests = Manifests(
        objects=[
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "a"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "skip", "namespace": "a"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"type": "ExternalName"}},
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}},
        ],
        skip_await={("Deployment", "a", "skip")},
    )
    assert awaited(manifests) == [("Deployment", "a", "d"), ("Job", "default", "j")]
    live: dict[str, dict[tuple[str, str], dict[str, Any]]] = {"Endpoints": {}, "StorageClass": {}}
    meta = {"name": "d", "namespace": "a", "generation": 2}
    rolled = {"observedGeneration": 2, "updatedReplicas": 3, "availableReplicas": 3}
    assert is_ready("Deployment", {"metadata": meta, "spec": {"replicas": 3}, "status": rolled}, live)
    stale = {**rolled, "observedGeneration": 1}
    assert not is_ready("Deployment", {"metadata": meta, "spec": {"replicas": 3}, "status": stale}, live)
    complete = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert is_ready("Job", {"metadata": {"name": "j"}, "status": complete}, live)
    assert not is_ready("Job", {"metadata": {"name": "j"}, "status": {}}, live)
    svc = {"metadata": {"name": "s", "namespace": "a"}, "spec": {"selector": {"app": "s"}, "clusterIP": "10.96.0.9"}}
    assert not is_ready("Service", svc, live)  # no Endpoints object yet
    live["Endpoints"][("a", "s")] = {"subsets": [{"notReadyAddresses": [{"ip": "10.244.0.3"}]}]}
    assert not is_ready("Service", svc, live)
    live["Endpoints"][("a", "s")] = {"subsets": [{"addresses": [{"ip": "10.244.0.3"}]}]}
    assert is_ready("Service", svc, live)
    live["Endpoints"][("a", "s")] = {"metadata": {"name": "s"}}  # no pod selected: the provider passes it too
    assert is_ready("Service", svc, live)
    ds = {"observedGeneration": 1, "desiredNumberScheduled": 4, "numberReady": 4, "updatedNumberScheduled": 4}
    node_agent = {"name": "n", "generation": 1}
    assert is_ready("DaemonSet", {"metadata": node_agent, "status": ds}, live)
    assert not is_ready("DaemonSet", {"metadata": node_agent, "status": {**ds, "numberReady": 3}}, live)


def test_apply_results_keep_the_other_size(tmp_path: Path) -> None:
    from benchmarks.apply import GOAL, save

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"objects": 43, "ratio": 3.2}))  # the old one-size layout: dropped
    save({"size": "full", "ratio_vs_apply": 1.5}, path)
    save({"size": "small", "ratio_vs_apply": 3.0}, path)
    save({"size": "full", "ratio_vs_apply": 1.4}, path)
    data = json.loads(path.read_text())
    assert data == {
        "goal_ratio": GOAL,
        "small": {"size": "small", "ratio_vs_apply": 3.0},
        "full": {"size": "full", "ratio_vs_apply": 1.4},
    }


def test_apply_reads_the_slowest_steps_from_pulumis_output() -> None:
    from benchmarks.apply import slowest_steps

    lines = [
        "Updating (local):",
        " +  kubernetes:core/v1:Namespace alpha created (0.21s)",
        "    +  kubernetes:apps/v1:Deployment kueue-controller-manager created (31s)",
        " +  kubernetes:batch/v1:Job hook creating (2s)",
    ]
    assert slowest_steps(lines) == [
        (31.0, "kubernetes:apps/v1:Deployment kueue-controller-manager"),
        (0.21, "kubernetes:core/v1:Namespace alpha"),
    ]


def test_apply_counts_cpu_by_part_of_the_round() -> None:
    from benchmarks.apply import cpu_label

    tools = "/root/.cache/aistack/tools/x/bin"
    assert cpu_label([f"{tools}/pulumi", "up", "--yes"]) == "pulumi engine"
    assert cpu_label([f"{tools}/pulumi-resource-kubernetes", "127.0.0.1:1"]) == "kubernetes provider"
    assert cpu_label(["/repo/.venv/bin/python", f"{tools}/pulumi-language-python-exec", "--monitor"]) == (
        "program (language host)"
    )
    assert cpu_label([f"{tools}/kube-apiserver", "--etcd-servers=x"]) == "kube-apiserver"
    assert cpu_label([f"{tools}/kubectl", "apply"]) == "kubectl"
    assert cpu_label(["/usr/bin/python3", "-m", "aistack.local.provisioner"]) == "provisioner"
    assert cpu_label(["/bin/sh", "-c", "true"]) is None


def test_apply_counts_api_requests_by_verb_and_resource() -> None:
    from benchmarks.apply import parse_requests, request_delta

    before = parse_requests('apiserver_request_total{code="200",resource="pods",verb="LIST"} 4\n')
    after = parse_requests(
        "# HELP apiserver_request_total Counter of apiserver requests\n"
        'apiserver_request_total{code="200",resource="pods",subresource="",verb="LIST"} 10\n'
        'apiserver_request_total{code="201",resource="deployments",subresource="status",verb="PATCH"} 3\n'
        'apiserver_request_total{code="200",resource="",subresource="",verb="GET"} 2.0\n'
    )
    assert request_delta(before, after) == {
        "total": 11,
        "LIST": 6,
        "PATCH": 3,
        "GET": 2,
        "LIST pods": 6,
        "PATCH deployments/status": 3,
        "GET (non-resource)": 2,
    }
