"""GKE node pools: a small system pool, and one pool per accelerator pool of the spec.

``accelerator_pool_args`` is the pure decision (spec pool + inventory → node pool inputs); the
builder only registers it. Labels and taints come from the shared inventory, so the platform
layer selects these nodes exactly as it selects EKS or on-prem ones.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp

from blueprints import catalog

from ... import naming
from ...handle import POOL_LABEL, PoolInventory
from ...shapes import gke_gpu_machine_type, tpu_slice
from ...spec import AcceleratorPool, StackSpec

SYSTEM_MACHINE_TYPE = "e2-standard-4"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is decided by IAM, not scopes
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


def _node_config_base(
    spec: StackSpec, service_account: pulumi.Input[str], disk_key: pulumi.Input[str] | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "service_account": service_account,
        "oauth_scopes": SCOPES,
        "workload_metadata_config": {"mode": "GKE_METADATA"},  # pods get Workload Identity, never the node SA
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
        "resource_labels": {"managed-by": "aistack", "stack": spec.name},
    }
    if disk_key is not None:
        config["boot_disk_kms_key"] = disk_key
    return config


def system_pool_args(
    spec: StackSpec, service_account: pulumi.Input[str], disk_key: pulumi.Input[str] | None
) -> dict[str, Any]:
    return {
        "name": "system",
        "location": spec.region,
        "autoscaling": {"total_min_node_count": 1, "total_max_node_count": 3, "location_policy": "BALANCED"},
        "management": {"auto_repair": True, "auto_upgrade": True},
        "node_config": {
            **_node_config_base(spec, service_account, disk_key),
            "machine_type": SYSTEM_MACHINE_TYPE,
            "disk_type": "pd-balanced",
            "labels": {POOL_LABEL: "system"},
        },
    }


def accelerator_pool_args(
    spec: StackSpec,
    pool: AcceleratorPool,
    inventory: PoolInventory,
    service_account: pulumi.Input[str],
    disk_key: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """Pure: the GKE node pool for one accelerator pool of a validated spec."""
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None and acc.gke_accelerator is not None  # guaranteed by spec validation
    node_config: dict[str, Any] = {
        **_node_config_base(spec, service_account, disk_key),
        "spot": pool.spot,
        "labels": dict(inventory.node_labels),
        "taints": [{"key": t.key, "value": t.value, "effect": _EFFECTS[t.effect]} for t in inventory.taints],
    }
    args: dict[str, Any] = {
        "name": naming.gke_node_pool_name(pool.name),
        "location": spec.region,
        "management": {"auto_repair": True, "auto_upgrade": True},
    }
    if spec.zones:
        args["node_locations"] = list(spec.zones)
    # ANY lets the autoscaler take whichever zone has capacity: what spot and scarce GPUs need.
    location_policy = "ANY" if pool.spot else "BALANCED"
    if acc.kind == "tpu":
        assert pool.tpu_topology is not None
        tpu = tpu_slice(acc.id, pool.tpu_topology)
        node_config["machine_type"] = pool.machine_type or tpu.machine_type
        args["node_locations"] = [spec.zones[0]]  # a slice is zonal; the spec rules require a zone
        if tpu.multi_host:
            # A multi-host slice exists whole or not at all: 0 or all of its nodes.
            args["placement_policy"] = {"type": "COMPACT", "tpu_topology": tpu.topology}
            args["autoscaling"] = {
                "total_min_node_count": pool.min_nodes,
                "total_max_node_count": tpu.nodes,
                "location_policy": "ANY",
            }
            args["initial_node_count"] = tpu.nodes if pool.min_nodes else 0
        else:
            args["autoscaling"] = {
                "total_min_node_count": pool.min_nodes,
                "total_max_node_count": pool.max_nodes,
                "location_policy": location_policy,
            }
            args["initial_node_count"] = pool.min_nodes
    else:
        node_config["machine_type"] = pool.machine_type or gke_gpu_machine_type(acc.id, pool.count)
        accelerator: dict[str, Any] = {
            "type": acc.gke_accelerator,
            "count": pool.count,
            "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
        }
        if pool.sharing.mode == "time-slicing":
            accelerator["gpu_sharing_config"] = {
                "gpu_sharing_strategy": "TIME_SHARING",
                "max_shared_clients_per_gpu": pool.sharing.replicas,
            }
        elif pool.sharing.mode == "mig":
            accelerator["gpu_partition_size"] = pool.sharing.profile
        node_config["guest_accelerators"] = [accelerator]
        args["autoscaling"] = {
            "total_min_node_count": pool.min_nodes,
            "total_max_node_count": pool.max_nodes,
            "location_policy": location_policy,
        }
        args["initial_node_count"] = pool.min_nodes
    args["node_config"] = node_config
    return args


def build_node_pools(
    name: str,
    spec: StackSpec,
    cluster: gcp.container.Cluster,
    inventory: tuple[PoolInventory, ...],
    service_account: pulumi.Input[str],
    disk_key: pulumi.Input[str] | None,
    parent: pulumi.Resource,
) -> dict[str, gcp.container.NodePool]:
    # Autoscaling owns the node count once the pool exists.
    opts = pulumi.ResourceOptions(parent=parent, ignore_changes=["initialNodeCount"])
    pools = {
        "system": gcp.container.NodePool(
            f"{name}-system", cluster=cluster.id, **system_pool_args(spec, service_account, disk_key), opts=opts
        )
    }
    by_name = {inv.pool: inv for inv in inventory}
    for pool in spec.accelerator_pools:
        args = accelerator_pool_args(spec, pool, by_name[pool.name], service_account, disk_key)
        pools[pool.name] = gcp.container.NodePool(f"{name}-{pool.name}", cluster=cluster.id, **args, opts=opts)
    return pools
