"""The stack spec: one typed, validated description of a whole AI stack.

Read it with ``load_stack`` (a stack file) or ``parse_spec`` (a mapping). Both raise
``SpecError`` listing every problem, each with its field path, reason and fix.
"""

from foundation.errors import SpecError, SpecIssue

from .loader import LoadedStack, load_stack, parse_spec, spec_values_from_config
from .model import AcceleratorPool, StackSpec, TeamSpec
from .rules import mig_instances, pool_capacity

__all__ = [
    "AcceleratorPool",
    "LoadedStack",
    "SpecError",
    "SpecIssue",
    "StackSpec",
    "TeamSpec",
    "load_stack",
    "mig_instances",
    "parse_spec",
    "pool_capacity",
    "spec_values_from_config",
]
