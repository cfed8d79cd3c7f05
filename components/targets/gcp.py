"""GKE target layer.

Seam laid down by the foundation: the GKE network, cluster, node pools, buckets, keys and
identity arrive with the GCP target issue. Until then the handle carries the inventory and
storage classes (pure data) but no Kubernetes provider, and the stack says so in its output.
"""

from __future__ import annotations

import pulumi

from ..handle import StorageClasses, TargetHandle, accelerator_inventory
from ..spec import StackSpec
from .base import Target


class GkeTarget(Target):
    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("GkeTarget", name, spec, opts)
        fs = spec.storage.shared_filesystem
        self.handle = TargetHandle(
            provider=None,
            inventory=accelerator_inventory(spec),
            storage=StorageClasses(
                default=spec.storage.default_storage_class or "standard-rwo",
                shared="standard-rwx" if fs.enabled else None,
            ),
            drivers_preinstalled=True,  # GKE installs the NVIDIA driver itself
        )
        self.register_outputs({})
