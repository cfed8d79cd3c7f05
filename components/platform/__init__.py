"""Platform layer: identical on every target. It reads the TargetHandle and nothing else."""

from __future__ import annotations

import pulumi

from ..handle import TargetHandle
from ..spec import StackSpec
from .objects import register
from .tenancy import tenancy_objects


class Tenancy(pulumi.ComponentResource):
    """Team namespaces. Namespaces hold team volumes, so they are retained on delete under data protection."""

    def __init__(
        self, name: str, spec: StackSpec, handle: TargetHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aistack:index:Tenancy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=handle.provider, retain_on_delete=spec.data_protection)
        self.namespaces = {
            obj["metadata"]["name"]: register(name, obj, child) for obj in tenancy_objects(spec, handle.inventory)
        }
        self.register_outputs({"namespaces": list(self.namespaces)})


class Platform(pulumi.ComponentResource):
    """Everything in-cluster. Built from the handle; never asks which cloud it is on."""

    def __init__(
        self, name: str, spec: StackSpec, handle: TargetHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aistack:index:Platform", name, None, opts)
        self.tenancy = Tenancy(f"{name}-tenancy", spec, handle, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"tenancy": self.tenancy})


__all__ = ["Platform", "Tenancy"]
