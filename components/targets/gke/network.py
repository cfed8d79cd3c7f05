"""GKE network: the VPC aistack creates (one regional subnet with pod/service ranges, Cloud NAT for
private nodes) or the existing network the stack names (optionally a Shared VPC host project's), and
the one firewall rule GKE does not create itself (control plane → webhooks).

The address plan comes from ``aistack:network`` (components/spec/network.py), checked before anything
exists (network_rules.py); its defaults are the ranges aistack always used.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec
from ...spec.network import GKE_MASTER_CIDR, GKE_NODES_CIDR, GKE_PODS_CIDR, GKE_SERVICES_CIDR

NODES_CIDR = GKE_NODES_CIDR
PODS_CIDR = GKE_PODS_CIDR
SERVICES_CIDR = GKE_SERVICES_CIDR
MASTER_CIDR = GKE_MASTER_CIDR
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# GKE's own rules let the control plane reach nodes on 443 and 10250 only; admission webhooks
# of the platform (Kueue, cert-manager, KServe, the GPU operator) listen on these ports.
WEBHOOK_PORTS = ["443", "8443", "9443", "10250", "15017"]


@dataclass(frozen=True)
class GkeNetwork:
    network: pulumi.Input[str]  # what the cluster's network takes: an id or projects/<p>/global/networks/<n>
    subnetwork: pulumi.Input[str]
    network_name: pulumi.Input[str]  # what Filestore takes (a full path for a Shared VPC)
    pods_range: str
    services_range: str
    master_cidr: str
    vpc: gcp.compute.Network | None = None  # None: an existing network
    subnet: gcp.compute.Subnetwork | None = None
    router: gcp.compute.Router | None = None
    nat: gcp.compute.RouterNat | None = None
    webhooks: gcp.compute.Firewall | None = None  # None: printed for the network team (firewall: print)
    firewall_rule: str = ""  # the rule as a gcloud command, when aistack does not create it


def master_cidr(spec: StackSpec) -> str:
    return spec.network.master_cidr or MASTER_CIDR


def network_path(spec: StackSpec, project: str) -> str:
    """An existing network as the cluster and Filestore take it: a self link stays, a name gets its project."""
    ref = spec.network.network
    assert ref is not None
    if "/" in ref:
        return ref.split("compute/v1/", 1)[-1] if ref.startswith("https://") else ref
    return f"projects/{spec.network.host_project or project}/global/networks/{ref}"


def subnetwork_path(spec: StackSpec, project: str) -> str:
    ref = spec.network.subnetwork
    assert ref is not None
    if "/" in ref:
        return ref.split("compute/v1/", 1)[-1] if ref.startswith("https://") else ref
    return f"projects/{spec.network.host_project or project}/regions/{spec.region}/subnetworks/{ref}"


def creates_firewall(spec: StackSpec) -> bool:
    """firewall: create | print; unset: create in the stack's own network, print in a Shared VPC host project."""
    choice = spec.network.firewall
    if choice is None:
        return spec.network.host_project is None
    return choice == "create"


def firewall_command(spec: StackSpec, project: str, name: str) -> str:
    net = spec.network.network or naming.gcp_network_name(name)
    host = spec.network.host_project or project
    return (
        f"gcloud compute firewall-rules create {naming.gcp_webhook_firewall_name(name)} --project {host} "
        f"--network {net.rsplit('/', 1)[-1]} --direction INGRESS --source-ranges {master_cidr(spec)} "
        f"--allow tcp:{',tcp:'.join(WEBHOOK_PORTS)}"
    )


def _webhooks(
    name: str,
    spec: StackSpec,
    prefix: str,
    network: pulumi.Input[str],
    project: str | None,
    opts: pulumi.ResourceOptions,
) -> gcp.compute.Firewall:
    return gcp.compute.Firewall(
        f"{name}-webhooks",
        name=naming.gcp_webhook_firewall_name(prefix),
        network=network,
        project=project,
        direction="INGRESS",
        source_ranges=[master_cidr(spec)],
        allows=[{"protocol": "tcp", "ports": WEBHOOK_PORTS}],
        opts=opts,
    )


def build_network(name: str, spec: StackSpec, project: str, prefix: str, parent: pulumi.Resource) -> GkeNetwork:
    """``prefix``: the physical-name prefix (naming.physical_prefix). Networks, subnets, routers and
    firewall rules take no labels; the identity's labels go on the cluster and its nodes."""
    opts = pulumi.ResourceOptions(parent=parent)
    net = spec.network
    if net.network is not None:
        assert net.subnetwork is not None and net.pods_range is not None and net.services_range is not None
        path = network_path(spec, project)
        webhooks = None
        rule = ""
        if creates_firewall(spec):
            webhooks = _webhooks(name, spec, prefix, path, net.host_project, opts)
        else:
            rule = firewall_command(spec, project, prefix)
            pulumi.log.warn(
                f"network.firewall print: the control plane reaches admission webhooks only once the network team "
                f"adds: {rule}",
                resource=parent,
            )
        return GkeNetwork(
            network=path,
            subnetwork=subnetwork_path(spec, project),
            network_name=path if net.host_project else net.network.rsplit("/", 1)[-1],
            pods_range=net.pods_range,
            services_range=net.services_range,
            master_cidr=master_cidr(spec),
            webhooks=webhooks,
            firewall_rule=rule,
        )
    vpc = gcp.compute.Network(
        f"{name}-vpc",
        name=naming.gcp_network_name(prefix),
        auto_create_subnetworks=False,
        routing_mode="REGIONAL",
        opts=opts,
    )
    subnet = gcp.compute.Subnetwork(
        f"{name}-subnet",
        name=naming.gcp_subnet_name(prefix),
        region=spec.region,
        network=vpc.id,
        ip_cidr_range=net.cidr or NODES_CIDR,
        private_ip_google_access=True,  # private nodes reach Google APIs without NAT
        secondary_ip_ranges=[
            {"range_name": PODS_RANGE, "ip_cidr_range": net.pods_cidr or PODS_CIDR},
            {"range_name": SERVICES_RANGE, "ip_cidr_range": net.services_cidr or SERVICES_CIDR},
        ],
        log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
        if spec.security.audit_logging
        else None,
        opts=opts,
    )
    router = gcp.compute.Router(
        f"{name}-router", name=naming.gcp_router_name(prefix), region=spec.region, network=vpc.id, opts=opts
    )
    nat = gcp.compute.RouterNat(
        f"{name}-nat",
        name=naming.gcp_nat_name(prefix),
        router=router.name,
        region=spec.region,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
        log_config={"enable": True, "filter": "ERRORS_ONLY"},
        opts=opts,
    )
    webhooks = _webhooks(name, spec, prefix, vpc.id, None, opts)
    return GkeNetwork(
        network=vpc.id,
        subnetwork=subnet.id,
        network_name=vpc.name,
        pods_range=PODS_RANGE,
        services_range=SERVICES_RANGE,
        master_cidr=master_cidr(spec),
        vpc=vpc,
        subnet=subnet,
        router=router,
        nat=nat,
        webhooks=webhooks,
    )
