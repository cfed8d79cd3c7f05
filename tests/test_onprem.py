"""On-prem target layer under Pulumi mocks: kubeconfig wiring, node patches, storage options,
object store and MetalLB. Real planned resources of the real program; the cluster's nodes come
from a fake NodeSource (what the Kubernetes client would read at deploy time)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aistack.offline import PlannedResource
from components.spec import SpecError, load_stack, parse_spec
from components.targets import onprem
from components.targets.onprem import nodes
from components.targets.onprem.nodes import PATCH_FORCE, ExistingNode, merged_taints
from components.versions import UPSTREAMS
from tests.conftest import ROOT, of_type, plan_values
from tests.test_simulated import needs_mirror, rendered_upstreams

CHART = "kubernetes:helm.sh/v4:Chart"
NODE_PATCH = "kubernetes:core/v1:NodePatch"
ADMIN_TAINT = {"key": "dedicated", "value": "ml-research", "effect": "NoSchedule"}
CORDON = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class FakeCluster:
    """Nodes as the Kubernetes client would return them."""

    offline = False

    def __init__(self, existing: Sequence[ExistingNode]) -> None:
        self.by_name = {n.name: n for n in existing}

    def named(self, names: Sequence[str]) -> list[ExistingNode]:
        missing = [n for n in names if n not in self.by_name]
        if missing:
            raise LookupError(f"node '{missing[0]}' ... does not exist. To fix: correct the pool's nodes list")
        return [self.by_name[n] for n in names]

    def selected(self, selector: Mapping[str, str]) -> list[ExistingNode]:
        return [n for n in self.by_name.values() if all(n.labels.get(k) == v for k, v in selector.items())]


CLUSTER = FakeCluster(
    [
        ExistingNode("dgx-1", (ADMIN_TAINT,)),
        ExistingNode("dgx-2", (CORDON,)),
        ExistingNode("a100-1", (), {"rack": "r12"}),
        ExistingNode("a100-2", (), {"rack": "r12"}),
        ExistingNode("cpu-1", (), {"rack": "r13"}),
    ]
)


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    before = onprem.node_source
    onprem.node_source = lambda spec: CLUSTER
    yield CLUSTER
    onprem.node_source = before


def base(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "target": "onprem",
        "region": "dc1",
        "storage": {"default_storage_class": "ceph-rbd"},
        "accelerator_pools": [
            {"name": "dgx", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2, "nodes": ["dgx-1", "dgx-2"]},
            {
                "name": "a100",
                "accelerator": "nvidia-a100-80gb",
                "count": 8,
                "max_nodes": 2,
                "node_selector": {"rack": "r12"},
                "taints": [{"key": "team", "value": "vision", "effect": "NoSchedule"}],
            },
        ],
        "teams": [{"name": "vision", "quotas": {"dgx": 8}}],
        "kubeflow": {"components": ["profiles", "pipelines"]},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return values


def kinds(resources: list[PlannedResource], kind: str) -> list[PlannedResource]:
    return [r for r in resources if r.inputs.get("kind") == kind]


def chart(resources: list[PlannedResource], key: str) -> PlannedResource:
    (found,) = [r for r in of_type(resources, CHART) if UPSTREAMS[key].name in str(r.inputs.get("chart"))]
    return found


# ------------------------------------------------------------------ kubeconfig


def test_kubeconfig_path_and_context_reach_the_provider(cluster: FakeCluster) -> None:
    res = plan_values(base(cluster={"kubeconfig": "~/.kube/site.yaml", "context": "ai-prod"}))
    (provider,) = of_type(res, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == str(Path("~/.kube/site.yaml").expanduser())
    assert provider.inputs["context"] == "ai-prod"
    # Every object on the cluster goes through this provider, none through the ambient one.
    assert all(r.urn.split("::")[-1] for r in of_type(res, NODE_PATCH))


def test_inline_kubeconfig_is_a_secret(cluster: FakeCluster) -> None:
    inline = "apiVersion: v1\nkind: Config\nclusters: []\n"
    (provider,) = of_type(plan_values(base(cluster={"kubeconfig": inline})), "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"


# ------------------------------------------------------------------ nodes


def patches(res: list[PlannedResource], node: str) -> dict[str, PlannedResource]:
    out = {}
    for r in of_type(res, NODE_PATCH):
        if r.inputs["metadata"]["name"] == node:
            out["taints" if "spec" in r.inputs else "labels"] = r
    return out


def test_named_and_selected_nodes_get_the_pool_labels_and_taints(cluster: FakeCluster) -> None:
    res = plan_values(base())
    patched = {r.inputs["metadata"]["name"] for r in of_type(res, NODE_PATCH)}
    assert patched == {"dgx-1", "dgx-2", "a100-1", "a100-2"}, "cpu-1 is in rack r13, not the pool's"
    dgx = patches(res, "dgx-1")
    assert dgx["labels"].inputs["metadata"]["labels"]["aistack.io/pool"] == "dgx"
    assert dgx["labels"].inputs["metadata"]["labels"]["aistack.io/accelerator"] == "nvidia-h100-80gb"
    a100 = patches(res, "a100-2")["taints"].inputs["spec"]["taints"]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in a100
    assert {"key": "team", "value": "vision", "effect": "NoSchedule"} in a100


def test_label_patch_owns_only_aistack_labels(cluster: FakeCluster) -> None:
    labels = patches(plan_values(base()), "a100-1")["labels"]
    assert set(labels.inputs["metadata"]) == {"name", "labels"}
    assert "rack" not in labels.inputs["metadata"]["labels"], "the selector's own label stays its owner's"
    assert "spec" not in labels.inputs
    assert not labels.retain_on_delete, "destroy removes exactly the labels aistack added"


def test_taint_patch_keeps_other_owners_taints_and_survives_destroy(cluster: FakeCluster) -> None:
    res = plan_values(base())
    one, two = patches(res, "dgx-1")["taints"], patches(res, "dgx-2")["taints"]
    assert ADMIN_TAINT in one.inputs["spec"]["taints"]
    # Condition taints are the node controller's: carrying them would re-assert stale state.
    assert CORDON not in two.inputs["spec"]["taints"]
    for p in (one, two):
        # spec.taints is an atomic list: the applier owns all of it, so the patch is forced and kept.
        assert p.inputs["metadata"]["annotations"] == {PATCH_FORCE: "true"}
        assert p.retain_on_delete


def test_a_missing_named_node_is_a_clear_error(cluster: FakeCluster) -> None:
    values = base()
    values["accelerator_pools"][0]["nodes"] = ["dgx-1", "dgx-9"]
    with pytest.raises(Exception, match=r"dgx-9.*To fix"):
        plan_values(values)


def test_a_selector_that_matches_nothing_is_a_clear_error(cluster: FakeCluster) -> None:
    values = base()
    values["accelerator_pools"][1]["node_selector"] = {"rack": "r99"}
    with pytest.raises(Exception, match=r"pool 'a100': no node matches.*To fix"):
        plan_values(values)


def test_offline_plan_patches_named_nodes_and_warns_about_selectors() -> None:
    from aistack.offline import plan

    p = plan(load_stack("onprem-gpu"))
    names = {r.inputs["metadata"]["name"] for r in of_type(p.resources, NODE_PATCH)}
    assert names == {"dgx-h100-01", "dgx-h100-02"}
    assert any("aistack.io/site-rack" in w and "deploy time" in w for w in p.warnings)


taint = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["a", "b", "nvidia.com/gpu", "node.kubernetes.io/unschedulable"]),
        "value": st.sampled_from(["", "x", "present"]),
        "effect": st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"]),
    }
)


@given(st.lists(taint, max_size=6), st.lists(taint, max_size=3, unique_by=lambda t: (t["key"], t["effect"])))
def test_merged_taints_add_ours_and_keep_the_rest(current: list[dict[str, str]], ours: list[dict[str, str]]) -> None:
    merged = merged_taints(current, ours)
    for t in ours:
        assert t in merged
    keys = {(t["key"], t["effect"]) for t in ours}
    assert [t for t in merged if (t["key"], t["effect"]) not in keys] == [
        t for t in current if (t["key"], t["effect"]) not in keys and not t["key"].startswith("node.kubernetes.io/")
    ], "other owners' taints survive, in order; the node controller's condition taints are left to it"
    assert len({(t["key"], t["effect"]) for t in merged if (t["key"], t["effect"]) in keys}) == len(ours)
    assert merged_taints(merged, ours) == merged, "applying twice changes nothing"


def test_cluster_nodes_reads_taints_and_labels_from_the_client() -> None:
    from kubernetes import client

    node = client.V1Node(
        metadata=client.V1ObjectMeta(name="n1", labels={"rack": "r1"}),
        spec=client.V1NodeSpec(taints=[client.V1Taint(key="k", effect="NoSchedule")]),
    )
    assert nodes._existing(node) == ExistingNode("n1", ({"key": "k", "effect": "NoSchedule"},), {"rack": "r1"})


# ------------------------------------------------------------------ storage


def test_existing_class_is_used_as_is(cluster: FakeCluster) -> None:
    res = plan_values(base())
    assert not kinds(res, "StorageClass"), "an existing class (Ceph RBD) is the site's, not aistack's"
    (claim,) = kinds(res, "PersistentVolumeClaim")
    assert claim.inputs["spec"]["storageClassName"] == "ceph-rbd"
    assert not of_type(res, "kubernetes:yaml/v2:ConfigFile")


def test_local_path_installs_the_pinned_provisioner_and_a_retaining_class(cluster: FakeCluster) -> None:
    values = base(onprem={"volumes": "local-path"})
    del values["storage"]["default_storage_class"]
    res = plan_values(values)
    (manifest,) = of_type(res, "kubernetes:yaml/v2:ConfigFile")
    assert manifest.inputs["file"] == UPSTREAMS["local-path-provisioner"].repo
    assert "/v0.0.37/" in manifest.inputs["file"]
    (sc,) = kinds(res, "StorageClass")
    assert sc.inputs["provisioner"] == "rancher.io/local-path"
    assert sc.inputs["reclaimPolicy"] == "Retain"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert kinds(res, "PersistentVolumeClaim")[0].inputs["spec"]["storageClassName"] == sc.inputs["metadata"]["name"]


def test_local_path_from_the_mirror_when_air_gapped(cluster: FakeCluster) -> None:
    values = base(
        onprem={"volumes": "local-path"}, upstream={"manifests_mirror": "/srv/trees"}, kubeflow={"enabled": False}
    )
    res = plan_values(values)
    (manifest,) = of_type(res, "kubernetes:yaml/v2:ConfigFile")
    assert manifest.inputs["file"] == "/srv/trees/local-path-storage-v0.0.37.yaml"


def test_nfs_installs_the_csi_driver_and_an_rwx_class_on_the_export(cluster: FakeCluster) -> None:
    fs = {"shared_filesystem": {"enabled": True, "nfs_server": "nfs.dc1", "nfs_path": "/export/ai"}}
    res = plan_values(base(storage={"default_storage_class": "ceph-rbd", **fs}))
    nfs = chart(res, "csi-driver-nfs")
    assert nfs.inputs["version"] == UPSTREAMS["csi-driver-nfs"].version
    assert nfs.inputs["repositoryOpts"]["repo"] == UPSTREAMS["csi-driver-nfs"].repo
    assert nfs.inputs["values"]["storageClass"]["create"] is False
    assert nfs.inputs["values"]["controller"]["defaultOnDeletePolicy"] == "retain"
    (sc,) = kinds(res, "StorageClass")
    assert sc.inputs["provisioner"] == "nfs.csi.k8s.io"
    assert sc.inputs["parameters"] == {"server": "nfs.dc1", "share": "/export/ai"}
    (claim,) = kinds(res, "PersistentVolumeClaim")
    assert claim.inputs["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim.inputs["spec"]["storageClassName"] == sc.inputs["metadata"]["name"]


# ------------------------------------------------------------------ object store


def test_seaweedfs_is_pinned_persistent_and_protected(cluster: FakeCluster) -> None:
    res = plan_values(base(onprem={"object_store": {"kind": "seaweedfs", "capacity_gb": 800}}))
    sw = chart(res, "seaweedfs")
    assert sw.inputs["version"] == UPSTREAMS["seaweedfs"].version
    assert sw.inputs["name"] == "seaweedfs"
    assert sw.protect and sw.retain_on_delete, "the store holds the stack's data"
    values = sw.inputs["values"]
    (data,) = values["volume"]["dataDirs"]
    assert data == {
        "name": "data",
        "type": "persistentVolumeClaim",
        "size": "800Gi",
        "storageClass": "ceph-rbd",
        "maxVolumes": 0,
    }
    for part in ("master", "filer"):
        assert values[part]["data"]["type"] == "persistentVolumeClaim", f"{part} must not use the chart's hostPath"
    assert values["s3"]["enableAuth"] and values["s3"]["existingConfigSecret"] == "aistack-s3-config"
    assert {b["name"] for b in values["s3"]["createBuckets"]} == {
        "aistack-datasets",
        "aistack-artifacts",
        "aistack-models",
    }
    assert sw.inputs["includeHooks"] is True
    (config,) = [r for r in kinds(res, "Secret") if r.inputs["metadata"]["name"] == "aistack-s3-config"]
    # The Secret's data is a Pulumi secret as a whole: no key pair reaches state or the plan in clear text.
    assert config.inputs["stringData"] == "[secret]"


def test_seaweedfs_unprotected_when_data_protection_is_off(cluster: FakeCluster) -> None:
    sw = chart(plan_values(base(onprem={"object_store": {"kind": "seaweedfs"}}, data_protection=False)), "seaweedfs")
    assert not sw.protect and not sw.retain_on_delete


def test_s3_identity_file_grants_the_stack_key() -> None:
    doc = json.loads(onprem.object_store.s3_identities("AK", "SK"))
    (identity,) = doc["identities"]
    assert identity["credentials"] == [{"accessKey": "AK", "secretKey": "SK"}]
    assert {"Read", "Write", "List"} <= set(identity["actions"])


def test_in_cluster_store_reaches_teams_through_their_secret_and_policy(cluster: FakeCluster) -> None:
    res = plan_values(base(onprem={"object_store": {"kind": "seaweedfs"}}))
    (secret,) = [r for r in kinds(res, "Secret") if r.inputs["metadata"]["namespace"] == "vision"]
    assert secret.inputs["stringData"] in (
        "[secret]",
        {"AWS_ACCESS_KEY_ID": "[secret]", "AWS_SECRET_ACCESS_KEY": "[secret]"},
    )
    assert "AKIATEST" not in json.dumps([r.inputs for r in res]) and "s3cr3t" not in json.dumps([r.inputs for r in res])
    (policy,) = [r for r in kinds(res, "NetworkPolicy") if r.inputs["metadata"]["name"] == "allow-object-store"]
    (rule,) = policy.inputs["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8333}]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "object-store"}
    (launcher,) = [r for r in kinds(res, "ConfigMap") if r.inputs["metadata"]["name"] == "kfp-launcher"]
    assert launcher.inputs["data"]["defaultPipelineRoot"] == "s3://aistack-artifacts/pipelines/vision"
    s3 = yaml.safe_load(launcher.inputs["data"]["providers"])["s3"]["default"]
    assert s3["endpoint"] == "seaweedfs-s3.object-store.svc:8333" and s3["disableSSL"] is True
    assert s3["credentials"] == {
        "fromEnv": False,
        "secretRef": {
            "secretName": "object-store",
            "accessKeyKey": "AWS_ACCESS_KEY_ID",
            "secretKeyKey": "AWS_SECRET_ACCESS_KEY",
        },
    }


def test_existing_s3_endpoint_on_its_own_port(cluster: FakeCluster) -> None:
    store = {"kind": "s3", "endpoint": "https://rgw.dc1.internal:7480", "region": "dc1"}
    res = plan_values(base(onprem={"object_store": store}))
    assert not [r for r in of_type(res, CHART) if "seaweedfs" in str(r.inputs.get("chart"))]
    (policy,) = [r for r in kinds(res, "NetworkPolicy") if r.inputs["metadata"]["name"] == "allow-object-store"]
    assert policy.inputs["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 7480}]
    (launcher,) = [r for r in kinds(res, "ConfigMap") if r.inputs["metadata"]["name"] == "kfp-launcher"]
    s3 = yaml.safe_load(launcher.inputs["data"]["providers"])["s3"]["default"]
    assert (s3["endpoint"], s3["disableSSL"], s3["region"]) == ("rgw.dc1.internal:7480", False, "dc1")


def stack_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-gpu.yaml").read_text())
    for key in ("aistack:object_store_access_key_id", "aistack:object_store_secret_access_key"):
        doc["config"].pop(key)
    doc["config"].update(config)
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_store_credentials_must_be_set_as_secrets(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as missing:
        load_stack(str(stack_file(tmp_path, {})))
    text = str(missing.value)
    assert "aistack:object_store_secret_access_key" in text and "pulumi config set --secret" in text
    plain = {"aistack:object_store_access_key_id": "AKIA", "aistack:object_store_secret_access_key": {"secure": "x"}}
    with pytest.raises(SpecError, match=r"plain text.*config set --secret aistack:object_store_access_key_id"):
        load_stack(str(stack_file(tmp_path, plain)))


# ------------------------------------------------------------------ MetalLB


def test_metallb_pool_and_l2_advertisement(cluster: FakeCluster) -> None:
    res = plan_values(base(onprem={"metallb": {"addresses": ["10.0.0.240/28", "10.0.1.10 - 10.0.1.20"]}}))
    lb = chart(res, "metallb")
    assert lb.inputs["version"] == "0.16.1" and lb.inputs["namespace"] == "metallb-system"
    (ns,) = [r for r in kinds(res, "Namespace") if r.inputs["metadata"]["name"] == "metallb-system"]
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    (pool,) = kinds(res, "IPAddressPool")
    assert pool.inputs["spec"]["addresses"] == ["10.0.0.240/28", "10.0.1.10-10.0.1.20"]
    assert lb.urn in pool.dependencies, "the pool needs the chart's CRDs"
    (adv,) = kinds(res, "L2Advertisement")
    assert adv.inputs["spec"]["ipAddressPools"] == [pool.inputs["metadata"]["name"]]


def test_no_metallb_without_addresses(cluster: FakeCluster) -> None:
    assert not [r for r in of_type(plan_values(base()), CHART) if "metallb" in str(r.inputs.get("chart"))]


# ------------------------------------------------------------------ the same handle


def test_onprem_platform_matches_the_example_stack_shape(cluster: FakeCluster) -> None:
    """Everything on-prem-specific stays in the target: the platform's children are the same kinds as on
    any target (the parity test compares them object by object)."""
    res = plan_values(base(onprem={"object_store": {"kind": "seaweedfs"}}))
    platform_types = {r.type for r in res if "aistack:index:Platform" in r.urn and r.custom}
    assert "kubernetes:core/v1:NodePatch" not in platform_types
    target_types = {r.type for r in res if "OnPremTarget" in r.urn}
    assert {NODE_PATCH, CHART, "pulumi:providers:kubernetes"} <= target_types


def test_spec_rejects_bad_onprem_sections() -> None:
    def issues(values: dict[str, Any]) -> str:
        with pytest.raises(SpecError) as exc:
            parse_spec(values)
        return str(exc.value)

    cloud = {"target": "aws", "region": "eu-west-1", "onprem": {"volumes": "local-path"}}
    assert "onprem: the onprem section configures an existing cluster" in issues(cloud)
    no_class = copy.deepcopy(base())
    del no_class["storage"]["default_storage_class"]
    assert "onprem.volumes: local-path" in issues(no_class)
    assert "endpoint" in issues(base(onprem={"object_store": {"kind": "s3"}}))
    assert "ascending" in issues(base(onprem={"metallb": {"addresses": ["10.0.0.9-10.0.0.1"]}}))
    assert "nfs_server" in issues(base(storage={"default_storage_class": "x", "shared_filesystem": {"enabled": True}}))
    assert "did you mean 'local-path'" in issues(base(onprem={"volumes": "local_path"}))


@needs_mirror
def test_metallb_runs_no_bgp_backend() -> None:
    """The chart rendered with aistack's values (tests/test_simulated.py): L2 advertisement only. Chart 0.16
    turns the frr-k8s backend on by default: a privileged DaemonSet, its webhook and its CRDs."""
    objects = [o for r in rendered_upstreams() if r.upstream == "metallb" for _, o in r.objects()]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("DaemonSet", "metallb-speaker") in kinds
    assert not [k for k in kinds if "frr" in k[1]], sorted(k for k in kinds if "frr" in k[1])
    crds = {name for kind, name in kinds if kind == "CustomResourceDefinition"}
    assert "ipaddresspools.metallb.io" in crds and "l2advertisements.metallb.io" in crds
    assert not {c for c in crds if c.endswith("frrk8s.metallb.io")}
