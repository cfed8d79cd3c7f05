"""Enterprise networks (#26): the address plan, existing networks, zones that sell the chip, names per stack.

Every expected range, size and suggestion below is worked by hand from the rules as written in
components/spec/network_rules.py and the providers' documented facts (AWS reserves 5 addresses per
subnet, GCP 4; a GKE node of max_pods_per_node 110 takes a /24 of pods range). System pools: 3 nodes at
most on both clouds (foundation/catalog). The plans are the real program under Pulumi's mocks.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aistack.cli import main
from aistack.offline import Plan, PlannedResource, plan
from components import naming
from components.spec import SpecError, load_stack, parse_spec
from components.targets.eks.network import subnet_cidrs
from tests.conftest import of_type, one, plan_of, stack_values
from tests.test_manifest_schema import validate_custom

VPC = "vpc-0a1b2c3d4e5f60718"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
NODE_POOL = "gcp:container/nodePool:NodePool"


def gcp_values(**changes: Any) -> dict[str, Any]:
    values = {**copy.deepcopy(stack_values("gcp-tpu")), "project": "acme-ml-prod"}
    values.update(changes)
    return values


def aws_values(**changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(stack_values("aws-gpu"))
    values.update(changes)
    return values


STACK = "net-test"  # the Pulumi stack the plans run as (names derive from it)


def problems(values: dict[str, Any]) -> dict[str, list[Any]]:
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    out: dict[str, list[Any]] = {}
    for issue in info.value.issues:
        out.setdefault(issue.path, []).append(issue)
    return out


def small_gcp(**network: Any) -> dict[str, Any]:
    """One L4 pool of 20 nodes in europe-west4: the cluster grows to 3 + 20 = 23 nodes."""
    return {
        "target": "gcp",
        "region": "europe-west4",
        "project": "acme-ml",
        "accelerator_pools": [{"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 20}],
        "network": network,
    }


def small_aws(**network: Any) -> dict[str, Any]:
    return {
        "target": "aws",
        "region": "us-east-1",
        "accelerator_pools": [
            {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
            {"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4},
        ],
        "network": network,
    }


# ----------------------------------------------------------------------------------- the address plan


def test_aws_subnets_split_the_vpc_by_hand() -> None:
    # /16: private /19s from the start, public /24s from the last quarter (10.0.192.0/18), as before #26
    assert subnet_cidrs(3) == (
        ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"],
        ["10.0.192.0/24", "10.0.193.0/24", "10.0.194.0/24"],
    )
    # /18: private /21s; the last quarter is 10.50.48.0/20, cut in /26s
    assert subnet_cidrs(2, "10.50.0.0/18") == (
        ["10.50.0.0/21", "10.50.8.0/21"],
        ["10.50.48.0/26", "10.50.48.64/26"],
    )


def test_defaults_are_the_ranges_aistack_always_used() -> None:
    gke = plan_of(gcp_values(), STACK).resources
    subnet = one(gke, "gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["ipCidrRange"] == "10.0.0.0/20"
    assert subnet["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": "10.64.0.0/14"},
        {"rangeName": "services", "ipCidrRange": "10.96.0.0/20"},
    ]
    cluster = one(gke, "gcp:container/cluster:Cluster").inputs
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert "defaultMaxPodsPerNode" not in cluster  # GKE's default (110), as before
    assert one(plan_of(aws_values(), STACK).resources, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.0.0.0/16"


def test_a_range_overlapping_another_names_both_and_suggests_a_free_one() -> None:
    found = problems(small_gcp(pods_cidr="10.0.0.0/14"))  # overlaps the nodes' default 10.0.0.0/20
    (issue,) = found["network.pods_cidr"]
    assert "overlaps network.cidr (10.0.0.0/20)" in issue.reason
    # the first /14 of 10/8 past 10.0.0.0/20 that misses the others (services 10.96.0.0/20)
    assert "e.g. 10.4.0.0/14" in issue.fix


def test_avoid_pushes_every_range_out_of_the_corporate_network() -> None:
    found = problems(small_gcp(avoid=["10.0.0.0/8"]))
    assert set(found) == {"network.cidr", "network.pods_cidr", "network.services_cidr"}
    (cidr,) = found["network.cidr"]
    assert "avoid[0] (10.0.0.0/8)" in cidr.reason
    # 10/8 is all taken; 172.16.0.0/20 holds the control plane's 172.16.0.0/28: the next /20 is 172.16.16.0/20
    assert "e.g. 172.16.16.0/20" in cidr.fix
    (pods,) = found["network.pods_cidr"]
    # RFC 1918 first: 172.16.0.0/14 holds the control plane, and the other 10.x ranges are avoided
    assert "e.g. 172.20.0.0/14" in pods.fix


def test_ranges_must_be_private_pods_may_take_rfc_6598() -> None:
    (issue,) = problems(small_gcp(cidr="8.8.0.0/20"))["network.cidr"]
    assert "not a private range (RFC 1918)" in issue.reason and "e.g. 10.0.0.0/20" in issue.fix
    parse_spec(small_gcp(pods_cidr="100.64.0.0/14"))  # RFC 6598 (100.64.0.0/10) is fine for pods
    (issue,) = problems(small_gcp(services_cidr="100.64.0.0/20"))["network.services_cidr"]
    assert "not a private range (RFC 1918)" in issue.reason


def test_the_control_plane_range_is_a_28() -> None:
    (issue,) = problems(small_gcp(master_cidr="172.16.0.0/27"))["network.master_cidr"]
    # RFC 1918 in order: 10.0.0.0/20 holds the nodes, so the first free /28 is 10.0.16.0/28
    assert "must be a /28" in issue.reason and "e.g. 10.0.16.0/28" in issue.fix


def test_gke_pods_range_holds_every_node_at_max() -> None:
    # 23 nodes × 256 = 5888 addresses: a /19 (8192); a /20 holds 4096
    (issue,) = problems(small_gcp(pods_cidr="10.128.0.0/20"))["network.pods_cidr"]
    assert "23 nodes" in issue.reason and "need 5888" in issue.reason
    # the first /19 that misses 10.0.0.0/20 (nodes): 10.0.32.0/19
    assert "use a /19 or larger, e.g. 10.0.32.0/19" in issue.fix
    parse_spec(small_gcp(pods_cidr="10.128.0.0/19"))
    # 64 pods per node: a /25 each (128 addresses): 23 × 128 = 2944 ≤ 4096
    parse_spec(small_gcp(pods_cidr="10.128.0.0/20", max_pods_per_node=64))
    # a /28 node range has 12 usable addresses for 23 nodes
    (issue,) = problems(small_gcp(cidr="10.0.0.0/28"))["network.cidr"]
    assert "12 usable node addresses" in issue.reason and "use a /27 or larger" in issue.fix


def test_aws_busiest_subnet_holds_its_share_of_every_pool() -> None:
    # /20 VPC → /23 private subnets: 512 - 5 = 507 usable. Busiest subnet of 3 zones: ⌈3/3⌉ system +
    # ⌈2/3⌉ h100 + ⌈4/3⌉ l4 = 4 nodes × 111 = 444: fits.
    parse_spec(small_aws(cidr="10.0.0.0/20"))
    values = small_aws(cidr="10.0.0.0/20")
    values["accelerator_pools"][1]["max_nodes"] = 10  # ⌈10/3⌉ = 4: 6 nodes × 111 = 666 > 507
    (issue,) = problems(values)["network.cidr"]
    assert "507 usable addresses" in issue.reason and "needs 666" in issue.reason
    # 666 + 5 → a /22 subnet, so a /19 VPC
    assert "use a /19 or larger, e.g. 10.0.0.0/19" in issue.fix
    (issue,) = problems(small_aws(cidr="10.0.0.0/24"))["network.cidr"]
    assert "/16 to /20" in issue.reason and "use a /20, e.g. 10.0.0.0/20" in issue.fix


def test_fields_go_with_their_target_and_their_mode() -> None:
    assert "network.pods_cidr" in problems(small_aws(pods_cidr="10.64.0.0/14"))
    assert "network.vpc_id" in problems(small_gcp(vpc_id=VPC, private_subnet_ids=SUBNETS[:2]))
    assert "network.private_subnet_ids" in problems(small_aws(vpc_id=VPC, private_subnet_ids=SUBNETS[:1]))
    assert "network.cidr" in problems(small_aws(vpc_id=VPC, private_subnet_ids=SUBNETS[:2], cidr="10.0.0.0/16"))
    assert "network.endpoints" in problems(small_aws(endpoints="create"))
    missing = problems(small_gcp(network="corp-net", subnetwork="gke-nodes"))
    assert {"network.pods_range", "network.services_range"} <= set(missing)
    assert "network.pods_cidr" in problems(
        small_gcp(network="corp-net", subnetwork="s", pods_range="p", services_range="v", pods_cidr="10.64.0.0/14")
    )
    assert "network.host_project" in problems(
        small_gcp(network="corp-net", subnetwork="s", pods_range="p", services_range="v", host_project="acme-ml")
    )


# ----------------------------------------------------------------------------------- zones that sell the chip


def h100_gcp(zones: list[str]) -> dict[str, Any]:
    return gcp_values(
        zones=zones,
        accelerator_pools=[
            {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
            {"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 2},
        ],
        teams=[],
    )


def test_gke_pools_run_only_where_their_chip_is_sold() -> None:
    # H100 (a3-highgpu) in europe-west4: b and c; L4 (g2): a, b and c (SkyPilot's catalog rows, foundation/catalog)
    p = plan_of(h100_gcp(["europe-west4-a", "europe-west4-b", "europe-west4-c"]), STACK)
    assert p.pool_zones()["h100"] == ["europe-west4-b", "europe-west4-c"]
    assert p.pool_zones()["l4"] == ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    assert p.pool_zones()["system"] == []  # the cluster's own locations
    (issue,) = problems(h100_gcp(["europe-west4-a"]))["zones"]
    assert "in europe-west4 it is sold in europe-west4-b, europe-west4-c" in issue.reason
    # no zones given: the catalog's zones of the region
    assert plan_of(h100_gcp([]), STACK).pool_zones()["h100"] == ["europe-west4-b", "europe-west4-c"]


def test_plan_shows_the_zones_per_pool(capsys: Any, tmp_path: Path) -> None:
    config = {f"aistack:{k}": v for k, v in h100_gcp(["europe-west4-a", "europe-west4-b"]).items()}
    path = tmp_path / "Pulumi.zones.yaml"
    path.write_text(json.dumps({"config": config}))
    assert main(["plan", str(path)]) == 0
    out = re.sub(r"[\s│┃|]+", " ", capsys.readouterr().out)
    assert "zones per pool" in out and " h100 europe-west4-b " in out
    assert " l4 europe-west4-a, europe-west4-b " in out
    assert main(["plan", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pool_zones"]["h100"] == ["europe-west4-b"]


def test_eks_pools_take_the_zones_ec2_offers() -> None:
    p = plan_of(aws_values(), STACK)
    # offline, EC2's offerings (the mocks' answer) are every zone; the NodePools carry the requirement
    every = ["[az-1]", "[az-2]", "[az-3]"]
    assert p.pool_zones() == {"h100": every, "l40s-spot": every, "system": every, "trn2": every}
    for obj in p.kubernetes_objects():
        if obj["kind"] in ("NodePool", "EC2NodeClass"):
            validate_custom(obj)


# ----------------------------------------------------------------------------------- every combination, planned

GCP_OWN = "gcp:compute/network:Network"
GCP_CREATED = (
    GCP_OWN,
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:compute/router:Router",
    "gcp:compute/routerNat:RouterNat",
)
EXISTING_GCP = {"network": "corp-net", "subnetwork": "gke-nodes", "pods_range": "gke-pods", "services_range": "gke-svc"}


def test_gcp_own_network_with_its_address_plan() -> None:
    network = {"cidr": "10.20.0.0/22", "pods_cidr": "100.64.0.0/14", "services_cidr": "10.21.0.0/20",
               "master_cidr": "10.21.16.0/28", "max_pods_per_node": 64}  # fmt: skip
    res = plan_of(gcp_values(network=network), STACK).resources
    for t in GCP_CREATED:
        assert len(of_type(res, t)) == 1, t
    subnet = one(res, "gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["ipCidrRange"] == "10.20.0.0/22"
    assert [r["ipCidrRange"] for r in subnet["secondaryIpRanges"]] == ["100.64.0.0/14", "10.21.0.0/20"]
    cluster = one(res, "gcp:container/cluster:Cluster").inputs
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == "10.21.16.0/28"
    assert cluster["defaultMaxPodsPerNode"] == 64
    firewall = one(res, "gcp:compute/firewall:Firewall").inputs
    assert firewall["sourceRanges"] == ["10.21.16.0/28"] and "project" not in firewall


def test_gcp_existing_network_in_the_stack_project() -> None:
    p = plan_of(gcp_values(network=EXISTING_GCP), STACK)
    res = p.resources
    for t in GCP_CREATED:
        assert of_type(res, t) == [], t
    cluster = one(res, "gcp:container/cluster:Cluster").inputs
    assert cluster["network"] == "projects/acme-ml-prod/global/networks/corp-net"
    assert cluster["subnetwork"] == "projects/acme-ml-prod/regions/europe-west4/subnetworks/gke-nodes"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "gke-pods",
        "servicesSecondaryRangeName": "gke-svc",
    }
    firewall = one(res, "gcp:compute/firewall:Firewall").inputs  # its own network: created
    assert firewall["network"] == "projects/acme-ml-prod/global/networks/corp-net"
    filestore = one(res, "gcp:filestore/instance:Instance").inputs
    assert filestore["networks"][0]["network"] == "corp-net"
    assert not [w for w in p.warnings if "firewall" in w]


def test_gcp_shared_vpc_prints_the_firewall_rule_unless_allowed() -> None:
    shared = {**EXISTING_GCP, "host_project": "acme-net-host"}
    p = plan_of(gcp_values(network=shared), stack="prod")
    res = p.resources
    assert of_type(res, "gcp:compute/firewall:Firewall") == [] and of_type(res, GCP_OWN) == []
    cluster = one(res, "gcp:container/cluster:Cluster").inputs
    assert cluster["network"] == "projects/acme-net-host/global/networks/corp-net"
    assert cluster["subnetwork"] == "projects/acme-net-host/regions/europe-west4/subnetworks/gke-nodes"
    assert one(res, "gcp:filestore/instance:Instance").inputs["networks"][0]["network"] == (
        "projects/acme-net-host/global/networks/corp-net"
    )
    (warning,) = [w for w in p.warnings if "firewall" in w]
    assert (
        "gcloud compute firewall-rules create aistack-prod-master-webhooks --project acme-net-host --network corp-net "
        "--direction INGRESS --source-ranges 172.16.0.0/28 --allow tcp:443,tcp:8443,tcp:9443,tcp:10250,tcp:15017"
    ) in warning
    res = plan_of(gcp_values(network={**shared, "firewall": "create"}), stack="prod").resources
    firewall = one(res, "gcp:compute/firewall:Firewall").inputs
    assert firewall["project"] == "acme-net-host" and firewall["name"] == "aistack-prod-master-webhooks"


AWS_CREATED = (
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/routeTable:RouteTable",
)


def test_aws_own_network_with_its_range() -> None:
    res = plan_of(aws_values(network={"cidr": "10.50.0.0/18"}), STACK).resources
    assert one(res, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.50.0.0/18"
    private = [
        s for s in of_type(res, "aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    ]
    assert sorted(s.inputs["cidrBlock"] for s in private) == ["10.50.0.0/21", "10.50.16.0/21", "10.50.8.0/21"]
    (s3,) = of_type(res, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert s3.inputs["vpcEndpointType"] == "Gateway" and len(s3.inputs["routeTableIds"]) == 3


def existing_aws(**network: Any) -> dict[str, Any]:
    values = aws_values(network={"vpc_id": VPC, "private_subnet_ids": SUBNETS, **network})
    values["accelerator_pools"][0]["efa"] = True  # one pool kept in one zone
    return values


def test_aws_existing_vpc_creates_no_network() -> None:
    p = plan_of(existing_aws(), STACK)
    res = p.resources
    for t in AWS_CREATED:
        assert of_type(res, t) == [], t
    assert of_type(res, "aws:ec2/vpcEndpoint:VpcEndpoint") == []  # endpoints: none
    cluster = one(res, "aws:eks/cluster:Cluster").inputs
    assert cluster["vpcConfig"]["subnetIds"] == SUBNETS
    classes = {o["metadata"]["name"]: o for o in p.kubernetes_objects() if o["kind"] == "EC2NodeClass"}
    assert classes["l40s-spot"]["spec"]["subnetSelectorTerms"] == [{"id": s} for s in SUBNETS]
    assert classes["h100"]["spec"]["subnetSelectorTerms"] == [{"id": SUBNETS[0]}]  # EFA: one zone
    for obj in classes.values():
        validate_custom(obj)
    # nothing tags subnets the stack does not own
    assert of_type(res, "aws:ec2/tag:Tag")[0].inputs["key"] == "karpenter.sh/discovery"  # the security group's only
    assert len(of_type(res, "aws:ec2/tag:Tag")) == 1
    # EFS mount targets in the given subnets
    efs = of_type(res, "aws:efs/mountTarget:MountTarget")
    assert [m.inputs["subnetId"] for m in efs] in ([], SUBNETS)


def test_aws_existing_vpc_with_endpoints() -> None:
    res = plan_of(existing_aws(endpoints="create"), STACK).resources
    endpoints = {e.inputs["serviceName"]: e.inputs for e in of_type(res, "aws:ec2/vpcEndpoint:VpcEndpoint")}
    interface = ["ec2", "ecr.api", "ecr.dkr", "elasticloadbalancing", "logs", "sts"]
    assert sorted(endpoints) == sorted(f"com.amazonaws.us-east-1.{s}" for s in [*interface, "s3"])
    for s in interface:
        e = endpoints[f"com.amazonaws.us-east-1.{s}"]
        assert e["vpcEndpointType"] == "Interface" and e["privateDnsEnabled"] is True and e["subnetIds"] == SUBNETS
    s3 = endpoints["com.amazonaws.us-east-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway" and s3["routeTableIds"] == ["[route-table]"]  # the subnets' table
    assert all(e["vpcId"] == VPC for e in endpoints.values())


def _platform(p: Plan) -> dict[str, Any]:
    return {r.urn: r.inputs for r in p.resources if r.name.startswith("aistack-platform-")}


@pytest.mark.parametrize(
    ("values", "other"),
    [
        (gcp_values, {"network": EXISTING_GCP}),
        (gcp_values, {"network": {**EXISTING_GCP, "host_project": "acme-net-host"}}),
        (gcp_values, {"network": {"cidr": "10.20.0.0/20", "pods_cidr": "100.64.0.0/14"}}),
        (aws_values, {"network": {"vpc_id": VPC, "private_subnet_ids": SUBNETS, "endpoints": "create"}}),
        (aws_values, {"network": {"cidr": "10.50.0.0/16"}}),
    ],
    ids=["gcp-existing", "gcp-shared-vpc", "gcp-own-ranges", "aws-existing", "aws-own-range"],
)
def test_the_platform_never_sees_the_network(values: Any, other: dict[str, Any]) -> None:
    """Parity: the platform layer is the same object for object, whichever network the target lands in."""
    base, moved = _platform(plan_of(values(), STACK)), _platform(plan_of(values(**other), STACK))
    assert len(base) > 40
    assert base == moved


# ----------------------------------------------------------------------------------- the stack identity


def _sdk_class(token: str) -> Any:
    """The provider SDK's class for a resource type token, e.g. aws:ec2/vpc:Vpc → pulumi_aws.ec2.Vpc."""
    package, middle, name = token.split(":")
    module = middle.split("/")[0] if "/" in middle else ""
    return getattr(importlib.import_module(f"pulumi_{package}" + (f".{module}" if module else "")), name)


def _label_fields(token: str, fields: tuple[str, ...]) -> list[str]:
    params = inspect.signature(_sdk_class(token)._internal_init).parameters
    return [f for f in fields if f in params]


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(w.title() for w in rest)


@pytest.mark.parametrize("stack", ["gcp-tpu", "aws-gpu"])
def test_every_taggable_resource_carries_the_stack_identity(stack: str) -> None:
    """The provider SDK (not aistack) says which resources take tags or labels: every one the plan has carries
    the identity, so the teardown (#24) finds what the stack made."""
    p = plan(load_stack(stack))
    cloud = p.spec.target
    fields = ("tags",) if cloud == "aws" else ("resource_labels", "user_labels", "labels")
    want = (
        {"aistack.io/project": "aistack", "aistack.io/stack": stack}
        if cloud == "aws"
        else {"aistack-project": "aistack", "aistack-stack": stack}
    )
    checked, missing = 0, []
    for r in p.resources:
        if not r.custom or not r.type.startswith(f"{cloud}:"):
            continue
        present = _label_fields(r.type, fields)
        if not present:
            continue
        field = present[0]  # GCP: resource labels first (a NotificationChannel's `labels` are its settings)
        checked += 1
        value = r.inputs.get(_camel(field)) or {}
        if {k: value.get(k) for k in want} != want:
            missing.append(f"{r.type} {r.name} {field}={value}")
    assert checked >= 5 and missing == []
    if cloud == "aws":
        csi = [a for a in of_type(p.resources, "aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver"]
        (ebs,) = csi
        tags = json.loads(ebs.inputs["configurationValues"])["controller"]["extraVolumeTags"]
        assert {k: tags[k] for k in want} == want
        for obj in p.kubernetes_objects():
            if obj["kind"] == "EC2NodeClass":
                assert {k: obj["spec"]["tags"][k] for k in want} == want
    else:
        pools = [n for n in of_type(p.resources, NODE_POOL)]
        assert all({k: n.inputs["nodeConfig"]["resourceLabels"][k] for k in want} == want for n in pools)
        # the PD CSI driver labels the disks it creates with the StorageClass's labels parameter
        (rwo,) = [
            o for o in p.kubernetes_objects() if o["kind"] == "StorageClass" and o["metadata"]["name"] == "aistack-rwo"
        ]
        assert {f"{k}={v}" for k, v in want.items()} <= set(rwo["parameters"]["labels"].split(","))


# Resources whose name must be unique in the GCP project or AWS account and region, and the input holding it.
# (Auto-named resources, IAM roles and S3 buckets from bucket_prefix, get a random suffix from Pulumi or AWS.)
PHYSICAL = {
    "gcp:container/cluster:Cluster": "name",
    "gcp:serviceaccount/account:Account": "accountId",
    "gcp:compute/network:Network": "name",
    "gcp:compute/subnetwork:Subnetwork": "name",
    "gcp:compute/router:Router": "name",
    "gcp:compute/routerNat:RouterNat": "name",
    "gcp:compute/firewall:Firewall": "name",
    "gcp:kms/keyRing:KeyRing": "name",
    "gcp:filestore/instance:Instance": "name",
    "gcp:storage/bucket:Bucket": "name",
    "aws:eks/cluster:Cluster": "name",
    "aws:sqs/queue:Queue": "name",
    "aws:cloudwatch/eventRule:EventRule": "name",
}


def _physical(res: list[PlannedResource]) -> dict[str, str]:
    """name → type of every resource that names itself in the account or project."""
    return {str(r.inputs[PHYSICAL[r.type]]): r.type for r in res if r.type in PHYSICAL}


@pytest.mark.parametrize("values", [gcp_values, aws_values], ids=["gcp", "aws"])
def test_two_stacks_in_one_project_share_no_name(values: Any) -> None:
    """Two stacks of the example (no aistack:name) in one project: not one physical name in common, and each
    name within its provider's limit (naming's table, each limit sourced)."""
    prod, dev = (
        _physical(plan_of(values(), stack="prod").resources),
        _physical(plan_of(values(), stack="dev").resources),
    )
    assert len(prod) >= 7 and len(prod) == len(dev)
    assert set(prod) & set(dev) == set()
    assert all("-prod" in name for name in prod) and all("-dev" in name for name in dev)
    spec = parse_spec(values())
    for stack in ("prod", "dev"):
        names = naming.generated_names(spec, naming.StackIdentity("aistack", stack))
        assert [n.value for n in names if not n.ok] == []
        assert set(prod if stack == "prod" else dev) <= {n.value for n in names} | {
            n for n in (prod if stack == "prod" else dev) if "kp-" in n or n.endswith("-karpenter")
        }


def test_names_carry_the_stack_and_stay_in_the_providers_limits() -> None:
    spec = parse_spec(gcp_values())
    prod = naming.generated_names(spec, naming.StackIdentity("aistack", "prod"))
    by_what = {(n.limit.what, n.value) for n in prod}
    assert ("GKE cluster name", "aistack-prod") in by_what
    assert ("GCP service account id", "aistack-prod-nodes") in by_what
    assert ("GCP service account id", "aistack-prod-pipelines") in by_what  # was cut to 'aistack--pipelines'
    assert ("Compute Engine resource name", "aistack-prod-master-webhooks") in by_what
    # a long stack name in another Pulumi project: shortened with a hash, every name within its limit
    long = naming.StackIdentity("ml-platform", "research-europe-west4-production")
    names = naming.generated_names(spec, long)
    assert [n.value for n in names if not n.ok] == []
    (cluster,) = [n.value for n in names if n.limit.what == "GKE cluster name"]
    # 'aistack-ml-platform-research-…' is longer than the 24 characters of a derived prefix: cut, with a hash
    assert re.fullmatch(r"aistack-ml-platfo-[0-9a-f]{6}", cluster), cluster
    # two long stacks that differ only past the cut still get different names (the hash is of the whole name)
    other = naming.generated_names(spec, naming.StackIdentity("ml-platform", "research-europe-west4-staging"))

    def unique(found: list[naming.GeneratedName]) -> set[str]:
        return {n.value for n in found if n.limit in (naming.GKE_CLUSTER, naming.GCE_RESOURCE, naming.KMS_KEY_RING)}

    assert len(unique(names)) >= 5 and unique(names) & unique(other) == set()


def test_a_stack_that_sets_its_name_keeps_its_names() -> None:
    spec = parse_spec(gcp_values(name="mlprod"))
    assert naming.renamed(spec, naming.StackIdentity("aistack", "whatever")) == []
    res = plan_of(gcp_values(name="mlprod"), stack="whatever").resources
    assert one(res, "gcp:container/cluster:Cluster").inputs["name"] == "mlprod"
    # longer than 8 characters: the workload service accounts were cut to 8 and collided; only they change
    spec = parse_spec(gcp_values(name="aistack-prod"))
    changes = naming.renamed(spec, naming.StackIdentity("aistack", "whatever"))
    assert {c.what for c in changes} <= {"GCP service account id", "GCP service account display name"}
    assert ("aistack--pipelines", "aistack-prod-pipelines") in {(c.old, c.new) for c in changes}


def test_validate_announces_the_replacements(capsys: Any, tmp_path: Path) -> None:
    values = aws_values()
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(json.dumps({"config": {f"aistack:{k}": v for k, v in values.items()}}))
    assert main(["validate", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "EKS cluster name: aistack → aistack-prod" in out
    assert "SQS queue name: aistack-karpenter → aistack-prod-karpenter" in out
    assert "pulumi config set aistack:name aistack --stack prod" in out
    path.write_text(json.dumps({"config": {f"aistack:{k}": v for k, v in {**values, "name": "ml"}.items()}}))
    assert main(["validate", str(path)]) == 0
    assert "physical name(s) differ" not in capsys.readouterr().out
