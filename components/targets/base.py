"""What every target component has in common."""

from __future__ import annotations

import pulumi

from ..handle import TargetHandle


class Target(pulumi.ComponentResource):
    """A target layer. Subclasses create the cloud (or connect to the cluster) and set ``handle``."""

    handle: TargetHandle
    # Kubeconfig of a cluster the target created (a secret); None when it connects to an existing one.
    kubeconfig: pulumi.Output[str] | None = None

    def __init__(self, type_name: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"aistack:index:{type_name}", name, None, opts)
