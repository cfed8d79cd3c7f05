"""EKS managed node groups: the system group, and a fixed-size group for each pool's floor.

Karpenter (karpenter.py) adds and removes accelerator nodes on demand; it has no notion of a
minimum, so a pool with ``min_nodes > 0`` keeps exactly that many nodes in a managed node group of
fixed size, with the same labels and taints as its Karpenter nodes. Pools with ``min_nodes: 0``
(scale to zero) have no node group at all. ``floor_group_args`` is the pure decision.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from foundation import catalog

from ... import naming
from ...handle import POOL_LABEL, PoolInventory
from ...shapes import eks_ami_type
from ...spec import AcceleratorPool, StackSpec
from .iam import MANAGED, trust
from .karpenter import instance_type, pool_zones
from .network import EksNetwork

NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
# EKS CreateNodegroup capacityType: https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
_CAPACITY_TYPES = {"spot": "SPOT", "capacity-block": "CAPACITY_BLOCK"}


def floor_pools(spec: StackSpec) -> tuple[AcceleratorPool, ...]:
    return tuple(p for p in spec.accelerator_pools if p.min_nodes > 0)


def launch_template_args(
    spec: StackSpec, pool: AcceleratorPool, identity: naming.StackIdentity | None = None
) -> dict[str, Any] | None:
    """What the floor group's instances need beyond the node group's own fields, or None.

    EFA: one EFA interface on the primary card. Reservations and Capacity Blocks: the launch template
    targets them (https://docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html: market
    type capacity-block, the block's id, and the instance type in the template).
    """
    args: dict[str, Any] = {}
    if pool.efa:
        args["network_interfaces"] = [
            {"device_index": 0, "network_card_index": 0, "interface_type": "efa", "delete_on_termination": "true"}
        ]
    cap = pool.capacity
    if pool.capacity_type == "reservation":
        args["capacity_reservation_specification"] = (
            {"capacity_reservation_preference": "open"}
            if cap.affinity == "any"
            else {"capacity_reservation_target": {"capacity_reservation_id": cap.reservation}}
        )
    elif pool.capacity_type == "capacity-block":
        args["instance_market_options"] = {"market_type": "capacity-block"}
        args["capacity_reservation_specification"] = {
            "capacity_reservation_target": {"capacity_reservation_id": cap.block_id}
        }
        args["instance_type"] = instance_type(pool)
    if not args:
        return None
    args["metadata_options"] = {"http_tokens": "required", "http_put_response_hop_limit": 2}
    tags = {"managed-by": "aistack", "stack": spec.name, "aistack.io/pool": pool.name, **_identity_tags(identity)}
    args["tag_specifications"] = [{"resource_type": kind, "tags": tags} for kind in ("instance", "volume")]
    return args


def _identity_tags(identity: naming.StackIdentity | None) -> dict[str, str]:
    return identity.tags() if identity is not None else {}


def floor_subnets(network: EksNetwork, zones: list[str], efa: bool) -> list[pulumi.Input[str]]:
    """The private subnets in zones that offer the pool's instance type (all, where a subnet's zone is
    unknown offline or no zone is reported); EFA: only the first of them (its traffic stays in one AZ)."""
    ids = network.private_subnet_ids
    known = zones and all(z is not None for z in network.private_subnet_zones)
    chosen = [s for s, z in zip(ids, network.private_subnet_zones, strict=True) if z in zones] if known else list(ids)
    chosen = chosen or list(ids)
    return chosen[:1] if efa else chosen


def floor_group_args(
    spec: StackSpec, pool: AcceleratorPool, inventory: PoolInventory, identity: naming.StackIdentity | None = None
) -> dict[str, Any]:
    """A node group of exactly ``min_nodes`` nodes, labelled and tainted as the pool's Karpenter nodes."""
    acc_kind = inventory.kind
    args: dict[str, Any] = {
        "node_group_name": naming.eks_node_group_name(pool.name),
        "ami_type": eks_ami_type(acc_kind),
        "instance_types": [instance_type(pool)],
        "capacity_type": _CAPACITY_TYPES.get(pool.capacity_type, "ON_DEMAND"),
        "scaling_config": {"min_size": pool.min_nodes, "desired_size": pool.min_nodes, "max_size": pool.min_nodes},
        "update_config": {"max_unavailable": 1},
        "labels": dict(inventory.node_labels),
        "taints": [{"key": t.key, "value": t.value, "effect": _EFFECTS[t.effect]} for t in inventory.taints],
        "tags": {"managed-by": "aistack", "stack": spec.name, **_identity_tags(identity)},
    }
    if pool.capacity_type == "capacity-block":
        del args["instance_types"]  # it is the launch template's, as EKS requires for Capacity Blocks
    return args


def build_node_groups(
    name: str,
    spec: StackSpec,
    cluster: aws.eks.Cluster,
    network: EksNetwork,
    inventory: tuple[PoolInventory, ...],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, dict[str, aws.eks.NodeGroup]]:
    opts = pulumi.ResourceOptions(parent=parent)
    subnet_ids = list(network.private_subnet_ids)
    identity = naming.current_identity()
    tags = {"managed-by": "aistack", "stack": spec.name, **identity.tags()}
    role = aws.iam.Role(
        naming.eks_node_role_resource(name),  # auto-named from this
        assume_role_policy=trust("ec2.amazonaws.com"),
        managed_policy_arns=[MANAGED + p for p in NODE_POLICIES],
        tags=tags,
        opts=opts,
    )
    system = catalog.eks().system
    groups = {
        "system": aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=subnet_ids,
            node_group_name="system",
            ami_type="AL2023_x86_64_STANDARD",
            instance_types=[system.instance_type],
            scaling_config={
                "min_size": system.min_nodes,
                "desired_size": system.desired_nodes,
                "max_size": system.max_nodes,
            },
            labels={POOL_LABEL: "system"},
            tags=tags,
            # An operator may resize the system group by hand (within 1-3) without the next `up` undoing it.
            opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["scalingConfig.desiredSize"]),
        )
    }
    by_name = {inv.pool: inv for inv in inventory}
    for pool in floor_pools(spec):
        args = floor_group_args(spec, pool, by_name[pool.name], identity)
        group_subnets = floor_subnets(network, pool_zones(spec, pool, network.private_subnet_zones), pool.efa)
        template = launch_template_args(spec, pool, identity)
        if template is not None:
            lt_name = naming.efa_launch_template_resource(name, pool.name) if pool.efa else f"{name}-{pool.name}-floor"
            lt = aws.ec2.LaunchTemplate(lt_name, **template, tags=tags, opts=opts)  # auto-named from this
            args["launch_template"] = {"id": lt.id, "version": lt.latest_version.apply(str)}
        groups[pool.name] = aws.eks.NodeGroup(
            f"{name}-{pool.name}",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=group_subnets,
            **args,
            opts=opts,
        )
    return role, groups
