"""On-prem target layer: an existing cluster reached through a kubeconfig."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from ..handle import NvidiaStack, StorageClasses, TargetHandle, accelerator_inventory
from ..spec import StackSpec
from .base import Target


def kubeconfig_input(value: str | None) -> pulumi.Input[str] | None:
    """A kubeconfig given inline is content and becomes a secret; otherwise it is a path (~ expanded)."""
    if value is None:
        return None
    if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
        return pulumi.Output.secret(value)
    return os.path.expanduser(value)


class OnPremTarget(Target):
    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("OnPremTarget", name, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig_input(spec.cluster.kubeconfig),
            context=spec.cluster.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        fs = spec.storage.shared_filesystem
        self.handle = TargetHandle(
            provider=self.provider,
            inventory=accelerator_inventory(spec),
            storage=StorageClasses(
                default=spec.storage.default_storage_class or "local-path",
                shared="nfs-csi" if fs.enabled else None,
            ),
            # Nothing is assumed on the hosts: the GPU Operator brings driver, toolkit, device plugin and DCGM.
            nvidia=NvidiaStack(),
        )
        self.register_outputs({"provider": self.provider})
