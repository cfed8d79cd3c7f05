"""EKS target under Pulumi's mocks: private, encrypted, logged, tainted, scale-to-zero, least privilege.

Karpenter's part (NodePools, its IAM, the interruption queue) is in test_karpenter.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aistack.offline import PlannedResource, plan
from components.shapes import ShapeError, eks_ami_type, eks_instance_type, supports_efa
from components.spec import LoadedStack, SpecError, load_stack, parse_spec
from tests.conftest import of_type, one, stack_values


def eks_plan(**changes: Any) -> list[PlannedResource]:
    values = copy.deepcopy(stack_values("aws-gpu"))
    values.update(changes)
    spec = parse_spec(values)
    return plan(LoadedStack("eks-test", Path("x"), spec, {f"aistack:{k}": v for k, v in values.items()})).resources


@pytest.fixture(scope="module")
def resources() -> list[PlannedResource]:
    return plan(load_stack("aws-gpu")).resources


def test_cluster_is_private_encrypted_and_logged(resources: list[PlannedResource]) -> None:
    c = one(resources, "aws:eks/cluster:Cluster").inputs
    assert c["vpcConfig"]["endpointPrivateAccess"] is True
    assert c["vpcConfig"]["endpointPublicAccess"] is False  # hipaa example: private endpoint
    assert c["encryptionConfig"] == {"provider": {"keyArn": "[unknown]"}, "resources": ["secrets"]}
    assert {"api", "audit", "authenticator"} <= set(c["enabledClusterLogTypes"])
    assert c["accessConfig"]["authenticationMode"] == "API"
    assert c["version"] == "1.35"
    key = one(resources, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True and key.protect


def test_public_endpoint_is_limited_to_authorized_networks() -> None:
    c = one(
        eks_plan(compliance="standard", cluster={"authorized_networks": [{"cidr": "198.51.100.0/24"}]}),
        "aws:eks/cluster:Cluster",
    ).inputs
    assert c["vpcConfig"]["endpointPublicAccess"] is True
    assert c["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_network_spans_three_azs_with_tagged_subnets(resources: list[PlannedResource]) -> None:
    subnets = of_type(resources, "aws:ec2/subnet:Subnet")
    assert len(subnets) == 6
    assert sum("kubernetes.io/role/internal-elb" in s.inputs["tags"] for s in subnets) == 3
    assert sum("kubernetes.io/role/elb" in s.inputs["tags"] for s in subnets) == 3
    assert len(of_type(resources, "aws:ec2/natGateway:NatGateway")) == 3
    s3 = one(resources, "aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert s3["serviceName"] == "com.amazonaws.us-east-1.s3" and s3["vpcEndpointType"] == "Gateway"


def test_addons(resources: list[PlannedResource]) -> None:
    names = {r.inputs["addonName"] for r in of_type(resources, "aws:eks/addon:Addon")}
    assert names == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "aws-ebs-csi-driver",
        "eks-pod-identity-agent",
        "aws-fsx-csi-driver",
    }


def groups(resources: list[PlannedResource]) -> dict[str, dict[str, Any]]:
    return {r.inputs["nodeGroupName"]: r.inputs for r in of_type(resources, "aws:eks/nodeGroup:NodeGroup")}


def test_scale_to_zero_pools_have_no_node_group(resources: list[PlannedResource]) -> None:
    """min_nodes 0 everywhere: Karpenter launches every accelerator node (test_karpenter.py)."""
    g = groups(resources)
    assert set(g) == {"system"}
    assert g["system"]["amiType"] == "AL2023_x86_64_STANDARD"
    assert g["system"]["labels"] == {"aistack.io/pool": "system"} and "taints" not in g["system"]
    assert not any("k8s.io/cluster-autoscaler" in k for r in groups(resources).values() for k in r.get("tags", {}))


def floor_plan(**pool0: Any) -> list[PlannedResource]:
    pools = copy.deepcopy(stack_values("aws-gpu")["accelerator_pools"])
    pools[0].update(pool0)
    return eks_plan(accelerator_pools=pools)


def test_a_pools_floor_is_a_fixed_node_group() -> None:
    res = floor_plan(min_nodes=1)
    g = groups(res)
    assert set(g) == {"system", "h100"}
    h100 = g["h100"]
    assert h100["amiType"] == "AL2023_x86_64_NVIDIA" and h100["instanceTypes"] == ["p5.48xlarge"]
    assert h100["capacityType"] == "ON_DEMAND"
    assert h100["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 1}
    assert h100["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert h100["labels"] == {"aistack.io/pool": "h100", "aistack.io/accelerator": "nvidia-h100-80gb"}
    # the stack identity (#26): Pulumi project "aistack", stack "eks-test" (eks_plan's)
    assert h100["tags"] == {
        "managed-by": "aistack",
        "stack": "aistack",
        "aistack.io/project": "aistack",
        "aistack.io/stack": "eks-test",
    }
    assert not of_type(res, "aws:ec2/launchTemplate:LaunchTemplate")


def test_spot_floor_is_a_spot_group() -> None:
    pools = copy.deepcopy(stack_values("aws-gpu")["accelerator_pools"])
    pools[1]["min_nodes"] = 2
    g = groups(eks_plan(accelerator_pools=pools))
    assert g["l40s-spot"]["capacityType"] == "SPOT"
    assert g["l40s-spot"]["labels"]["aistack.io/capacity"] == "spot"


def test_reservation_floor_targets_the_reservation() -> None:
    res = floor_plan(min_nodes=1, capacity={"type": "reservation", "reservation": "cr-0123456789abcdef0"})
    lt = one(res, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert lt["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}
    }
    assert groups(res)["h100"]["capacityType"] == "ON_DEMAND" and "launchTemplate" in groups(res)["h100"]
    open_ = one(
        floor_plan(min_nodes=1, capacity={"type": "reservation", "affinity": "any"}),
        "aws:ec2/launchTemplate:LaunchTemplate",
    ).inputs
    assert open_["capacityReservationSpecification"] == {"capacityReservationPreference": "open"}


def test_capacity_block_floor_runs_in_the_block() -> None:
    res = floor_plan(min_nodes=1, capacity={"type": "capacity-block", "block_id": "cr-0fedcba9876543210"})
    lt = one(res, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert lt["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert lt["capacityReservationSpecification"]["capacityReservationTarget"] == {
        "capacityReservationId": "cr-0fedcba9876543210"
    }
    assert lt["instanceType"] == "p5.48xlarge"
    h100 = groups(res)["h100"]
    assert h100["capacityType"] == "CAPACITY_BLOCK" and "instanceTypes" not in h100


def test_efa_floor_uses_a_launch_template() -> None:
    res = floor_plan(min_nodes=1, efa=True)
    lt = one(res, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert lt["networkInterfaces"][0]["interfaceType"] == "efa"
    assert "launchTemplate" in groups(res)["h100"]
    assert len(groups(res)["h100"]["subnetIds"]) == 1


def test_efa_on_an_instance_without_it_is_a_spec_error() -> None:
    pools = copy.deepcopy(stack_values("aws-gpu")["accelerator_pools"])
    pools[1]["efa"] = True  # g6e.xlarge
    with pytest.raises(SpecError) as info:
        parse_spec({**stack_values("aws-gpu"), "accelerator_pools": pools})
    assert info.value.issues[0].path == "accelerator_pools[1].efa"


@pytest.mark.parametrize(
    ("accelerator", "count", "instance", "ami"),
    [
        ("nvidia-h100-80gb", 8, "p5.48xlarge", "AL2023_x86_64_NVIDIA"),
        ("nvidia-l4", 1, "g6.xlarge", "AL2023_x86_64_NVIDIA"),
        ("nvidia-a10g", 4, "g5.12xlarge", "AL2023_x86_64_NVIDIA"),
        ("aws-trainium1", 16, "trn1.32xlarge", "AL2023_x86_64_NEURON"),
        ("aws-inferentia2", 1, "inf2.xlarge", "AL2023_x86_64_NEURON"),
    ],
)
def test_instance_and_ami_mapping(accelerator: str, count: int, instance: str, ami: str) -> None:
    from foundation import catalog

    acc = catalog.accelerators().get(accelerator)
    assert acc is not None
    assert eks_instance_type(accelerator, count) == instance
    assert eks_ami_type(acc.kind) == ami
    assert acc.resource_name == ("nvidia.com/gpu" if acc.kind == "gpu" else "aws.amazon.com/neuron")


@pytest.mark.parametrize(("instance", "efa"), [("p5.48xlarge", True), ("trn2.48xlarge", True), ("g6.xlarge", False)])
def test_efa_support(instance: str, efa: bool) -> None:
    assert supports_efa(instance) is efa


def test_impossible_count_lists_the_real_ones() -> None:
    with pytest.raises(ShapeError, match="groups of 8"):
        eks_instance_type("nvidia-h100-80gb", 2)


def test_buckets_are_private_versioned_kms_and_tls_only(resources: list[PlannedResource]) -> None:
    buckets = of_type(resources, "aws:s3/bucket:Bucket")
    assert len(buckets) == 3 and all(b.protect and b.retain_on_delete for b in buckets)
    assert all(b.inputs["forceDestroy"] is False for b in buckets)
    for pab in of_type(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(
            pab.inputs[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
    for v in of_type(resources, "aws:s3/bucketVersioning:BucketVersioning"):
        assert v.inputs["versioningConfiguration"]["status"] == "Enabled"
    for sse in of_type(
        resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    fsx = one(resources, "aws:fsx/lustreFileSystem:LustreFileSystem")
    assert fsx.protect and "kmsKeyId" in fsx.inputs


def test_tls_only_policy() -> None:
    from components.targets.eks.storage import tls_only_policy

    doc = json.loads(tls_only_policy("arn:aws:s3:::b"))
    (stmt,) = doc["Statement"]
    assert stmt["Effect"] == "Deny" and stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_data_policies_never_use_a_wildcard_resource() -> None:
    from pulumi.runtime.sync_await import _sync_await

    from components.targets.eks.iam import bucket_access_policy

    out = bucket_access_policy({"datasets": "arn:aws:s3:::d", "models": "arn:aws:s3:::m"}, {"models"})
    doc = json.loads(_sync_await(out.future()))
    for stmt in doc["Statement"]:
        assert "*" not in stmt["Resource"] and all(r != "*" for r in stmt["Resource"])
    write = next(s for s in doc["Statement"] if s["Sid"] == "Write")
    assert write["Resource"] == ["arn:aws:s3:::m/*"]


def test_pod_identity_per_component(resources: list[PlannedResource]) -> None:
    assocs = {
        (r.inputs["namespace"], r.inputs["serviceAccount"])
        for r in of_type(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert assocs == {
        ("kubeflow", "pipeline-runner"),
        ("llm", "default-editor"),
        ("inference", "default-editor"),
        ("research", "default-editor"),
        ("kube-system", "karpenter"),
    }
    for role in of_type(resources, "aws:iam/role:Role"):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        principal = trust["Statement"][0]["Principal"]["Service"]
        assert principal in {"eks.amazonaws.com", "ec2.amazonaws.com", "pods.eks.amazonaws.com"}


def test_without_data_protection_only_the_key_is_protected() -> None:
    res = eks_plan(compliance="standard", data_protection=False)
    assert {r.type for r in res if r.protect} == {"aws:kms/key:Key"}
    assert one(res, "aws:eks/cluster:Cluster").inputs["deletionProtection"] is False


def test_gdpr_keeps_the_stack_in_an_eu_region() -> None:
    res = eks_plan(compliance="gdpr", region="eu-central-1")
    assert one(res, "aws:ec2/vpcEndpoint:VpcEndpoint").inputs["serviceName"] == "com.amazonaws.eu-central-1.s3"
    with pytest.raises(SpecError):
        eks_plan(compliance="gdpr", region="us-east-1")


def test_hipaa_requires_kms_and_no_public_endpoint() -> None:
    with pytest.raises(SpecError) as info:
        eks_plan(cluster={"private_endpoint": False})
    assert "cluster.private_endpoint" in {i.path for i in info.value.issues}
    with pytest.raises(SpecError):
        eks_plan(security={"customer_managed_keys": False})
