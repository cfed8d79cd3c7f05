"""End to end with the real Pulumi engine: the `local` stack, upstreams included, deployed into a
real Kubernetes API server whose nodes are KWOK fakes shaped like 8×H100 machines.

Deployed as a platform engineer does it: `pulumi up -s local`, `pulumi refresh`, `pulumi destroy`
run by the CLI in the project directory (its Python language host runs the program from the .venv),
against a file backend. The upstream charts and manifests come from the air-gapped mirror beside the
checkout (../shared/mirror), as `make demo` takes them, so the only differences from the committed
stack file are this module's own cluster and the mirror: the CLI reads a private copy of the config
through `--config-file`. The drift check goes through the Automation API against the same backend and
stack, as `aistack drift` does. Where no language host is installed, the CLI steps fall back to the
Automation API, as `make demo` does; where there is no mirror, only the upstream CRDs are installed.

Every step runs with HTTP(S) proxies pointing at a closed loopback port: a download from anywhere but
loopback fails the deployment, so a green run proves the air-gapped install reaches for nothing. The
Kueue controller (built from the Go module proxy at the pinned version) runs beside the control
plane, so a Job is admitted by quota and its pod bound to a fake GPU node.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aistack.drift.report import refresh_items
from aistack.local import cluster, deploy, seed, upstream
from components.spec import load_stack
from tests.conftest import need

pytestmark = pytest.mark.e2e
TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
MIRROR = ROOT.parent / "shared" / "mirror"
CHART = "kubernetes:helm.sh/v4:Chart"
# Port 9 (discard) on loopback: nothing listens, so any request through a proxy fails at once.
CLOSED = "http://127.0.0.1:9"
OFFLINE = {
    **{k: CLOSED for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def tools_bin() -> Path | None:
    for bin_dir in sorted(TOOLS.glob("*/bin")):
        needed = (*cluster.COMPONENTS, *cluster.OPTIONAL, "pulumi", "pulumi-resource-kubernetes", "kubectl")
        if all((bin_dir / c).exists() for c in needed):
            return bin_dir
    return None


def _program() -> None:
    from components.program import main

    main()


def repo_files() -> tuple[str, bytes]:
    """What the engine could write into the repository: the project and stack files (git's view, bytes)."""
    paths = ["stacks", "Pulumi.yaml", "__main__.py", ":(glob)Pulumi.*.yaml"]
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return status, (ROOT / "stacks" / "Pulumi.local.yaml").read_bytes()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bin_dir = tools_bin()
    if bin_dir is None:
        need("tools", f"no engine and cluster tools under {TOOLS} (scripts/tools.sh builds them)")
    state = tmp_path_factory.mktemp("local")
    before = repo_files()
    spec = load_stack("local").spec
    route = upstream.decide(spec, env={}, shared=MIRROR, online=lambda: False)  # the mirror, else CRDs only
    print(route.why)
    saved = {k: os.environ.get(k) for k in OFFLINE}
    os.environ.update(OFFLINE)
    layout = cluster.up(bin_dir, cluster.Layout(state))
    try:
        if not route.installs_upstream:
            seed.apply(layout.kubeconfig, list(seed.crd_documents()))
        seed.apply(layout.kubeconfig, seed.fake_nodes(spec))
        seed.apply(layout.kubeconfig, seed.resource_slices(spec))  # the dra pool's GPUs, in the NVIDIA driver's format
        overrides = route.overrides()
        stack = deploy.select("local", bin_dir, _program, state=state, kubeconfig=layout.kubeconfig, upstream=overrides)
        cli = None
        host = deploy.language_host(bin_dir)
        print(deploy.route_line("up", host, ROOT, state))
        if host is not None:
            cli = deploy.Cli.for_stack("local", bin_dir, state=state, kubeconfig=layout.kubeconfig, upstream=overrides)
            cli.ensure_stack()
        yield {
            "bin": bin_dir,
            "layout": layout,
            "stack": stack,
            "cli": cli,
            "state": state,
            "repo": before,
            "route": route,
        }
    finally:
        cluster.down(layout)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pulumi(env: dict[str, Any], *args: str) -> deploy.Outcome:
    """`pulumi ARGS -s local` in the project directory, its output printed; it must exit 0."""
    outcome: deploy.Outcome = env["cli"].run(*args, on_line=lambda line: print(line, end=""))
    assert outcome.rc == 0, f"pulumi {' '.join(args)} exited {outcome.rc}:\n{outcome.tail(40)}"
    return outcome


def state_resources(env: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource the stack's state holds (`pulumi stack export`)."""
    if env["cli"] is not None:
        argv = env["cli"].argv("stack", "export", config=False)
        out = subprocess.run(argv, cwd=ROOT, env=env["cli"].env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        resources: list[dict[str, Any]] = json.loads(out.stdout)["deployment"].get("resources") or []
    else:
        resources = env["stack"].export_stack().deployment.get("resources") or []
    return resources


def deployed(env: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects the stack's state holds."""
    return [r for r in state_resources(env) if r["type"].startswith("kubernetes:") and r.get("custom")]


def kubectl(env: dict[str, Any], *args: str) -> str:
    cmd = [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def get(env: dict[str, Any], *args: str) -> Any:
    return json.loads(kubectl(env, "get", *args, "-o", "json"))


def test_1_pulumi_up_succeeds(env: dict[str, Any]) -> None:
    if env["cli"] is not None:
        changes = pulumi(env, "up", "--yes").changes  # with its preview, as a user runs it
    else:
        result = env["stack"].up(on_output=print)
        assert result.summary.result == "succeeded"
        changes = result.summary.resource_changes
    assert changes.get("create", 0) > 30, changes
    assert (env["state"] / "pulumi-home" / "logs").is_file()  # the CLI wrote no debug log (deploy.pulumi_home)
    objects = deployed(env)
    assert len(objects) > 30
    # What it created, not what it patched (NodePatch: the nodes are the cluster's, they stay).
    created = [o for o in objects if not o["type"].endswith("Patch")]
    env["objects"] = [(o["outputs"]["apiVersion"], o["outputs"]["kind"], o["outputs"]["metadata"]) for o in created]


def _ready(kind: str, obj: dict[str, Any]) -> bool:
    st, want = obj.get("status", {}), obj["spec"].get("replicas", 1)
    if kind == "daemonsets":
        return bool(st.get("desiredNumberScheduled")) and st.get("numberReady") == st["desiredNumberScheduled"]
    return st.get("readyReplicas", 0) == want and st.get("updatedReplicas", 0) == want


def test_1b_every_upstream_workload_is_ready_and_every_crd_established(env: dict[str, Any]) -> None:
    """What `pulumi up` waited for, read back from the API server: every rollout done, every CRD served,
    and no pod refused by Pod Security admission (a refused pod is a rollout that never finishes)."""
    if not env["route"].installs_upstream:
        need("mirror", f"no {MIRROR} here: only the upstream CRDs were installed")
    crds = get(env, "crd")["items"]
    pending = [
        c["metadata"]["name"]
        for c in crds
        if not any(x["type"] == "Established" and x["status"] == "True" for x in c["status"].get("conditions", []))
    ]
    assert not pending, f"CRDs not Established: {pending}"
    workloads: dict[str, int] = {}
    for kind in ("deployments", "daemonsets", "statefulsets"):
        items = get(env, kind, "-A")["items"]
        workloads[kind] = len(items)
        late = [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in items if not _ready(kind, o)]
        assert not late, f"{kind} not Ready: {late}"
    print(f"{len(crds)} CRDs Established; Ready: {workloads}")
    # The upstreams' controllers: GPU Operator, Kueue, Prometheus, Kubeflow (cert-manager, Istio, ...).
    assert workloads["deployments"] >= 30 and workloads["daemonsets"] >= 2, workloads
    events = get(env, "events", "-A", "--field-selector", "reason=FailedCreate")["items"]
    refused = [e["message"] for e in events if "PodSecurity" in e.get("message", "")]
    assert not refused, refused


def test_2_refresh_then_a_second_up_change_nothing_with_kueue_running(env: dict[str, Any]) -> None:
    """Refresh right after the deploy finds no drift, and a second `pulumi up` is a no-op, with the Kueue
    controller running: its own writes must not take ownership of anything aistack applies (a field
    conflict would fail the `up`). One sequence for all three: each run renders ~1,500 resources."""
    assert cluster.start_kueue(env["bin"], env["layout"]) or "kueue" in cluster.running(env["layout"])
    if env["cli"] is not None:
        changes = pulumi(env, "refresh", "--yes", "--skip-preview", "--expect-no-changes", "--diff").changes
        assert set(changes) <= {"same"}, changes
        # --expect-no-changes fails the preview before anything is updated if the update would change anything.
        changes = pulumi(env, "up", "--yes", "--expect-no-changes").changes
    else:
        assert set(dict(env["stack"].preview_refresh(on_output=print).change_summary)) <= {"same"}
        changes = dict(env["stack"].preview(expect_no_changes=True, on_output=print).change_summary)
    assert set(changes) <= {"same"} and changes.get("same", 0) > 30, changes


def test_3_platform_objects_exist(env: dict[str, Any]) -> None:
    for team in ("alpha", "beta"):
        ns = get(env, "namespace", team)
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert get(env, "resourcequota", "-n", team)["items"]
        policies = {p["metadata"]["name"] for p in get(env, "networkpolicy", "-n", team)["items"]}
        assert "default-deny" in policies
        assert get(env, "localqueue.kueue.x-k8s.io", "default", "-n", team)["spec"]["clusterQueue"]
        assert get(env, "profile.kubeflow.org", team)["spec"]["owner"]
    queues = {q["metadata"]["name"]: q for q in get(env, "clusterqueue.kueue.x-k8s.io")["items"]}
    assert len(queues) == 2
    gpu_quota = [
        int(r["nominalQuota"])  # an int or its string form (a Quantity), as the API server returns it
        for q in queues.values()
        for group in q["spec"]["resourceGroups"]
        for flavor in group["flavors"]
        for r in flavor["resources"]
        if r["name"] == "nvidia.com/gpu"
    ]
    assert sorted(gpu_quota) == [8, 8]
    assert get(env, "prometheusrule.monitoring.coreos.com", "-A")["items"]


def job(name: str, gpus: int) -> dict[str, Any]:
    """A GPU Job for Kueue: suspended (no webhook does it here), restricted-PSS compliant."""
    container = {
        "name": "train",
        "image": "registry.example/train:1",
        "resources": {
            "requests": {"nvidia.com/gpu": str(gpus), "cpu": "1", "memory": "1Gi"},
            "limits": {"nvidia.com/gpu": str(gpus), "cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "alpha", "labels": {"kueue.x-k8s.io/queue-name": "default"}},
        "spec": {
            "suspend": True,
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
        },
    }


def test_3b_a_gpu_job_is_admitted_and_lands_on_a_gpu_node(env: dict[str, Any]) -> None:
    import time

    assert cluster.start_kueue(env["bin"], env["layout"]) or "kueue" in cluster.running(env["layout"])
    path = env["state"] / "job.json"
    path.write_text(json.dumps(job("train-8", 8)))
    kubectl(env, "apply", "-f", str(path))
    deadline = time.monotonic() + 120
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:
        pods = get(env, "pods", "-n", "alpha", "-l", "job-name=train-8")["items"]
        if pods and pods[0]["spec"].get("nodeName") and pods[0]["status"].get("phase") in ("Running", "Succeeded"):
            pod = pods[0]
            break
        time.sleep(1)
    log = env["layout"].log("kueue").read_text(errors="replace")[-3000:]
    assert pod, f"the job was not admitted and scheduled; kueue log tail:\n{log}"
    assert pod["spec"]["nodeName"] in ("gpu-node-0", "gpu-node-1")
    assert pod["spec"]["nodeSelector"]["aistack.io/pool"] == "h100", "Kueue injected the flavor's node labels"
    workloads = get(env, "workloads.kueue.x-k8s.io", "-n", "alpha")["items"]
    assert any(c["type"] == "Admitted" and c["status"] == "True" for w in workloads for c in w["status"]["conditions"])
    kubectl(env, "delete", "job", "-n", "alpha", "train-8", "--cascade=foreground", "--wait=true")


DRA_POOL = "h100-dra"
DRA_CLASS = f"{DRA_POOL}.gpu.aistack.io"
DRA_RESOURCE = f"gpu.aistack.io/{DRA_POOL}"
NOT_IN_POOL = "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA B200'"  # the pool's GPUs are H100s


def dra_job(name: str, template: str) -> dict[str, Any]:
    """A Job whose pod claims its GPUs through a ResourceClaimTemplate (no nvidia.com/gpu request)."""
    manifest = job(name, 0)
    # Running until deleted, like a training job: holds its quota and its devices (cluster.kwok_stages).
    manifest["spec"]["template"]["metadata"] = {"labels": {cluster.KEEP_RUNNING_LABEL: "true"}}
    pod = manifest["spec"]["template"]["spec"]
    pod["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": template}]
    resources = pod["containers"][0]["resources"]
    for part in ("requests", "limits"):
        resources[part].pop("nvidia.com/gpu")
    resources["claims"] = [{"name": "gpu"}]
    return manifest


def _apply(env: dict[str, Any], obj: dict[str, Any]) -> None:
    path = env["state"] / f"{obj['kind'].lower()}-{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    kubectl(env, "apply", "-f", str(path))


def _workload(env: dict[str, Any], job_name: str) -> dict[str, Any] | None:
    items = get(env, "workloads.kueue.x-k8s.io", "-n", "alpha")["items"]
    return next((w for w in items if w["metadata"].get("ownerReferences", [{}])[0].get("name") == job_name), None)


def _condition(workload: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    conditions = (workload or {}).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), {})


def _running_pod(env: dict[str, Any], job_name: str, timeout: float = 120) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = get(env, "pods", "-n", "alpha", "-l", f"job-name={job_name}")["items"]
        if pods and pods[0]["spec"].get("nodeName") and pods[0]["status"].get("phase") == "Running":
            return dict(pods[0])
        time.sleep(1)
    log = env["layout"].log("kueue").read_text(errors="replace")[-2500:]
    raise AssertionError(
        f"{job_name}: no running pod after {timeout:.0f} s; workload: "
        f"{_workload(env, job_name)}; kueue log tail:\n{log}"
    )


def _allocation(env: dict[str, Any], pod: dict[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """(claim name, {(pool, device)}) the scheduler allocated to the pod's one claim."""
    (status,) = pod["status"]["resourceClaimStatuses"]
    claim = get(env, "resourceclaim", "-n", "alpha", status["resourceClaimName"])
    results = claim["status"]["allocation"]["devices"]["results"]
    assert {r["driver"] for r in results} == {"gpu.nvidia.com"}
    assert [r["uid"] for r in claim["status"]["reservedFor"]] == [pod["metadata"]["uid"]]
    return claim["metadata"]["name"], {(r["pool"], r["device"]) for r in results}


def test_3c_dra_gpus_are_admitted_by_quota_and_allocated_by_the_scheduler(env: dict[str, Any]) -> None:
    """The dra pool on the real kube-scheduler: Kueue admits ResourceClaimTemplate Jobs against the team's quota
    (deviceClassMappings), the scheduler allocates devices from the ResourceSlices the fake nodes publish, on the
    node it binds the pod to; over quota waits until quota frees; a model the pool lacks is refused with the
    reason on its Workload; no device is given twice; deleting a Job releases its claim."""
    import time

    assert cluster.start_kueue(env["bin"], env["layout"]) or "kueue" in cluster.running(env["layout"])
    t0 = time.monotonic()
    cls = get(env, "deviceclass", DRA_CLASS)
    assert "productName in ['NVIDIA H100 80GB HBM3']" in cls["spec"]["selectors"][0]["cel"]["expression"]
    assert "extendedResourceName" not in get(env, "deviceclass", "gpu.nvidia.com")["spec"]
    slices = {s["spec"]["nodeName"]: s for s in get(env, "resourceslices")["items"]}
    devices = {(n, d["name"]) for n, s in slices.items() for d in s["spec"]["devices"]}
    assert {n for n, _ in devices} == {"gpu-dra-node-0", "gpu-dra-node-1"} and len(devices) == 4

    # A model the pool does not have: Kueue matches the claim's selector against the published devices.
    b200 = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "b200", "namespace": "alpha"},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpu",
                            "exactly": {
                                "deviceClassName": DRA_CLASS,
                                "allocationMode": "ExactCount",
                                "count": 1,
                                "selectors": [{"cel": {"expression": NOT_IN_POOL}}],
                            },
                        }
                    ]
                }
            }
        },
    }
    _apply(env, b200)
    _apply(env, dra_job("dra-b200", "b200"))
    deadline, why = time.monotonic() + 60, ""
    while time.monotonic() < deadline and "0 device(s) match" not in why:
        why = _condition(_workload(env, "dra-b200"), "QuotaReserved").get("message", "")
        time.sleep(1)
    assert "insufficient matching devices" in why and DRA_CLASS in why, why
    assert not get(env, "pods", "-n", "alpha", "-l", "job-name=dra-b200")["items"]
    kubectl(env, "delete", "job", "-n", "alpha", "dra-b200", "--wait=true")

    # One GPU, then a whole node (2 GPUs): alpha's 2 plus the 2 it borrows from beta's idle quota.
    _apply(env, dra_job("dra-one", f"{DRA_POOL}-gpu"))
    one = _running_pod(env, "dra-one")
    assert one["spec"]["nodeSelector"]["aistack.io/pool"] == DRA_POOL, "Kueue injected the dra flavor's node labels"
    one_claim, one_devices = _allocation(env, one)
    assert len(one_devices) == 1 and {p for p, _ in one_devices} == {one["spec"]["nodeName"]} and one_devices <= devices
    usage = _workload(env, "dra-one")["status"]["admission"]["podSetAssignments"][0]["resourceUsage"]
    assert usage[DRA_RESOURCE] == "1", usage
    _apply(env, dra_job("dra-node", f"{DRA_POOL}-node"))
    node = _running_pod(env, "dra-node")
    _, node_devices = _allocation(env, node)
    assert len(node_devices) == 2 and {p for p, _ in node_devices} == {node["spec"]["nodeName"]}
    assert node["spec"]["nodeName"] != one["spec"]["nodeName"] and not node_devices & one_devices

    # Over quota: 3 of the cohort's 4 are taken, a second whole node waits, unadmitted.
    _apply(env, dra_job("dra-wait", f"{DRA_POOL}-node"))
    time.sleep(5)
    waiting = _workload(env, "dra-wait")
    assert waiting is not None and _condition(waiting, "QuotaReserved").get("status") != "True", waiting
    assert not any(
        p["spec"].get("nodeName") for p in get(env, "pods", "-n", "alpha", "-l", "job-name=dra-wait")["items"]
    )

    # Deleting the first Job releases its claim; the waiting Job is admitted onto the freed node.
    # As a user deletes it (background: the garbage collector removes the pod, the claim controller its claim).
    kubectl(env, "delete", "job", "-n", "alpha", "dra-one", "--wait=true")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(
        c["metadata"]["name"] == one_claim for c in get(env, "resourceclaims", "-n", "alpha")["items"]
    ):
        time.sleep(1)
    left = [c for c in get(env, "resourceclaims", "-n", "alpha")["items"] if c["metadata"]["name"] == one_claim]
    pods = [
        (p["metadata"]["name"], p["metadata"].get("deletionTimestamp"))
        for p in get(env, "pods", "-n", "alpha")["items"]
    ]
    assert not left, f"the deleted Job's claim is still there: {left}; pods: {pods}"
    later = _running_pod(env, "dra-wait")
    _, later_devices = _allocation(env, later)
    assert later["spec"]["nodeName"] == one["spec"]["nodeName"] and not later_devices & node_devices
    claimed = [
        d
        for c in get(env, "resourceclaims", "-n", "alpha")["items"]
        for d in (c.get("status", {}).get("allocation") or {}).get("devices", {}).get("results", [])
    ]
    assert len(claimed) == len({(d["pool"], d["device"]) for d in claimed}) == 4, "no device is allocated twice"
    for name in ("dra-node", "dra-wait"):
        kubectl(env, "delete", "job", "-n", "alpha", name, "--wait=true")
    kubectl(env, "delete", "resourceclaimtemplate", "-n", "alpha", "b200")
    print(f"DRA scenario: {time.monotonic() - t0:.1f} s")


@contextlib.contextmanager
def helm_repository(root: Path) -> Iterator[tuple[str, list[str]]]:
    """The mirror folder served as a Helm HTTP repository on loopback: (its URL, the paths requested)."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


def test_3d_the_same_charts_from_a_helm_http_repository_change_no_object(env: dict[str, Any]) -> None:
    """The mirror as an HTTP chart repository on loopback (index.yaml): the provider fetches every chart
    from it, and the objects it renders are the ones the directory mirror gave: no object changes."""
    if env["cli"] is None:
        need("tools", f"no Python language host under {env['bin']}: the CLI route needs it (scripts/tools.sh)")
    if env["route"].kind != "mirror":
        need("mirror", f"no {MIRROR} here: the HTTP chart repository serves the mirror's charts")
    with helm_repository(MIRROR) as (url, requested):
        over = {**env["route"].overrides(), "charts_mirror": url}
        cli = deploy.Cli.for_stack(
            "local", env["bin"], state=env["state"], kubeconfig=env["layout"].kubeconfig, upstream=over
        )
        outcome = pulumi({**env, "cli": cli}, "up", "--yes", "--skip-preview")
    # The Chart components are remote components, which the state holds without inputs: the engine reports
    # them unchanged whatever source they name, so the objects are what is compared.
    changed = {(op, t) for op, t, _ in outcome.steps}
    assert all(t == CHART and op == "update" for op, t in changed), changed
    # ...and the charts did come from the repository: Helm (v3.18, inside the provider) reads the index and
    # downloads the chart on every render, so each Chart of the stack is one .tgz requested here.
    fetched = {p.rsplit("/", 1)[-1] for p in requested if p.endswith(".tgz")}
    charts = [r["urn"] for r in state_resources(env) if r["type"] == CHART]
    assert "/index.yaml" in requested and charts and len(fetched) == len(charts), (requested, charts)


def test_4_gpu_nodes_carry_the_pool_labels_and_taints(env: dict[str, Any]) -> None:
    for name in ("gpu-node-0", "gpu-node-1"):
        node = get(env, "node", name)
        assert node["metadata"]["labels"]["aistack.io/pool"] == "h100"
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in node["spec"]["taints"]
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"


def test_5_drift_finds_exactly_the_out_of_band_changes(env: dict[str, Any]) -> None:
    # A field aistack manages, weakened out of band: Pod Security of a team namespace.
    kubectl(env, "label", "namespace", "alpha", "pod-security.kubernetes.io/enforce=privileged", "--overwrite")
    kubectl(
        env,
        "patch",
        "limitrange",
        "-n",
        "beta",
        "container-defaults",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/limits/0/default/cpu","value":"3"}]',
    )
    kubectl(env, "delete", "networkpolicy", "-n", "beta", "allow-dns")
    events: list[Any] = []
    env["stack"].preview_refresh(on_event=events.append, on_output=print)
    items = {(i.type, i.name): i for i in refresh_items("local", events)}
    if os.environ.get("AISTACK_RECORD_FIXTURES") == "1":
        # Re-record the unit tests' fixture only when asked: `make test` must leave the tree clean.
        FIXTURES.mkdir(exist_ok=True)
        steps = [_event_json(e) for e in events if e.resource_pre_event or e.res_outputs_event]
        (FIXTURES / "drift-refresh-events.json").write_text(json.dumps(steps, indent=1, default=str))
    kinds = {(t.rsplit(":", 1)[-1], i.kind) for (t, _), i in items.items()}
    assert kinds == {("Namespace", "changed"), ("LimitRange", "changed"), ("NetworkPolicy", "deleted")}, items
    ns = next(i for (t, _), i in items.items() if t.endswith("Namespace"))
    assert [(c.path, c.recorded, c.live) for c in ns.changes] == [
        ("metadata.labels.pod-security.kubernetes.io/enforce", "restricted", "privileged")
    ]


def test_6_destroy_removes_everything_unprotected(env: dict[str, Any]) -> None:
    if env["cli"] is not None:
        pulumi(env, "refresh", "--yes", "--skip-preview")  # accept the drift test's changes first
        changes = pulumi(env, "destroy", "--yes", "--skip-preview").changes
    else:
        env["stack"].refresh(on_output=print)
        result = env["stack"].destroy(on_output=print)
        assert result.summary.result == "succeeded"
        changes = result.summary.resource_changes
    assert changes.get("delete", 0) > 30, changes
    assert deployed(env) == []
    names = {n["metadata"]["name"] for n in get(env, "namespace")["items"]}
    assert not {"alpha", "beta"} & names
    # The ClusterQueue kind may be gone with the Kueue chart's CRDs, which is as empty as it gets.
    listed = subprocess.run(
        [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", "get", "clusterqueue.kueue.x-k8s.io"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "doesn't have a resource type" in listed.stderr or not listed.stdout.strip(), listed.stdout
    # Every object the deploy created is gone from the cluster, not only from the state.
    by_kind: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for api_version, kind, meta in env.get("objects", []):
        by_kind.setdefault((api_version, kind), set()).add((meta.get("namespace", ""), meta["name"]))
    assert by_kind, "test_1 recorded what it deployed"
    for (api_version, kind), wanted in by_kind.items():
        group = api_version.split("/")[0] if "/" in api_version else ""
        resource = f"{kind.lower()}.{group}" if group else kind.lower()
        cmd = [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", "get", resource, "-A"]
        listed = subprocess.run([*cmd, "-o", "json"], capture_output=True, text=True, timeout=60)
        if listed.returncode != 0 and "doesn't have a resource type" in listed.stderr:
            continue  # its CRD went with the upstream that brought it: no object of the kind can remain
        assert listed.returncode == 0, listed.stderr
        live = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in json.loads(listed.stdout)["items"]}
        assert not wanted & live, f"{kind} left behind: {sorted(wanted & live)}"
    # Nor anything the upstreams' own objects made: volumes, namespaces.
    assert not get(env, "pv")["items"], "volumes left behind"
    left = {n["metadata"]["name"] for n in get(env, "namespace")["items"]}
    assert left <= {"default", "kube-system", "kube-public", "kube-node-lease"}, left


def test_7_the_repository_is_untouched(env: dict[str, Any]) -> None:
    """The engine wrote nothing into the project: no salt, no config, no new stack file (CI fails on a dirty tree)."""
    assert repo_files() == env["repo"]


def _state_json(s: Any) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "type": s.type,
        "urn": s.urn,
        "id": s.id,
        "parent": s.parent,
        "provider": s.provider,
        "custom": s.custom,
        "inputs": s.inputs,
        "outputs": s.outputs,
    }


def _event_json(event: Any) -> dict[str, Any]:
    """The engine's JSON shape of a step event (what EngineEvent.from_json reads), for unit-test fixtures."""
    out: dict[str, Any] = {"sequence": event.sequence, "timestamp": event.timestamp}
    for attr, key in (("resource_pre_event", "resourcePreEvent"), ("res_outputs_event", "resOutputsEvent")):
        step = getattr(event, attr)
        if step is None:
            continue
        m = step.metadata
        out[key] = {
            "metadata": {
                "op": m.op.value,
                "urn": m.urn,
                "type": m.type,
                "provider": m.provider,
                "old": _state_json(m.old),
                "new": _state_json(m.new),
                "diffs": m.diffs,
            }
        }
    return out
