"""Target layer: one module per target, each returning the uniform ``TargetHandle``."""

from __future__ import annotations

import pulumi

from ..spec import StackSpec
from .base import Target
from .eks import EksTarget
from .gke import GkeTarget
from .onprem import OnPremTarget

_TARGETS: dict[str, type[GkeTarget | EksTarget | OnPremTarget]] = {
    "gcp": GkeTarget,
    "aws": EksTarget,
    "onprem": OnPremTarget,
}


def build_target(name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> Target:
    """The one place that looks at spec.target; everything after it reads the handle."""
    return _TARGETS[spec.target](name, spec, opts)


__all__ = ["EksTarget", "GkeTarget", "OnPremTarget", "Target", "build_target"]
