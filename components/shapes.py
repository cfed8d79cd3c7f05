"""Pure shape decisions over the catalog: which VM carries a pool's accelerators, how a TPU
slice maps onto nodes. Used by the spec rules (to reject bad shapes early) and by the targets."""

from __future__ import annotations

import math
from dataclasses import dataclass

from foundation import catalog


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


def _vm_for(table: dict[str, dict[int, str]], accelerator: str, count: int, cloud: str, unit: str) -> str:
    """The VM type carrying ``count`` accelerators, or an error naming the counts that exist."""
    shapes = table.get(accelerator)
    if shapes is None:
        raise ShapeError(f"{cloud} has no {unit} type for '{accelerator}'")
    if count not in shapes:
        groups = ", ".join(str(c) for c in shapes)
        raise ShapeError(f"{cloud} offers {accelerator} in groups of {groups} per {unit}, not {count}")
    return shapes[count]


def gke_gpu_machine_type(accelerator: str, count: int) -> str:
    return _vm_for(catalog.gke().gpu_machine_types, accelerator, count, "GKE", "VM")


def eks_instance_type(accelerator: str, count: int) -> str:
    return _vm_for(catalog.eks().instance_types, accelerator, count, "EC2", "instance")


def supports_efa(instance_type: str) -> bool:
    return instance_type in catalog.eks().efa_instance_types


def eks_ami_type(kind: str) -> str:
    """AL2023 accelerated AMIs: NVIDIA driver + toolkit for GPUs, Neuron driver for Trainium/Inferentia."""
    return {"gpu": "AL2023_x86_64_NVIDIA", "trainium": "AL2023_x86_64_NEURON", "inferentia": "AL2023_x86_64_NEURON"}[
        kind
    ]
