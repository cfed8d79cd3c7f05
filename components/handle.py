"""The uniform handle a target hands to the platform layer.

Every target (GKE, EKS, on-prem) produces a ``TargetHandle``; the platform layer reads nothing
else, so it cannot branch on the cloud. The accelerator inventory is decided here, once, by a
pure function: every target labels and taints its accelerator nodes exactly this way (GKE and
EKS through node-pool labels/taints, on-prem through node patches), which is what lets the
platform's queues and flavors come out identical everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blueprints import catalog

from .spec import StackSpec, mig_instances

if TYPE_CHECKING:
    import pulumi
    import pulumi_kubernetes as k8s

# Label every target puts on a pool's nodes; the platform selects pools by it alone.
POOL_LABEL = "aistack.io/pool"
ACCELERATOR_LABEL = "aistack.io/accelerator"
CAPACITY_LABEL = "aistack.io/capacity"


@dataclass(frozen=True)
class NodeTaint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule | PreferNoSchedule | NoExecute

    def toleration(self) -> dict[str, str]:
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


@dataclass(frozen=True)
class PoolInventory:
    """What the platform needs to know about one accelerator pool, in plain data."""

    pool: str
    accelerator: str
    kind: str
    resource_name: str  # extended resource the device plugin advertises, e.g. nvidia.com/gpu
    per_node: int  # physical accelerators per node
    units_per_node: int  # schedulable units per node after time-slicing / MIG
    max_nodes: int
    spot: bool
    node_labels: Mapping[str, str]
    taints: tuple[NodeTaint, ...]

    @property
    def capacity(self) -> int:
        return self.units_per_node * self.max_nodes

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [t.toleration() for t in self.taints]


@dataclass(frozen=True)
class StorageClasses:
    default: str
    shared: str | None = None  # RWX class, when the stack has a shared filesystem


@dataclass(frozen=True)
class ObjectStore:
    kind: str  # gcs | s3
    endpoint: pulumi.Input[str]
    buckets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetHandle:
    """What a target gives the platform layer: how to reach the cluster and what is in it."""

    provider: k8s.Provider  # every child of the platform layer is created through it, never the ambient one
    inventory: tuple[PoolInventory, ...]
    storage: StorageClasses
    object_store: ObjectStore | None = None
    workload_identities: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # component -> cloud identity
    drivers_preinstalled: bool = False  # GKE-managed drivers / EKS NVIDIA AMI: skip the operator's driver


def accelerator_taint(kind: str) -> NodeTaint:
    """The NoSchedule taint that keeps ordinary pods off accelerator nodes."""
    return NodeTaint(catalog.RESOURCE_NAMES[kind], "present", "NoSchedule")


def accelerator_inventory(spec: StackSpec) -> tuple[PoolInventory, ...]:
    """Pure: the spec's pools as the platform sees them, identical for every target."""
    out = []
    for pool in spec.accelerator_pools:
        acc = catalog.accelerators().get(pool.accelerator)
        if acc is None:  # the spec was validated; this only guards direct callers
            raise ValueError(f"unknown accelerator {pool.accelerator!r}")
        labels = {POOL_LABEL: pool.name, ACCELERATOR_LABEL: acc.id, **pool.labels}
        if pool.spot:
            labels[CAPACITY_LABEL] = "spot"
        taints = (accelerator_taint(acc.kind), *(NodeTaint(t.key, t.value, t.effect) for t in pool.taints))
        out.append(
            PoolInventory(
                pool=pool.name,
                accelerator=acc.id,
                kind=acc.kind,
                resource_name=acc.resource_name,
                per_node=pool.count,
                units_per_node=pool.count * mig_instances(pool),
                max_nodes=pool.max_nodes,
                spot=pool.spot,
                node_labels=labels,
                taints=taints,
            )
        )
    return tuple(out)
