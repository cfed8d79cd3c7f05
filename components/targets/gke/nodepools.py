"""GKE node pools: a small system pool, and one pool per accelerator pool of the spec.

``accelerator_pool_args`` is the pure decision (spec pool + inventory → node pool inputs); the
builder only registers it. Labels and taints come from the shared inventory, so the platform
layer selects these nodes exactly as it selects EKS or on-prem ones. The pool's capacity type
decides spot, reservation affinity, or flex-start with queued provisioning.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_gcp as gcp

from foundation import catalog

from ... import naming
from ...handle import POOL_LABEL, NodeTaint, PoolInventory, accelerator_inventory
from ...shapes import gke_gpu_machine_type, tpu_slice
from ...spec import AcceleratorPool, StackSpec
from ...spec.dra import GKE_DRA_LABEL
from ...spec.network_rules import gke_pool_zones

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is decided by IAM, not scopes
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}

# Flex-start with queued provisioning (Dynamic Workload Scheduler): nodes come only through a
# ProvisioningRequest of this class, all of a request at once, and GKE taints them itself.
# Source: https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest (read 2026-12-01).
QUEUED_PROVISIONING_CLASS = "queued-provisioning.gke.io"
QUEUED_TAINT = NodeTaint("cloud.google.com/gke-queued", "true", "NoSchedule")
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"


def gke_inventory(spec: StackSpec) -> tuple[PoolInventory, ...]:
    """Pure: the shared inventory plus what GKE's autoscaler adds: flex-start pools are served by
    queued provisioning, whose nodes carry GKE's own gke-queued taint."""
    by_name = {p.name: p for p in spec.accelerator_pools}
    return tuple(
        dataclasses.replace(inv, provisioning_class=QUEUED_PROVISIONING_CLASS, autoscaler_taints=(QUEUED_TAINT,))
        if by_name[inv.pool].capacity_type == "flex-start"
        else inv
        for inv in accelerator_inventory(spec)
    )


def reservation_affinity(pool: AcceleratorPool) -> gcp.container.NodePoolNodeConfigReservationAffinityArgsDict | None:
    """Which Compute Engine reservations the pool's VMs consume; None leaves GKE's default."""
    kind = pool.capacity_type
    if kind == "flex-start":
        # Flex-start capacity is its own; GKE requires the pool to consume no reservation.
        return {"consume_reservation_type": "NO_RESERVATION"}
    if kind != "reservation":
        return None
    if pool.capacity.affinity == "any":
        return {"consume_reservation_type": "ANY_RESERVATION"}
    assert pool.capacity.reservation is not None  # the spec rules require it for affinity specific
    # A name, or projects/<owner>/reservations/<name> for one shared from another project.
    return {
        "consume_reservation_type": "SPECIFIC_RESERVATION",
        "key": RESERVATION_NAME_KEY,
        "values": [pool.capacity.reservation],
    }


def _node_config_base(
    spec: StackSpec,
    service_account: pulumi.Input[str],
    disk_key: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "service_account": service_account,
        "oauth_scopes": SCOPES,
        "workload_metadata_config": {"mode": "GKE_METADATA"},  # pods get Workload Identity, never the node SA
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
        # On the node VMs and their boot disks: the stack identity finds them after a teardown (#24).
        "resource_labels": {
            "managed-by": "aistack",
            "stack": spec.name,
            **(identity.gcp_labels() if identity is not None else {}),
        },
    }
    if disk_key is not None:
        config["boot_disk_kms_key"] = disk_key
    return config


def system_pool_args(
    spec: StackSpec,
    service_account: pulumi.Input[str],
    disk_key: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    system = catalog.gke().system
    return {
        "name": "system",
        "location": spec.region,
        "autoscaling": {
            "total_min_node_count": system.min_nodes,
            "total_max_node_count": system.max_nodes,
            "location_policy": "BALANCED",
        },
        "management": {"auto_repair": True, "auto_upgrade": True},
        "node_config": {
            **_node_config_base(spec, service_account, disk_key, identity),
            "machine_type": system.machine_type,
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
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    """Pure: the GKE node pool for one accelerator pool of a validated spec, in the zones that sell its chip."""
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None and acc.gke_accelerator is not None  # guaranteed by spec validation
    kind = pool.capacity_type
    node_config: dict[str, Any] = {
        **_node_config_base(spec, service_account, disk_key, identity),
        "spot": kind == "spot",
        "labels": dict(inventory.node_labels),
        "taints": [{"key": t.key, "value": t.value, "effect": _EFFECTS[t.effect]} for t in inventory.taints],
    }
    management: gcp.container.NodePoolManagementArgsDict = {"auto_repair": True, "auto_upgrade": True}
    args: dict[str, Any] = {
        "name": naming.gke_node_pool_name(pool.name),
        "location": spec.region,
        "management": management,
    }
    if (affinity := reservation_affinity(pool)) is not None:
        node_config["reservation_affinity"] = affinity
    if kind == "flex-start":
        queued: gcp.container.NodePoolQueuedProvisioningArgsDict = {"enabled": True}
        args["queued_provisioning"] = queued
        node_config["flex_start"] = True
        # GKE's documented queued-provisioning pool runs without auto-repair (--no-enable-autorepair):
        # a node lives for its request only, and a repaired node would belong to none.
        management["auto_repair"] = False
    zones = gke_pool_zones(spec, pool)  # the stack's zones that sell the chip (the spec rules: at least one)
    if zones:
        args["node_locations"] = list(zones)
    # ANY lets the autoscaler take whichever zone has capacity: what spot, scarce GPUs, a zonal
    # reservation and flex-start (GKE's documented --location-policy=ANY) need.
    location_policy = "ANY" if kind in ("spot", "reservation", "flex-start") else "BALANCED"
    if acc.kind == "tpu":
        assert pool.tpu_topology is not None
        tpu = tpu_slice(acc.id, pool.tpu_topology)
        node_config["machine_type"] = pool.machine_type or tpu.machine_type
        args["node_locations"] = [zones[0]]  # a slice is zonal; the spec rules require a zone that sells it
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
        # A dra pool (GKE "Prepare GKE infrastructure for DRA workloads"): no automatic driver install and the
        # label that keeps GKE's device plugin off, so NVIDIA's DRA driver alone publishes the GPUs. The label
        # is on the node template too, so the autoscaler knows a new node's GPUs come that way (scale from 0).
        dra = pool.allocation == "dra"
        accelerator: dict[str, Any] = {
            "type": acc.gke_accelerator,
            "count": pool.count,
            "gpu_driver_installation_config": {"gpu_driver_version": "INSTALLATION_DISABLED" if dra else "LATEST"},
        }
        if dra:
            node_config["labels"][GKE_DRA_LABEL] = "true"
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
    identity = naming.current_identity()
    pools = {
        "system": gcp.container.NodePool(
            f"{name}-system",
            cluster=cluster.id,
            **system_pool_args(spec, service_account, disk_key, identity),
            opts=opts,
        )
    }
    by_name = {inv.pool: inv for inv in inventory}
    for pool in spec.accelerator_pools:
        args = accelerator_pool_args(spec, pool, by_name[pool.name], service_account, disk_key, identity)
        pools[pool.name] = gcp.container.NodePool(f"{name}-{pool.name}", cluster=cluster.id, **args, opts=opts)
    return pools
