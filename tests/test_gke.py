"""GKE target under Pulumi's mocks: the inputs say private, encrypted, tainted, autoscaled."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from aistack.offline import PlannedResource, plan
from components.shapes import ShapeError, gke_gpu_machine_type, tpu_slice
from components.spec import LoadedStack, SpecError, load_stack, parse_spec
from components.targets.gke.identity import account_id
from tests.conftest import of_type, one, stack_values


def gke_plan(**changes: Any) -> list[PlannedResource]:
    values = copy.deepcopy(stack_values("gcp-tpu"))
    values["project"] = "acme-ml-prod"
    values.update(changes)
    spec = parse_spec(values)
    config = {f"aistack:{k}": v for k, v in values.items()}
    return plan(LoadedStack("gke-test", Path("x"), spec, config)).resources


@pytest.fixture(scope="module")
def resources() -> list[PlannedResource]:
    return plan(load_stack("gcp-tpu")).resources


def test_cluster_is_private_regional_and_hardened(resources: list[PlannedResource]) -> None:
    c = one(resources, "gcp:container/cluster:Cluster").inputs
    assert c["location"] == "europe-west4"  # regional
    assert c["removeDefaultNodePool"] is True
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["workloadIdentityConfig"]["workloadPool"] == "acme-ml-prod.svc.id.goog"
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["enableShieldedNodes"] is True
    assert c["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": "aistack-target-secrets-key-id"}
    assert c["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert c["addonsConfig"]["gcsFuseCsiDriverConfig"]["enabled"] is True
    assert c["addonsConfig"]["gcpFilestoreCsiDriverConfig"]["enabled"] is True
    assert c["releaseChannel"]["channel"] == "REGULAR"
    assert c["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "203.0.113.0/24", "displayName": "office-vpn"}
    ]
    assert c["deletionProtection"] is True
    assert "recurringWindow" in c["maintenancePolicy"]


def test_deletion_protection_follows_the_spec() -> None:
    c = one(gke_plan(data_protection=False), "gcp:container/cluster:Cluster").inputs
    assert c["deletionProtection"] is False


def test_private_endpoint_follows_the_spec() -> None:
    c = one(gke_plan(cluster={"private_endpoint": True}), "gcp:container/cluster:Cluster").inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True


def test_network_has_secondary_ranges_and_nat(resources: list[PlannedResource]) -> None:
    subnet = one(resources, "gcp:compute/subnetwork:Subnetwork").inputs
    assert {r["rangeName"] for r in subnet["secondaryIpRanges"]} == {"pods", "services"}
    assert subnet["privateIpGoogleAccess"] is True
    assert (
        one(resources, "gcp:compute/routerNat:RouterNat").inputs["sourceSubnetworkIpRangesToNat"]
        == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    )
    fw = one(resources, "gcp:compute/firewall:Firewall").inputs
    assert fw["sourceRanges"] == ["172.16.0.0/28"] and fw["direction"] == "INGRESS"


def accelerator_pools(resources: list[PlannedResource]) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["name"]: r.inputs
        for r in of_type(resources, "gcp:container/nodePool:NodePool")
        if r.inputs["name"] != "system"
    }


def test_every_accelerator_pool_is_tainted_autoscaled_and_least_privilege(resources: list[PlannedResource]) -> None:
    pools = accelerator_pools(resources)
    assert set(pools) == {"l4", "v5e-16", "l4-batch"}
    for pool in pools.values():
        cfg = pool["nodeConfig"]
        assert cfg["taints"][0]["effect"] == "NO_SCHEDULE"
        assert cfg["taints"][0]["key"] in {"nvidia.com/gpu", "google.com/tpu"}
        assert pool["autoscaling"]["totalMinNodeCount"] == 0  # scale to zero
        assert cfg["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
        assert cfg["shieldedInstanceConfig"]["enableSecureBoot"] is True
        assert cfg["labels"]["aistack.io/pool"] == pool["name"]
        assert cfg["bootDiskKmsKey"] == "aistack-target-data-key-id"
    roles = {r.inputs["role"] for r in of_type(resources, "gcp:projects/iAMMember:IAMMember")}
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}


def test_gpu_pool_accelerators_and_time_sharing(resources: list[PlannedResource]) -> None:
    l4 = accelerator_pools(resources)["l4"]
    (gpu,) = l4["nodeConfig"]["guestAccelerators"]
    assert gpu["type"] == "nvidia-l4" and gpu["count"] == 2
    assert gpu["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
    assert gpu["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4}
    assert l4["nodeConfig"]["machineType"] == "g2-standard-24"


def test_mig_and_spot_pool() -> None:
    pools = accelerator_pools(
        gke_plan(
            accelerator_pools=[
                {
                    "name": "a100",
                    "accelerator": "nvidia-a100-80gb",
                    "count": 8,
                    "max_nodes": 2,
                    "spot": True,
                    "sharing": {"mode": "mig", "profile": "1g.10gb"},
                }
            ],
            teams=[],
        )
    )
    a100 = pools["a100"]
    assert a100["nodeConfig"]["guestAccelerators"][0]["gpuPartitionSize"] == "1g.10gb"
    assert a100["nodeConfig"]["spot"] is True
    assert a100["nodeConfig"]["machineType"] == "a2-ultragpu-8g"
    assert a100["autoscaling"]["locationPolicy"] == "ANY"
    assert a100["nodeConfig"]["labels"]["aistack.io/capacity"] == "spot"


def test_multi_host_tpu_slice(resources: list[PlannedResource]) -> None:
    v5e = accelerator_pools(resources)["v5e-16"]
    assert v5e["nodeConfig"]["machineType"] == "ct5lp-hightpu-4t"
    assert v5e["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
    assert v5e["autoscaling"]["totalMaxNodeCount"] == 4
    assert v5e["nodeLocations"] == ["europe-west4-a"]


@pytest.mark.parametrize(
    ("accelerator", "topology", "machine", "nodes", "multi_host"),
    [
        ("tpu-v5e", "1x1", "ct5lp-hightpu-1t", 1, False),
        ("tpu-v5e", "2x4", "ct5lp-hightpu-8t", 1, False),
        ("tpu-v5e", "4x4", "ct5lp-hightpu-4t", 4, True),
        ("tpu-v5e", "16x16", "ct5lp-hightpu-4t", 64, True),
        ("tpu-v6e", "2x2", "ct6e-standard-4t", 1, False),
        ("tpu-v6e", "8x16", "ct6e-standard-4t", 32, True),
        ("tpu-v5p", "2x2x1", "ct5p-hightpu-4t", 1, False),
        ("tpu-v5p", "4x4x4", "ct5p-hightpu-4t", 16, True),
        ("tpu-v4", "2x2x2", "ct4p-hightpu-4t", 2, True),
        ("tpu-v4", "8x8x16", "ct4p-hightpu-4t", 256, True),
    ],
)
def test_tpu_topology_to_machine_and_nodes(
    accelerator: str, topology: str, machine: str, nodes: int, multi_host: bool
) -> None:
    s = tpu_slice(accelerator, topology)
    assert (s.machine_type, s.nodes, s.multi_host) == (machine, nodes, multi_host)


def test_unsupported_topology_lists_valid_ones() -> None:
    with pytest.raises(ShapeError, match="valid: 1x1, 2x2, 2x4, 4x4"):
        tpu_slice("tpu-v5e", "2x2x2")
    values = {
        "target": "gcp",
        "region": "us-central1",
        "project": "acme-ml-prod",
        "zones": ["us-central1-b"],  # where v6e is sold
        "accelerator_pools": [{"name": "t", "accelerator": "tpu-v6e", "count": 4, "tpu_topology": "3x3"}],
    }
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    (issue,) = info.value.issues
    assert issue.path == "accelerator_pools[0].tpu_topology" and "valid: 1x1" in issue.reason


@pytest.mark.parametrize(
    ("pool", "path", "text"),
    [
        ({"count": 8, "tpu_topology": "4x4", "max_nodes": 4}, "accelerator_pools[0].count", "set count: 4"),
        ({"count": 4, "tpu_topology": "4x4", "max_nodes": 8}, "accelerator_pools[0].max_nodes", "max_nodes: 4"),
    ],
)
def test_tpu_pool_shape_must_match_slice(pool: dict[str, Any], path: str, text: str) -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "project": "acme-ml-prod",
        "accelerator_pools": [{"name": "t", "accelerator": "tpu-v5e", **pool}],
    }
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    issues = {i.path: i for i in info.value.issues}
    assert text in issues[path].fix


@pytest.mark.parametrize(("accelerator", "count", "machine"), [
    ("nvidia-l4", 1, "g2-standard-8"), ("nvidia-h100-80gb", 8, "a3-highgpu-8g"),
    ("nvidia-h200-141gb", 8, "a3-ultragpu-8g"), ("nvidia-a100-40gb", 16, "a2-megagpu-16g"),
    ("nvidia-t4", 4, "n1-standard-32"), ("nvidia-b200", 8, "a4-highgpu-8g"),
])  # fmt: skip
def test_gpu_machine_types(accelerator: str, count: int, machine: str) -> None:
    assert gke_gpu_machine_type(accelerator, count) == machine


def test_impossible_gpu_count_is_a_spec_error() -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "project": "acme-ml-prod",
        "accelerator_pools": [{"name": "h", "accelerator": "nvidia-h100-80gb", "count": 3}],
    }
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    assert info.value.issues[0].path == "accelerator_pools[0].count"
    assert "1, 2, 4, 8" in info.value.issues[0].reason


def test_tpu_pools_need_a_zone() -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "project": "acme-ml-prod",
        "accelerator_pools": [{"name": "t", "accelerator": "tpu-v5e", "count": 8, "tpu_topology": "2x4"}],
    }
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    assert [i.path for i in info.value.issues] == ["zones"]
    values["zones"] = ["us-central1-a"]
    assert parse_spec(values).zones == ("us-central1-a",)


def test_gcp_needs_a_project() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"target": "gcp", "region": "us-central1"})
    assert info.value.issues[0].path == "project"


def test_buckets_are_hardened_regional_encrypted_and_protected(resources: list[PlannedResource]) -> None:
    buckets = of_type(resources, "gcp:storage/bucket:Bucket")
    assert {b.inputs["labels"]["purpose"] for b in buckets} == {"datasets", "artifacts", "models"}
    for b in buckets:
        assert b.inputs["uniformBucketLevelAccess"] is True
        assert b.inputs["publicAccessPrevention"] == "enforced"
        assert b.inputs["versioning"]["enabled"] is True
        assert b.inputs["encryption"]["defaultKmsKeyName"] == "aistack-target-data-key-id"
        assert b.inputs["location"] == "EUROPE-WEST4"
        assert b.inputs["forceDestroy"] is False
        assert b.protect and b.retain_on_delete
    fs = one(resources, "gcp:filestore/instance:Instance")
    assert fs.protect and fs.inputs["kmsKeyName"] == "aistack-target-data-key-id"
    for key in of_type(resources, "gcp:kms/cryptoKey:CryptoKey"):
        assert key.protect and key.inputs["rotationPeriod"] == "7776000s"


def test_without_data_protection_nothing_is_protected_but_keys() -> None:
    res = gke_plan(data_protection=False)
    protected = {r.type for r in res if r.protect}
    assert protected == {"gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey"}
    assert all(b.inputs["forceDestroy"] for b in of_type(res, "gcp:storage/bucket:Bucket"))


def test_workload_identity_is_bound_per_component_and_bucket(resources: list[PlannedResource]) -> None:
    members = {r.inputs["member"] for r in of_type(resources, "gcp:serviceaccount/iAMMember:IAMMember")}
    assert members == {
        "serviceAccount:acme-ml-prod.svc.id.goog[kubeflow/pipeline-runner]",
        "serviceAccount:acme-ml-prod.svc.id.goog[research/default-editor]",
        "serviceAccount:acme-ml-prod.svc.id.goog[product/default-editor]",
    }
    grants = {
        (r.name.removeprefix("aistack-target-"), r.inputs["role"])
        for r in of_type(resources, "gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    assert ("pipelines-artifacts", "roles/storage.objectAdmin") in grants
    assert ("team-research-datasets", "roles/storage.objectViewer") in grants
    assert not any(name.startswith("pipelines-") and name != "pipelines-artifacts" for name, _ in grants)


def test_account_ids_are_valid_and_unique() -> None:
    a = account_id("aistack", "team-" + "x" * 35)
    b = account_id("aistack", "team-" + "x" * 34 + "y")
    assert len(a) <= 30 and len(b) <= 30 and a != b


def test_platform_gets_the_cluster_provider(resources: list[PlannedResource]) -> None:
    provider = one(resources, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] in ("[secret]", "[unknown]")
    assert of_type(resources, "kubernetes:core/v1:Namespace")


def test_gdpr_keeps_every_regional_resource_in_the_eu(resources: list[PlannedResource]) -> None:
    for r in resources:
        for key in ("region", "location"):
            value = r.inputs.get(key)
            if isinstance(value, str):
                assert value.lower().startswith("europe-west4"), f"{r.name}.{key}={value}"


def test_hipaa_means_cmek_everywhere_and_private_endpoint() -> None:
    res = gke_plan(
        compliance="hipaa", region="us-central1", zones=["us-central1-a"], cluster={"private_endpoint": True}
    )
    c = one(res, "gcp:container/cluster:Cluster").inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert c["databaseEncryption"]["state"] == "ENCRYPTED"
    assert all("bootDiskKmsKey" in p.inputs["nodeConfig"] for p in of_type(res, "gcp:container/nodePool:NodePool"))
    assert all("encryption" in b.inputs for b in of_type(res, "gcp:storage/bucket:Bucket"))
    assert "kmsKeyName" in one(res, "gcp:filestore/instance:Instance").inputs


def test_idle_tpus_alert_through_cloud_monitoring(resources: list[PlannedResource]) -> None:
    policy = one(resources, "gcp:monitoring/alertPolicy:AlertPolicy").inputs
    condition = policy["conditions"][0]["conditionThreshold"]
    assert "kubernetes.io/container/accelerator/duty_cycle" in condition["filter"]
    assert condition["comparison"] == "COMPARISON_LT" and condition["duration"] == "1800s"
    channel = one(resources, "gcp:monitoring/notificationChannel:NotificationChannel").inputs
    assert channel["labels"] == {"email_address": "ml-platform-oncall@acme.example"}
    assert len(policy["notificationChannels"]) == 1


# ------------------------------------------------------------------------------- capacity options


def one_pool(**pool: Any) -> dict[str, Any]:
    """The node pool args GKE gets for a single H100 pool with the given capacity settings."""
    base = {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2}
    plan = gke_plan(accelerator_pools=[{**base, **pool}], teams=[], zones=["europe-west4-b"])  # where H100 is sold
    return accelerator_pools(plan)["h100"]


def test_on_demand_pool_consumes_no_named_reservation_and_repairs() -> None:
    h100 = one_pool()
    assert "reservationAffinity" not in h100["nodeConfig"]  # GKE's default, as before
    assert "queuedProvisioning" not in h100
    assert h100["nodeConfig"]["spot"] is False
    assert h100["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert h100["autoscaling"]["locationPolicy"] == "BALANCED"
    assert "aistack.io/capacity" not in h100["nodeConfig"]["labels"]


def test_specific_reservation_is_consumed_by_name() -> None:
    h100 = one_pool(capacity={"type": "reservation", "reservation": "res-h100"})
    assert h100["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["res-h100"],
    }
    assert h100["nodeConfig"]["spot"] is False
    assert h100["autoscaling"]["locationPolicy"] == "ANY"  # a zonal reservation: go where it is
    assert h100["nodeConfig"]["labels"]["aistack.io/capacity"] == "reservation"


def test_shared_reservation_keeps_its_project_path() -> None:
    shared = "projects/acme-shared/reservations/h100-pool"
    h100 = one_pool(capacity={"type": "reservation", "reservation": shared})
    assert h100["nodeConfig"]["reservationAffinity"]["values"] == [shared]


def test_any_reservation() -> None:
    h100 = one_pool(capacity={"type": "reservation", "affinity": "any"})
    assert h100["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "ANY_RESERVATION"}


def test_flex_start_pool_is_queued_from_zero_without_reservations() -> None:
    h100 = one_pool(capacity={"type": "flex-start"})
    assert h100["queuedProvisioning"] == {"enabled": True}
    cfg = h100["nodeConfig"]
    assert cfg["flexStart"] is True
    assert cfg["spot"] is False
    assert cfg["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert h100["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "ANY"}
    assert h100["initialNodeCount"] == 0
    assert h100["management"]["autoRepair"] is False  # GKE refuses auto-repair on queued pools
    # GKE taints queued nodes itself: the pool declares only the accelerator taint.
    assert [t["key"] for t in cfg["taints"]] == ["nvidia.com/gpu"]
    assert cfg["labels"]["aistack.io/capacity"] == "flex-start"


def test_flex_start_multi_host_tpu_slice_keeps_its_placement() -> None:
    pools = accelerator_pools(
        gke_plan(
            accelerator_pools=[
                {
                    "name": "v5e-16",
                    "accelerator": "tpu-v5e",
                    "count": 4,
                    "tpu_topology": "4x4",
                    "max_nodes": 4,
                    "capacity": {"type": "flex-start"},
                }
            ],
            teams=[],
        )
    )
    v5e = pools["v5e-16"]
    assert v5e["queuedProvisioning"] == {"enabled": True} and v5e["nodeConfig"]["flexStart"] is True
    assert v5e["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
    assert v5e["autoscaling"]["totalMinNodeCount"] == 0 and v5e["autoscaling"]["totalMaxNodeCount"] == 4


def test_gke_inventory_marks_flex_start_pools_for_queued_provisioning() -> None:
    from components.targets.gke.nodepools import QUEUED_PROVISIONING_CLASS, gke_inventory

    values = {**copy.deepcopy(stack_values("gcp-tpu")), "project": "acme-ml-prod"}
    # H100s are sold in europe-west4-b and -c, not in the example's europe-west4-a (catalog gpu_zones, #26)
    values["zones"] = ["europe-west4-a", "europe-west4-b"]
    values["accelerator_pools"].append(
        {
            "name": "h100",
            "accelerator": "nvidia-h100-80gb",
            "count": 8,
            "max_nodes": 2,
            "capacity": {"type": "flex-start"},
        }
    )
    by_pool = {p.pool: p for p in gke_inventory(parse_spec(values))}
    assert by_pool["h100"].provisioning_class == QUEUED_PROVISIONING_CLASS == "queued-provisioning.gke.io"
    assert {"key": "cloud.google.com/gke-queued", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in (
        by_pool["h100"].tolerations
    )
    assert by_pool["l4"].provisioning_class is None and by_pool["v5e-16"].provisioning_class is None
    assert by_pool["v5e-16"].capacity_type == "spot" and by_pool["v5e-16"].spot
