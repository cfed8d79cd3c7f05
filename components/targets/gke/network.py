"""GKE network: a dedicated VPC, one regional subnet with pod/service ranges, Cloud NAT for
private nodes, and the one firewall rule GKE does not create itself (control plane → webhooks)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec

NODES_CIDR = "10.0.0.0/20"
PODS_CIDR = "10.64.0.0/14"
SERVICES_CIDR = "10.96.0.0/20"
MASTER_CIDR = "172.16.0.0/28"
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# GKE's own rules let the control plane reach nodes on 443 and 10250 only; admission webhooks
# of the platform (Kueue, cert-manager, KServe, the GPU operator) listen on these ports.
WEBHOOK_PORTS = ["443", "8443", "9443", "10250", "15017"]


@dataclass(frozen=True)
class GkeNetwork:
    vpc: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    router: gcp.compute.Router
    nat: gcp.compute.RouterNat
    webhooks: gcp.compute.Firewall


def build_network(name: str, spec: StackSpec, parent: pulumi.Resource) -> GkeNetwork:
    opts = pulumi.ResourceOptions(parent=parent)
    vpc = gcp.compute.Network(
        f"{name}-vpc",
        name=naming.gcp_network_name(spec.name),
        auto_create_subnetworks=False,
        routing_mode="REGIONAL",
        opts=opts,
    )
    subnet = gcp.compute.Subnetwork(
        f"{name}-subnet",
        name=naming.gcp_subnet_name(spec.name),
        region=spec.region,
        network=vpc.id,
        ip_cidr_range=NODES_CIDR,
        private_ip_google_access=True,  # private nodes reach Google APIs without NAT
        secondary_ip_ranges=[
            {"range_name": PODS_RANGE, "ip_cidr_range": PODS_CIDR},
            {"range_name": SERVICES_RANGE, "ip_cidr_range": SERVICES_CIDR},
        ],
        log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
        if spec.security.audit_logging
        else None,
        opts=opts,
    )
    router = gcp.compute.Router(
        f"{name}-router", name=naming.gcp_router_name(spec.name), region=spec.region, network=vpc.id, opts=opts
    )
    nat = gcp.compute.RouterNat(
        f"{name}-nat",
        name=naming.gcp_nat_name(spec.name),
        router=router.name,
        region=spec.region,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
        log_config={"enable": True, "filter": "ERRORS_ONLY"},
        opts=opts,
    )
    webhooks = gcp.compute.Firewall(
        f"{name}-webhooks",
        name=naming.gcp_webhook_firewall_name(spec.name),
        network=vpc.id,
        direction="INGRESS",
        source_ranges=[MASTER_CIDR],
        allows=[{"protocol": "tcp", "ports": WEBHOOK_PORTS}],
        opts=opts,
    )
    return GkeNetwork(vpc, subnet, router, nat, webhooks)
