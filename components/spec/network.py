"""``aistack:network``: the network a stack lands in, and its address plan.

Two ways, one section:

- aistack creates the network (the default): ``cidr`` and, on GKE, ``pods_cidr``, ``services_cidr``
  and ``master_cidr`` are its address plan, and ``avoid`` lists ranges it must never overlap (the
  corporate ranges, peered networks). Unset ranges take the defaults below, as before this section.
- the stack names an existing network: on AWS ``vpc_id`` and ``private_subnet_ids`` (optionally
  ``public_subnet_ids``, and ``endpoints: create`` for the interface endpoints a private cluster needs);
  on GCP ``network`` and ``subnetwork`` with the names of their secondary ranges ``pods_range`` and
  ``services_range``, optionally in a Shared VPC ``host_project``. aistack then creates no network.

Shape only; the rules (private ranges, overlaps, sizes, which fields go with which target) are in
``network_rules.py``. Pure: no import from the rest of the spec package (model.py imports this).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

# The ranges aistack created before this section existed, kept as the defaults: a stack that does not
# set them keeps its network unchanged.
AWS_VPC_CIDR = "10.0.0.0/16"
GKE_NODES_CIDR = "10.0.0.0/20"
GKE_PODS_CIDR = "10.64.0.0/14"
GKE_SERVICES_CIDR = "10.96.0.0/20"
GKE_MASTER_CIDR = "172.16.0.0/28"
DEFAULT_MAX_PODS_PER_NODE = 110  # GKE Standard's default; the EKS address plan assumes the same
# What nodes of a private EKS cluster without NAT reach through VPC endpoints (EKS private clusters:
# https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html): interface endpoints, and S3
# (the image layers ECR serves) through a gateway endpoint.
AWS_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2", "elasticloadbalancing", "logs")
AWS_GATEWAY_ENDPOINTS = ("s3",)

AWS_FIELDS = ("vpc_id", "private_subnet_ids", "public_subnet_ids", "endpoints")
GCP_FIELDS = ("network", "subnetwork", "pods_range", "services_range", "host_project", "firewall")
GKE_RANGE_FIELDS = ("pods_cidr", "services_cidr", "master_cidr")


def _ipv4_cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"'{value}' is not a CIDR block ({exc}); write it like 10.0.0.0/16 with host bits zero"
        ) from None
    if net.version != 4:
        raise ValueError(f"'{value}' is an IPv6 range; the address plan is IPv4; write it like 10.0.0.0/16")
    return str(net)


Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
VpcId = Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]
# A name (RFC 1035, 63) or a self link / partial URL (projects/<p>/global/networks/<name>).
GcpResourceRef = Annotated[
    str, StringConstraints(pattern=r"^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|(https://[^\s]+/)?projects/[^\s]+)$")
]
RangeName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")]
ProjectId = Annotated[str, StringConstraints(min_length=1, max_length=30)]


def gcp_ref(ref: str) -> tuple[str | None, str | None, str]:
    """(project, region, name) of a GCP network or subnetwork reference: a bare name (None, None, name), or
    a self link / partial URL (projects/<p>/regions/<r>/subnetworks/<name>, projects/<p>/global/networks/<n>)."""
    if "/" not in ref:
        return None, None, ref
    parts = ref.rstrip("/").split("/")

    def after(key: str) -> str | None:
        return parts[parts.index(key) + 1] if key in parts[:-1] else None

    return after("projects"), after("regions"), parts[-1]


class NetworkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # --- the address plan of a network aistack creates
    cidr: Ipv4Cidr | None = Field(
        default=None,
        description="The network aistack creates: AWS the VPC (/16 to /20, default 10.0.0.0/16; private subnets are "
        "its first three eighths, public ones /+8 blocks of its last quarter), GCP the nodes' subnet (default "
        "10.0.0.0/20). RFC 1918. replaces: the network and everything in it.",
    )
    pods_cidr: Ipv4Cidr | None = Field(
        default=None,
        description="gcp: the pods' secondary range (default 10.64.0.0/14), RFC 1918 or RFC 6598 (100.64.0.0/10); "
        "at least max nodes × the per-node range of max_pods_per_node. replaces: the cluster.",
    )
    services_cidr: Ipv4Cidr | None = Field(
        default=None,
        description="gcp: the Services' secondary range (default 10.96.0.0/20), RFC 1918. replaces: the cluster.",
    )
    master_cidr: Ipv4Cidr | None = Field(
        default=None,
        description="gcp: the private control plane's range, a /28 (default 172.16.0.0/28), RFC 1918. "
        "replaces: the cluster.",
    )
    avoid: tuple[Ipv4Cidr, ...] = Field(
        default=(),
        description="Ranges no range of the stack may overlap: the corporate network, peered VPCs, other stacks. "
        "Default: none.",
    )
    max_pods_per_node: StrictInt = Field(
        default=DEFAULT_MAX_PODS_PER_NODE,
        ge=8,
        le=256,
        description="Pods per node the address plan makes room for (GKE sets it on the cluster; on EKS, with the "
        "VPC CNI, each pod takes one subnet address). Default: 110. replaces: the cluster (gcp).",
    )
    # --- an existing AWS VPC
    vpc_id: VpcId | None = Field(
        default=None, description="aws: an existing VPC (vpc-...) to deploy into; aistack then creates no VPC."
    )
    private_subnet_ids: tuple[SubnetId, ...] = Field(
        default=(),
        description="aws, with vpc_id: the private subnets (at least two, in two zones) nodes and the control plane "
        "use; Karpenter selects them by id.",
    )
    public_subnet_ids: tuple[SubnetId, ...] = Field(
        default=(), description="aws, with vpc_id: public subnets for internet-facing load balancers. Default: none."
    )
    endpoints: Literal["create", "none"] = Field(
        default="none",
        description="aws, with vpc_id: create the interface endpoints a cluster without NAT needs (ECR api and dkr, "
        "STS, EC2, Elastic Load Balancing, CloudWatch Logs) and the S3 gateway endpoint. Default: none "
        "(`aistack preflight` lists the missing ones).",
    )
    # --- an existing GCP network (or Shared VPC)
    network: GcpResourceRef | None = Field(
        default=None, description="gcp: an existing VPC network, by name or self link; aistack then creates none."
    )
    subnetwork: GcpResourceRef | None = Field(
        default=None, description="gcp, with network: the subnetwork in the stack's region, by name or self link."
    )
    pods_range: RangeName | None = Field(
        default=None, description="gcp, with network: the subnetwork's secondary range for pods."
    )
    services_range: RangeName | None = Field(
        default=None, description="gcp, with network: the subnetwork's secondary range for Services."
    )
    host_project: ProjectId | None = Field(
        default=None,
        description="gcp, with network: the Shared VPC host project that owns network and subnetwork (the cluster "
        "stays in the stack's project). Default: the stack's project.",
    )
    firewall: Literal["create", "print"] | None = Field(
        default=None,
        description="gcp, with network: create the control-plane → webhooks firewall rule in the network's project "
        "(create), or print it for the network team (print). Default: create in your own network, print in a "
        "Shared VPC host project.",
    )

    @property
    def existing(self) -> bool:
        """The stack names a network (AWS vpc_id or GCP network) instead of letting aistack create one."""
        return self.vpc_id is not None or self.network is not None
