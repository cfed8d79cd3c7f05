"""EKS managed node groups: a system group, and one group per accelerator pool.

``accelerator_group_args`` is the pure decision. Scale-to-zero needs the cluster-autoscaler to
know what a node *would* look like, so zero-node groups carry the ``k8s.io/cluster-autoscaler/
node-template/*`` tags for labels, taints and accelerator resources.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from blueprints import catalog

from ... import naming
from ...handle import POOL_LABEL, PoolInventory
from ...shapes import eks_ami_type, eks_instance_type
from ...spec import AcceleratorPool, StackSpec
from .iam import MANAGED, trust

SYSTEM_INSTANCE_TYPE = "m7i.xlarge"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


def autoscaler_tags(cluster_name: str, inventory: PoolInventory) -> dict[str, str]:
    """Node-template hints that let the cluster-autoscaler scale a group up from zero."""
    prefix = "k8s.io/cluster-autoscaler/node-template"
    tags = {
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"{prefix}/resources/{inventory.resource_name}": str(inventory.units_per_node),
    }
    tags.update({f"{prefix}/label/{k}": v for k, v in inventory.node_labels.items()})
    tags.update({f"{prefix}/taint/{t.key}": f"{t.value}:{t.effect}" for t in inventory.taints})
    return tags


def accelerator_group_args(spec: StackSpec, pool: AcceleratorPool, inventory: PoolInventory) -> dict[str, Any]:
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None  # guaranteed by spec validation
    instance = pool.machine_type or eks_instance_type(acc.id, pool.count)
    return {
        "node_group_name": naming.eks_node_group_name(pool.name),
        "ami_type": eks_ami_type(acc.kind),
        "instance_types": [instance],
        "capacity_type": "SPOT" if pool.spot else "ON_DEMAND",
        "scaling_config": {"min_size": pool.min_nodes, "desired_size": pool.min_nodes, "max_size": pool.max_nodes},
        "update_config": {"max_unavailable": 1},
        "labels": dict(inventory.node_labels),
        "taints": [{"key": t.key, "value": t.value, "effect": _EFFECTS[t.effect]} for t in inventory.taints],
        "tags": {"managed-by": "aistack", "stack": spec.name, **autoscaler_tags(spec.name, inventory)},
    }


def efa_launch_template(
    name: str, spec: StackSpec, pool: AcceleratorPool, instance: str, parent: pulumi.Resource
) -> aws.ec2.LaunchTemplate:
    """One EFA interface on the primary card; the EKS NVIDIA/Neuron AMIs configure the rest at boot."""
    return aws.ec2.LaunchTemplate(
        naming.efa_launch_template_resource(name, pool.name),  # auto-named from this
        network_interfaces=[
            {"device_index": 0, "network_card_index": 0, "interface_type": "efa", "delete_on_termination": "true"}
        ],
        metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 2},
        tag_specifications=[
            {"resource_type": "instance", "tags": {"managed-by": "aistack", "stack": spec.name, "efa-for": instance}}
        ],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def build_node_groups(
    name: str,
    spec: StackSpec,
    cluster: aws.eks.Cluster,
    subnet_ids: list[pulumi.Input[str]],
    inventory: tuple[PoolInventory, ...],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, dict[str, aws.eks.NodeGroup]]:
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        naming.eks_node_role_resource(name),  # auto-named from this
        assume_role_policy=trust("ec2.amazonaws.com"),
        managed_policy_arns=[MANAGED + p for p in NODE_POLICIES],
        opts=opts,
    )
    # The autoscaler owns desired size once the group exists.
    group_opts = pulumi.ResourceOptions(parent=parent, ignore_changes=["scalingConfig.desiredSize"])
    groups = {
        "system": aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=subnet_ids,
            node_group_name="system",
            ami_type="AL2023_x86_64_STANDARD",
            instance_types=[SYSTEM_INSTANCE_TYPE],
            scaling_config={"min_size": 1, "desired_size": 2, "max_size": 3},
            labels={POOL_LABEL: "system"},
            opts=group_opts,
        )
    }
    by_name = {inv.pool: inv for inv in inventory}
    for pool in spec.accelerator_pools:
        args = accelerator_group_args(spec, pool, by_name[pool.name])
        group_subnets = subnet_ids
        if pool.efa:
            lt = efa_launch_template(name, spec, pool, args["instance_types"][0], parent)
            args["launch_template"] = {"id": lt.id, "version": lt.latest_version.apply(str)}
            group_subnets = subnet_ids[:1]  # EFA traffic stays inside one AZ
        groups[pool.name] = aws.eks.NodeGroup(
            f"{name}-{pool.name}",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=group_subnets,
            **args,
            opts=group_opts,
        )
    return role, groups
