"""EKS network: the VPC aistack creates across (default) three AZs — public and private subnets tagged
for load balancers (the private ones also for Karpenter's subnet discovery), one NAT gateway per AZ (no
cross-AZ dependency), an S3 gateway endpoint — or the existing VPC and subnets the stack names, where
aistack creates no VPC, subnet, NAT or internet gateway, and endpoints only when asked
(``network.endpoints: create``).

The VPC's range comes from ``aistack:network.cidr`` (default 10.0.0.0/16), checked before anything
exists (components/spec/network_rules.py), which also splits it: ``subnet_cidrs``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from ... import naming
from ...spec import StackSpec
from ...spec.network import AWS_GATEWAY_ENDPOINTS, AWS_INTERFACE_ENDPOINTS, AWS_VPC_CIDR
from ...spec.network_rules import aws_subnets

VPC_CIDR = AWS_VPC_CIDR
# Karpenter finds the subnets (and the cluster security group) to launch nodes into by this tag.
DISCOVERY_TAG = "karpenter.sh/discovery"
# Which AZ a private subnet is in, as an index (AZ names are only known at deploy time): pools that
# must stay in one zone (EFA) select subnet 0 by it.
ZONE_INDEX_TAG = "aistack.io/zone-index"
# What nodes of a private cluster without NAT reach through endpoints (components/spec/network.py).
INTERFACE_ENDPOINTS = AWS_INTERFACE_ENDPOINTS
GATEWAY_ENDPOINTS = AWS_GATEWAY_ENDPOINTS


@dataclass(frozen=True)
class EksNetwork:
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]
    # The AZ of each private subnet, in the same order; None where only the cloud knows it.
    private_subnet_zones: list[str | None]
    existing: bool = False
    vpc: aws.ec2.Vpc | None = None
    private_subnets: list[aws.ec2.Subnet] = field(default_factory=list)
    public_subnets: list[aws.ec2.Subnet] = field(default_factory=list)
    nat_gateways: list[aws.ec2.NatGateway] = field(default_factory=list)
    endpoints: dict[str, aws.ec2.VpcEndpoint] = field(default_factory=dict)

    @property
    def s3_endpoint(self) -> aws.ec2.VpcEndpoint | None:
        return self.endpoints.get("s3")


def subnet_cidrs(azs: int, cidr: str = VPC_CIDR) -> tuple[list[str], list[str]]:
    """Pure: /(p+3) private subnets (room for pod IPs with the VPC CNI) and /(p+8) public ones
    (for the default /16: /19 and /24 from 10.0.192.0/18, as always)."""
    private, public = aws_subnets(ipaddress.IPv4Network(cidr), azs)
    return [str(s) for s in private], [str(s) for s in public]


def _tags(spec: StackSpec, identity: naming.StackIdentity) -> dict[str, str]:
    return {"managed-by": "aistack", "stack": spec.name, **identity.tags()}


def _endpoints(
    name: str,
    spec: StackSpec,
    vpc_id: pulumi.Input[str],
    subnet_ids: list[str],
    route_table_ids: list[pulumi.Input[str]] | None,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> dict[str, aws.ec2.VpcEndpoint]:
    """The S3 gateway endpoint on ``route_table_ids`` (None: an existing VPC, whose private subnets' route
    tables are looked up, and which then gets the interface endpoints as well)."""
    out = {}
    existing = route_table_ids is None
    if route_table_ids is None:
        found = [aws.ec2.get_route_table(subnet_id=s, region=spec.region).route_table_id for s in subnet_ids]
        route_table_ids = list(dict.fromkeys(t for t in found if t))
    for service in GATEWAY_ENDPOINTS:
        out[service] = aws.ec2.VpcEndpoint(
            f"{name}-{service}",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{spec.region}.{service}",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            tags=tags,
            opts=opts,
        )
    if existing:  # an existing VPC that asked for endpoints: the interface ones too
        for service in INTERFACE_ENDPOINTS:
            out[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc_id,
                service_name=f"com.amazonaws.{spec.region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=subnet_ids,
                private_dns_enabled=True,
                tags=tags,
                opts=opts,
            )
    return out


def build_network(
    name: str, spec: StackSpec, azs: list[str], parent: pulumi.Resource, identity: naming.StackIdentity | None = None
) -> EksNetwork:
    opts = pulumi.ResourceOptions(parent=parent)
    identity = identity or naming.current_identity()
    tags = _tags(spec, identity)
    net = spec.network
    if net.vpc_id is not None:
        private_ids: list[pulumi.Input[str]] = list(net.private_subnet_ids)
        zones = [aws.ec2.get_subnet(id=s, region=spec.region).availability_zone or None for s in net.private_subnet_ids]
        wanted = net.endpoints == "create"
        endpoints = _endpoints(name, spec, net.vpc_id, list(net.private_subnet_ids), None, tags, opts) if wanted else {}
        return EksNetwork(
            vpc_id=net.vpc_id,
            private_subnet_ids=private_ids,
            public_subnet_ids=list(net.public_subnet_ids),
            private_subnet_zones=zones,
            existing=True,
            endpoints=endpoints,
        )
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=net.cidr or VPC_CIDR,
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
    private_cidrs, public_cidrs = subnet_cidrs(len(azs), net.cidr or VPC_CIDR)
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
                DISCOVERY_TAG: naming.eks_cluster_name(naming.physical_prefix(spec, identity)),
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
    endpoints = _endpoints(name, spec, vpc.id, [], [rt.id for rt in private_rts], tags, opts)
    return EksNetwork(
        vpc_id=vpc.id,
        private_subnet_ids=[s.id for s in private],
        public_subnet_ids=[s.id for s in public],
        private_subnet_zones=list(azs),
        vpc=vpc,
        private_subnets=private,
        public_subnets=public,
        nat_gateways=nats,
        endpoints=endpoints,
    )
