"""EKS target layer.

Seam laid down by the foundation: VPC, EKS cluster, managed node groups, S3, KMS and Pod
Identity arrive with the AWS target issue. Until then the handle carries the inventory and
storage classes (pure data) but no Kubernetes provider, and the stack says so in its output.
"""

from __future__ import annotations

import pulumi

from ..handle import StorageClasses, TargetHandle, accelerator_inventory
from ..spec import StackSpec
from .base import Target


class EksTarget(Target):
    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EksTarget", name, spec, opts)
        fs = spec.storage.shared_filesystem
        shared = {"fsx-lustre": "fsx-lustre"}.get(fs.kind, "efs") if fs.enabled else None
        self.handle = TargetHandle(
            provider=None,
            inventory=accelerator_inventory(spec),
            storage=StorageClasses(default=spec.storage.default_storage_class or "gp3", shared=shared),
            drivers_preinstalled=True,  # the AL2023 NVIDIA / Neuron AMIs ship the drivers
        )
        self.register_outputs({})
