"""The hardware catalog as typed, versioned data.

The YAML files beside this module are the source of truth; this module only parses them
into frozen pydantic models and offers lookups. Loading is cached: the catalog is read
once per process however many stacks are validated.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Target = Literal["gcp", "aws", "onprem"]
AcceleratorKind = Literal["gpu", "tpu", "trainium", "inferentia"]

# Extended-resource names the device plugins advertise; the platform layer quotas these.
RESOURCE_NAMES: dict[str, str] = {
    "gpu": "nvidia.com/gpu",
    "tpu": "google.com/tpu",
    "trainium": "aws.amazon.com/neuron",
    "inferentia": "aws.amazon.com/neuron",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accelerator(_Frozen):
    """One accelerator chip. Figures are per chip."""

    id: str = Field(description="Stable identifier used in stack specs, e.g. nvidia-h100-80gb.")
    vendor: Literal["nvidia", "google", "aws"]
    kind: AcceleratorKind
    name: str = Field(description="Marketing name, for display only.")
    memory_gb: float = Field(gt=0, description="Device memory per chip in GB (vendor figure).")
    gke_accelerator: str | None = Field(
        default=None, description="GKE accelerator type / node label value; None if GKE does not offer it."
    )
    targets: tuple[Target, ...] = Field(description="Targets that can run pools of this accelerator.")
    mig_profiles: dict[str, int] = Field(
        default_factory=dict,
        description="MIG profile -> instances of it per GPU (NVIDIA MIG guide); empty means no MIG.",
    )
    sources: tuple[str, ...] = Field(min_length=1, description="URLs every figure above was read from.")

    @property
    def resource_name(self) -> str:
        return RESOURCE_NAMES[self.kind]

    @property
    def supports_mig(self) -> bool:
        return bool(self.mig_profiles)


class AcceleratorCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str] = {}
    accelerators: tuple[Accelerator, ...]

    def get(self, accelerator_id: str) -> Accelerator | None:
        return _index(self).get(accelerator_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.accelerators)


class Region(_Frozen):
    eu: bool = Field(description="True when the region lies in an EU/EEA jurisdiction.")
    location: str


class RegionCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    gcp: dict[str, Region]
    aws: dict[str, Region]
    eu_eea_countries: tuple[str, ...]

    def for_target(self, target: str) -> dict[str, Region]:
        return {"gcp": self.gcp, "aws": self.aws}.get(target, {})


class TpuGeneration(_Frozen):
    machine_types: dict[int, str] = Field(description="Chips per VM -> GKE machine type.")
    multi_host_chips_per_vm: int = Field(gt=0, description="Chips per VM in a multi-host slice.")
    single_host: tuple[str, ...] = Field(description="Topologies served by one VM.")
    multi_host: tuple[str, ...] = Field(description="Topologies spanning several VMs.")

    @property
    def topologies(self) -> tuple[str, ...]:
        return self.single_host + self.multi_host


class GkeCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    gpu_machine_types: dict[str, dict[int, str]] = Field(description="Accelerator id -> GPUs per VM -> machine type.")
    tpus: dict[str, TpuGeneration] = Field(description="Accelerator id -> TPU generation shapes.")


class EksCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    instance_types: dict[str, dict[int, str]] = Field(description="Accelerator id -> per instance -> instance type.")
    efa_instance_types: tuple[str, ...] = Field(description="Instance types with EFA network interfaces.")


def _read(name: str) -> object:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


_INDEXES: dict[int, dict[str, Accelerator]] = {}


def _index(catalog: AcceleratorCatalog) -> dict[str, Accelerator]:
    key = id(catalog)
    if key not in _INDEXES:
        _INDEXES[key] = {a.id: a for a in catalog.accelerators}
    return _INDEXES[key]


@cache
def accelerators() -> AcceleratorCatalog:
    catalog = AcceleratorCatalog.model_validate(_read("accelerators.yaml"))
    if catalog.schema_version != SCHEMA_VERSION:
        raise RuntimeError(
            f"accelerators.yaml has schema_version {catalog.schema_version}, this aistack reads "
            f"{SCHEMA_VERSION}. To fix: reinstall aistack so code and catalog match."
        )
    return catalog


@cache
def gke() -> GkeCatalog:
    return GkeCatalog.model_validate(_read("gke.yaml"))


@cache
def eks() -> EksCatalog:
    return EksCatalog.model_validate(_read("eks.yaml"))


@cache
def regions() -> RegionCatalog:
    return RegionCatalog.model_validate(_read("regions.yaml"))


__all__ = [
    "RESOURCE_NAMES",
    "Accelerator",
    "AcceleratorCatalog",
    "AcceleratorKind",
    "EksCatalog",
    "GkeCatalog",
    "Region",
    "RegionCatalog",
    "Target",
    "TpuGeneration",
    "accelerators",
    "eks",
    "gke",
    "regions",
]
