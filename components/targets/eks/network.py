"""EKS network: a VPC across (default) three AZs, public and private subnets tagged for load
balancers (the private ones also for Karpenter's subnet discovery), one NAT gateway per AZ (no
cross-AZ dependency), and an S3 gateway endpoint so data traffic to buckets never leaves the VPC."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ... import naming
from ...spec import StackSpec

VPC_CIDR = "10.0.0.0/16"
# Karpenter finds the subnets (and the cluster security group) to launch nodes into by this tag.
DISCOVERY_TAG = "karpenter.sh/discovery"
# Which AZ a private subnet is in, as an index (AZ names are only known at deploy time): pools that
# must stay in one zone (EFA) select subnet 0 by it.
ZONE_INDEX_TAG = "aistack.io/zone-index"


@dataclass(frozen=True)
class EksNetwork:
    vpc: aws.ec2.Vpc
    private_subnets: list[aws.ec2.Subnet]
    public_subnets: list[aws.ec2.Subnet]
    nat_gateways: list[aws.ec2.NatGateway]
    s3_endpoint: aws.ec2.VpcEndpoint


def subnet_cidrs(azs: int) -> tuple[list[str], list[str]]:
    """Pure: /19 private subnets (room for pod IPs with the VPC CNI) and /24 public ones."""
    net = ipaddress.ip_network(VPC_CIDR)
    private = [str(s) for s in list(net.subnets(new_prefix=19))[:azs]]
    public = [str(s) for s in list(ipaddress.ip_network("10.0.192.0/18").subnets(new_prefix=24))[:azs]]
    return private, public


def build_network(name: str, spec: StackSpec, azs: list[str], parent: pulumi.Resource) -> EksNetwork:
    opts = pulumi.ResourceOptions(parent=parent)
    tags = {"managed-by": "aistack", "stack": spec.name}
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=VPC_CIDR,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags={**tags, "Name": f"{spec.name}-vpc"},
        opts=opts,
    )
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    public_rt = aws.ec2.RouteTable(
        f"{name}-public",
        vpc_id=vpc.id,
        routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
        tags=tags,
        opts=opts,
    )
    private_cidrs, public_cidrs = subnet_cidrs(len(azs))
    private, public, nats, private_rts = [], [], [], []
    for i, az in enumerate(azs):
        pub = aws.ec2.Subnet(
            f"{name}-public-{i}",
            vpc_id=vpc.id,
            cidr_block=public_cidrs[i],
            availability_zone=az,
            tags={**tags, "kubernetes.io/role/elb": "1"},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id, opts=opts)
        eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=tags, opts=opts)
        nat = aws.ec2.NatGateway(f"{name}-nat-{i}", subnet_id=pub.id, allocation_id=eip.id, tags=tags, opts=opts)
        priv = aws.ec2.Subnet(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            cidr_block=private_cidrs[i],
            availability_zone=az,
            tags={
                **tags,
                "kubernetes.io/role/internal-elb": "1",
                DISCOVERY_TAG: naming.eks_cluster_name(spec.name),
                ZONE_INDEX_TAG: str(i),
            },
            opts=opts,
        )
        rt = aws.ec2.RouteTable(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
            tags=tags,
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=priv.id, route_table_id=rt.id, opts=opts)
        public.append(pub)
        private.append(priv)
        nats.append(nat)
        private_rts.append(rt)
    s3 = aws.ec2.VpcEndpoint(
        f"{name}-s3",
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{spec.region}.s3",
        vpc_endpoint_type="Gateway",
        route_table_ids=[rt.id for rt in private_rts],
        tags=tags,
        opts=opts,
    )
    return EksNetwork(vpc, private, public, nats, s3)
