"""The hardware catalog as typed, versioned data.

The YAML files beside this module are the source of truth; this module only parses them
into frozen pydantic models and offers lookups. Loading is cached: the catalog is read
once per process however many stacks are validated.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
# offerings.yaml only: 2 added skus, spot_source, purchase_options, uniform_price_ok_source, excluded.
OFFERINGS_SCHEMA_VERSION = 2

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
    zones: tuple[str, ...] = Field(default=(), description="Zones offering this generation.")

    @property
    def topologies(self) -> tuple[str, ...]:
        return self.single_host + self.multi_host


class GkeSystemPool(_Frozen):
    machine_type: str
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1)


class EksSystemPool(_Frozen):
    instance_type: str
    min_nodes: int = Field(ge=0)
    desired_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1)


class InstanceShape(_Frozen):
    vcpus: int = Field(gt=0)
    memory_gib: int = Field(gt=0)


# General-purpose GCE series whose machine type names carry their vCPU count (e2-standard-4: 4).
_GCE_NAMED_VCPUS = re.compile(r"(e2|n1|n2|n2d|g2|c2|c2d|c3)-(standard|highmem|highcpu)-(\d+)")


class GkeCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    gpu_machine_types: dict[str, dict[int, str]] = Field(description="Accelerator id -> GPUs per VM -> machine type.")
    system: GkeSystemPool
    machine_vcpus: dict[str, int] = Field(description="Accelerator-optimized machine type -> vCPUs.")
    tpus: dict[str, TpuGeneration] = Field(description="Accelerator id -> TPU generation shapes.")
    gpu_zones: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="GPU accelerator id -> zones that sell it (sources: gpu_zones*)."
    )

    def zones_in(self, accelerator: str, region: str) -> tuple[str, ...] | None:
        """Zones of ``region`` that sell ``accelerator``; None when the catalog knows none there (unknown)."""
        listed = self.tpus[accelerator].zones if accelerator in self.tpus else self.gpu_zones.get(accelerator, ())
        found = tuple(z for z in listed if z.rsplit("-", 1)[0] == region)
        return found or None

    def vcpus(self, machine_type: str) -> int | None:
        """vCPUs of a machine type: the table, else the count its general-purpose name carries."""
        if machine_type in self.machine_vcpus:
            return self.machine_vcpus[machine_type]
        match = _GCE_NAMED_VCPUS.fullmatch(machine_type)
        return int(match.group(3)) if match else None


class EksCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    instance_types: dict[str, dict[int, str]] = Field(description="Accelerator id -> per instance -> instance type.")
    efa_instance_types: tuple[str, ...] = Field(description="Instance types with EFA network interfaces.")
    system: EksSystemPool
    instance_shapes: dict[str, InstanceShape] = Field(description="Instance type -> vCPUs and memory.")


class Performance(_Frozen):
    """Per-chip performance figures (performance.yaml). None = no source gives the figure."""

    bf16_tflops: float | None = Field(description="Dense BF16 tensor peak, TFLOP/s per chip.")
    fp16_tflops: float | None = Field(default=None, description="Dense FP16 peak where the chip has no BF16.")
    fp8_tflops: float | None = Field(description="Dense FP8 tensor peak, TFLOP/s per chip; None = no FP8.")
    int8_tops: float | None = Field(description="Dense INT8 peak, TOP/s per chip.")
    memory_bandwidth_gbps: float | None = Field(description="Device-memory bandwidth, GB/s per chip.")
    interconnect: str = Field(description="Scale-up fabric between chips, as the vendor names it.")
    interconnect_gbps: float | None = Field(description="That fabric's per-chip bandwidth, GB/s.")
    tdp_w: float | None = Field(description="Board power in W.")
    frameworks: tuple[Literal["pytorch", "jax", "tensorflow", "pytorch-xla", "neuron"], ...]
    sources: tuple[str, ...] = Field(min_length=1)
    unsourced: str = Field(
        default="", description="Why the sources give no figure where a peak is null; said where the chip is skipped."
    )

    @property
    def dense_16bit_tflops(self) -> float | None:
        """The 16-bit training peak: BF16, or FP16 on chips without BF16."""
        return self.bf16_tflops if self.bf16_tflops is not None else self.fp16_tflops


class PerformanceCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    performance: dict[str, Performance]


PurchaseKind = Literal["capacity-block", "flex-start", "calendar", "reservation"]


class PurchaseOption(_Frozen):
    """A way to buy the same shape other than on-demand or spot, with its booking constraints.

    Capacity Blocks (AWS), DWS flex-start and calendar mode (GCP) price the whole VM/instance per
    hour but bind it to a duration window and a lead time; the decision engine needs both.
    """

    kind: PurchaseKind
    usd_per_hour: float = Field(gt=0, description="USD/h for the whole VM/instance, all chips.")
    min_hours: float | None = Field(default=None, gt=0, description="Shortest bookable duration, hours.")
    max_hours: float | None = Field(default=None, gt=0, description="Longest bookable duration, hours.")
    lead_time_days: float | None = Field(
        default=None,
        ge=0,
        description="How far ahead it can/must be booked, days; None = starts when capacity arrives.",
    )
    billing_increment_hours: float | None = Field(default=None, gt=0, description="Smallest billed step, hours.")
    source: str
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Day the price was read from the source.")
    skus: tuple[str, ...] = ()
    note: str = ""


class Offering(_Frozen):
    """One rentable shape in one region with its hourly prices (offerings.yaml)."""

    target: Literal["gcp", "aws"]
    region: str
    accelerator: str
    instance: str = Field(description="Machine type / instance type.")
    chips: int = Field(gt=0, description="Accelerator chips per VM / instance.")
    usd_per_hour: float | None = Field(default=None, gt=0, description="On-demand USD/h for the whole VM.")
    spot_usd_per_hour: float | None = Field(default=None, gt=0, description="Spot USD/h for the whole VM.")
    vm_usd_per_hour: float | None = Field(default=None, gt=0, description="GCP: host VM part, USD/h.")
    accelerators_usd_per_hour: float | None = Field(default=None, gt=0, description="GCP: attached GPUs, USD/h.")
    vm_spot_usd_per_hour: float | None = Field(default=None, gt=0)
    accelerators_spot_usd_per_hour: float | None = Field(default=None, gt=0)
    source: str
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Day the price was read from the source.")
    skus: tuple[str, ...] = Field(
        default=(), description='Provider SKU ids / AWS "SKU.offerTermCode.rateCode" each figure came from.'
    )
    spot_source: str | None = Field(default=None, description="Where the spot figure came from when not `source`.")
    spot_as_of: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Day of the spot figure when not `as_of`."
    )
    purchase_options: tuple[PurchaseOption, ...] = ()
    uniform_price_ok_source: str | None = Field(
        default=None,
        description="URL of the provider's own price list showing this same figure in regions on several "
        "continents; without it the sanity check treats such a repeat as a copying error.",
    )
    note: str = ""

    @property
    def on_demand(self) -> float:
        """USD/h for the whole VM; GCP GPU VMs are host + accelerators, as Compute Engine bills them."""
        if self.usd_per_hour is not None:
            return self.usd_per_hour
        assert self.vm_usd_per_hour is not None and self.accelerators_usd_per_hour is not None
        return self.vm_usd_per_hour + self.accelerators_usd_per_hour

    @property
    def spot(self) -> float | None:
        if self.usd_per_hour is not None:
            return self.spot_usd_per_hour
        if self.vm_spot_usd_per_hour is None or self.accelerators_spot_usd_per_hour is None:
            return None
        return self.vm_spot_usd_per_hour + self.accelerators_spot_usd_per_hour

    @property
    def key(self) -> str:
        """A short name for messages: target/region/instance."""
        return f"{self.target}/{self.region}/{self.instance}"

    def purchase(self, kind: str) -> PurchaseOption | None:
        """The purchase option of that kind, if the row has one."""
        return next((p for p in self.purchase_options if p.kind == kind), None)


class Excluded(_Frozen):
    """A shape or figure deliberately left out of the catalog, with why (offerings.yaml `excluded:`)."""

    target: Literal["gcp", "aws", "onprem"]
    accelerator: str
    region: str | None = Field(default=None, description="None = every region of the target.")
    instance: str | None = None
    reason: str
    sources: tuple[str, ...] = Field(default=(), description="Sources whose figures were left out, or that say why.")
    scope: Literal["source", "shape"] = Field(
        default="source",
        description="source: the figures these `sources` print are wrong or unverified; a price read elsewhere "
        "(e.g. the provider's own API) may replace them. shape: the provider does not sell it; never import it.",
    )

    def blocks(self, target: str, accelerator: str, region: str, instance: str, source: str) -> bool:
        """Whether a row read from `source` for this shape must stay out of the catalog."""
        if (self.target, self.accelerator) != (target, accelerator):
            return False
        if self.region not in (None, region) or self.instance not in (None, instance):
            return False
        return self.scope == "shape" or source in self.sources


class OfferingCatalog(_Frozen):
    schema_version: int
    data_version: str
    sources: dict[str, str]
    anchors: dict[str, object] = Field(
        default_factory=dict, description="YAML anchors the rows reuse (e.g. a purchase-option template); not read."
    )
    offerings: tuple[Offering, ...]
    excluded: tuple[Excluded, ...] = ()


def _read(name: str) -> object:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    # libyaml's safe loader when PyYAML has it: the same data, ~7x faster than the pure-Python one,
    # and these reads are most of `aistack validate` and `estimate`'s run time.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


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


@cache
def performance() -> PerformanceCatalog:
    return PerformanceCatalog.model_validate(_read("performance.yaml"))


@cache
def offerings() -> OfferingCatalog:
    catalog = OfferingCatalog.model_validate(_read("offerings.yaml"))
    if catalog.schema_version != OFFERINGS_SCHEMA_VERSION:
        raise RuntimeError(
            f"offerings.yaml has schema_version {catalog.schema_version}, this aistack reads "
            f"{OFFERINGS_SCHEMA_VERSION}. To fix: reinstall aistack so code and catalog match."
        )
    for row in catalog.offerings:
        if row.usd_per_hour is None and (row.vm_usd_per_hour is None or row.accelerators_usd_per_hour is None):
            raise RuntimeError(f"offerings.yaml: {row.instance} in {row.region} has no complete on-demand price")
    return catalog


__all__ = [
    "OFFERINGS_SCHEMA_VERSION",
    "RESOURCE_NAMES",
    "Accelerator",
    "AcceleratorCatalog",
    "AcceleratorKind",
    "EksCatalog",
    "Excluded",
    "GkeCatalog",
    "Offering",
    "OfferingCatalog",
    "Performance",
    "PerformanceCatalog",
    "PurchaseKind",
    "PurchaseOption",
    "Region",
    "RegionCatalog",
    "Target",
    "TpuGeneration",
    "accelerators",
    "eks",
    "gke",
    "offerings",
    "performance",
    "regions",
]
