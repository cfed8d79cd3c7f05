"""GKE target layer: a private, secure GKE cluster with GPU and TPU pools.

One file per concern (network, kms, cluster, nodepools, storage, identity); this class only
composes them and hands the platform its uniform handle.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from ... import naming
from ...handle import (
    EgressPeer,
    NvidiaStack,
    ObjectStore,
    PodEndpoint,
    PoolInventory,
    StorageClasses,
    StorageClassSpec,
    TargetHandle,
)
from ...spec import StackSpec
from ..base import Target
from .cluster import build_cluster, kubeconfig
from .identity import build_identities
from .kms import build_keys
from .monitoring import build_accelerator_alerts
from .network import build_network
from .nodepools import build_node_pools, gke_inventory
from .storage import build_storage

# Workload Identity: pods reach the GKE metadata server, which Dataplane V2 serves on 169.254.169.252:988
# behind the metadata address. Source: GKE docs, "Network policy" (allow egress to the metadata server).
GKE_METADATA = (
    EgressPeer("169.254.169.252/32", 988, "GKE metadata server (Workload Identity)"),
    EgressPeer("169.254.169.254/32", 80, "metadata server address"),
)
# GKE's managed DCGM exporter (monitoring_config DCGM): a DaemonSet in gke-managed-system, port 'metrics'.
GKE_DCGM = PodEndpoint("gke-managed-system", {"app.kubernetes.io/name": "gke-managed-dcgm-exporter"}, "metrics")


def gke_handle(
    spec: StackSpec,
    provider: k8s.Provider,
    inventory: tuple[PoolInventory, ...],
    disk_key: pulumi.Input[str] | None,
    buckets: dict[str, pulumi.Input[str]],
    service_accounts: dict[str, pulumi.Input[str]],
) -> TargetHandle:
    """GKE facts for the platform: CMEK persistent disks, Filestore RWX, GCS, Workload Identity, managed GPU stack."""
    create = []
    default = spec.storage.default_storage_class
    if default is None:
        default = "aistack-rwo"
        params: dict[str, pulumi.Input[str]] = {"type": "pd-balanced"}
        # The PD CSI driver labels the disks it creates: the stack identity finds them after a teardown.
        labels = {"managed-by": "aistack", **naming.current_identity().gcp_labels()}
        params["labels"] = ",".join(f"{k}={v}" for k, v in labels.items())
        if disk_key is not None:
            params["disk-encryption-kms-key"] = disk_key
        create.append(StorageClassSpec(default, "pd.csi.storage.gke.io", params))
    return TargetHandle(
        provider=provider,
        inventory=inventory,
        storage=StorageClasses(
            default=default,
            # standard-rwx is the class GKE creates with the Filestore CSI driver.
            shared="standard-rwx" if spec.storage.shared_filesystem.enabled else None,
            create=tuple(create),
        ),
        object_store=ObjectStore(
            kind="gs", endpoint="https://storage.googleapis.com", region=spec.region, buckets=buckets
        ),
        service_account_annotations={
            component: {"iam.gke.io/gcp-service-account": email} for component, email in service_accounts.items()
        },
        identity_endpoints=GKE_METADATA,
        # GKE installs the driver (gpu_driver_version LATEST), runs its own device plugin (sharing set on the
        # node pool) and, with DCGM in monitoring_config, its own DCGM exporter: no GPU Operator needed.
        # dra pools: no automatic install (nodepools.py); GKE's driver-installer DaemonSet puts the driver here,
        # where NVIDIA's DRA driver mounts it from (GKE "Prepare GKE infrastructure for DRA workloads").
        nvidia=NvidiaStack(
            driver=True,
            toolkit=True,
            device_plugin=True,
            dcgm_exporter=GKE_DCGM,
            driver_root="/home/kubernetes/bin/nvidia",
        ),
        cni_bin_dir="/home/kubernetes/bin",
    )


class GkeTarget(Target):
    """Children: ``{name}-vpc/-subnet/-router/-nat/-webhooks``, ``{name}-keyring`` + keys (when
    customer-managed keys are on), ``{name}-gke``, ``{name}-system`` and one node pool per
    accelerator pool, one bucket per purpose, ``{name}-filestore`` (optional), workload identities,
    and ``{name}-k8s``, the Kubernetes provider the platform layer uses."""

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("GkeTarget", name, opts)
        assert spec.project is not None  # the spec rules require it for gcp
        project = spec.project
        inventory = gke_inventory(spec)

        self.network = build_network(name, spec, project, naming.physical_prefix(spec, naming.current_identity()), self)
        self.keys = None
        grants: list[pulumi.Resource] = []
        if spec.security.customer_managed_keys:
            number = gcp.organizations.get_project_output(project_id=project).number
            self.keys = build_keys(name, spec, number, self)
            grants = list(self.keys.grants)
        self.gke = build_cluster(
            name, spec, project, self.network, self.keys.secrets if self.keys else None, grants, self
        )
        self.cluster = self.gke.cluster
        disk_key = self.keys.data.id if self.keys else None
        self.node_pools = build_node_pools(name, spec, self.cluster, inventory, self.gke.node_sa.email, disk_key, self)
        self.storage = build_storage(
            name, spec, project, self.network.network_name, self.keys.data if self.keys else None, grants, self
        )
        self.identities = build_identities(name, spec, project, self.storage.buckets, self)
        self.idle_alert = build_accelerator_alerts(name, spec, project, self)

        self.kubeconfig = kubeconfig(self.cluster)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_pools["system"]]),
        )
        self.handle = gke_handle(
            spec,
            self.provider,
            inventory,
            self.keys.data.id if self.keys else None,
            {p: b.url for p, b in self.storage.buckets.items()},
            {c: a.email for c, a in self.identities.items()},
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "endpoint": self.cluster.endpoint,
                "kubeconfig": self.kubeconfig,
                "buckets": {p: b.url for p, b in self.storage.buckets.items()},
            }
        )
