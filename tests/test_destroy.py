"""`aistack destroy`'s decisions on hand-written objects: the drain plan, the stuck report (finalizer →
controller, failing webhooks, Terminating namespaces), the state's recovery after a killed run, the order
of the whole (nothing destroyed while something is stuck), and the GCP sweep's guard against a live cluster.

Oracles are written here by hand from the Kubernetes API's documented shapes and the API server's error
texts (k8s.io/apiserver/pkg/admission/plugin/webhook/errors: 'failed calling webhook "<name>": …'), never
read from the tables the code uses.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from aistack.local.deploy import Outcome
from aistack.teardown import destroy as teardown
from aistack.teardown import drain, state
from aistack.teardown.drain import Release
from tests import gcp_standin
from tests.conftest import need, run_cli
from tests.gcp_standin import PROJECT, ComputeStandIn

TS = "2026-12-04T12:00:00Z"


def obj(kind: str, name: str, ns: str | None = None, api: str = "v1", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{kind}-{ns}-{name}", **extra.pop("meta", {})}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": meta, **extra}


def owned_by(kind: str, name: str, api: str) -> dict[str, Any]:
    return {
        "meta": {"ownerReferences": [{"apiVersion": api, "kind": kind, "name": name, "uid": "x", "controller": True}]}
    }


LB = obj("Service", "web", "alpha", spec={"type": "LoadBalancer"})
CLUSTER_IP = obj("Service", "api", "alpha", spec={"type": "ClusterIP"})
INGRESS = obj("Ingress", "web", "alpha", "networking.k8s.io/v1")
W_JOB = obj("Workload", "job-train-1", "alpha", "kueue.x-k8s.io/v1beta2", **owned_by("Job", "train", "batch/v1"))
W_TRAIN = obj(
    "Workload",
    "trainjob-t-1",
    "beta",
    "kueue.x-k8s.io/v1beta2",
    **owned_by("TrainJob", "t", "trainer.kubeflow.org/v1alpha1"),
)
PROFILE = obj("Profile", "carol", None, "kubeflow.org/v1")
PVC_ALPHA = obj("PersistentVolumeClaim", "workspace", "alpha")
PVC_CAROL = obj("PersistentVolumeClaim", "data", "carol")
NODECLAIM = obj("NodeClaim", "gpu-abc", None, "karpenter.sh/v1")
LISTING = {
    "workload": [W_JOB, W_TRAIN],
    "loadbalancer": [LB, CLUSTER_IP],
    "ingress": [INGRESS],
    "gateway": [],
    "profile": [PROFILE],
    "pvc": [PVC_ALPHA, PVC_CAROL],
    "nodeclaim": [NODECLAIM],
}
NS_CAROL = obj("Namespace", "carol", **owned_by("Profile", "carol", "kubeflow.org/v1"))
NS_ALPHA = obj("Namespace", "alpha")
POD_MOUNTING = obj(
    "Pod", "nb-0", "carol", spec={"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
)
POD_OTHER = obj("Pod", "x", "carol", spec={"volumes": [{"name": "t", "emptyDir": {}}]})


def names(objs: list[Any]) -> list[str]:
    return [f"{o['kind']} {o['metadata'].get('namespace', '-')}/{o['metadata']['name']}" for o in objs]


# ------------------------------------------------------------------ planning


def test_plan_without_data_protection_drains_every_kind_in_order() -> None:
    plan = drain.plan_drain(
        LISTING, data_protection=False, namespaces=[NS_CAROL, NS_ALPHA], pods=[POD_MOUNTING, POD_OTHER]
    )
    assert [names(p) for p in plan.delete] == [
        ["Workload alpha/job-train-1", "Workload beta/trainjob-t-1"],
        ["Service alpha/web", "Ingress alpha/web"],  # the ClusterIP Service is not drained
        ["Profile -/carol"],
        ["PersistentVolumeClaim alpha/workspace", "PersistentVolumeClaim carol/data"],
        ["NodeClaim -/gpu-abc"],
    ]
    # The Workloads' owners go first, or Kueue makes the Workloads again for them.
    assert sorted((o["kind"], o["namespace"], o["name"]) for o in plan.owners) == [
        ("Job", "alpha", "train"),
        ("TrainJob", "beta", "t"),
    ]
    assert names(plan.pods) == ["Pod carol/nb-0"]  # the pod that holds a claim by pvc-protection
    assert plan.kept == [] and plan.release == []


def test_plan_under_data_protection_keeps_claims_and_releases_their_namespace_from_its_profile() -> None:
    plan = drain.plan_drain(LISTING, data_protection=True, namespaces=[NS_CAROL, NS_ALPHA], pods=[POD_MOUNTING])
    assert plan.delete[3] == []
    assert names([o for o, _ in plan.kept]) == [
        "PersistentVolumeClaim alpha/workspace",
        "PersistentVolumeClaim carol/data",
    ]
    assert all("data_protection" in why for _, why in plan.kept)
    # carol holds a claim and is owned by its Profile: released before the Profile goes. alpha has no owner.
    assert plan.release == [Release("carol", "carol")]
    assert plan.pods == []
    assert names(plan.delete[2]) == ["Profile -/carol"]


def test_plan_of_an_empty_cluster_is_empty() -> None:
    assert drain.plan_drain({}, data_protection=False).empty


def test_volumes_of_deleted_claims_are_waited_on_only_when_they_go_with_them() -> None:
    pv = {"spec": {"claimRef": {"namespace": "carol", "name": "data"}, "persistentVolumeReclaimPolicy": "Delete"}}
    kept = {
        "spec": {"claimRef": {"namespace": "alpha", "name": "workspace"}, "persistentVolumeReclaimPolicy": "Retain"}
    }
    other = {"spec": {"claimRef": {"namespace": "beta", "name": "x"}, "persistentVolumeReclaimPolicy": "Delete"}}
    vols = [{**obj("PersistentVolume", n), **v} for n, v in (("pv-1", pv), ("pv-2", kept), ("pv-3", other))]
    assert [v["metadata"]["name"] for v in drain.volumes_of([PVC_ALPHA, PVC_CAROL], vols)] == ["pv-1"]
    retained = drain.retained_volumes(vols)
    assert [v["metadata"]["name"] for v, _ in retained] == ["pv-2"]
    assert "claim alpha/workspace" in retained[0][1] and "by hand" in retained[0][1]


def test_what_keeps_a_claim_s_pods_running_is_found_through_its_owners() -> None:
    """A Deployment's pod is owned by a ReplicaSet, itself by the Deployment (stop the Deployment, or it makes the
    ReplicaSet's pods again); a StatefulSet or Job owns its pods directly; a bare pod is its own."""
    rs = obj("ReplicaSet", "mysql-5d8f", "kubeflow", "apps/v1", **owned_by("Deployment", "mysql", "apps/v1"))
    pods = [
        obj("Pod", "mysql-5d8f-x", "kubeflow", **owned_by("ReplicaSet", "mysql-5d8f", "apps/v1")),
        obj("Pod", "mysql-5d8f-y", "kubeflow", **owned_by("ReplicaSet", "mysql-5d8f", "apps/v1")),
        obj("Pod", "seaweedfs-volume-0", "object-store", **owned_by("StatefulSet", "seaweedfs-volume", "apps/v1")),
        obj("Pod", "train-abc", "beta", **owned_by("Job", "train", "batch/v1")),
        obj("Pod", "debug", "beta"),
    ]
    found = drain.pod_controllers(pods, [rs])
    assert [(c["apiVersion"], c["kind"], c["namespace"], c["name"]) for c in found] == [
        ("apps/v1", "Deployment", "kubeflow", "mysql"),
        ("apps/v1", "StatefulSet", "object-store", "seaweedfs-volume"),
        ("batch/v1", "Job", "beta", "train"),
        ("v1", "Pod", "beta", "debug"),
    ]
    assert {"Deployment", "StatefulSet"} <= drain.SCALABLE and "Job" not in drain.SCALABLE


# ------------------------------------------------------------------ who owns a finalizer


def test_a_finalizer_is_traced_to_its_controller() -> None:
    lb = obj("Service", "web", "alpha", meta={"deletionTimestamp": TS})
    assert "cloud-controller-manager" in drain.controller_of(lb, "service.kubernetes.io/load-balancer-cleanup")
    assert drain.controller_of(lb, "karpenter.sh/termination") == "Karpenter"
    assert drain.controller_of(lb, "kubernetes.io/pvc-protection").startswith("kube-controller-manager")
    # Unknown finalizer: the field manager whose managedFields entry set it.
    managed = {
        "managedFields": [
            {"manager": "kubectl", "fieldsV1": {"f:spec": {}}},
            {"manager": "metallb-controller", "fieldsV1": {"f:metadata": {"f:finalizers": {'v:"metallb.io/x"': {}}}}},
        ]
    }
    assert drain.controller_of(obj("Service", "a", "b", meta=managed), "metallb.io/x").startswith("metallb-controller")
    # Else the controlling owner, else said to be unknown.
    owned = obj("Thing", "a", "b", **owned_by("Notebook", "nb", "kubeflow.org/v1"))
    assert drain.controller_of(owned, "example.com/f") == "the controller of its owner Notebook nb"
    assert drain.controller_of(obj("Thing", "a", "b"), "example.com/f").startswith("unknown")


def test_stuck_objects_name_the_object_each_finalizer_and_its_controller() -> None:
    held = obj(
        "Service",
        "web",
        "alpha",
        meta={
            "deletionTimestamp": TS,
            "finalizers": ["service.kubernetes.io/load-balancer-cleanup", "example.com/gone"],
        },
    )
    alive = obj("Service", "api", "alpha", meta={"finalizers": ["example.com/gone"]})  # not being deleted
    stuck = drain.stuck_objects([held, alive])
    assert len(stuck) == 1
    line = stuck[0].line()
    assert line.startswith("Service alpha/web: held by finalizer service.kubernetes.io/load-balancer-cleanup (owned by")
    assert "example.com/gone (owned by unknown" in line
    assert stuck[0].as_json()["finalizers"][0]["finalizer"] == "service.kubernetes.io/load-balancer-cleanup"


# The API server's condition on a namespace whose content a webhook will not let go (pkg/controller/namespace).
CONTENT_FAILURE = (
    "Failed to delete all resource types, 1 remaining: Internal error occurred: failed calling webhook "
    '"refuse.example.com": failed to call webhook: Post "https://gone.alpha.svc:443/validate?timeout=10s": '
    'service "gone" not found'
)


def test_a_terminating_namespace_is_reported_with_its_conditions_and_the_webhook_they_name() -> None:
    ns = obj(
        "Namespace",
        "alpha",
        meta={"deletionTimestamp": TS},
        spec={"finalizers": ["kubernetes"]},
        status={
            "phase": "Terminating",
            "conditions": [
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources discovered"},
                {"type": "NamespaceDeletionContentFailure", "status": "True", "message": CONTENT_FAILURE},
            ],
        },
    )
    active = obj("Namespace", "beta", status={"phase": "Active"})
    [stuck] = drain.terminating_namespaces([ns, active])
    assert stuck.what == "Namespace alpha" and stuck.finalizers == ("kubernetes",)
    assert "namespace controller" in stuck.controllers[0]
    assert "NamespaceDeletionContentFailure" in stuck.detail and "discovered" not in stuck.detail
    assert drain.webhooks_named([stuck.detail, 'admission webhook "deny.example.com" denied the request: no']) == [
        "refuse.example.com",
        "deny.example.com",
    ]


def hook(name: str, service: tuple[str, str] | None, ops: list[str], policy: str | None = "Fail") -> dict[str, Any]:
    client = {"service": {"namespace": service[0], "name": service[1]}} if service else {"url": "https://x.example"}
    h: dict[str, Any] = {"name": name, "clientConfig": client, "rules": [{"operations": ops, "resources": ["*"]}]}
    if policy:
        h["failurePolicy"] = policy
    return h


def test_only_webhooks_that_would_refuse_a_deletion_are_reported() -> None:
    conf = obj(
        "ValidatingWebhookConfiguration",
        "mixed",
        api="admissionregistration.k8s.io/v1",
        webhooks=[
            hook("no-service.example.com", ("alpha", "gone"), ["DELETE"]),
            hook("no-endpoint.example.com", ("alpha", "down"), ["*"], policy=None),  # v1 defaults to Fail
            hook("ignored.example.com", ("alpha", "gone"), ["DELETE"], policy="Ignore"),
            hook("served.example.com", ("alpha", "up"), ["DELETE"]),
            hook("create-only.example.com", ("alpha", "gone"), ["CREATE", "UPDATE"]),
            hook("by-url.example.com", None, ["DELETE"]),
        ],
    )
    found = drain.failing_webhooks(
        [conf], ready_services={("alpha", "up")}, services={("alpha", "up"), ("alpha", "down")}
    )
    assert [(w.name, w.reason) for w in found] == [
        ("no-service.example.com", "its Service does not exist"),
        ("no-endpoint.example.com", "its Service has no ready endpoint"),
    ]
    assert found[0].configuration == "ValidatingWebhookConfiguration mixed" and found[0].service == "alpha/gone"


# ------------------------------------------------------------------ the state after a killed run


def _lock(backend: Path, name: str, pid: int, host: str) -> Path:
    path = backend / ".pulumi" / "locks" / "organization" / "aistack" / "local" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"pid": pid, "username": "u", "hostname": host, "timestamp": "2026-12-04T12:00:00Z"}
    path.write_text(json.dumps(doc))
    return path


def test_only_a_dead_local_pulumi_s_lock_is_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["bash", "-c", "exec -a pulumi sleep 30"])  # a running process named pulumi
    deadline = time.monotonic() + 10
    # Until it has exec'd: bash's own command line names pulumi too, and while execve runs /proc shows an empty
    # one (seen once under CI load), so wait for the exec'd form, argv[0] first.
    while not Path(f"/proc/{live.pid}/cmdline").read_bytes().startswith(b"pulumi\0") and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        here = socket.gethostname()
        gone = _lock(tmp_path, "a", dead.pid, here)
        reused = _lock(tmp_path, "b", os.getpid(), here)  # a live pid that is not pulumi: reused, so stale
        running = _lock(tmp_path, "c", live.pid, here)
        elsewhere = _lock(tmp_path, "d", 1, "another-host")
        removed, held = state.clear_stale_locks(tmp_path, "aistack", "local")
    finally:
        live.kill()
        live.wait()
    assert not gone.exists() and not reused.exists() and running.exists() and elsewhere.exists()
    assert len(removed) == 2 and all("stale lock" in r for r in removed)
    assert len(held) == 2 and all("To fix" in h for h in held)
    assert state.backend_dir("file:///x/y") == Path("/x/y") and state.backend_dir("s3://bucket") is None


class FakeRunner:
    """`pulumi stack export|import` answered by small Python programs over a JSON file standing for the state."""

    def __init__(self, tmp: Path, doc: dict[str, Any], destroy_rc: int = 0) -> None:
        self.stack = "local"
        self.project_dir = tmp
        self.file = tmp / "state.json"
        self.file.write_text(json.dumps(doc))
        self.ran: list[tuple[str, ...]] = []
        self.destroy_rc = destroy_rc

    def argv(self, *args: str, config: bool = True) -> list[str]:
        if args[:2] == ("stack", "export"):
            return [sys.executable, "-c", f"print(open({str(self.file)!r}).read())"]
        if args[:2] == ("stack", "import"):
            prog = f"import shutil,sys; shutil.copy(sys.argv[sys.argv.index('--file') + 1], {str(self.file)!r})"
            return [sys.executable, "-c", prog, "--"]
        raise AssertionError(args)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def run(self, *args: str, on_line: Any = None, timeout: float = 0) -> Any:
        self.ran.append(args)
        doc = json.loads(self.file.read_text())
        keep = [r for r in doc["deployment"]["resources"] if r.get("protect") or r["urn"].endswith("::ns-alpha")]
        doc["deployment"]["resources"] = keep
        self.file.write_text(json.dumps(doc))
        steps = [("delete", r["type"], r["urn"]) for r in STATE["deployment"]["resources"] if r not in keep]
        return Outcome(self.destroy_rc, {"delete": len(steps)}, ["boom"], steps=steps)


def resource(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"urn": f"urn:pulumi:local::aistack::{kind}::{name}", "type": kind, "custom": True, **extra}


STATE = {
    "deployment": {
        "resources": [
            resource("pulumi:providers:kubernetes", "k8s"),
            resource("kubernetes:core/v1:Namespace", "ns-alpha"),
            resource("kubernetes:core/v1:PersistentVolumeClaim", "alpha-workspace", protect=True),
            resource("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue", "alpha"),
        ],
        "pending_operations": [
            {"type": "creating", "resource": {"urn": "urn:pulumi:local::aistack::kubernetes:core/v1:ConfigMap::c"}},
            {"type": "deleting", "resource": {"urn": "urn:pulumi:local::aistack::kubernetes:core/v1:Secret::s"}},
        ],
    }
}


def test_pending_operations_of_a_killed_run_are_cleared_and_named(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, json.loads(json.dumps(STATE)))
    said = state.clear_pending(runner, state.export(runner))
    assert len(said) == 2 and "creating urn:pulumi:local::aistack::kubernetes:core/v1:ConfigMap::c" in said[0]
    assert "check it" in said[0] and "check it" not in said[1]
    after = json.loads(runner.file.read_text())
    assert after["deployment"]["pending_operations"] == []
    assert after["deployment"]["resources"] == STATE["deployment"]["resources"]
    assert state.clear_pending(runner, after) == []  # nothing pending: nothing imported


def test_kept_resources_are_the_protected_ones_and_a_count_of_what_they_hold() -> None:
    protected, others = state.kept_resources(STATE)
    assert protected == ["kubernetes:core/v1:PersistentVolumeClaim alpha-workspace"]
    assert others == 2  # the namespace and the ClusterQueue; the provider is not counted


# ------------------------------------------------------------------ the whole, with a cluster stand-in


Objs = list[dict[str, Any]]


class FakeKube:
    """A cluster of hand-written objects; deleting one with finalizers only marks it, as the API server does."""

    def __init__(self, objs: list[dict[str, Any]]) -> None:
        self.objs = objs
        self.deleted: list[str] = []

    def list(self, group: str, kind: str) -> Objs:
        return [o for o in self.objs if o["kind"] == kind and o["apiVersion"].rpartition("/")[0] == group]

    def list_kind(self, kind: drain.DrainKind) -> Objs:
        return [o for o in self.list(kind.group, kind.kind) if kind.select(o)]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> str | None:
        for o in list(self.objs):
            m = o["metadata"]
            if o["kind"] == kind and m["name"] == name and m.get("namespace") == namespace:
                self.deleted.append(f"{kind} {namespace}/{name}")
                if m.get("finalizers"):
                    m["deletionTimestamp"] = TS
                else:
                    self.objs.remove(o)
        return None

    def delete_obj(self, o: dict[str, Any]) -> str | None:
        m = o["metadata"]
        return self.delete(o["apiVersion"], o["kind"], m["name"], m.get("namespace"))

    def release(self, r: Release) -> str | None:
        return None

    def scale_to_zero(self, api_version: str, kind: str, name: str, namespace: str) -> str | None:
        self.deleted.append(f"{kind} {namespace}/{name} scaled to 0")
        return None

    def ready_services(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        return set(), set()


def _target(runner: FakeRunner, data_protection: bool = False) -> teardown.Target:
    spec = type("Spec", (), {"data_protection": data_protection, "target": "onprem"})()
    return teardown.Target(spec, "local", runner, "s3://not-a-file-backend", None)


def test_something_stuck_stops_the_destroy_before_pulumi_runs(tmp_path: Path) -> None:
    held = obj("Service", "web", "alpha", spec={"type": "LoadBalancer"}, meta={"finalizers": ["example.com/gone"]})
    kube = FakeKube([held, obj("Service", "api", "alpha", spec={"type": "ClusterIP"})])
    runner = FakeRunner(tmp_path, json.loads(json.dumps(STATE)))
    report = teardown.destroy(_target(runner), kube=kube, wait_s=0.5)
    assert report.exit_code == 1 and not report.destroyed and runner.ran == []
    assert [s.what for s in report.stuck] == ["Service alpha/web"]
    assert any("pulumi destroy not run" in n for n in report.notes)
    assert kube.deleted == ["Service alpha/web"]  # the ClusterIP Service is the program's, left to Pulumi


def test_a_clean_drain_then_destroy_keeps_and_lists_the_protected(tmp_path: Path) -> None:
    kube = FakeKube([obj("Service", "web", "alpha", spec={"type": "LoadBalancer"}), PVC_ALPHA])
    runner = FakeRunner(tmp_path, json.loads(json.dumps(STATE)))
    report = teardown.destroy(_target(runner, data_protection=True), kube=kube, wait_s=5)
    assert report.exit_code == 0, report.lines()
    assert runner.ran == [teardown.DESTROY_ARGS] and "--exclude-protected" in teardown.DESTROY_ARGS
    assert kube.deleted == ["Service alpha/web"]  # the claim is kept under data_protection
    assert report.kept == ["PersistentVolumeClaim alpha/workspace (data_protection: claims and their volumes are kept)"]
    assert report.protected == ["kubernetes:core/v1:PersistentVolumeClaim alpha-workspace"]
    assert report.steps and {op for op, _, _ in report.steps} == {"delete"}  # pulumi's, in the order it began them
    assert sum("pending operation" in n for n in report.notes) == 2
    text = "\n".join(report.lines())
    assert "pulumi state unprotect" in text and "aistack:data_protection false" in text


def test_a_failed_pulumi_destroy_exits_1_with_its_output(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, json.loads(json.dumps(STATE)), destroy_rc=255)
    report = teardown.destroy(_target(runner), kube=FakeKube([]), wait_s=1)
    assert report.exit_code == 1 and not report.destroyed and "exited 255" in report.errors[0]


def test_the_cli_asks_before_destroying(capsys: Any, tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump({"config": {"aistack:target": "aws", "aistack:region": "us-east-1"}}))
    code, _, err = run_cli(capsys, "destroy", str(stack))
    assert code == 2 and "pass --yes" in err


def test_the_cli_reports_and_exits_as_the_destroy_says(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aistack destroy onprem-gpu --yes`: the stack's own kubeconfig and backend reach the teardown; a stuck object
    is printed with its finalizer and controller and the exit is 1; --json carries the same."""
    import importlib

    import aistack.teardown.destroy as td

    cli = importlib.import_module("aistack.cli.destroy")  # the module: the package re-exports the command by name

    seen: dict[str, Any] = {}

    def fake(target: td.Target, **kw: Any) -> td.DestroyReport:
        seen.update(target=target, **kw)
        report = td.DestroyReport(target.stack, False)
        report.stuck.append(drain.Stuck("Service alpha/web", ("example.com/gone",), ("gone-controller",)))
        return report

    monkeypatch.setattr(td, "destroy", fake)
    monkeypatch.setattr(cli, "_pulumi_bin", lambda: Path("/nonexistent/bin"))
    code, out, _ = run_cli(capsys, "destroy", "onprem-gpu", "--yes", "--wait", "7")
    assert code == 1
    assert "STUCK: Service alpha/web: held by finalizer example.com/gone (owned by gone-controller)" in out
    assert seen["wait_s"] == 7 and seen["target"].spec.target == "onprem" and seen["target"].kubeconfig is not None
    code, out, _ = run_cli(capsys, "destroy", "onprem-gpu", "--yes", "--json", "--no-drain")
    doc = json.loads(out)
    assert code == 1 and doc["stuck"][0]["finalizers"] == [
        {"finalizer": "example.com/gone", "controller": "gone-controller"}
    ]
    assert seen["target"].kubeconfig is None  # --no-drain: no cluster to reach


# ------------------------------------------------------------------ GCP: --delete refuses while GKE runs


def _clusters(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]]:
    # projects.locations.clusters.list's documented response: {"clusters": [Cluster]}, each with name,
    # location and status (PROVISIONING, RUNNING, RECONCILING, STOPPING, ERROR, DEGRADED).
    return 200, {"clusters": GkeStandIn.clusters}


class GkeStandIn(ComputeStandIn):
    clusters: ClassVar[list[dict[str, Any]]] = []
    routes: ClassVar[list[tuple[str, Any]]] = [
        (r"/v1/projects/([^/]+)/locations/-/clusters", _clusters),
        *ComputeStandIn.routes,
    ]


@pytest.fixture
def gke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    with gcp_standin.serve(GkeStandIn) as url:
        key = gcp_standin.service_account_key(tmp_path / "key.json", f"{url}/token")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.setenv("AISTACK_GCP_COMPUTE_ENDPOINT", url)
        ComputeStandIn.reset()
        stack = tmp_path / "Pulumi.dev.yaml"
        values = {"aistack:target": "gcp", "aistack:region": "us-central1", "gcp:project": PROJECT}
        stack.write_text(yaml.safe_dump({"config": values}))
        yield str(stack)


def test_gcp_delete_refuses_while_the_stack_s_gke_cluster_runs(gke: str, capsys: Any) -> None:
    GkeStandIn.clusters = [
        {"name": "aistack-dev", "location": "us-central1", "status": "RUNNING"},
        {"name": "someone-else", "location": "europe-west1", "status": "RUNNING"},
    ]
    code, _, err = run_cli(capsys, "sweep", gke, "--delete")
    assert code == 2 and "aistack-dev still exists (RUNNING in us-central1)" in err and "destroy" in err
    assert not [p for _, p in GkeStandIn.seen if "/compute/" in p]  # stopped before listing, so deleting, anything
    GkeStandIn.clusters = [{"name": "aistack-dev", "location": "us-central1", "status": "STOPPING"}]
    code, _, err = run_cli(capsys, "sweep", gke, "--delete")
    assert "still exists" not in err  # going: the sweep may delete what the destroy leaves


# ------------------------------------------------------------------ the program's graph: the order of a destroy

DIRECTORY = "kubernetes:kustomize/v2:Directory"
CHART = "kubernetes:helm.sh/v4:Chart"
MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"


@pytest.fixture(scope="module")
def local_plan() -> list[Any]:
    from aistack.offline import plan
    from components.spec import load_stack

    return list(plan(load_stack("local")).resources)


def _by_urn(resources: list[Any]) -> dict[str, Any]:
    return {r.urn: r for r in resources}


def _ancestors(r: Any, by_urn: dict[str, Any]) -> set[str]:
    """Every URN ``r`` waits for, through dependencies and the dependencies of its parents (a child of a
    component that depends on X is created after X and, in reverse, deleted before it)."""
    seen: set[str] = set()
    todo = [r.urn]
    while todo:
        cur = by_urn.get(todo.pop())
        if cur is None:
            continue
        for d in (*cur.dependencies, cur.parent):
            if d and d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def _part(r: Any) -> str:
    return str(r.name).split("-kubeflow-", 1)[1]


def test_kubeflow_parts_wait_for_what_they_need_not_for_the_part_before(local_plan: list[Any]) -> None:
    by_urn = _by_urn(local_plan)
    dirs = {_part(r): r for r in local_plan if r.type == DIRECTORY}
    deps = {
        p: {_part(by_urn[d]) for d in r.dependencies if d in by_urn and by_urn[d].type == DIRECTORY}
        for p, r in dirs.items()
    }
    # Hand-worked from the pinned tree (see the rendering test below): no chain, several heads.
    assert {p for p, d in deps.items() if not d} == {
        "cert-manager",
        "kubeflow-namespace",
        "istio-crds",
        "istio-namespace",
        "kubeflow-roles",
    }
    assert deps["istio"] == {"istio-crds", "istio-namespace", "kubeflow-namespace"}
    assert deps["pipelines"] == {"kubeflow-namespace", "istio", "cert-manager"}
    assert deps["trainer"] == {"kubeflow-namespace"}  # standalone: not behind Istio
    assert deps["notebook-controller"] == {"kubeflow-namespace", "istio"}


def test_controllers_and_webhooks_outlive_what_users_run_and_crds_their_objects(local_plan: list[Any]) -> None:
    """Pulumi deletes in reverse dependency order: whatever depends on X is deleted before X, and depending on a
    component counts its children (pulumi/pulumi pkg/resource/graph/dependency_graph.go, DependenciesOf). So each
    team's namespace must depend on every install that serves it, and no install on a team's namespace."""
    by_urn = _by_urn(local_plan)
    team_ns = [r for r in local_plan if r.inputs.get("kind") == "Namespace" and r.name.endswith(("-alpha", "-beta"))]
    assert len(team_ns) == 2
    kueue = [r for r in local_plan if r.type == CHART and r.name.endswith("-kueue")]
    dra_driver = [r for r in local_plan if r.type == CHART and r.name.endswith("-dra-driver")]
    installs = [*kueue, *dra_driver, *(r for r in local_plan if r.type == DIRECTORY)]
    assert len(kueue) == 1 and len(dra_driver) == 1 and len(installs) > 10, [r.name for r in installs]
    for ns in team_ns:
        waits_for = _ancestors(ns, by_urn)
        for install in installs:
            assert install.urn in waits_for, f"{install.name} would be deleted before {ns.name} (and users' work)"
            assert ns.urn not in _ancestors(install, by_urn), f"{install.name} waits for {ns.name}"
    profiles = next(r for r in local_plan if r.type == DIRECTORY and r.name.endswith("-profiles"))
    for kind, install in (("Profile", profiles), ("ClusterQueue", kueue[0]), ("LocalQueue", kueue[0])):
        objs = [r for r in local_plan if r.custom and r.inputs.get("kind") == kind]
        assert objs and all(install.urn in _ancestors(o, by_urn) for o in objs), kind


def _render(path: str) -> list[dict[str, Any]]:
    from components import kustomize_mirror
    from components.versions import UPSTREAMS
    from tests.test_e2e_local import tools_bin

    bin_dir = tools_bin()
    name = UPSTREAMS["kubeflow-manifests"].mirror_name
    if bin_dir is None:
        need("tools", "no kubectl under the tools directory (scripts/tools.sh builds it)")
    if not (MIRROR / name).is_dir():
        need("mirror", f"no {MIRROR / name} (the manifest mirror beside the checkout)")
    directory = kustomize_mirror.offline_directory(str(MIRROR), name, path)
    out = subprocess.run([str(bin_dir / "kubectl"), "kustomize", directory], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_kubeflow_needs_cover_what_each_part_s_manifests_use() -> None:
    """The oracle is the pinned manifests themselves: every namespace a part puts objects in, every custom kind
    it creates, is brought by a part it (transitively) needs; cert-manager's and Istio's kinds need the part
    whose webhooks admit them."""
    from components.platform import kubeflow, kubeflow_needs

    plan = kubeflow._common("oauth2-proxy") + [p for c in kubeflow.ORDER for p in kubeflow.COMPONENT_PATHS[c]]
    rendered = {part: _render(path) for part, path in plan}
    makes_ns = {p: {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"} for p, docs in rendered.items()}
    makes_kind = {
        p: {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in docs if d["kind"] == "CustomResourceDefinition"}
        for p, docs in rendered.items()
    }

    def closure(part: str) -> set[str]:
        out = {part}
        for n in kubeflow_needs(part):
            out |= closure(n)
        return out

    for part, docs in rendered.items():
        have = closure(part)
        namespaces = set().union(*(makes_ns[p] for p in have)) | {"kube-system"}
        kinds = set().union(*(makes_kind[p] for p in have))
        all_crds = set().union(*makes_kind.values())
        for d in docs:
            ns = d["metadata"].get("namespace")
            assert ns is None or ns in namespaces, f"{part}: {d['kind']} in namespace {ns}, made by no part it needs"
            group = d["apiVersion"].rpartition("/")[0]
            if (group, d["kind"]) in all_crds:
                assert (group, d["kind"]) in kinds, f"{part}: {d['kind']} ({group}) from no part it needs"
            if group == "cert-manager.io":
                assert "cert-manager" in have, part
            if group.endswith("istio.io"):
                assert "istio" in have or part == "istio", part
