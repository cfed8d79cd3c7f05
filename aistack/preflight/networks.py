"""The network a stack names (``aistack:network``), checked against the cloud before anything exists.

AWS, read with boto3 in the stack's region (ec2 DescribeVpcs, DescribeSubnets, DescribeRouteTables,
DescribeVpcEndpoints): the VPC and its private subnets exist, the subnets span two zones, none routes to
an internet gateway, they have the free addresses every pool at ``max_nodes`` takes (the VPC CNI gives
each pod a subnet address: nodes × (max pods per node + the node's own)), and, when no subnet has a
default route (no NAT), which of the endpoints a private cluster needs are missing.

GCP, read over REST (Compute networks.get, subnetworks.get and getIamPolicy; Resource Manager
projects.get and getIamPolicy): the network and the subnetwork exist, the subnetwork is in the stack's
region and network, its secondary ranges exist and are large enough, and in a Shared VPC the service
project's GKE service agent and Google APIs service agent hold the roles GKE needs in the host project.

Stacks that let aistack create the network get no rows: their address plan is checked by the spec
rules (components/spec/network_rules.py) before the preflight runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from components.spec import StackSpec
from components.spec.network import AWS_GATEWAY_ENDPOINTS, AWS_INTERFACE_ENDPOINTS, gcp_ref
from components.spec.network_rules import (
    AWS_RESERVED_PER_SUBNET,
    GCP_RESERVED_PER_SUBNET,
    gke_max_nodes,
    per_node_block,
    prefix_for,
)
from foundation import catalog

from .needs import StackNeeds
from .report import Check, Status

POOLS = ("network",)
# The smallest Services range aistack accepts in a network it does not create: room for the platform's
# own Services (a few dozen) and the teams' (aistack's floor, not a GKE limit).
GKE_SERVICES_MIN = 256
GKE_AGENT = "serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com"
APIS_AGENT = "serviceAccount:{n}@cloudservices.gserviceaccount.com"
NETWORK_USER = "roles/compute.networkUser"
HOST_AGENT_USER = "roles/container.hostServiceAgentUser"
RESOURCE_MANAGER = "https://cloudresourcemanager.googleapis.com"


def _row(item: str, name: str, need: str, have: str, status: Status, fix: str = "", note: str = "") -> Check:
    # A network that is wrong stays wrong whatever this stack runs: every short row stops `pulumi up`,
    # except free addresses, which this stack's own nodes may be taking (see _aws_addresses).
    return Check(POOLS, "network", item, name, need, have, status, fix, note, over_limit=status == "short")


# ----------------------------------------------------------------------------------- AWS


def aws_max_nodes(spec: StackSpec) -> int:
    return catalog.eks().system.max_nodes + sum(p.max_nodes for p in spec.accelerator_pools)


def _default_route(tables: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    for table in tables:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("State", "active") == "active":
                return dict(route)
    return None


def _route_tables(ec2: Any, vpc_id: str, subnet_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each subnet's route table: its explicit association, else the VPC's main table."""
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main = [t for t in tables if any(a.get("Main") for a in t.get("Associations", []))]
    out: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnet_ids:
        explicit = [t for t in tables if any(a.get("SubnetId") == subnet for a in t.get("Associations", []))]
        out[subnet] = explicit or main
    return out


def _target(route: dict[str, Any]) -> str:
    for key in ("GatewayId", "NatGatewayId", "TransitGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId"):
        if route.get(key):
            return str(route[key])
    return "?"


def aws_network_checks(ec2: Any, spec: StackSpec, needs: StackNeeds | None = None) -> list[Check]:
    """Rows for an existing VPC (none when aistack creates the network). ``needs``: the pools' instance types,
    checked against the zones of the subnets they will launch in."""
    net = spec.network
    if net.vpc_id is None:
        return []
    region = spec.region
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["Vpcs"]
    if not vpcs:
        return [
            _row(
                net.vpc_id,
                "VPC (network.vpc_id)",
                f"exists in {region}",
                "not found",
                "short",
                f"check network.vpc_id and the region: aws ec2 describe-vpcs --region {region}",
            )
        ]
    checks = [_row(net.vpc_id, "VPC (network.vpc_id)", f"exists in {region}", f"found ({vpcs[0]['CidrBlock']})", "ok")]
    wanted = list(net.private_subnet_ids)
    found = {
        s["SubnetId"]: s
        for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": wanted}])["Subnets"]
        if s["SubnetId"] in wanted
    }
    for subnet in wanted:
        if subnet not in found:
            checks.append(
                _row(
                    subnet,
                    "private subnet",
                    f"exists in {region}",
                    "not found",
                    "short",
                    f"check network.private_subnet_ids: aws ec2 describe-subnets --filters "
                    f"Name=vpc-id,Values={net.vpc_id} --region {region}",
                )
            )
        elif found[subnet]["VpcId"] != net.vpc_id:
            checks.append(
                _row(
                    subnet,
                    "private subnet",
                    f"in {net.vpc_id}",
                    f"in {found[subnet]['VpcId']}",
                    "short",
                    f"list subnets of {net.vpc_id} only, or set network.vpc_id to {found[subnet]['VpcId']}",
                )
            )
    subnets = [found[s] for s in wanted if s in found and found[s]["VpcId"] == net.vpc_id]
    if not subnets:
        return checks
    zones = sorted({s["AvailabilityZone"] for s in subnets})
    checks.append(
        _row(
            "private_subnet_ids",
            "zones of the private subnets",
            "at least 2 (EKS)",
            ", ".join(zones),
            "ok" if len(zones) >= 2 else "short",
            ""
            if len(zones) >= 2
            else f"add a private subnet in another zone of {region} to network.private_subnet_ids",
        )
    )
    tables = _route_tables(ec2, net.vpc_id, [s["SubnetId"] for s in subnets])
    public = []
    for s in subnets:
        route = _default_route(tables[s["SubnetId"]])
        if route is not None and str(route.get("GatewayId", "")).startswith("igw-"):
            public.append(f"{s['SubnetId']} routes 0.0.0.0/0 to {route['GatewayId']}")
        elif s.get("MapPublicIpOnLaunch"):
            public.append(f"{s['SubnetId']} gives instances public addresses (MapPublicIpOnLaunch)")
    checks.append(
        _row(
            "private_subnet_ids",
            "private subnets",
            "no route to an internet gateway, no public addresses",
            "; ".join(public) or "all private",
            "short" if public else "ok",
            "list private subnets (their default route, if any, to a NAT or transit gateway); put public ones "
            "in network.public_subnet_ids"
            if public
            else "",
        )
    )
    checks += _aws_zones_offer(ec2, spec, needs, zones)
    checks += _aws_public(ec2, spec)
    checks += _aws_addresses(spec, subnets)
    checks += _aws_endpoints(ec2, spec, subnets, tables)
    return checks


def _aws_zones_offer(ec2: Any, spec: StackSpec, needs: StackNeeds | None, zones: list[str]) -> list[Check]:
    """Each pool's instance type offered in a zone of the private subnets (EFA pools: the first subnet's):
    where Karpenter and the floor groups may launch it."""
    if needs is None or not needs.offerings:
        return []
    types = sorted({o.instance_type for o in needs.offerings})
    offered: dict[str, set[str]] = {}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}]
    )
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            offered.setdefault(o["InstanceType"], set()).add(o["Location"])
    efa = {p.name for p in spec.accelerator_pools if p.efa}
    checks = []
    for need in needs.offerings:
        where = zones[:1] if need.pool in efa else zones
        sells = sorted(offered.get(need.instance_type, set()))
        inside = [z for z in where if z in sells]
        elsewhere = ", ".join(sells) or f"no zone of {spec.region}"
        checks.append(
            Check(
                (need.pool,),
                "network",
                need.instance_type,
                "offered in the private subnets' zones" + (" (EFA: the first subnet's)" if need.pool in efa else ""),
                ", ".join(where),
                ", ".join(inside) if inside else f"none (offered in {elsewhere})",
                "ok" if inside else "short",
                "" if inside else f"add a private subnet in one of {elsewhere} to network.private_subnet_ids",
                over_limit=not inside,
            )
        )
    return checks


ELB_ROLE_TAG = "kubernetes.io/role/elb"  # how Kubernetes' load-balancer controllers find public subnets


def _aws_public(ec2: Any, spec: StackSpec) -> list[Check]:
    """The public subnets for internet-facing load balancers: in the VPC, routed to an internet gateway, and
    carrying the tag the load-balancer controllers find them by (aistack never tags subnets it did not make)."""
    net = spec.network
    wanted = list(net.public_subnet_ids)
    if not wanted or net.vpc_id is None:
        return []
    found = {
        s["SubnetId"]: s
        for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": wanted}])["Subnets"]
        if s["SubnetId"] in wanted and s["VpcId"] == net.vpc_id
    }
    tables = _route_tables(ec2, net.vpc_id, list(found))
    checks = []
    for subnet in wanted:
        if subnet not in found:
            checks.append(
                _row(
                    subnet,
                    "public subnet",
                    f"in {net.vpc_id}",
                    "not found there",
                    "short",
                    "check network.public_subnet_ids",
                )
            )
            continue
        route = _default_route(tables[subnet])
        gateway = str((route or {}).get("GatewayId", ""))
        tags = {t["Key"]: t["Value"] for t in found[subnet].get("Tags", [])}
        problems = []
        if not gateway.startswith("igw-"):
            problems.append("no route to an internet gateway")
        if tags.get(ELB_ROLE_TAG) != "1":
            problems.append(f"no {ELB_ROLE_TAG}=1 tag")
        fix = ""
        if tags.get(ELB_ROLE_TAG) != "1":
            fix = (
                f"aws ec2 create-tags --resources {subnet} --tags Key={ELB_ROLE_TAG},Value=1 --region {spec.region} "
                "(load balancer controllers find public subnets by it)"
            )
        checks.append(
            _row(
                subnet,
                "public subnet",
                f"routes to an internet gateway, tagged {ELB_ROLE_TAG}=1",
                "; ".join(problems) or f"via {gateway}, tagged",
                # untagged: only internet-facing load balancers fail, and only until someone tags it
                "short" if not gateway.startswith("igw-") else ("info" if problems else "ok"),
                fix,
            )
        )
    return checks


def _aws_addresses(spec: StackSpec, subnets: list[dict[str, Any]]) -> list[Check]:
    per_node = spec.network.max_pods_per_node + 1
    nodes = aws_max_nodes(spec)
    need = nodes * per_node
    free = sum(int(s.get("AvailableIpAddressCount", 0)) for s in subnets)
    size = sum(ipaddress.ip_network(s["CidrBlock"]).num_addresses - AWS_RESERVED_PER_SUBNET for s in subnets)
    status: Status = "ok" if free >= need else "short"
    fix = ""
    if status == "short":
        prefix = prefix_for(need // len(subnets) + AWS_RESERVED_PER_SUBNET)
        fix = (
            f"add private subnets (each /{prefix} or larger) to network.private_subnet_ids, lower max_nodes, or lower "
            f"network.max_pods_per_node ({spec.network.max_pods_per_node})"
        )
    check = Check(
        POOLS,
        "network",
        "private_subnet_ids",
        "free addresses in the private subnets",
        f"{need} ({nodes} nodes at max_nodes × ({spec.network.max_pods_per_node} pods + 1))",
        f"{free} free of {size}",
        status,
        fix,
        "the VPC CNI gives every pod an address of its node's subnet",
        # Addresses this stack's own nodes hold now come back to it: short only by what is in use is a warning.
        over_limit=size < need,
    )
    rows = [check]
    efa = sum(p.max_nodes for p in spec.accelerator_pools if p.efa)
    if efa:
        first = subnets[0]
        need_first = efa * per_node
        have = int(first.get("AvailableIpAddressCount", 0))
        ok = have >= need_first
        rows.append(
            Check(
                POOLS,
                "network",
                first["SubnetId"],
                "free addresses in the EFA pools' subnet (the first)",
                f"{need_first} ({efa} EFA nodes × ({spec.network.max_pods_per_node} pods + 1))",
                f"{have} free in {first['CidrBlock']}",
                "ok" if ok else "short",
                ""
                if ok
                else "list a larger subnet first in network.private_subnet_ids, or lower the EFA pools' max_nodes",
                "EFA pools keep every node in one zone",
                over_limit=ipaddress.ip_network(first["CidrBlock"]).num_addresses - AWS_RESERVED_PER_SUBNET
                < need_first,
            )
        )
    return rows


def _aws_endpoints(
    ec2: Any, spec: StackSpec, subnets: list[dict[str, Any]], tables: dict[str, list[dict[str, Any]]]
) -> list[Check]:
    net = spec.network
    region = spec.region
    assert net.vpc_id is not None
    present: dict[str, str] = {}
    pages = ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])
    for page in pages:
        for e in page["VpcEndpoints"]:
            if str(e.get("State", "available")).lower() in ("available", "pending", "pendingacceptance"):
                present[str(e["ServiceName"]).rsplit(f"com.amazonaws.{region}.", 1)[-1]] = e["VpcEndpointId"]
    egress = {
        s["SubnetId"]: _target(route) for s in subnets if (route := _default_route(tables[s["SubnetId"]])) is not None
    }
    nat_less = [s["SubnetId"] for s in subnets if s["SubnetId"] not in egress]
    ids = " ".join(s["SubnetId"] for s in subnets)
    checks = []
    for service in (*AWS_INTERFACE_ENDPOINTS, *AWS_GATEWAY_ENDPOINTS):
        item = f"com.amazonaws.{region}.{service}"
        name = "VPC endpoint" + (" (gateway)" if service in AWS_GATEWAY_ENDPOINTS else " (interface)")
        kind = "Gateway" if service in AWS_GATEWAY_ENDPOINTS else "Interface"
        where = (
            "--route-table-ids <the private subnets' route tables>"
            if kind == "Gateway"
            else f"--subnet-ids {ids} --private-dns-enabled"
        )
        create = (
            f"aws ec2 create-vpc-endpoint --vpc-id {net.vpc_id} --service-name {item} --vpc-endpoint-type {kind} "
            f"{where} --region {region}"
        )
        if service in present:
            if net.endpoints == "create" and kind == "Interface":
                checks.append(
                    _row(
                        item,
                        name,
                        "none yet (network.endpoints: create)",
                        f"{present[service]} exists",
                        "short",
                        "set network.endpoints: none: this VPC has its endpoints (a second one's private DNS "
                        "name would collide with the first's)",
                    )
                )
            else:
                checks.append(_row(item, name, "reachable without NAT", f"{present[service]}", "ok"))
        elif net.endpoints == "create":
            checks.append(_row(item, name, "reachable without NAT", "missing: aistack creates it", "info"))
        elif nat_less:
            checks.append(
                _row(
                    item,
                    name,
                    f"reachable without NAT (no default route: {', '.join(nat_less)})",
                    "missing",
                    "short",
                    f"set network.endpoints: create, or {create}",
                )
            )
        else:
            routes = ", ".join(sorted(set(egress.values())))
            checks.append(
                _row(item, name, "reachable", f"missing; reached through the default route ({routes})", "info")
            )
    return checks


# ----------------------------------------------------------------------------------- GCP


def _gcp_refs(spec: StackSpec, project: str) -> tuple[str, str, str, str, str]:
    """(network project, network name, subnetwork project, subnetwork region, subnetwork name)."""
    net = spec.network
    assert net.network is not None and net.subnetwork is not None
    n_project, _, n_name = gcp_ref(net.network)
    s_project, s_region, s_name = gcp_ref(net.subnetwork)
    default = net.host_project or project
    return n_project or default, n_name, s_project or default, s_region or spec.region, s_name


def gcp_network_checks(
    spec: StackSpec, project: str, credentials: Any = None, endpoint: str | None = None, rm_endpoint: str | None = None
) -> list[Check]:
    """Rows for an existing GCP network; Compute API errors other than NotFound propagate (check_gcp reports
    them as the preflight's problem)."""
    from google.api_core import exceptions as gexc
    from google.cloud import compute_v1

    net = spec.network
    if net.network is None:
        return []
    options = {"api_endpoint": endpoint} if endpoint else None
    networks = compute_v1.NetworksClient(transport="rest", credentials=credentials, client_options=options)
    subnetworks = compute_v1.SubnetworksClient(transport="rest", credentials=credentials, client_options=options)
    host, n_name, s_host, s_region, s_name = _gcp_refs(spec, project)
    network_id = f"projects/{host}/global/networks/{n_name}"
    subnet_id = f"projects/{s_host}/regions/{s_region}/subnetworks/{s_name}"
    try:
        networks.get(project=host, network=n_name)
    except gexc.NotFound:
        return [
            _row(
                network_id,
                "network (network.network)",
                "exists",
                "not found",
                "short",
                f"check network.network and network.host_project: gcloud compute networks list --project {host}",
            )
        ]
    checks = [_row(network_id, "network (network.network)", "exists", "found", "ok")]
    if s_region != spec.region:
        checks.append(
            _row(
                subnet_id,
                "subnetwork (network.subnetwork)",
                f"in {spec.region}",
                f"in {s_region}",
                "short",
                f"name a subnetwork of {n_name} in {spec.region}, the cluster's region",
            )
        )
        return checks
    try:
        sub = subnetworks.get(project=s_host, region=s_region, subnetwork=s_name)
    except gexc.NotFound:
        checks.append(
            _row(
                subnet_id,
                "subnetwork (network.subnetwork)",
                f"exists in {spec.region}",
                "not found",
                "short",
                f"gcloud compute networks subnets list --network {n_name} --regions {spec.region} --project {s_host}",
            )
        )
        return checks
    in_network = sub.network.rstrip("/").endswith(f"/networks/{n_name}")
    checks.append(
        _row(
            subnet_id,
            "subnetwork (network.subnetwork)",
            f"in {spec.region}, of network {n_name}",
            f"found, of network {sub.network.rsplit('/', 1)[-1]}",
            "ok" if in_network else "short",
            "" if in_network else f"name a subnetwork of {n_name}, or set network.network to its network",
        )
    )
    checks += _gcp_ranges(spec, sub)
    if net.host_project is not None:
        checks += _gcp_shared_vpc(
            spec, project, host, (s_host, s_region, s_name), subnetworks, credentials, rm_endpoint
        )
    return checks


def _gcp_ranges(spec: StackSpec, sub: Any) -> list[Check]:
    net = spec.network
    nodes = gke_max_nodes(spec)
    block = per_node_block(net.max_pods_per_node)
    ranges = {r.range_name: ipaddress.ip_network(r.ip_cidr_range) for r in sub.secondary_ip_ranges}
    listed = ", ".join(f"{k} ({v})" for k, v in ranges.items()) or "none"
    primary = ipaddress.ip_network(sub.ip_cidr_range)
    usable = primary.num_addresses - GCP_RESERVED_PER_SUBNET
    update = f"gcloud compute networks subnets update {sub.name} --region {spec.region}"
    checks = [
        _row(
            sub.ip_cidr_range,
            "node addresses (the subnetwork's primary range)",
            f"{nodes} (every pool at max_nodes, and the system pool)",
            f"{usable} usable",
            "ok" if usable >= nodes else "short",
            "" if usable >= nodes else f"expand it: {update} --expand-ip-range <a /{prefix_for(nodes + 4)}>",
        )
    ]
    wants = (
        (
            "pods_range",
            net.pods_range,
            nodes * block,
            f"{nodes} nodes × {block}, max_pods_per_node {net.max_pods_per_node}",
        ),
        ("services_range", net.services_range, GKE_SERVICES_MIN, "aistack's floor for the Services range"),
    )
    for field, name, need, why in wants:
        assert name is not None
        label = f"secondary range network.{field}"
        if name not in ranges:
            checks.append(
                _row(
                    name,
                    label,
                    f"exists, ≥ {need} addresses",
                    f"not in {sub.name} (it has: {listed})",
                    "short",
                    f"name one of its ranges, or add one: {update} --add-secondary-ranges "
                    f"{name}=<a free /{prefix_for(need)}>",
                )
            )
            continue
        have = ranges[name]
        ok = have.num_addresses >= need
        checks.append(
            _row(
                name,
                label,
                f"≥ {need} addresses ({why})",
                f"{have}: {have.num_addresses}",
                "ok" if ok else "short",
                ""
                if ok
                else f"name a /{prefix_for(need)} or larger range of {sub.name}, or lower max_nodes / "
                "network.max_pods_per_node",
            )
        )
    return checks


def _bindings(policy: dict[str, Any] | Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    if isinstance(policy, dict):
        for b in policy.get("bindings", []):
            out.setdefault(b["role"], set()).update(b.get("members", []))
    else:  # a compute_v1.Policy
        for b in policy.bindings:
            out.setdefault(b.role, set()).update(b.members)
    return out


def _gcp_shared_vpc(
    spec: StackSpec,
    project: str,
    host: str,
    subnet: tuple[str, str, str],
    subnetworks: Any,
    credentials: Any,
    rm_endpoint: str | None,
) -> list[Check]:
    """The grants GKE's Shared VPC setup documents: the service project's GKE service agent and Google APIs
    service agent are network users of the host project (or of the subnetwork), and the GKE service agent
    is a host service agent user of the host project."""
    from google.api_core import exceptions as gexc
    from google.auth.transport.requests import AuthorizedSession

    base = (rm_endpoint or RESOURCE_MANAGER).rstrip("/")
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    reading = "roles/browser on the service project and roles/iam.securityReviewer (or roles/viewer) on the host"
    got = session.get(f"{base}/v1/projects/{project}", timeout=30)
    if got.status_code != 200:
        return [
            _row(
                project,
                "the service project's number",
                "readable",
                f"HTTP {got.status_code}",
                "unchecked",
                f"use credentials with {reading}",
            )
        ]
    number = str(got.json()["projectNumber"])
    got = session.post(
        f"{base}/v1/projects/{host}:getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}, timeout=30
    )
    if got.status_code != 200:
        return [
            _row(
                host,
                "the host project's IAM policy",
                "readable",
                f"HTTP {got.status_code}",
                "unchecked",
                f"use credentials with {reading}",
            )
        ]
    on_host = _bindings(got.json())
    s_host, s_region, s_name = subnet
    try:
        on_subnet = _bindings(subnetworks.get_iam_policy(project=s_host, region=s_region, resource=s_name))
    except (gexc.NotFound, gexc.Forbidden):
        on_subnet = {}
    gke, apis = GKE_AGENT.format(n=number), APIS_AGENT.format(n=number)
    checks = []
    for member, role, where in (
        (gke, NETWORK_USER, "host or subnetwork"),
        (apis, NETWORK_USER, "host or subnetwork"),
        (gke, HOST_AGENT_USER, "host"),
    ):
        granted = member in on_host.get(role, set()) or (where != "host" and member in on_subnet.get(role, set()))
        fix = ""
        if not granted:
            fix = f"gcloud projects add-iam-policy-binding {host} --member={member} --role={role}"
            if where != "host":
                fix += (
                    f" (or on the subnetwork alone: gcloud compute networks subnets add-iam-policy-binding {s_name} "
                    f"--project {s_host} --region {s_region} --member={member} --role={role})"
                )
        checks.append(
            _row(
                role,
                f"Shared VPC: {member.split(':', 1)[1]}",
                f"{role} on the {where} ({host})",
                "granted" if granted else "not granted",
                "ok" if granted else "short",
                fix,
            )
        )
    return checks
