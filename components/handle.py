"""The uniform handle a target hands to the platform layer.

Every target (GKE, EKS, on-prem) produces a ``TargetHandle``; the platform layer reads nothing
else, so it cannot branch on the cloud. The accelerator inventory is decided here, once, by a
pure function: every target labels and taints its accelerator nodes exactly this way (GKE and
EKS through node-pool labels/taints, on-prem through node patches), which is what lets the
platform's queues and flavors come out identical everywhere. A target adds only what its own
autoscaler does beyond that (GKE flex-start: a provisioning class, and the taint GKE puts on
those nodes), as facts the platform acts on without knowing which target said them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from foundation import catalog

from .spec import StackSpec, mig_instances

if TYPE_CHECKING:
    import pulumi
    import pulumi_kubernetes as k8s

# Label every target puts on a pool's nodes; the platform selects pools by it alone.
POOL_LABEL = "aistack.io/pool"
ACCELERATOR_LABEL = "aistack.io/accelerator"
CAPACITY_LABEL = "aistack.io/capacity"
# Labels the NVIDIA GPU Operator reads to pick a node's device-plugin config and MIG layout.
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEFAULT_DEVICE_PLUGIN_CONFIG = "default"
# The GPU Operator leaves an operand off a node labelled nvidia.com/gpu.deploy.<operand>=false: dra pools'
# nodes carry it for the device plugin, so their GPUs are advertised by NVIDIA's DRA driver alone.
OPERATOR_DEVICE_PLUGIN_LABEL = "nvidia.com/gpu.deploy.device-plugin"
# NVIDIA's DRA driver: its name, which is also the domain of the attributes its kubelet plugin publishes
# (cmd/gpu-kubelet-plugin/main.go DriverName, v25.12.0).
DRA_DRIVER = "gpu.nvidia.com"
DRA_RESOURCE_DOMAIN = "gpu.aistack.io"
DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"


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
    capacity_type: str = "on-demand"  # how the nodes are bought: on-demand | spot | reservation | ...
    # The ProvisioningRequest class the target's autoscaler serves for this pool, when nodes come only
    # through one (GKE flex-start: queued-provisioning.gke.io); None: nodes come as pods ask for them.
    provisioning_class: str | None = None
    # Taints the target's autoscaler puts on the nodes itself (never declared on the pool), which
    # admitted pods must tolerate all the same.
    autoscaler_taints: tuple[NodeTaint, ...] = ()
    # device-plugin: pods ask for resource_name; dra: pods claim devices of device_class, and Kueue counts
    # them as resource_name (its deviceClassMappings), so queues and quotas read the same either way.
    allocation: str = "device-plugin"

    @property
    def device_class(self) -> str | None:
        """The pool's DeviceClass (dra pools only)."""
        return dra_device_class(self.pool) if self.allocation == "dra" else None

    @property
    def capacity(self) -> int:
        return self.units_per_node * self.max_nodes

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [t.toleration() for t in (*self.taints, *self.autoscaler_taints)]


@dataclass(frozen=True)
class StorageClassSpec:
    """A StorageClass the platform creates for the target; only provisioner and parameters differ by target."""

    name: str
    provisioner: str
    parameters: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    rwx: bool = False  # ReadWriteMany (shared filesystem); RWO classes bind when the pod is scheduled


@dataclass(frozen=True)
class StorageClasses:
    default: str  # RWO class for volumes (Prometheus, notebooks, team workspaces without a shared FS)
    shared: str | None = None  # RWX class, when the stack has a shared filesystem
    create: tuple[StorageClassSpec, ...] = ()  # classes the cluster lacks and the platform must create


@dataclass(frozen=True)
class StaticCredentials:
    """An access key pair for an object store without workload identity (on-prem). Both are Pulumi secrets."""

    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]


@dataclass(frozen=True)
class ObjectStore:
    kind: str  # URL scheme of the buckets: gs | s3
    endpoint: pulumi.Input[str]  # URL, scheme included (https://storage.googleapis.com, http://svc.ns:8333)
    buckets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # purpose -> URL (gs://..., s3://...)
    region: str | None = None
    # None: pods authenticate with their cloud identity (service_account_annotations).
    credentials: StaticCredentials | None = None
    # In-cluster store: the namespace pods must reach, and its port. None: reached over the network.
    namespace: str | None = None
    port: int = 443


@dataclass(frozen=True)
class PodEndpoint:
    """Pods serving metrics: where they run, how to select them and the named container port."""

    namespace: str
    selector: Mapping[str, str]
    port: str


@dataclass(frozen=True)
class NvidiaStack:
    """What the target already provides on NVIDIA nodes. The platform's GPU Operator supplies the rest."""

    driver: bool = False
    toolkit: bool = False
    device_plugin: bool = False  # and GPU sharing (time-slicing, MIG) configured by the target itself
    dcgm_exporter: PodEndpoint | None = None  # a DCGM exporter the target runs
    # Where the target's own driver is on the host (NVIDIA's DRA driver mounts it); where the GPU Operator
    # installs the driver it is the operator's /run/nvidia/driver instead.
    driver_root: str = "/"

    @property
    def complete(self) -> bool:
        return self.driver and self.toolkit and self.device_plugin and self.dcgm_exporter is not None


@dataclass(frozen=True)
class EgressPeer:
    """A node-local endpoint pods must reach, e.g. the metadata server that hands out workload identity."""

    cidr: str
    port: int
    purpose: str
    protocol: str = "TCP"


@dataclass(frozen=True)
class TargetHandle:
    """What a target gives the platform layer: how to reach the cluster and what is in it.

    Every field is a fact about the cluster, never the cloud's name: the platform decides from
    facts ("the driver is preinstalled"), so a new target is a new handle, not new branches.
    """

    provider: k8s.Provider  # every child of the platform layer is created through it, never the ambient one
    inventory: tuple[PoolInventory, ...]
    storage: StorageClasses
    object_store: ObjectStore | None = None
    # component (see identities.py) -> annotations binding its Kubernetes service account to a cloud identity
    service_account_annotations: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    identity_endpoints: tuple[EgressPeer, ...] = ()
    nvidia: NvidiaStack = field(default_factory=NvidiaStack)
    cni_bin_dir: str = DEFAULT_CNI_BIN_DIR  # where CNI plugins live (GKE: /home/kubernetes/bin, read-only /opt)


def dra_device_class(pool: str) -> str:
    """The DeviceClass of a dra pool: its GPUs, as NVIDIA's DRA driver publishes them."""
    return f"{pool}.{DRA_RESOURCE_DOMAIN}"


def dra_resource(pool: str) -> str:
    """The resource Kueue counts a dra pool's claimed GPUs as (deviceClassMappings), quota by quota."""
    return f"{DRA_RESOURCE_DOMAIN}/{pool}"


def accelerator_taint(kind: str) -> NodeTaint:
    """The NoSchedule taint that keeps ordinary pods off accelerator nodes."""
    return NodeTaint(catalog.RESOURCE_NAMES[kind], "present", "NoSchedule")


def sharing_labels(pool: str, mode: str, profile: str | None) -> dict[str, str]:
    """GPU Operator node labels for a pool's sharing mode (ignored where the target shares GPUs itself).

    Time-slicing: the pool's own device-plugin config. MIG: a uniform layout, which keeps the
    resource name nvidia.com/gpu (the operator's 'single' MIG strategy), so queues do not change.
    """
    if mode == "time-slicing":
        return {DEVICE_PLUGIN_CONFIG_LABEL: pool}
    if mode == "mig" and profile:
        return {MIG_CONFIG_LABEL: f"all-{profile}"}
    return {}


def accelerator_inventory(spec: StackSpec) -> tuple[PoolInventory, ...]:
    """Pure: the spec's pools as the platform sees them, identical for every target."""
    out = []
    for pool in spec.accelerator_pools:
        acc = catalog.accelerators().get(pool.accelerator)
        if acc is None:  # the spec was validated; this only guards direct callers
            raise ValueError(f"unknown accelerator {pool.accelerator!r}")
        labels = {POOL_LABEL: pool.name, ACCELERATOR_LABEL: acc.id, **pool.labels}
        if pool.capacity_type != "on-demand":  # on-demand pools stay unlabelled, as they always were
            labels[CAPACITY_LABEL] = pool.capacity_type
        dra = acc.kind == "gpu" and pool.allocation == "dra"
        if acc.kind == "gpu":
            labels.update(sharing_labels(pool.name, pool.sharing.mode, pool.sharing.profile))
        if dra:
            labels[OPERATOR_DEVICE_PLUGIN_LABEL] = "false"
        taints = (accelerator_taint(acc.kind), *(NodeTaint(t.key, t.value, t.effect) for t in pool.taints))
        out.append(
            PoolInventory(
                pool=pool.name,
                accelerator=acc.id,
                kind=acc.kind,
                resource_name=dra_resource(pool.name) if dra else acc.resource_name,
                per_node=pool.count,
                units_per_node=pool.count * mig_instances(pool),
                max_nodes=pool.max_nodes,
                spot=pool.capacity_type == "spot",
                node_labels=labels,
                taints=taints,
                capacity_type=pool.capacity_type,
                allocation="dra" if dra else "device-plugin",
            )
        )
    return tuple(out)
