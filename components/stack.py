"""AiStack: the whole AI stack as one component, target layer first, platform layer on top."""

from __future__ import annotations

import pulumi

from . import awaits, naming, transforms, upstream_fixes
from .engine import under_mocks
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
        mine = pulumi.ResourceOptions(parent=self)
        if not under_mocks():  # mocks run no transforms (and render no chart: the offline plan is unaffected)
            # Every child, the upstream charts' and manifests' included (a transform reaches into them).
            rules: list[pulumi.ResourceTransform] = [upstream_fixes.transform]
            # Services whose pods a Ready workload already proves skip the provider's fixed 10 s settle (awaits.py).
            rules.append(awaits.transform(webhooks_served=not spec.cluster.simulated))
            if spec.cluster.simulated:
                # A cluster without containers (cluster.simulated): webhooks no pod can serve are neutralised.
                from . import simulated

                rules.append(simulated.transform)
            # One callback for all of them: the engine makes a round trip per transform per resource.
            mine = pulumi.ResourceOptions(parent=self, transforms=[transforms.chain(rules)])
        self.target = build_target(naming.target_resource_name(name), spec, mine)
        self.handle = self.target.handle
        self.platform = Platform(naming.platform_resource_name(name), spec, self.handle, mine)
        self.pools = {
            p.pool: {"accelerator": p.accelerator, "resource": p.resource_name, "capacity": p.capacity}
            for p in self.handle.inventory
        }
        self.register_outputs({"target": spec.target, "pools": self.pools})
