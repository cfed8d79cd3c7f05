"""GPUs through Dynamic Resource Allocation (issue #27): the spec rules per target, the platform objects
(NVIDIA's DRA driver chart values, DeviceClasses, claim templates, Kueue's deviceClassMappings), the local
cluster's ResourceSlices and the GKE node pool. Expected values are hand-written from the upstream sources:
the nvidia-dra-driver-gpu 25.12.0 chart in ../shared/mirror, cmd/gpu-kubelet-plugin/deviceinfo.go and
partitions.go at v25.12.0 of kubernetes-sigs/dra-driver-nvidia-gpu, Kueue v0.19.2 (pkg/dra/claims.go,
pkg/config/validation.go) and GKE's "Prepare GKE infrastructure for DRA workloads".
"""

from __future__ import annotations

import asyncio
import copy
import tarfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from aistack.local import cluster, seed
from components import upstream_fixes
from components.handle import NvidiaStack, accelerator_inventory
from components.platform import dra, scheduling
from components.spec import SpecError, parse_spec
from components.spec.dra import notes
from components.targets.gke.nodepools import accelerator_pool_args
from components.versions import KUBERNETES_MINOR, UPSTREAMS
from tests.chart_values import load_chart, unknown_keys
from tests.conftest import ROOT, need, plan_values, stack_values

MIRROR = (ROOT.parent / "shared" / "mirror").resolve()
DRA_TGZ = MIRROR / "nvidia-dra-driver-gpu-25.12.0.tgz"
OPERATOR_TGZ = MIRROR / "gpu-operator-v26.7.0.tgz"
CHART = "kubernetes:helm.sh/v4:Chart"
# What the kubelet plugin publishes for a whole GPU (partitions.go PartDevAttributes, v25.12.0), by hand.
PUBLISHED_ATTRIBUTES = {
    "type",
    "uuid",
    "productName",
    "brand",
    "architecture",
    "cudaComputeCapability",
    "driverVersion",
    "cudaDriverVersion",
    "resource.kubernetes.io/pciBusID",
}

H100_DRA = {"name": "train", "accelerator": "nvidia-h100-80gb", "count": 8, "allocation": "dra"}


def onprem(*pools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    listed = [{**p, "nodes": p.get("nodes", [f"{p['name']}-0"])} for p in pools]
    return {
        "target": "onprem",
        "region": "dc1",
        "accelerator_pools": listed,
        "storage": {"default_storage_class": "ceph-rbd"},
        **extra,
    }


def gcp(*pools: dict[str, Any], version: str | None = "1.34") -> dict[str, Any]:
    cluster_spec = {"kubernetes_version": version} if version else {}
    return {
        "target": "gcp",
        "region": "us-central1",
        "project": "acme-ml-prod",
        "cluster": cluster_spec,
        "accelerator_pools": list(pools),
    }


def aws(*pools: dict[str, Any]) -> dict[str, Any]:
    return {"target": "aws", "region": "us-east-1", "accelerator_pools": list(pools)}


def issues(values: dict[str, Any]) -> list[Any]:
    try:
        parse_spec(values)
    except SpecError as exc:
        return list(exc.issues)
    return []


def paths(values: dict[str, Any]) -> dict[str, str]:
    return {i.path: str(i) for i in issues(values)}


# ----------------------------------------------------------------------------------- spec rules


def test_allocation_defaults_to_the_device_plugin_and_onprem_takes_dra() -> None:
    spec = parse_spec(onprem({"name": "a", "accelerator": "nvidia-h100-80gb"}))
    assert spec.accelerator_pools[0].allocation == "device-plugin"
    assert notes(spec) == []
    assert issues(onprem(H100_DRA)) == []


def test_the_tech_preview_note_is_said_once_per_stack() -> None:
    spec = parse_spec(onprem(H100_DRA, {**H100_DRA, "name": "infer", "count": 2}))
    (note,) = notes(spec)
    assert "technology preview" in note and "gpuResourcesEnabledOverride" in note


def test_an_unknown_allocation_is_refused_with_the_choices() -> None:
    found = paths(onprem({**H100_DRA, "allocation": "dynamic"}))
    assert "accelerator_pools[0].allocation" in found


@pytest.mark.parametrize("target", ["onprem", "gcp", "aws"])
def test_mig_on_a_dra_pool_is_refused_everywhere(target: str) -> None:
    pool = {**H100_DRA, "sharing": {"mode": "mig", "profile": "1g.10gb"}, "min_nodes": 1, "max_nodes": 1}
    values = {"onprem": onprem, "gcp": gcp, "aws": aws}[target](pool)
    text = paths(values)["accelerator_pools[0].sharing.mode"]
    assert "DRAPartitionableDevices" in text and "alpha" in text and "To fix: " in text


@pytest.mark.parametrize("target", ["onprem", "gcp", "aws"])
def test_time_slicing_on_a_dra_pool_is_refused_with_the_reason(target: str) -> None:
    pool = {**H100_DRA, "sharing": {"mode": "time-slicing", "replicas": 4}, "min_nodes": 1, "max_nodes": 1}
    values = {"onprem": onprem, "gcp": gcp, "aws": aws}[target](pool)
    text = paths(values)["accelerator_pools[0].sharing.mode"]
    assert "device plugin" in text and "ResourceClaim" in text
    assert text.split("To fix: ")[1].startswith("set sharing.mode: none")


def test_dra_is_for_nvidia_gpus() -> None:
    pool = {"name": "tpu", "accelerator": "tpu-v5e", "count": 8, "tpu_topology": "2x4", "allocation": "dra"}
    values = gcp(pool)
    values["zones"] = ["us-central1-a"]
    text = paths(values)["accelerator_pools[0].allocation"]
    assert "NVIDIA GPUs" in text and "To fix: remove allocation" in text


def test_gke_needs_1_34() -> None:
    unpinned = paths(gcp(H100_DRA, version=None))["cluster.kubernetes_version"]
    assert "1.34" in unpinned and "To fix: pin cluster.kubernetes_version: '1.34'" in unpinned
    old = paths(gcp(H100_DRA, version="1.33"))["cluster.kubernetes_version"]
    assert "the cluster is 1.33" in old
    assert "cluster.kubernetes_version" not in paths(gcp(H100_DRA, version="1.35"))
    # a device-plugin pool needs no pin
    assert "cluster.kubernetes_version" not in paths(gcp({**H100_DRA, "allocation": "device-plugin"}, version=None))


def test_gke_refuses_a_label_that_would_keep_its_device_plugin_on() -> None:
    pool = {**H100_DRA, "labels": {"gke-no-default-nvidia-gpu-device-plugin": "false"}}
    text = paths(gcp(pool))["accelerator_pools[0].labels.gke-no-default-nvidia-gpu-device-plugin"]
    assert "To fix: remove the label" in text


def test_eks_refuses_dra_on_a_pool_karpenter_scales_and_takes_a_fixed_one() -> None:
    text = paths(aws({**H100_DRA, "min_nodes": 0, "max_nodes": 2}))["accelerator_pools[0].allocation"]
    assert "https://github.com/aws/karpenter-provider-aws/issues/9519" in text
    assert "To fix: make it a fixed-size pool (min_nodes: 2, max_nodes: 2)" in text
    assert "accelerator_pools[0].allocation" not in paths(aws({**H100_DRA, "min_nodes": 2, "max_nodes": 2}))


def test_at_most_16_dra_pools_as_kueue_maps_at_most_16_device_classes() -> None:
    pools = [{**H100_DRA, "name": f"p{i}", "count": 1} for i in range(17)]
    assert "accelerator_pools[16].allocation" in paths(onprem(*pools))
    assert "accelerator_pools[15].allocation" not in paths(onprem(*pools[:16]))


# ----------------------------------------------------------------------------------- inventory


def test_inventory_counts_dra_pools_as_their_own_resource_and_keeps_the_device_plugin_off() -> None:
    spec = parse_spec(onprem(H100_DRA, {"name": "plain", "accelerator": "nvidia-h100-80gb", "count": 8}))
    dra_pool, plain = accelerator_inventory(spec)
    assert (dra_pool.allocation, dra_pool.resource_name, dra_pool.device_class) == (
        "dra",
        "gpu.aistack.io/train",
        "train.gpu.aistack.io",
    )
    assert dra_pool.node_labels["nvidia.com/gpu.deploy.device-plugin"] == "false"
    assert (plain.allocation, plain.resource_name, plain.device_class) == ("device-plugin", "nvidia.com/gpu", None)
    assert "nvidia.com/gpu.deploy.device-plugin" not in plain.node_labels


# ----------------------------------------------------------------------------------- platform objects


def _local() -> tuple[Any, tuple[Any, ...]]:
    from components.spec import load_stack

    spec = load_stack("local").spec
    return spec, accelerator_inventory(spec)


def test_one_device_class_per_dra_pool_selecting_the_drivers_whole_gpus_of_the_model() -> None:
    _, inventory = _local()
    (cls,) = dra.device_classes(inventory)
    assert cls["metadata"]["name"] == "h100-dra.gpu.aistack.io"
    assert cls["spec"] == {
        "selectors": [
            {
                "cel": {
                    "expression": "device.driver == 'gpu.nvidia.com' && "
                    "device.attributes['gpu.nvidia.com'].type == 'gpu' && "
                    "device.attributes['gpu.nvidia.com'].productName in ['NVIDIA H100 80GB HBM3']"
                }
            }
        ]
    }
    assert "extendedResourceName" not in cls["spec"]  # alpha in 1.34: dropped by the API server, a permanent diff
    kubernetes_validate.validate(cls, KUBERNETES_MINOR, strict=True)


def test_claim_templates_one_gpu_and_a_whole_node_as_exact_counts() -> None:
    spec, inventory = _local()
    alpha = next(t for t in spec.teams if t.name == "alpha")
    templates = {t["metadata"]["name"]: t for t in dra.claim_templates(alpha, inventory)}
    assert set(templates) == {"h100-dra-gpu", "h100-dra-node"}
    for name, count in (("h100-dra-gpu", 1), ("h100-dra-node", 2)):  # the local dra pool has 2 GPUs a node
        tpl = templates[name]
        assert tpl["metadata"]["namespace"] == "alpha"
        assert tpl["spec"]["spec"]["devices"]["requests"] == [
            {
                "name": "gpu",
                "exactly": {
                    "deviceClassName": "h100-dra.gpu.aistack.io",
                    "allocationMode": "ExactCount",
                    "count": count,
                },
            }
        ]
        kubernetes_validate.validate(tpl, KUBERNETES_MINOR, strict=True)


def test_kueue_counts_each_dra_pool_class_as_the_quota_resource_of_its_flavor() -> None:
    spec, inventory = _local()
    config = yaml.safe_load(scheduling.kueue_values(spec, inventory)["managerConfig"]["controllerManagerConfigYaml"])
    assert config["resources"]["deviceClassMappings"] == [
        {"name": "gpu.aistack.io/h100-dra", "deviceClassNames": ["h100-dra.gpu.aistack.io"]}
    ]
    alpha = next(t for t in spec.teams if t.name == "alpha")
    groups = scheduling.cluster_queue(alpha, inventory)["spec"]["resourceGroups"]
    (group,) = [g for g in groups if g["coveredResources"] == ["gpu.aistack.io/h100-dra"]]
    assert group["flavors"] == [
        {"name": "h100-dra", "resources": [{"name": "gpu.aistack.io/h100-dra", "nominalQuota": "2"}]}
    ]
    # no dra pool: no mapping at all
    plain = parse_spec(onprem({"name": "a", "accelerator": "nvidia-h100-80gb"}))
    assert "resources" not in scheduling.kueue_config(plain, accelerator_inventory(plain))


def test_the_local_host_process_kueue_runs_what_aistack_renders() -> None:
    layout = cluster.Layout(Path("/tmp/aistack-test-state"))
    ports = {"kueue-health": 1, "kueue-metrics": 2, "kueue-webhook": 3}
    config = cluster.kueue_config(layout, ports, cluster.rendered_kueue_config("local"))
    assert config["resources"]["deviceClassMappings"] == [
        {"name": "gpu.aistack.io/h100-dra", "deviceClassNames": ["h100-dra.gpu.aistack.io"]}
    ]
    assert config["metrics"] == {"bindAddress": "127.0.0.1:2", "enableClusterQueueResources": True}
    assert config["webhook"]["port"] == 3 and config["leaderElection"] == {"leaderElect": False}


def test_driver_values_pin_the_api_place_the_controller_and_plugin_and_exist_in_the_chart() -> None:
    _, inventory = _local()
    values = dra.driver_values(inventory, NvidiaStack())
    assert values["gpuResourcesEnabledOverride"] is True
    assert values["resourceApiVersion"] == "resource.k8s.io/v1"
    assert values["nvidiaDriverRoot"] == "/run/nvidia/driver"  # the GPU Operator installs the driver here
    assert values["resources"] == {"gpus": {"enabled": True}, "computeDomains": {"enabled": False}}
    terms = values["controller"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "aistack.io/pool", "operator": "NotIn", "values": ["h100", "h100-dra"]}]}
    ]
    assert values["controller"]["tolerations"] == []  # not the control-plane toleration of the defaults
    plugin = values["kubeletPlugin"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert plugin["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "aistack.io/pool", "operator": "In", "values": ["h100-dra"]}]}
    ]
    assert values["kubeletPlugin"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert dra.driver_values(inventory, NvidiaStack(driver=True))["nvidiaDriverRoot"] == "/"
    gke_root = NvidiaStack(driver=True, driver_root="/home/kubernetes/bin/nvidia")
    assert dra.driver_values(inventory, gke_root)["nvidiaDriverRoot"] == "/home/kubernetes/bin/nvidia"
    if not DRA_TGZ.is_file():
        need("mirror", f"no {MIRROR} here: the pinned charts are read from it")
    assert list(unknown_keys(load_chart(DRA_TGZ), values)) == []
    assert list(unknown_keys(load_chart(DRA_TGZ), {"resourceApiVersoin": "x"})) == ["resourceApiVersoin"]


def test_compute_domains_follow_multi_node_nvlink_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    _, inventory = _local()
    assert not dra.compute_domains(inventory)
    assert [o["kind"] for o in dra.cluster_objects(inventory)] == ["DeviceClass"]
    monkeypatch.setattr(dra, "MULTI_NODE_NVLINK", frozenset({"nvidia-h100-80gb"}))
    assert dra.driver_values(inventory, NvidiaStack())["resources"]["computeDomains"] == {"enabled": True}
    role = dra.cluster_objects(inventory)[-1]
    assert role["metadata"]["labels"] == {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}
    assert role["rules"][0]["resources"] == ["computedomains"]
    kubernetes_validate.validate(role, KUBERNETES_MINOR, strict=True)


def _crds(tgz: Path) -> dict[str, bytes]:
    with tarfile.open(tgz) as tar:
        return {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if "/crds/resource.nvidia.com_" in m.name and "/charts/" not in m.name
        }


def test_exactly_one_chart_installs_the_computedomain_crds() -> None:
    if not (DRA_TGZ.is_file() and OPERATOR_TGZ.is_file()):
        need("mirror", f"no {MIRROR} here: the pinned charts are read from it")
    # Why one must skip them: both charts ship the same two CRDs, byte for byte.
    assert _crds(DRA_TGZ) == _crds(OPERATOR_TGZ) and len(_crds(DRA_TGZ)) == 2
    assert dra.driver_owns_crds(operator_installed=True) is False
    assert dra.driver_owns_crds(operator_installed=False) is True
    values = stack_values("local")
    values["upstream"] = {"install": True, "charts_mirror": str(MIRROR), "manifests_mirror": str(MIRROR)}
    charts = {r.name: r.inputs for r in plan_values(values) if r.type == CHART}
    driver = next(v for k, v in charts.items() if k.endswith("-dra-driver"))
    operator = next(v for k, v in charts.items() if k.endswith("-gpu-operator"))
    assert driver["skipCrds"] is True and not operator.get("skipCrds")


def test_the_drivers_own_device_class_loses_its_alpha_field() -> None:
    rendered = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": "gpu.nvidia.com"},
        "spec": {"selectors": [{"cel": {"expression": "x"}}], "extendedResourceName": "nvidia.com/gpu"},
    }
    fixed = upstream_fixes.fix(upstream_fixes.DEVICE_CLASS, copy.deepcopy(rendered))
    assert fixed is not None and fixed["spec"] == {"selectors": [{"cel": {"expression": "x"}}]}
    assert fixed["metadata"] == rendered["metadata"]
    assert upstream_fixes.fix(upstream_fixes.DEVICE_CLASS, {**rendered, "spec": fixed["spec"]}) is None
    # the Pulumi transform hands back the object as fix() wrote it (its own loop: the default one stays open)
    args = pulumi.ResourceTransformArgs(
        custom=True,
        type_=upstream_fixes.DEVICE_CLASS,
        name="n",
        props=copy.deepcopy(rendered),
        opts=pulumi.ResourceOptions(),
    )
    loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(upstream_fixes.transform(args))
    finally:
        loop.close()
    assert result is not None and result.props == {**rendered, "spec": {"selectors": [{"cel": {"expression": "x"}}]}}


def test_the_dra_objects_are_the_same_on_every_target() -> None:
    """Parity: the platform branches on the pool's allocation mode; only the driver root is a handle fact."""

    def dra_objects(values: dict[str, Any]) -> dict[str, Any]:
        values = {**values, "teams": [{"name": "research", "quotas": {"train": 8}}]}
        out = {}
        for r in plan_values(values):
            kind = r.inputs.get("kind")
            if kind in ("DeviceClass", "ResourceClaimTemplate"):
                out[r.inputs["metadata"]["name"]] = r.inputs
            if r.type.startswith("kubernetes:kueue") and kind == "ClusterQueue":
                out["cq"] = r.inputs["spec"]["resourceGroups"][1:]
        return out

    pool = {**H100_DRA, "min_nodes": 1, "max_nodes": 1}
    found = [
        dra_objects(onprem({**pool, "nodes": ["n0"]})),
        dra_objects(gcp(pool)),
        dra_objects(aws(pool)),
    ]
    assert set(found[0]) == {"train.gpu.aistack.io", "train-gpu", "train-node", "cq"}
    assert found[0] == found[1] == found[2]


# ----------------------------------------------------------------------------------- GKE


def test_a_gke_dra_pool_has_no_driver_install_and_the_label_on_its_node_template() -> None:
    """Checked in the plan: the node pool's labels are the node template the cluster autoscaler reads, so it
    knows a new node of the pool (from zero) comes without GKE's device plugin, its GPUs published by DRA."""
    values = gcp(H100_DRA, {**H100_DRA, "name": "plain", "allocation": "device-plugin"})
    pools = {r.name: r.inputs for r in plan_values(values) if r.type == "gcp:container/nodePool:NodePool"}
    dra_pool, plain = pools["aistack-target-train"], pools["aistack-target-plain"]
    (acc,) = dra_pool["nodeConfig"]["guestAccelerators"]
    assert acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "INSTALLATION_DISABLED"}
    assert dra_pool["nodeConfig"]["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"
    assert dra_pool["autoscaling"]["totalMinNodeCount"] == 0  # and it scales from zero
    (plain_acc,) = plain["nodeConfig"]["guestAccelerators"]
    assert plain_acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert "gke-no-default-nvidia-gpu-device-plugin" not in plain["nodeConfig"]["labels"]
    # the pure function says the same
    spec = parse_spec(values)
    args = accelerator_pool_args(spec, spec.accelerator_pools[0], accelerator_inventory(spec)[0], "sa", None)
    assert args["node_config"]["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"


# ----------------------------------------------------------------------------------- the local cluster


def test_local_dra_nodes_publish_resource_slices_in_the_drivers_format() -> None:
    spec, _ = _local()
    nodes = {n["metadata"]["name"]: n for n in seed.fake_nodes(spec)}
    assert "nvidia.com/gpu" not in nodes["gpu-dra-node-0"]["status"]["capacity"]  # no device plugin there
    assert nodes["gpu-node-0"]["status"]["capacity"]["nvidia.com/gpu"] == "8"
    slices = seed.resource_slices(spec)
    assert [s["spec"]["nodeName"] for s in slices] == ["gpu-dra-node-0", "gpu-dra-node-1"]
    for s in slices:
        kubernetes_validate.validate(s, KUBERNETES_MINOR, strict=True)
        assert s["spec"]["driver"] == "gpu.nvidia.com"
        assert s["spec"]["pool"] == {"name": s["spec"]["nodeName"], "generation": 1, "resourceSliceCount": 1}
        assert [d["name"] for d in s["spec"]["devices"]] == ["gpu-0", "gpu-1"]
        for device in s["spec"]["devices"]:
            assert set(device["attributes"]) == PUBLISHED_ATTRIBUTES
            assert device["attributes"]["type"] == {"string": "gpu"}
            assert device["attributes"]["productName"] == {"string": "NVIDIA H100 80GB HBM3"}
            assert device["capacity"] == {"memory": {"value": "81559Mi"}}
    uuids = [d["attributes"]["uuid"]["string"] for s in slices for d in s["spec"]["devices"]]
    assert len(set(uuids)) == 4


def test_the_dra_chart_is_pinned_and_mirrored() -> None:
    u = UPSTREAMS["nvidia-dra-driver-gpu"]
    assert (u.kind, u.name, u.version) == ("chart", "nvidia-dra-driver-gpu", "25.12.0")
    assert u.mirror_name == DRA_TGZ.name


def test_kwok_leaves_pods_labelled_keep_running_running(tmp_path: Path) -> None:
    """The e2e DRA Jobs hold their quota and devices: KWOK's pod-complete stage skips their pods."""
    stages = tmp_path / "tools" / "kwok-stages"
    stages.mkdir(parents=True)
    complete = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "pod-complete"},
        "spec": {"selector": {"matchExpressions": [{"key": ".status.phase", "operator": "In", "values": ["Running"]}]}},
    }
    (stages / "pod-complete.yaml").write_text(yaml.safe_dump(complete))
    (stages / "pod-ready.yaml").write_text("kind: Stage\nmetadata: {name: pod-ready}\n")
    layout = cluster.Layout(tmp_path / "state")
    found = cluster.kwok_stages(tmp_path / "tools" / "bin", layout)
    assert [p.name for p in found] == ["pod-complete.yaml", "pod-ready.yaml"]
    assert found[1] == stages / "pod-ready.yaml"  # untouched stages are used where they are
    patched = yaml.safe_load(found[0].read_text())
    assert found[0].parent == layout.root / "kwok-stages"
    assert patched["spec"]["selector"]["matchExpressions"] == [
        {"key": ".status.phase", "operator": "In", "values": ["Running"]},
        {"key": '.metadata.labels["aistack.io/keep-running"]', "operator": "DoesNotExist"},
    ]
