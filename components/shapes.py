"""Pure shape decisions over the catalog: which VM carries a pool's accelerators, how a TPU
slice maps onto nodes. Used by the spec rules (to reject bad shapes early) and by the targets."""

from __future__ import annotations

import math
from dataclasses import dataclass

from blueprints import catalog


class ShapeError(ValueError):
    """The requested shape does not exist; the message says what does."""


@dataclass(frozen=True)
class TpuSlice:
    accelerator: str
    topology: str
    chips: int
    chips_per_vm: int
    machine_type: str
    multi_host: bool

    @property
    def nodes(self) -> int:
        """VMs in one slice; a multi-host slice is created and scaled as one unit of this size."""
        return self.chips // self.chips_per_vm


def topology_chips(topology: str) -> int:
    return math.prod(int(d) for d in topology.split("x"))


def tpu_slice(accelerator: str, topology: str) -> TpuSlice:
    gen = catalog.gke().tpus.get(accelerator)
    if gen is None:
        raise ShapeError(f"'{accelerator}' is not a TPU generation GKE offers: {', '.join(catalog.gke().tpus)}")
    if topology not in gen.topologies:
        raise ShapeError(f"{accelerator} does not support topology '{topology}'; valid: {', '.join(gen.topologies)}")
    chips = topology_chips(topology)
    multi_host = topology in gen.multi_host
    per_vm = gen.multi_host_chips_per_vm if multi_host else chips
    return TpuSlice(accelerator, topology, chips, per_vm, gen.machine_types[per_vm], multi_host)


def gke_gpu_machine_type(accelerator: str, count: int) -> str:
    shapes = catalog.gke().gpu_machine_types.get(accelerator)
    if shapes is None:
        raise ShapeError(f"GKE has no machine type for '{accelerator}'")
    if count not in shapes:
        raise ShapeError(
            f"GKE attaches {accelerator} in groups of {', '.join(str(c) for c in shapes)} per VM, not {count}"
        )
    return shapes[count]
