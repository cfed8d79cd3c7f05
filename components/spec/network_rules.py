"""Rules of ``aistack:network`` and of where pools may run, checked before anything exists.

The address plan of a network aistack creates: every range private (RFC 1918; pods may also take
RFC 6598, 100.64.0.0/10), no two ranges of the stack overlapping each other or a range of ``avoid``,
each large enough for the pools at their maximum size, the GKE control plane a /28. Every issue names
the field and, where a range is wrong, suggests one that fits (the first free block of the size needed).
An existing network: the fields that go together, for the stack's target. Zones: GKE pools only where
the catalog says their accelerator is sold.

Registered with ``rules.rule`` (rules.py imports this module at its end).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator, Sequence

from foundation import catalog
from foundation.errors import SpecIssue, join_path

from ..shapes import ShapeError, tpu_slice
from .model import AcceleratorPool, StackSpec
from .network import (
    AWS_FIELDS,
    AWS_VPC_CIDR,
    GCP_FIELDS,
    GKE_MASTER_CIDR,
    GKE_NODES_CIDR,
    GKE_PODS_CIDR,
    GKE_RANGE_FIELDS,
    GKE_SERVICES_CIDR,
    NetworkSpec,
)
from .rules import rule

Net = ipaddress.IPv4Network

RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
RFC6598 = ipaddress.IPv4Network("100.64.0.0/10")
AWS_RESERVED_PER_SUBNET = 5  # https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html
GCP_RESERVED_PER_SUBNET = 4  # https://cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet
AWS_VPC_PREFIXES = (16, 20)  # /16 (AWS's largest) to /20 (the public /+8 subnets stay at least /28)
AWS_PRIVATE_SPLIT = 3  # private subnets are /(p+3): the first three eighths of the VPC, one per zone
AWS_PUBLIC_SPLIT = 8  # public subnets are /(p+8) blocks of the VPC's last quarter
DEFAULT_AWS_ZONES = 3


def _path(field: str) -> str:
    return join_path("network", field)


def _net(value: str) -> Net:
    return ipaddress.IPv4Network(value)


# ----------------------------------------------------------------------------------- the plan


def gke_ranges(network: NetworkSpec) -> dict[str, Net]:
    """The GKE ranges aistack uses, by field: the stack's, else the defaults (an existing network: the control
    plane's only)."""
    out = {"master_cidr": _net(network.master_cidr or GKE_MASTER_CIDR)}
    if network.network is None:
        out = {
            "cidr": _net(network.cidr or GKE_NODES_CIDR),
            "pods_cidr": _net(network.pods_cidr or GKE_PODS_CIDR),
            "services_cidr": _net(network.services_cidr or GKE_SERVICES_CIDR),
            **out,
        }
    return out


def aws_vpc(network: NetworkSpec) -> Net:
    return _net(network.cidr or AWS_VPC_CIDR)


def aws_subnets(vpc: Net, zones: int) -> tuple[list[Net], list[Net]]:
    """Private /(p+3) subnets (the first ones) and public /(p+8) ones (from the last quarter), one per zone."""
    private = list(vpc.subnets(new_prefix=vpc.prefixlen + AWS_PRIVATE_SPLIT))[:zones]
    last_quarter = list(vpc.subnets(new_prefix=vpc.prefixlen + 2))[-1]
    public = list(last_quarter.subnets(new_prefix=vpc.prefixlen + AWS_PUBLIC_SPLIT))[:zones]
    return private, public


def per_node_block(max_pods: int) -> int:
    """Addresses GKE gives each node for pods: the power of two at least twice max pods per node
    (110 → 256, a /24): https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr."""
    return 1 << math.ceil(math.log2(2 * max_pods))


def _pool_nodes(pool: AcceleratorPool) -> int:
    acc = catalog.accelerators().get(pool.accelerator)
    if acc is not None and acc.kind == "tpu" and pool.tpu_topology is not None:
        try:
            tpu = tpu_slice(acc.id, pool.tpu_topology)
        except ShapeError:
            return pool.max_nodes
        return tpu.nodes if tpu.multi_host else pool.max_nodes
    return pool.max_nodes


def gke_max_nodes(spec: StackSpec) -> int:
    """Nodes of the cluster at its largest: every pool at max_nodes, and the system pool."""
    return catalog.gke().system.max_nodes + sum(_pool_nodes(p) for p in spec.accelerator_pools)


def aws_subnet_need(spec: StackSpec, zones: int) -> int:
    """Addresses the busiest private subnet needs (the first: EFA pools keep all their nodes in it):
    its share of every pool's nodes × (max pods + the node's own address)."""
    per_node = spec.network.max_pods_per_node + 1
    nodes = math.ceil(catalog.eks().system.max_nodes / zones)
    for pool in spec.accelerator_pools:
        nodes += pool.max_nodes if pool.efa else math.ceil(pool.max_nodes / zones)
    return nodes * per_node


def prefix_for(addresses: int) -> int:
    return 32 - max(math.ceil(math.log2(max(addresses, 1))), 0)


def free_range(prefix: int, taken: Sequence[Net], spaces: Sequence[Net] = RFC1918) -> Net | None:
    """The first /prefix block in ``spaces`` that overlaps nothing in ``taken``."""
    size = 1 << (32 - prefix)
    for space in spaces:
        if space.prefixlen > prefix:
            continue
        start, end = int(space.network_address), int(space.broadcast_address)
        while start + size - 1 <= end:
            block = ipaddress.IPv4Network((start, prefix))
            hits = [t for t in taken if t.overlaps(block)]
            if not hits:
                return block
            after = max(int(t.broadcast_address) for t in hits) + 1
            start = (after + size - 1) // size * size
    return None


def _suggest(prefix: int, taken: Sequence[Net], spaces: Sequence[Net]) -> str:
    found = free_range(prefix, taken, spaces)
    return f"e.g. {found}" if found is not None else f"no free /{prefix} is left in {', '.join(map(str, spaces))}"


# ----------------------------------------------------------------------------------- fields by target


@rule
def network_fields(spec: StackSpec) -> Iterator[SpecIssue]:
    net = spec.network
    given = net.model_fields_set
    if spec.target == "onprem":
        for field in sorted(given):
            yield SpecIssue(
                _path(field),
                "an on-prem stack runs in the cluster's own network; aistack creates or joins no cloud network.",
                "remove the network section.",
            )
        return
    wrong = (GCP_FIELDS + GKE_RANGE_FIELDS) if spec.target == "aws" else AWS_FIELDS
    for field in wrong:
        if field in given:
            other = "gcp" if spec.target == "aws" else "aws"
            yield SpecIssue(
                _path(field), f"{field} is an {other} setting; target is {spec.target}.", f"remove {field}."
            )
    if spec.target == "aws":
        yield from _aws_existing(net)
    else:
        yield from _gcp_existing(spec, net)


def _aws_existing(net: NetworkSpec) -> Iterator[SpecIssue]:
    if net.vpc_id is None:
        for field in ("private_subnet_ids", "public_subnet_ids", "endpoints"):
            if field in net.model_fields_set:
                yield SpecIssue(
                    _path(field),
                    f"{field} applies to an existing VPC, and vpc_id is not set.",
                    "set vpc_id to the VPC these belong to, or remove it to let aistack create the network.",
                )
        return
    if net.cidr is not None:
        yield SpecIssue(
            _path("cidr"),
            f"cidr is the range of a VPC aistack creates; vpc_id {net.vpc_id} is an existing one.",
            "remove cidr (the VPC keeps its own ranges), or remove vpc_id.",
        )
    if len(set(net.private_subnet_ids)) < 2:
        yield SpecIssue(
            _path("private_subnet_ids"),
            f"an existing VPC needs at least two private subnets in two zones (EKS requires two zones); "
            f"got {len(set(net.private_subnet_ids))}.",
            "list the ids of the private subnets (subnet-...) of two or more zones.",
        )
    seen: dict[str, str] = {}
    for field in ("private_subnet_ids", "public_subnet_ids"):
        for i, sid in enumerate(getattr(net, field)):
            if sid in seen:
                yield SpecIssue(
                    join_path("network", field, i),
                    f"subnet {sid} is listed twice (also in {seen[sid]}).",
                    "list each subnet once: private ones for nodes, public ones for internet-facing load balancers.",
                )
            seen.setdefault(sid, field)


def _gcp_existing(spec: StackSpec, net: NetworkSpec) -> Iterator[SpecIssue]:
    if net.network is None:
        for field in ("subnetwork", "pods_range", "services_range", "host_project", "firewall"):
            if field in net.model_fields_set:
                yield SpecIssue(
                    _path(field),
                    f"{field} applies to an existing network, and network is not set.",
                    "set network (name or self link), or remove it to let aistack create the network.",
                )
        return
    for field in ("subnetwork", "pods_range", "services_range"):
        if getattr(net, field) is None:
            yield SpecIssue(
                _path(field),
                f"an existing network needs {field}"
                + (
                    " (a subnetwork in the stack's region)."
                    if field == "subnetwork"
                    else " (the name of its secondary range)."
                ),
                f"set network.{field}; `gcloud compute networks subnets describe <subnetwork> --region {spec.region}` "
                "lists the secondary ranges.",
            )
    for field in ("cidr", "pods_cidr", "services_cidr"):
        if getattr(net, field) is not None:
            yield SpecIssue(
                _path(field),
                f"{field} is a range of a network aistack creates; network {net.network} is an existing one, whose "
                "subnetwork and secondary ranges are its own.",
                f"remove {field}; name the secondary ranges with pods_range and services_range.",
            )
    if net.host_project is not None:
        from .. import naming

        problem = naming.project_id_problem(net.host_project)
        if problem is not None:
            yield SpecIssue(_path("host_project"), f"'{net.host_project}' is not a GCP project id: {problem}.",
                            "write the host project's id, e.g. acme-net-host.")  # fmt: skip
        elif net.host_project == spec.project:
            yield SpecIssue(
                _path("host_project"),
                f"host_project is the stack's own project ({spec.project}); a Shared VPC host is another project.",
                "remove host_project when the network is in the stack's project.",
            )


# ----------------------------------------------------------------------------------- the address plan


def _private_spaces(field: str) -> tuple[Net, ...]:
    return (*RFC1918, RFC6598) if field == "pods_cidr" else RFC1918


@rule
def address_plan(spec: StackSpec) -> Iterator[SpecIssue]:
    """Private, not overlapping each other nor ``avoid``, large enough, the control plane a /28."""
    net = spec.network
    if spec.target == "gcp":
        ranges = gke_ranges(net)
    elif spec.target == "aws" and net.vpc_id is None:
        ranges = {"cidr": aws_vpc(net)}
    else:
        return
    avoid = [_net(a) for a in net.avoid]
    allowed = {f: _private_spaces(f) for f in ranges}
    # 1. private, and the right size class
    for field, block in ranges.items():
        spaces = allowed[field]
        others = [r for f, r in ranges.items() if f != field] + avoid
        if not any(block.subnet_of(s) for s in spaces):
            kind = "RFC 1918 or RFC 6598 (100.64.0.0/10)" if field == "pods_cidr" else "RFC 1918"
            yield SpecIssue(
                _path(field),
                f"{block} is not a private range ({kind}).",
                f"use a private /{block.prefixlen}, {_suggest(block.prefixlen, others, spaces)}.",
            )
        if field == "master_cidr" and block.prefixlen != 28:
            yield SpecIssue(
                _path(field),
                f"the GKE control plane's range must be a /28; {block} is a /{block.prefixlen}.",
                f"use a /28, {_suggest(28, others, spaces)}.",
            )
        if spec.target == "aws" and not AWS_VPC_PREFIXES[0] <= block.prefixlen <= AWS_VPC_PREFIXES[1]:
            lo, hi = AWS_VPC_PREFIXES
            want = min(max(block.prefixlen, lo), hi)
            yield SpecIssue(
                _path(field),
                f"a VPC aistack creates is /{lo} to /{hi} (AWS allows /16 at most; its public subnets are /+8 "
                f"blocks); {block} is a /{block.prefixlen}.",
                f"use a /{want}, {_suggest(want, others, spaces)}.",
            )
    # 2. no overlaps: each pair once (reported on the later field), then each against avoid
    fields = list(ranges)
    for j, field in enumerate(fields):
        block = ranges[field]
        others = [r for f, r in ranges.items() if f != field] + avoid
        clash = [f for f in fields[:j] if ranges[f].overlaps(block)]
        clash += [f"avoid[{i}] ({a})" for i, a in enumerate(avoid) if a.overlaps(block)]
        if clash:
            yield SpecIssue(
                _path(field),
                f"{block} overlaps {', '.join(c if '(' in c else f'network.{c} ({ranges[c]})' for c in clash)}.",
                f"use a range that overlaps none of them, {_suggest(block.prefixlen, others, allowed[field])}.",
            )
    # 3. large enough for the pools at their largest
    if spec.target == "gcp":
        yield from _gke_sizes(spec, ranges, avoid)
    else:
        yield from _aws_sizes(spec, ranges["cidr"], avoid)


def _gke_sizes(spec: StackSpec, ranges: dict[str, Net], avoid: list[Net]) -> Iterator[SpecIssue]:
    nodes = gke_max_nodes(spec)
    max_pods = spec.network.max_pods_per_node
    if "pods_cidr" in ranges:
        block = per_node_block(max_pods)
        need = nodes * block
        pods = ranges["pods_cidr"]
        if pods.num_addresses < need:
            prefix = prefix_for(need)
            others = [r for f, r in ranges.items() if f != "pods_cidr"] + avoid
            yield SpecIssue(
                _path("pods_cidr"),
                f"{pods} holds {pods.num_addresses} pod addresses; {nodes} nodes at their largest (every pool at "
                f"max_nodes, and the system pool) × {block} per node (max_pods_per_node {max_pods}) need {need}.",
                f"use a /{prefix} or larger, {_suggest(prefix, others, _private_spaces('pods_cidr'))}; or lower "
                "max_nodes or network.max_pods_per_node.",
            )
    if "cidr" in ranges:
        subnet = ranges["cidr"]
        if subnet.num_addresses - GCP_RESERVED_PER_SUBNET < nodes:
            prefix = prefix_for(nodes + GCP_RESERVED_PER_SUBNET)
            others = [r for f, r in ranges.items() if f != "cidr"] + avoid
            yield SpecIssue(
                _path("cidr"),
                f"{subnet} has {subnet.num_addresses - GCP_RESERVED_PER_SUBNET} usable node addresses; the cluster "
                f"grows to {nodes} nodes.",
                f"use a /{prefix} or larger, {_suggest(prefix, others, RFC1918)}.",
            )


def _aws_sizes(spec: StackSpec, vpc: Net, avoid: list[Net]) -> Iterator[SpecIssue]:
    if not AWS_VPC_PREFIXES[0] <= vpc.prefixlen <= AWS_VPC_PREFIXES[1]:
        return  # reported above
    zones = len(spec.zones) or DEFAULT_AWS_ZONES
    need = aws_subnet_need(spec, zones)
    private, _ = aws_subnets(vpc, zones)
    usable = private[0].num_addresses - AWS_RESERVED_PER_SUBNET
    if usable >= need:
        return
    subnet_prefix = prefix_for(need + AWS_RESERVED_PER_SUBNET)
    vpc_prefix = subnet_prefix - AWS_PRIVATE_SPLIT
    where = (
        f"use a /{vpc_prefix} or larger, {_suggest(vpc_prefix, avoid, RFC1918)}"
        if vpc_prefix >= AWS_VPC_PREFIXES[0]
        else "no VPC aistack creates is large enough: lower max_nodes or network.max_pods_per_node, or bring your "
        "own VPC (network.vpc_id)"
    )
    yield SpecIssue(
        _path("cidr"),
        f"each private subnet of {vpc} is a /{private[0].prefixlen} with {usable} usable addresses; the busiest "
        f"needs {need} (its share of every pool's nodes at max_nodes, EFA pools all in one zone, × "
        f"{spec.network.max_pods_per_node} pods + 1 per node: the VPC CNI gives each pod a subnet address).",
        f"{where}.",
    )


# ----------------------------------------------------------------------------------- zones that sell the chip


def offered_zones(spec: StackSpec, pool: AcceleratorPool) -> tuple[str, ...] | None:
    """The catalog's zones of the stack's region that sell the pool's accelerator; None when the catalog
    knows no zone of that region for it (then GKE and the preflight decide)."""
    acc = catalog.accelerators().get(pool.accelerator)
    if acc is None:
        return None
    return catalog.gke().zones_in(acc.id, spec.region)


def gke_pool_zones(spec: StackSpec, pool: AcceleratorPool) -> tuple[str, ...]:
    """Where a GKE pool's nodes may run: the stack's zones that sell its accelerator (all the stack's zones,
    or the catalog's zones of the region, when either says nothing). Empty: the cluster's own locations."""
    offered = offered_zones(spec, pool)
    if offered is None:
        return tuple(spec.zones)
    if not spec.zones:
        return offered
    return tuple(z for z in spec.zones if z in offered)


@rule
def gke_zones_sell_the_chip(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.target != "gcp":
        return
    for i, pool in enumerate(spec.accelerator_pools):
        offered = offered_zones(spec, pool)
        if offered is None or not spec.zones or gke_pool_zones(spec, pool):
            continue
        yield SpecIssue(
            "zones",
            f"none of the stack's zones ({', '.join(spec.zones)}) sells {pool.accelerator}, which pool "
            f"'{pool.name}' (accelerator_pools[{i}]) needs; in {spec.region} it is sold in {', '.join(offered)}.",
            f"add one of {', '.join(offered)} to zones, or give the pool an accelerator sold in your zones.",
        )
