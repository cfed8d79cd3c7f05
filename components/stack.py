"""AiStack: the whole AI stack as one component, target layer first, platform layer on top."""

from __future__ import annotations

import pulumi

from . import naming
from .handle import TargetHandle
from .platform import Platform
from .spec import StackSpec
from .targets import Target, build_target


class AiStack(pulumi.ComponentResource):
    """Composes target → platform from a validated spec.

    Children: ``{name}-target`` (GkeTarget | EksTarget | OnPremTarget) and ``{name}-platform``.
    Outputs are exposed both as plain values (``target_name``, ``pools``) and as the child objects.
    """

    target: Target
    handle: TargetHandle
    platform: Platform

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aistack:index:AiStack", name, None, opts)
        self.spec = spec
        self.target = build_target(naming.target_resource_name(name), spec, pulumi.ResourceOptions(parent=self))
        self.handle = self.target.handle
        self.platform = Platform(
            naming.platform_resource_name(name), spec, self.handle, pulumi.ResourceOptions(parent=self)
        )
        self.pools = {
            p.pool: {"accelerator": p.accelerator, "resource": p.resource_name, "capacity": p.capacity}
            for p in self.handle.inventory
        }
        self.register_outputs({"target": spec.target, "pools": self.pools})
