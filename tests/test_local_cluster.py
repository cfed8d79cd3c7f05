"""The local simulated cluster's volume provisioner and pod lifecycle.

Unit tests: which claim gets which PersistentVolume (size, access modes, class, reclaim policy, node
affinity), that WaitForFirstConsumer claims wait for the scheduler's node, and which volumes are deleted.
With the cluster tools built (scripts/tools.sh; skipped otherwise): a cluster of its own in a temporary
state directory, where a WaitForFirstConsumer claim mounted by a Deployment binds and its pod becomes
Ready, its volume goes away with it, a Job's pod completes and Pod Security admission rejects a
privileged pod in a `restricted` namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from aistack.local import cluster, provisioner, seed
from aistack.local.provisioner import ANN_PROVISIONED_BY, ANN_SELECTED_NODE, PROVISIONER, Wait, plan, volume_for
from components.versions import KUBERNETES_MINOR
from tests.conftest import need

TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
ROOT = Path("/state/volumes")


def claim(
    name: str = "data",
    namespace: str = "team-a",
    uid: str = "u-1",
    storage_class: str | None = "fast",
    size: str = "10Gi",
    modes: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    phase: str = "Pending",
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accessModes": modes if modes is not None else ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        **spec,
    }
    if storage_class is not None:
        body["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "annotations": annotations or {}},
        "spec": body,
        "status": {"phase": phase},
    }


def storage_class(
    name: str = "fast", mode: str = "Immediate", provisioner_name: str = "example.com/csi", **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": provisioner_name,
        "volumeBindingMode": mode,
        **extra,
    }


def created(
    claims: list[dict[str, Any]], classes: list[dict[str, Any]], volumes: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    return plan(claims, volumes or [], classes, ROOT).create


# ------------------------------------------------------------------ which claim gets what volume


def test_an_immediate_claim_gets_a_volume_pre_bound_to_it() -> None:
    (pv,) = created([claim(modes=["ReadWriteOnce", "ReadOnlyMany"])], [storage_class(reclaimPolicy="Retain")])
    assert pv["metadata"]["name"] == "pvc-u-1"
    assert pv["metadata"]["annotations"][ANN_PROVISIONED_BY] == PROVISIONER == "aistack.io/simulated"
    assert pv["metadata"]["annotations"][provisioner.ANN_CLASS_PROVISIONER] == "example.com/csi"
    assert pv["metadata"]["labels"] == {provisioner.LABEL: "true"}
    spec = pv["spec"]
    assert spec["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "team-a",
        "name": "data",
        "uid": "u-1",
    }
    assert spec["capacity"] == {"storage": "10Gi"}
    assert spec["accessModes"] == ["ReadWriteOnce", "ReadOnlyMany"]
    assert spec["storageClassName"] == "fast"
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["volumeMode"] == "Filesystem"
    assert spec["hostPath"] == {"path": str(ROOT / "pvc-u-1"), "type": "DirectoryOrCreate"}
    assert "nodeAffinity" not in spec
    kubernetes_validate.validate(pv, KUBERNETES_MINOR, strict=True)


def test_defaults_reclaim_delete_and_rwo_and_the_class_mount_options_and_block_mode() -> None:
    sc = storage_class(mountOptions=["nfsvers=4.1"])
    (pv,) = created([claim(modes=[], volumeMode="Block")], [sc])
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pv["spec"]["mountOptions"] == ["nfsvers=4.1"]
    assert pv["spec"]["volumeMode"] == "Block"
    kubernetes_validate.validate(pv, KUBERNETES_MINOR, strict=True)


def test_wait_for_first_consumer_waits_for_the_schedulers_node() -> None:
    sc = storage_class(mode="WaitForFirstConsumer", provisioner_name="rancher.io/local-path")
    todo = plan([claim()], [], [sc], ROOT)
    assert todo.create == []
    assert todo.waiting == [Wait("team-a/data", "class fast is WaitForFirstConsumer: no node selected yet")]

    (pv,) = created([claim(annotations={ANN_SELECTED_NODE: "system-node-1"})], [sc])
    assert pv["spec"]["nodeAffinity"] == {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["system-node-1"]}]}
            ]
        }
    }
    kubernetes_validate.validate(pv, KUBERNETES_MINOR, strict=True)


def test_static_local_classes_get_a_volume_at_once_the_scheduler_never_picks_a_node_for_them() -> None:
    sc = storage_class(mode="WaitForFirstConsumer", provisioner_name=provisioner.NO_PROVISIONER)
    (pv,) = created([claim()], [sc])
    assert "nodeAffinity" not in pv["spec"]


def test_volume_for_is_what_plan_creates() -> None:
    sc = storage_class()
    assert volume_for(claim(), sc, ROOT) == created([claim()], [sc])[0]


@pytest.mark.parametrize(
    "c",
    [
        claim(storage_class=None),  # no class: only a default class (set by the API server) would give one
        claim(storage_class=""),  # explicitly no class: static binding only
        claim(storage_class="missing"),  # its class does not exist (yet)
        claim(phase="Bound"),
        claim(phase="Lost"),
        claim(volumeName="someone-elses"),  # asks for a named volume
        {**claim(), "metadata": {**claim()["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}},
    ],
    ids=["no-class", "empty-class", "unknown-class", "bound", "lost", "named-volume", "deleting"],
)
def test_claims_that_get_nothing(c: dict[str, Any]) -> None:
    todo = plan([c], [], [storage_class()], ROOT)
    assert todo.create == [] and todo.waiting == []


def test_a_claim_that_already_has_a_volume_gets_no_second() -> None:
    sc = storage_class()
    (ours,) = created([claim()], [sc])
    assert created([claim()], [sc], [ours]) == []
    static = {"metadata": {"name": "admin-made"}, "spec": {"claimRef": {"namespace": "team-a", "name": "data"}}}
    assert created([claim()], [sc], [static]) == []
    # pre-bound to an earlier claim of the same name (another uid): not this claim's
    stale = {"metadata": {"name": "old"}, "spec": {"claimRef": {"namespace": "team-a", "name": "data", "uid": "u-0"}}}
    assert len(created([claim()], [sc], [stale])) == 1


def test_every_pending_claim_of_each_class_is_served_in_one_pass() -> None:
    classes = [storage_class("a"), storage_class("b", mode="WaitForFirstConsumer")]
    claims = [
        claim("x", uid="1", storage_class="a"),
        claim("y", uid="2", storage_class="b"),
        claim("z", uid="3", storage_class="b", annotations={ANN_SELECTED_NODE: "n"}),
    ]
    todo = plan(claims, [], classes, ROOT)
    assert sorted(pv["metadata"]["name"] for pv in todo.create) == ["pvc-1", "pvc-3"]
    assert [w.claim for w in todo.waiting] == ["team-a/y"]


# ------------------------------------------------------------------ which volumes go


def _ours(phase: str, policy: str = "Delete", uid: str = "u-1", **meta: Any) -> dict[str, Any]:
    pv = volume_for(claim(uid=uid), storage_class(reclaimPolicy=policy), ROOT)
    assert isinstance(pv, dict)
    pv["metadata"].update(meta)
    pv["status"] = {"phase": phase}
    return pv


def test_a_released_volume_of_ours_with_reclaim_delete_is_deleted() -> None:
    assert plan([], [_ours("Released")], [], ROOT).delete == ["pvc-u-1"]
    assert plan([], [_ours("Failed")], [], ROOT).delete == ["pvc-u-1"]


@pytest.mark.parametrize(
    ("volume", "claims"),
    [
        (_ours("Released", policy="Retain"), []),
        (_ours("Bound"), []),  # the PV controller has not noticed yet: wait for Released
        (_ours("Available"), []),
        (_ours("Released"), [claim(phase="Bound")]),  # its claim is still there
        (_ours("Released", deletionTimestamp="2026-01-01T00:00:00Z"), []),
        ({**_ours("Released"), "metadata": {"name": "pvc-u-1", "annotations": {}}}, []),  # not ours
    ],
    ids=["retain", "bound", "available", "claim-still-there", "already-deleting", "not-ours"],
)
def test_volumes_that_stay(volume: dict[str, Any], claims: list[dict[str, Any]]) -> None:
    assert plan(claims, [volume], [storage_class()], ROOT).delete == []


def test_a_claim_recreated_under_the_same_name_does_not_keep_the_old_volume() -> None:
    todo = plan([claim(uid="u-2")], [_ours("Released", uid="u-1")], [storage_class()], ROOT)
    assert todo.delete == ["pvc-u-1"]
    assert [pv["metadata"]["name"] for pv in todo.create] == ["pvc-u-2"]


# ------------------------------------------------------------------ the process, against stand-in APIs


class _Resp:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.data = json.dumps({"items": items}).encode()


class FakeApi:
    """What Provisioner.reconcile calls on CoreV1Api and StorageV1Api."""

    def __init__(self, claims: list[dict[str, Any]], volumes: list[dict[str, Any]], classes: list[dict[str, Any]]):
        self.claims, self.volumes, self.classes = claims, volumes, classes
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    def list_persistent_volume_claim_for_all_namespaces(self, **kw: Any) -> _Resp:
        return _Resp(self.claims)

    def list_persistent_volume(self, **kw: Any) -> _Resp:
        return _Resp(self.volumes)

    def list_storage_class(self, **kw: Any) -> _Resp:
        return _Resp(self.classes)

    def create_persistent_volume(self, body: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        if any(v["metadata"]["name"] == body["metadata"]["name"] for v in self.created):
            raise ApiException(status=409)
        self.created.append(body)

    def delete_persistent_volume(self, name: str) -> None:
        self.deleted.append(name)


def test_reconcile_creates_the_directory_and_the_volume_then_deletes_both(tmp_path: Path) -> None:
    api = FakeApi([claim()], [], [storage_class()])
    prov = provisioner.Provisioner(api, api, tmp_path)
    prov.reconcile()
    (pv,) = api.created
    assert Path(pv["spec"]["hostPath"]["path"]) == tmp_path / "pvc-u-1"
    assert (tmp_path / "pvc-u-1").is_dir()
    prov.reconcile()  # the list still misses it (a lagging cache): the 409 is fine
    assert len(api.created) == 1
    api.claims, api.volumes = [], [{**pv, "status": {"phase": "Released"}}]
    prov.reconcile()
    assert api.deleted == ["pvc-u-1"]
    assert not (tmp_path / "pvc-u-1").exists()


# ------------------------------------------------------------------ cluster.py bits that need no cluster


def test_the_provisioner_is_started_with_the_cluster_and_shown_in_status(tmp_path: Path) -> None:
    layout = cluster.Layout(tmp_path)
    argv = cluster.provisioner_argv(layout)
    assert argv[:3] == [sys.executable, "-m", "aistack.local.provisioner"]
    assert f"--kubeconfig={layout.kubeconfig}" in argv
    assert f"--volumes={tmp_path / 'volumes'}" in argv
    assert "provisioner" in cluster.status(layout)["components"]


def test_a_pid_counts_as_ours_only_while_it_runs_the_recorded_module(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _until("exec done", lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes(), 5)  # empty until then
        assert cluster._alive(proc.pid, sys.executable)
        assert cluster._alive(proc.pid, sys.executable, "-c")
        assert not cluster._alive(proc.pid, sys.executable, cluster.PROVISIONER_MODULE)
        layout = cluster.Layout(tmp_path)
        record = {"pid": proc.pid, "binary": sys.executable, "log": "x", "module": cluster.PROVISIONER_MODULE}
        layout.pids.write_text(json.dumps({"provisioner": record}))
        assert cluster.running(layout) == {}  # a reused pid is not the provisioner
    finally:
        proc.kill()
        proc.wait()


def test_kwok_hands_out_pod_ips_from_a_range_with_room(tmp_path: Path) -> None:
    ports = dict.fromkeys(("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"), 1)
    argv = cluster.command_lines(cluster.Layout(tmp_path), tmp_path / "bin", ports)["kwok"]
    assert f"--cidr={cluster.POD_RANGE}" in argv


def test_the_local_stack_gets_three_system_nodes_and_its_gpu_nodes_unchanged() -> None:
    from components.spec import load_stack

    nodes = {n["metadata"]["name"]: n["status"]["capacity"] for n in seed.fake_nodes(load_stack("local").spec)}
    system = {k: v for k, v in nodes.items() if k.startswith("system-node-")}
    assert sorted(system) == ["system-node-0", "system-node-1", "system-node-2"]
    assert all(c == seed.SYSTEM_NODE for c in system.values())
    # The platform's ~80 pods (18 of them DaemonSet pods on these nodes) and ~9 CPU fit with room to spare.
    assert sum(int(c["pods"]) for c in system.values()) >= 4 * 80
    assert sum(int(c["cpu"]) for c in system.values()) >= 5 * 9
    assert nodes["gpu-node-0"] == nodes["gpu-node-1"] == {**seed.GPU_NODE, "nvidia.com/gpu": "8"}


# ------------------------------------------------------------------ a real cluster (tools built)


def _tools() -> Path | None:
    for bin_dir in sorted(TOOLS.glob("*/bin")):
        if all((bin_dir / c).exists() for c in cluster.COMPONENTS):
            return bin_dir
    return None


def _until(what: str, ok: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = ok()
        except Exception:  # e.g. 404 while the object appears
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bin_dir = _tools()
    if bin_dir is None:
        need("tools", f"no local-cluster tools under {TOOLS} (scripts/tools.sh builds them)")
    from kubernetes import client, config

    layout = cluster.Layout(tmp_path_factory.mktemp("cluster"))
    cluster.up(bin_dir, layout)
    try:
        _until("provisioner running", lambda: "provisioner" in cluster.running(layout), 5)
        nodes = [seed.node(f"system-node-{i}", seed.SYSTEM_NODE) for i in range(2)]
        seed.apply(layout.kubeconfig, nodes)
        api = config.new_client_from_config(config_file=str(layout.kubeconfig))  # type: ignore[no-untyped-call]
        core = client.CoreV1Api(api)

        def nodes_ready() -> bool:
            items = core.list_node().items
            ready = [
                n for n in items if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            ]
            return len(ready) == len(nodes)

        _until("fake nodes Ready", nodes_ready)
        ns = "volumes-test"
        core.create_namespace({"metadata": {"name": ns}})
        _until("default service account", lambda: core.read_namespaced_service_account("default", ns))
        yield {
            "layout": layout,
            "core": core,
            "apps": client.AppsV1Api(api),
            "batch": client.BatchV1Api(api),
            "storage": client.StorageV1Api(api),
            "ns": ns,
        }
    finally:
        stopped = cluster.down(layout)
    assert "provisioner" in stopped


@pytest.mark.e2e
def test_fake_nodes_hold_leases_so_the_controller_manager_never_marks_them_not_ready(kube: dict[str, Any]) -> None:
    """Without KWOK's node leases nodes flapped NotReady every ~55 s in `pulumi up`, taking pods' readiness along."""
    from kubernetes import client

    coord = client.CoordinationV1Api(kube["core"].api_client)
    leases = _until("node leases", lambda: coord.list_namespaced_lease("kube-node-lease").items)
    assert {lease.metadata.name for lease in leases} == {"system-node-0", "system-node-1"}
    for lease in leases:
        assert lease.spec.holder_identity and lease.spec.lease_duration_seconds == cluster.NODE_LEASE_S
    first = {lease.metadata.name: lease.spec.renew_time for lease in leases}

    def renewed() -> bool:
        now = {
            lease.metadata.name: lease.spec.renew_time for lease in coord.list_namespaced_lease("kube-node-lease").items
        }
        return all(now[n] > first[n] for n in first)

    _until("leases renewed", renewed, timeout=cluster.NODE_LEASE_S / 2)


@pytest.mark.e2e
def test_a_wffc_claim_binds_on_the_pods_node_its_pod_gets_ready_and_its_volume_goes_with_it(
    kube: dict[str, Any],
) -> None:
    core, apps, ns = kube["core"], kube["apps"], kube["ns"]
    kube["storage"].create_storage_class(
        {
            "metadata": {"name": "wffc"},
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        }
    )
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": "data"},
            "spec": {
                "storageClassName": "wffc",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )
    labels = {"app": "with-volume"}
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "with-volume"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}
                        ],
                        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                    },
                },
            },
        },
    )
    pvc = _until(
        "claim Bound",
        lambda: (c := core.read_namespaced_persistent_volume_claim("data", ns)).status.phase == "Bound" and c,
    )
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.metadata.annotations[ANN_PROVISIONED_BY] == PROVISIONER
    assert pv.spec.capacity["storage"] == "5Gi"
    node = pvc.metadata.annotations[ANN_SELECTED_NODE]
    assert pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == [node]
    assert Path(pv.spec.host_path.path).parent == kube["layout"].root / "volumes"

    def pod_ready() -> Any:
        pods = core.list_namespaced_pod(ns, label_selector="app=with-volume").items
        ok = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        return ok[0] if ok else None

    pod = _until("pod Ready", pod_ready)
    assert pod.spec.node_name == node
    _until("Deployment available", lambda: apps.read_namespaced_deployment("with-volume", ns).status.available_replicas)

    apps.delete_namespaced_deployment("with-volume", ns)
    core.delete_namespaced_persistent_volume_claim("data", ns)
    names = lambda: [v.metadata.name for v in core.list_persistent_volume().items]  # noqa: E731
    _until("volume deleted with its claim", lambda: pv.metadata.name not in names(), timeout=40)
    assert not Path(pv.spec.host_path.path).exists()


@pytest.mark.e2e
def test_an_immediate_claim_binds_without_a_pod(kube: dict[str, Any]) -> None:
    core, ns = kube["core"], kube["ns"]
    kube["storage"].create_storage_class(
        {"metadata": {"name": "immediate"}, "provisioner": "example.com/nfs", "reclaimPolicy": "Retain"}
    )
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": "shared"},
            "spec": {
                "storageClassName": "immediate",
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    pvc = _until(
        "claim Bound",
        lambda: (c := core.read_namespaced_persistent_volume_claim("shared", ns)).status.phase == "Bound" and c,
    )
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.spec.access_modes == ["ReadWriteMany"] and pv.spec.node_affinity is None
    core.delete_namespaced_persistent_volume_claim("shared", ns)
    _until("Retain: released, kept", lambda: core.read_persistent_volume(pv.metadata.name).status.phase == "Released")


@pytest.mark.e2e
def test_a_jobs_pod_completes(kube: dict[str, Any]) -> None:
    batch, ns = kube["batch"], kube["ns"]
    batch.create_namespaced_job(
        ns,
        {
            "metadata": {"name": "once"},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}},
            },
        },
    )

    def complete() -> bool:
        conditions = batch.read_namespaced_job("once", ns).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    _until("Job Complete", complete)
    pods = kube["core"].list_namespaced_pod(ns, label_selector="job-name=once").items
    assert [p.status.phase for p in pods] == ["Succeeded"]


@pytest.mark.e2e
def test_pod_security_admission_enforces_namespace_levels(kube: dict[str, Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    core = kube["core"]
    core.create_namespace(
        {"metadata": {"name": "restricted-test", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    _until("default service account", lambda: core.read_namespaced_service_account("default", "restricted-test"))
    pod = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as denied:
        core.create_namespaced_pod("restricted-test", pod, dry_run="All")
    assert denied.value.status == 403 and "violates PodSecurity" in str(denied.value.body)


def test_the_kueue_manager_is_picked_by_the_charts_version(tmp_path: Path) -> None:
    """Today's pin runs `kueue` (or kueue-v0.19.2); the previous chart 0.18.6 runs the v0.18.4 build (the module
    proxy serves no v0.18.5 or v0.18.6); a version nobody built has no manager."""
    for name in ("kueue", "kueue-v0.18.4"):
        (tmp_path / name).write_text("")
    assert cluster.kueue_binary(tmp_path, "0.19.2") == tmp_path / "kueue"
    assert cluster.kueue_binary(tmp_path, "0.18.6") == tmp_path / "kueue-v0.18.4"
    assert cluster.kueue_binary(tmp_path, "0.17.0") is None
