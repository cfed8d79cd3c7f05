"""GKE target layer: a private, secure GKE cluster with GPU and TPU pools.

One file per concern (network, kms, cluster, nodepools, storage, identity); this class only
composes them and hands the platform its uniform handle.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from ...handle import ObjectStore, StorageClasses, TargetHandle, accelerator_inventory
from ...spec import StackSpec
from ..base import Target
from .cluster import build_cluster, kubeconfig
from .identity import build_identities
from .kms import build_keys
from .network import build_network
from .nodepools import build_node_pools
from .storage import build_storage


class GkeTarget(Target):
    """Children: ``{name}-vpc/-subnet/-router/-nat/-webhooks``, ``{name}-keyring`` + keys (when
    customer-managed keys are on), ``{name}-gke``, ``{name}-system`` and one node pool per
    accelerator pool, one bucket per purpose, ``{name}-filestore`` (optional), workload identities,
    and ``{name}-k8s``, the Kubernetes provider the platform layer uses."""

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("GkeTarget", name, opts)
        assert spec.project is not None  # the spec rules require it for gcp
        project = spec.project
        inventory = accelerator_inventory(spec)

        self.network = build_network(name, spec, self)
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
            name, spec, project, self.network.vpc, self.keys.data if self.keys else None, grants, self
        )
        self.identities = build_identities(name, spec, project, self.storage.buckets, self)

        self.kubeconfig = kubeconfig(self.cluster)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_pools["system"]]),
        )
        fs = spec.storage.shared_filesystem
        self.handle = TargetHandle(
            provider=self.provider,
            inventory=inventory,
            storage=StorageClasses(
                default=spec.storage.default_storage_class or "standard-rwo",
                shared="standard-rwx" if fs.enabled else None,
            ),
            object_store=ObjectStore(
                kind="gcs",
                endpoint="https://storage.googleapis.com",
                buckets={p: b.url for p, b in self.storage.buckets.items()},
            ),
            workload_identities={c: a.email for c, a in self.identities.items()},
            drivers_preinstalled=True,  # GKE installs the NVIDIA driver (gpu_driver_version LATEST)
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "endpoint": self.cluster.endpoint,
                "kubeconfig": self.kubeconfig,
                "buckets": {p: b.url for p, b in self.storage.buckets.items()},
            }
        )
