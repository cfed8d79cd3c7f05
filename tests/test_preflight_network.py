"""`aistack preflight` on a stack that names an existing network (#26), against moto and the GCP stand-in.

AWS: moto's server (tests/test_preflight.py's fixture) holds the VPC, subnets, route tables and VPC
endpoints the test creates through boto3; moto computes each subnet's AvailableIpAddressCount itself
(the block less AWS's 5 reserved addresses), an oracle independent of aistack's arithmetic.

GCP: tests/gcp_standin.py serves networks.get, subnetworks.get / getIamPolicy and Resource Manager's
projects.get / getIamPolicy in the APIs' documented JSON; the client libraries parse it.

Expected sizes are worked by hand in each test: EKS's system group grows to 3 nodes, GKE's system pool to 3
(foundation/catalog); a GKE node of max_pods_per_node 110 takes a /24 of the pods range (256 addresses).
"""

# ruff: noqa: F811 (the fixtures imported from test_preflight are parameters of these tests)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.gcp_standin import iam_policy, network, region, subnetwork
from tests.test_preflight import (  # noqa: F401 (fixtures)
    EC2_QUOTAS,
    GCP_PROJECT,
    _plenty,
    _write_stack,
    aws,
    compute_server,
    gcp,
    moto_url,
)

ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2", "elasticloadbalancing", "logs", "s3")


def _doc(capsys: Any, tmp_path: Path, values: dict[str, Any], extra: dict[str, Any] | None = None) -> tuple[int, Any]:
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, values, extra), "--json")
    assert out, err
    return code, json.loads(out)


def _network_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if c["kind"] == "network"]


# ------------------------------------------------------------------------------------------ AWS


def _vpc(ec2: Any, blocks: tuple[str, ...] = ("10.20.0.0/19", "10.20.32.0/19")) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=b, AvailabilityZone=zones[i])["Subnet"]["SubnetId"]
        for i, b in enumerate(blocks)
    ]
    return vpc, subnets


def _aws_stack(vpc: str, subnets: list[str], **network: Any) -> dict[str, Any]:
    return {
        "target": "aws",
        "region": "us-east-1",
        # 3 system nodes + 2 + 4 = 9 nodes at their largest
        "accelerator_pools": [
            {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
            {"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4, "spot": True},
        ],
        "network": {"vpc_id": vpc, "private_subnet_ids": subnets, **network},
    }


def test_aws_nat_less_vpc_lists_every_missing_endpoint(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, subnets = _vpc(aws)
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets))
    rows = {c["item"]: c for c in _network_rows(doc)}
    assert code == 1
    assert rows[vpc]["status"] == "ok" and "10.20.0.0/16" in rows[vpc]["have"]
    zones = [c for c in _network_rows(doc) if c["name"] == "zones of the private subnets"]
    assert [(c["have"], c["status"]) for c in zones] == [("us-east-1a, us-east-1b", "ok")]
    short = sorted(c["item"] for c in _network_rows(doc) if c["status"] == "short")
    assert short == sorted(f"com.amazonaws.us-east-1.{s}" for s in ENDPOINTS)
    sts = rows["com.amazonaws.us-east-1.sts"]
    assert sts["over_limit"] and "network.endpoints: create" in sts["fix"]
    assert f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --service-name com.amazonaws.us-east-1.sts" in sts["fix"]
    # an existing VPC: aistack creates no NAT gateway, so no Elastic IP is needed
    assert "L-0263D0A3" not in {c["item"] for c in doc["checks"]}

    # three of them made by the network team: the four others are still missing, by name
    for service in ("ecr.api", "ecr.dkr", "sts"):
        aws.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.us-east-1.{service}", VpcEndpointType="Interface", SubnetIds=subnets
        )
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets))
    short = sorted(c["item"].rsplit(".", 1)[-1] for c in _network_rows(doc) if c["status"] == "short")
    assert code == 1 and short == ["ec2", "elasticloadbalancing", "logs", "s3"]


def test_aws_endpoints_create_is_info_and_a_duplicate_is_short(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, subnets = _vpc(aws)
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets, endpoints="create"))
    endpoints = [c for c in _network_rows(doc) if c["name"].startswith("VPC endpoint")]
    assert code == 0, doc
    assert len(endpoints) == 7 and {c["status"] for c in endpoints} == {"info"}
    assert {c["have"] for c in endpoints} == {"missing: aistack creates it"}

    aws.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.logs", VpcEndpointType="Interface", SubnetIds=subnets
    )
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets, endpoints="create"))
    (row,) = [c for c in _network_rows(doc) if c["status"] == "short"]
    assert code == 1 and row["item"] == "com.amazonaws.us-east-1.logs" and "endpoints: none" in row["fix"]


def test_aws_default_route_through_nat_needs_no_endpoint(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, subnets = _vpc(aws)
    public = aws.create_subnet(VpcId=vpc, CidrBlock="10.20.192.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    eip = aws.allocate_address(Domain="vpc")["AllocationId"]
    nat = aws.create_nat_gateway(SubnetId=public["SubnetId"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    table = aws.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    aws.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    for s in subnets:
        aws.associate_route_table(RouteTableId=table, SubnetId=s)
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets))
    endpoints = [c for c in _network_rows(doc) if c["name"].startswith("VPC endpoint")]
    assert code == 0, doc
    assert {c["status"] for c in endpoints} == {"info"} and all(nat in c["have"] for c in endpoints)


def test_aws_public_subnet_one_zone_and_foreign_subnet_are_short(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, (first, second) = _vpc(aws, ("10.20.0.0/19", "10.20.32.0/19"))
    igw = aws.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    aws.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = aws.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    aws.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    aws.associate_route_table(RouteTableId=table, SubnetId=second)
    other_vpc, (foreign,) = _vpc(aws, ("10.20.64.0/19",))
    same_zone = aws.create_subnet(VpcId=vpc, CidrBlock="10.20.96.0/19", AvailabilityZone="us-east-1a")["Subnet"]
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, [first, second, foreign], endpoints="create"))
    rows = _network_rows(doc)
    (private,) = [c for c in rows if c["name"] == "private subnets"]
    (elsewhere,) = [c for c in rows if c["item"] == foreign]
    assert code == 1
    assert private["status"] == "short" and private["have"] == f"{second} routes 0.0.0.0/0 to {igw}"
    assert elsewhere["status"] == "short" and elsewhere["have"] == f"in {other_vpc}"

    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, [first, same_zone["SubnetId"]], endpoints="create"))
    (zones,) = [c for c in _network_rows(doc) if c["name"] == "zones of the private subnets"]
    assert code == 1 and zones["status"] == "short" and zones["have"] == "us-east-1a"

    code, doc = _doc(capsys, tmp_path, _aws_stack("vpc-0123456789abcdef0", [first, second]))
    (missing,) = _network_rows(doc)
    assert code == 1 and missing["have"] == "not found" and missing["over_limit"]


def test_aws_free_addresses_count_a_pod_per_address(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, subnets = _vpc(aws, ("10.20.0.0/24", "10.20.1.0/24"))  # 2 × (256 - 5) = 502 free
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets, endpoints="create"))
    (row,) = [c for c in _network_rows(doc) if c["name"] == "free addresses in the private subnets"]
    # 9 nodes × (110 pods + 1) = 999
    assert code == 1 and row["status"] == "short" and row["over_limit"]
    assert row["need"].startswith("999 ") and row["have"] == "502 free of 502"
    assert "/23" in row["fix"]  # 999 / 2 subnets = 499 + 5 reserved: a /23 each

    # 9 nodes × (50 + 1) = 459 ≤ 502
    code, doc = _doc(capsys, tmp_path, _aws_stack(vpc, subnets, endpoints="create", max_pods_per_node=50))
    (row,) = [c for c in _network_rows(doc) if c["name"] == "free addresses in the private subnets"]
    assert code == 0 and row["status"] == "ok" and row["need"].startswith("459 ")


def test_aws_stack_aistack_networks_gets_no_network_rows(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    values = _aws_stack("vpc-0123456789abcdef0", [])
    del values["network"]
    code, doc = _doc(capsys, tmp_path, values)
    assert code == 0 and _network_rows(doc) == []
    assert [c["need"] for c in doc["checks"] if c["item"] == "L-0263D0A3"] == ["3 addresses"]  # its NAT gateways


# ------------------------------------------------------------------------------------------ GCP

SERVICE_NUMBER = "271828182845"
GKE_AGENT = f"serviceAccount:service-{SERVICE_NUMBER}@container-engine-robot.iam.gserviceaccount.com"
APIS_AGENT = f"serviceAccount:{SERVICE_NUMBER}@cloudservices.gserviceaccount.com"


def _gcp_stack(**network: Any) -> dict[str, Any]:
    return {
        "target": "gcp",
        "region": "us-central1",
        # 3 system nodes + 4 = 7 nodes at their largest: 7 × 256 = 1792 pod addresses
        "accelerator_pools": [{"name": "l4", "accelerator": "nvidia-l4", "count": 2, "max_nodes": 4}],
        "network": {
            "network": "corp-net",
            "subnetwork": "gke-nodes",
            "pods_range": "gke-pods",
            "services_range": "gke-services",
            **network,
        },
    }


def _plenty_gcp(gcp: Any) -> None:
    gcp.regions["us-central1"] = region({"NVIDIA_L4_GPUS": (64, 0), "CPUS": (1000, 0), "IN_USE_ADDRESSES": (8, 0)})


def _corp_net(gcp: Any, project: str = "acme-ml", primary: str = "10.8.0.0/24", pods: str = "10.9.0.0/21") -> None:
    gcp.networks[(project, "corp-net")] = network("corp-net", project)
    gcp.subnetworks[(project, "us-central1", "gke-nodes")] = subnetwork(
        "gke-nodes",
        "us-central1",
        "corp-net",
        primary,
        {"gke-pods": pods, "gke-services": "10.10.0.0/24"},
        project=project,
    )


def test_gcp_existing_network_that_fits(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty_gcp(gcp)
    _corp_net(gcp)
    code, doc = _doc(capsys, tmp_path, _gcp_stack(), GCP_PROJECT)
    rows = {c["item"]: c for c in _network_rows(doc)}
    assert code == 0, doc
    assert rows["gke-pods"]["have"] == "10.9.0.0/21: 2048" and rows["gke-pods"]["need"].startswith("≥ 1792 ")
    assert rows["10.8.0.0/24"]["have"] == "252 usable"  # 256 less GCP's 4 reserved
    assert {c["status"] for c in rows.values()} == {"ok"}
    assert "IN_USE_ADDRESSES" not in {c["item"] for c in doc["checks"]}  # no Cloud NAT in an existing network


def test_gcp_ranges_too_small_or_missing(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty_gcp(gcp)
    _corp_net(gcp, primary="10.8.0.0/29", pods="10.9.0.0/22")  # 8 - 4 = 4 node addresses; 1024 pod addresses
    code, doc = _doc(capsys, tmp_path, _gcp_stack(), GCP_PROJECT)
    short = {c["item"]: c for c in _network_rows(doc) if c["status"] == "short"}
    assert code == 1 and set(short) == {"10.8.0.0/29", "gke-pods"}
    assert short["gke-pods"]["have"] == "10.9.0.0/22: 1024" and "/21" in short["gke-pods"]["fix"]
    assert short["10.8.0.0/29"]["have"] == "4 usable" and "--expand-ip-range" in short["10.8.0.0/29"]["fix"]

    _corp_net(gcp)  # ranges that fit, and a Services range the stack misnames
    code, doc = _doc(capsys, tmp_path, _gcp_stack(services_range="svc"), GCP_PROJECT)
    (row,) = [c for c in _network_rows(doc) if c["status"] == "short"]
    assert code == 1 and row["item"] == "svc"
    assert row["have"] == "not in gke-nodes (it has: gke-pods (10.9.0.0/21), gke-services (10.10.0.0/24))"


def test_gcp_network_or_subnetwork_not_there(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty_gcp(gcp)
    code, doc = _doc(capsys, tmp_path, _gcp_stack(), GCP_PROJECT)
    (row,) = _network_rows(doc)
    assert code == 1 and row["item"] == "projects/acme-ml/global/networks/corp-net" and row["have"] == "not found"

    _corp_net(gcp)
    code, doc = _doc(
        capsys, tmp_path, _gcp_stack(subnetwork="projects/acme-ml/regions/us-east1/subnetworks/x"), GCP_PROJECT
    )
    row = _network_rows(doc)[-1]
    assert code == 1 and row["status"] == "short" and row["have"] == "in us-east1"

    code, doc = _doc(capsys, tmp_path, _gcp_stack(subnetwork="other"), GCP_PROJECT)
    row = _network_rows(doc)[-1]
    assert code == 1 and row["item"] == "projects/acme-ml/regions/us-central1/subnetworks/other"


def test_gcp_shared_vpc_grants(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty_gcp(gcp)
    _corp_net(gcp, project="acme-net-host")
    gcp.project_numbers["acme-ml"] = SERVICE_NUMBER
    gcp.project_policies["acme-net-host"] = iam_policy({"roles/compute.networkUser": [GKE_AGENT]})
    stack = _gcp_stack(host_project="acme-net-host")
    code, doc = _doc(capsys, tmp_path, stack, GCP_PROJECT)
    grants = {(c["item"], c["name"].split(": ")[1]): c for c in _network_rows(doc) if c["name"].startswith("Shared")}
    gke, apis = GKE_AGENT.split(":")[1], APIS_AGENT.split(":")[1]
    assert code == 1
    assert {k: c["status"] for k, c in grants.items()} == {
        ("roles/compute.networkUser", gke): "ok",
        ("roles/compute.networkUser", apis): "short",
        ("roles/container.hostServiceAgentUser", gke): "short",
    }
    fix = grants[("roles/container.hostServiceAgentUser", gke)]["fix"]
    assert fix == (
        f"gcloud projects add-iam-policy-binding acme-net-host --member={GKE_AGENT} "
        "--role=roles/container.hostServiceAgentUser"
    )
    # the subnetwork and its ranges are read in the host project
    assert all(c["status"] == "ok" for c in _network_rows(doc) if not c["name"].startswith("Shared"))

    # network user on the subnetwork alone is enough; host service agent user is on the host project
    gcp.subnetwork_policies[("acme-net-host", "us-central1", "gke-nodes")] = iam_policy(
        {"roles/compute.networkUser": [APIS_AGENT]}
    )
    gcp.project_policies["acme-net-host"] = iam_policy(
        {"roles/compute.networkUser": [GKE_AGENT], "roles/container.hostServiceAgentUser": [GKE_AGENT]}
    )
    code, doc = _doc(capsys, tmp_path, stack, GCP_PROJECT)
    assert code == 0, doc
    posts = [p for a, p in gcp.seen if a == "POST" and "getIamPolicy" in p]
    assert posts and all(p == "/v1/projects/acme-net-host:getIamPolicy" for p in posts)

    gcp.forbidden.add("acme-net-host")
    code, doc = _doc(capsys, tmp_path, stack, GCP_PROJECT)
    (row,) = [c for c in _network_rows(doc) if c["status"] == "unchecked"]
    assert code == 2 and row["have"] == "HTTP 403"


@pytest.fixture(autouse=True)
def _resource_manager_on_loopback(monkeypatch: pytest.MonkeyPatch, compute_server: str) -> None:
    monkeypatch.setenv("AISTACK_GCP_RESOURCE_MANAGER_ENDPOINT", compute_server)


def test_aws_public_subnets_route_out_and_carry_the_elb_tag(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    vpc, subnets = _vpc(aws)
    public = aws.create_subnet(VpcId=vpc, CidrBlock="10.20.192.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    public_id = public["SubnetId"]
    stack = _aws_stack(vpc, subnets, endpoints="create", public_subnet_ids=[public_id])
    code, doc = _doc(capsys, tmp_path, stack)
    (row,) = [c for c in _network_rows(doc) if c["name"] == "public subnet"]
    assert code == 1 and row["status"] == "short"
    assert row["have"] == "no route to an internet gateway; no kubernetes.io/role/elb=1 tag"

    igw = aws.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    aws.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = aws.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    aws.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    aws.associate_route_table(RouteTableId=table, SubnetId=public_id)
    code, doc = _doc(capsys, tmp_path, stack)
    (row,) = [c for c in _network_rows(doc) if c["name"] == "public subnet"]
    assert code == 0 and row["status"] == "info" and f"create-tags --resources {public_id}" in row["fix"]

    aws.create_tags(Resources=[public_id], Tags=[{"Key": "kubernetes.io/role/elb", "Value": "1"}])
    code, doc = _doc(capsys, tmp_path, stack)
    (row,) = [c for c in _network_rows(doc) if c["name"] == "public subnet"]
    assert code == 0 and row["status"] == "ok" and row["have"] == f"via {igw}, tagged"


def test_aws_instance_types_offered_in_the_subnets_zones(aws: Any, tmp_path: Path, capsys: Any) -> None:
    """moto's own offerings data is the oracle: p6-b200.48xlarge only in us-east-1c, p5.48xlarge in a-f."""
    _plenty()
    EC2_QUOTAS["L-417A185B"] = 10_000
    vpc, subnets = _vpc(aws)  # us-east-1a, us-east-1b
    stack = _aws_stack(vpc, subnets, endpoints="create")
    stack["accelerator_pools"].append({"name": "b200", "accelerator": "nvidia-b200", "count": 8, "max_nodes": 1})
    code, doc = _doc(capsys, tmp_path, stack)
    rows = {c["pools"][0]: c for c in _network_rows(doc) if c["name"].startswith("offered in the private")}
    assert code == 1
    assert rows["b200"]["status"] == "short" and rows["b200"]["have"] == "none (offered in us-east-1c)"
    assert rows["h100"]["status"] == "ok" and rows["h100"]["have"] == "us-east-1a, us-east-1b"
    third = aws.create_subnet(VpcId=vpc, CidrBlock="10.20.64.0/19", AvailabilityZone="us-east-1c")["Subnet"]
    stack["network"]["private_subnet_ids"] = [*subnets, third["SubnetId"]]
    code, doc = _doc(capsys, tmp_path, stack)
    rows = {c["pools"][0]: c for c in _network_rows(doc) if c["name"].startswith("offered in the private")}
    assert code == 0 and rows["b200"]["have"] == "us-east-1c"
