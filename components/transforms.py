"""aistack's rules for the objects it registers, run as one Pulumi transform for the whole stack.

The engine calls every registered transform for every resource, one round trip to the program each
with the resource's inputs (a CustomResourceDefinition's whole schema included) and back. The rules
(upstream_fixes, simulated, awaits) each change a few kinds; chained in one callback, every resource
makes one trip instead of one per rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import pulumi


def chain(steps: Sequence[pulumi.ResourceTransform]) -> pulumi.ResourceTransform:
    """One transform running ``steps`` in order, each on what the one before it returned."""

    async def aistack_rules(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        changed = False
        for step in steps:
            result = step(args)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                continue
            changed = True
            opts = result.opts if result.opts is not None else args.opts
            props = result.props if result.props is not None else args.props
            args = pulumi.ResourceTransformArgs(args.custom, args.type_, args.name, props, opts)
        return pulumi.ResourceTransformResult(props=args.props, opts=args.opts) if changed else None

    return aistack_rules


__all__ = ["chain"]
