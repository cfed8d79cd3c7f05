"""What a stack needs from its cloud account before any resource exists: pure, spec → plain data.

Each accelerator pool (and the system pool, and the network's NAT addresses) becomes a list of
needs: a quota and how much of it (max nodes × per-node vCPUs, GPUs or TPU chips), a reservation
that must exist and cover the pool, or (AWS) an instance type that must be offered in the zones.
Nothing here calls a cloud; ``aws.py`` and ``gcp.py`` compare these needs with what the account has.

How each capacity type (contract C1) is counted:

- on-demand: the standard quota of the family (GCP metric / AWS "Running On-Demand …" code).
- spot: GCP Spot VMs consume the preemptible quota when the project has it, else the standard one
  (https://cloud.google.com/compute/docs/instances/spot, "quotas"), so either may cover the pool;
  AWS spot counts against the family's "All … Spot Instance Requests" quota.
- flex-start (GCP only): "When you create a Flex-start VM, preemptible quota is consumed. If your
  project lacks preemptible quota, then standard quota is consumed"
  (https://cloud.google.com/compute/docs/instances/provisioning-models): the same either-or rule.
- reservation, affinity specific / capacity-block: the VMs run in capacity the reservation already
  holds. A GCP reservation is counted against the project's quota when it is created
  (https://cloud.google.com/compute/docs/instances/reservations-overview), and a TPU node pool that
  consumes a reservation needs no TPU quota (https://cloud.google.com/kubernetes-engine/docs/how-to/tpus,
  "Ensure sufficient quota"); an AWS Capacity Reservation cannot be created beyond the On-Demand
  limit for its instance type, which it then holds
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateCapacityReservation.html). So
  these pools need the reservation (exists, active/READY, right machine type, enough free
  instances), not extra quota.
- reservation, affinity any: nodes the matching open reservations cannot hold run on-demand, and
  nothing keeps those reservations free until the pool scales up: the pool needs the on-demand
  quota for all its nodes; the matching reservations are reported beside it.

Figures (vCPUs per machine type, quota names and codes) were read on 2026-12-01 from the URLs next
to each table; the live checks use the cloud's own answer where it gives one (EC2
DescribeInstanceTypes for vCPUs, the quota names Service Quotas returns).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from components.shapes import ShapeError, eks_instance_type, gke_gpu_machine_type, tpu_slice
from components.spec import AcceleratorPool, StackSpec
from foundation import catalog
from foundation.words import counted

Unit = Literal["vCPUs", "GPUs", "TPU chips", "addresses"]

EKS_DEFAULT_AZ_COUNT = 3  # components/targets/eks DEFAULT_AZ_COUNT: one NAT gateway (one Elastic IP) per AZ

# --- AWS -------------------------------------------------------------------------------------------
# Service Quotas codes (service code ec2), all in vCPUs. Names as `aws service-quotas
# list-service-quotas --service-code ec2` returns them; the spot list is the one in
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html (read 2026-12-01).
AWS_ON_DEMAND: dict[str, tuple[str, str]] = {
    "standard": ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
    "g": ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    "p": ("L-417A185B", "Running On-Demand P instances"),
    "trn": ("L-2C3B7624", "Running On-Demand Trn instances"),
    "inf": ("L-1945791B", "Running On-Demand Inf instances"),
    "dl": ("L-6E869C2A", "Running On-Demand DL instances"),
    "f": ("L-74FC7D96", "Running On-Demand F instances"),
    "x": ("L-7295265B", "Running On-Demand X instances"),
}
AWS_SPOT: dict[str, tuple[str, str]] = {
    "standard": ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    "g": ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    "p": ("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests"),
    "p5": ("L-C4BD4855", "All P5 Spot Instance Requests"),
    "trn": ("L-6B0D517C", "All Trn Spot Instance Requests"),
    "inf": ("L-B5D1601B", "All Inf Spot Instance Requests"),
    "dl": ("L-85EED4F7", "All DL Spot Instance Requests"),
    "f": ("L-88CF9481", "All F Spot Instance Requests"),
    "x": ("L-E3A00192", "All X Spot Instance Requests"),
}
AWS_ELASTIC_IPS = ("L-0263D0A3", "EC2-VPC Elastic IPs")
_STANDARD_LETTERS = set("acdhimrtz")


def ec2_quota_class(instance_type: str, spot: bool = False) -> str:
    """The quota family of an instance type: p4d.24xlarge → p, g6e.xlarge → g, trn2… → trn, m7i… → standard.

    Spot splits P: P5 and later (p5, p5e, p5en; P6 assumed with them) have their own request quota."""
    family = instance_type.split(".", 1)[0]
    match = re.match(r"([a-z]+)(\d*)", family)
    letters, generation = (match.group(1), match.group(2)) if match else (family, "")
    if letters == "vt":
        return "g"
    if letters in ("g", "p", "trn", "inf", "dl", "f", "x"):
        if spot and letters == "p" and generation and int(generation) >= 5:
            return "p5"
        return letters
    if letters[:1] in _STANDARD_LETTERS:
        return "standard"
    return letters  # no quota row: the live check says so instead of guessing


# --- GCP -------------------------------------------------------------------------------------------
# Compute Engine regional quota metrics (regions.get quotas[].metric;
# https://cloud.google.com/compute/resource-usage#gpu_quota and the Quota.Metric values of the Compute
# API, read 2026-12-01). Spot / flex-start use PREEMPTIBLE_<metric>.
GCP_GPU_METRICS: dict[str, str] = {
    "nvidia-t4": "NVIDIA_T4_GPUS",
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-a100-40gb": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
    "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA_GPUS",
    "nvidia-h200-141gb": "NVIDIA_H200_GPUS",
    "nvidia-b200": "NVIDIA_B200_GPUS",
}
# TPU chips as GKE node pools count them (Compute Engine API quota, not the Cloud TPU API's:
# https://cloud.google.com/kubernetes-engine/docs/how-to/tpus#ensure-quota). v4 and v5e appear in
# regions.get; v5p and v6e are kept in the newer Cloud Quotas system (v6e on-demand is the
# TPUS-PER-TPU-FAMILY quota with tpu_family=CT6E) and may be missing from regions.get, in which case
# the check reports them as not checked rather than guessing.
GCP_TPU_METRICS: dict[str, tuple[str, str]] = {
    "tpu-v4": ("TPU_PODSLICE_V4", "PREEMPTIBLE_TPU_PODSLICE_V4"),
    "tpu-v5e": ("TPU_LITE_PODSLICE_V5", "PREEMPTIBLE_TPU_LITE_PODSLICE_V5"),
    "tpu-v5p": ("TPU_V5P", "PREEMPTIBLE_TPU_V5P"),
    "tpu-v6e": ("TPUS_PER_TPU_FAMILY", "PREEMPTIBLE_TPU_V6E"),
}
# Machine series with their own vCPU quota; every other series (e2, n1, g2, a3, a4 …) counts its
# vCPUs against CPUS, unless the region reports a <SERIES>_CPUS metric, which the check then prefers.
GCP_FAMILY_CPU_METRICS: dict[str, str] = {
    "a2": "A2_CPUS",
    "n2": "N2_CPUS",
    "n2d": "N2D_CPUS",
    "c2": "C2_CPUS",
    "c2d": "C2D_CPUS",
    "c3": "C3_CPUS",
    "m1": "M1_CPUS",
    "m2": "M2_CPUS",
    "m3": "M3_CPUS",
    "t2d": "T2D_CPUS",
    "t2a": "T2A_CPUS",
}
_GCP_CPUS_SERIES = {"e2", "n1"}  # documented to count against CPUS itself

GCP_IN_USE_ADDRESSES = "IN_USE_ADDRESSES"


def ec2_vcpus(instance_type: str) -> int | None:
    """vCPUs of an EC2 instance type from the catalog's shapes (None: a type the catalog does not hold)."""
    shape = catalog.eks().instance_shapes.get(instance_type)
    return None if shape is None else shape.vcpus


def gce_cpu_metrics(machine_type: str) -> tuple[str, ...]:
    """The vCPU quota metric(s) of a machine type, most specific first: (A2_CPUS,), (CPUS,) or
    (A3_CPUS, CPUS) for a series without a documented family quota (the check uses the first the
    region reports)."""
    series = machine_type.split("-", 1)[0]
    if series in GCP_FAMILY_CPU_METRICS:
        return (GCP_FAMILY_CPU_METRICS[series],)
    if series in _GCP_CPUS_SERIES:
        return ("CPUS",)
    return (f"{series.upper()}_CPUS", "CPUS")


# --- the needs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaNeed:
    """``amount`` of one quota (GCP metric or AWS quota code) for one pool.

    ``alternatives``: quotas that serve the pool as well when the first has no room (GCP spot and
    flex-start: the standard quota when the preemptible one is short; family CPU metrics that fall
    back to CPUS). ``amount`` is None when the per-node size is not known offline (a machine type
    outside the tables above); the live check fills it from the cloud."""

    pool: str
    quota: str
    name: str
    amount: int | None
    unit: Unit
    nodes: int
    per_node: int | None
    machine_type: str
    capacity: str
    alternatives: tuple[str, ...] = ()

    @property
    def why(self) -> str:
        if self.unit == "addresses":
            return self.machine_type
        per = "?" if self.per_node is None else str(self.per_node)
        return f"{counted(self.nodes, 'node')} × {per} {self.unit} ({self.machine_type}, {self.capacity})"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "alternatives": list(self.alternatives), "why": self.why}


@dataclass(frozen=True)
class ReservationNeed:
    """A reservation (GCP reservation, AWS Capacity Reservation or Capacity Block) the pool consumes.

    ``reservation`` None with affinity any: any matching open reservation (reported, not required)."""

    pool: str
    kind: Literal["reservation", "capacity-block"]
    reservation: str | None
    affinity: Literal["specific", "any"]
    machine_type: str
    nodes: int

    @property
    def required(self) -> bool:
        return self.affinity == "specific" or self.kind == "capacity-block"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "required": self.required}


@dataclass(frozen=True)
class OfferingNeed:
    """AWS: the instance type must be offered in at least one of ``zones`` (empty: any zone of the region)."""

    pool: str
    instance_type: str
    zones: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "zones": list(self.zones)}


@dataclass(frozen=True)
class StackNeeds:
    target: str
    region: str
    quotas: tuple[QuotaNeed, ...] = ()
    reservations: tuple[ReservationNeed, ...] = ()
    offerings: tuple[OfferingNeed, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.quotas or self.reservations or self.offerings)

    def for_pool(self, pool: str) -> list[QuotaNeed]:
        return [q for q in self.quotas if q.pool == pool]

    def totals(self) -> dict[str, int | None]:
        """Summed amount per quota (several pools can draw on one quota); None if any part is unknown."""
        out: dict[str, int | None] = {}
        for q in self.quotas:
            prev = out.get(q.quota, 0)
            out[q.quota] = None if prev is None or q.amount is None else prev + q.amount
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "region": self.region,
            "quotas": [q.as_json() for q in self.quotas],
            "reservations": [r.as_json() for r in self.reservations],
            "offerings": [o.as_json() for o in self.offerings],
            "notes": list(self.notes),
        }


def _aws_pool(spec: StackSpec, pool: AcceleratorPool, vcpus: dict[str, int]) -> tuple[list[Any], list[str]]:
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None  # guaranteed by spec validation
    instance = pool.machine_type or eks_instance_type(acc.id, pool.count)
    kind = pool.capacity_type
    out: list[Any] = [OfferingNeed(pool.name, instance, tuple(spec.zones[:1] if pool.efa else spec.zones))]
    if kind in ("capacity-block", "reservation"):
        ref = pool.capacity.block_id if kind == "capacity-block" else pool.capacity.reservation
        affinity = "specific" if kind == "capacity-block" else pool.capacity.affinity
        out.append(ReservationNeed(pool.name, kind, ref, affinity, instance, pool.max_nodes))
        if affinity == "specific":
            return out, []
    spot = kind == "spot"
    table = AWS_SPOT if spot else AWS_ON_DEMAND
    cls = ec2_quota_class(instance, spot=spot)
    if cls not in table:
        return out, [f"{pool.name}: no Service Quotas row known for {instance}'s family; check its quota by hand"]
    code, name = table[cls]
    per = vcpus.get(instance, ec2_vcpus(instance))
    amount = None if per is None else per * pool.max_nodes
    label = "spot" if spot else "on-demand"
    out.append(QuotaNeed(pool.name, code, name, amount, "vCPUs", pool.max_nodes, per, instance, label))
    return out, []


def _gcp_pool(spec: StackSpec, pool: AcceleratorPool) -> tuple[list[Any], list[str]]:
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None  # guaranteed by spec validation
    kind = pool.capacity_type
    preemptible = kind in ("spot", "flex-start")
    out: list[Any] = []
    notes: list[str] = []
    if acc.kind == "tpu":
        assert pool.tpu_topology is not None
        tpu = tpu_slice(acc.id, pool.tpu_topology)
        machine = pool.machine_type or tpu.machine_type
        nodes = tpu.nodes if tpu.multi_host else pool.max_nodes  # a multi-host slice is one unit of all its VMs
        per_node, unit = tpu.chips_per_vm, "TPU chips"
        standard, spot_metric = GCP_TPU_METRICS.get(acc.id, (f"{acc.id.upper()}_CHIPS", ""))
        accel_metrics = (spot_metric, standard) if preemptible else (standard,)
        notes.append(f"{pool.name}: TPU VMs' host vCPUs are not counted here; the TPU chip quota is what GKE checks")
    else:
        machine = pool.machine_type or gke_gpu_machine_type(acc.id, pool.count)
        nodes, per_node, unit = pool.max_nodes, pool.count, "GPUs"
        base = GCP_GPU_METRICS.get(acc.id, f"{acc.id.upper().replace('-', '_')}_GPUS")
        accel_metrics = (f"PREEMPTIBLE_{base}", base) if preemptible else (base,)
    if kind == "reservation":
        out.append(
            ReservationNeed(pool.name, "reservation", pool.capacity.reservation, pool.capacity.affinity, machine, nodes)
        )
        if pool.capacity.affinity == "specific":
            return out, notes
    label = {"spot": "spot", "flex-start": "flex-start"}.get(kind, "on-demand")
    first, *rest = accel_metrics
    out.append(
        QuotaNeed(pool.name, first, first, per_node * nodes, unit, nodes, per_node, machine, label, tuple(rest))  # type: ignore[arg-type]
    )
    if acc.kind != "tpu":
        cpus = catalog.gke().vcpus(machine)
        family = gce_cpu_metrics(machine)
        metrics = ("PREEMPTIBLE_CPUS", *family) if preemptible else family
        amount = None if cpus is None else cpus * nodes
        out.append(
            QuotaNeed(pool.name, metrics[0], metrics[0], amount, "vCPUs", nodes, cpus, machine, label, metrics[1:])
        )
    return out, notes


def stack_needs(spec: StackSpec, vcpus: dict[str, int] | None = None) -> StackNeeds:
    """Every quota, reservation and offering the stack needs at its largest (all pools at max_nodes).

    ``vcpus``: instance type → vCPUs as the cloud reports them, preferred over the catalog's shapes."""
    if spec.target not in ("gcp", "aws"):
        return StackNeeds(spec.target, spec.region, notes=("on-prem: the nodes exist already; no cloud quota applies",))
    items: list[Any] = []
    notes: list[str] = []
    live = vcpus or {}
    if spec.target == "aws":
        system = catalog.eks().system
        per = live.get(system.instance_type, ec2_vcpus(system.instance_type))
        assert per is not None  # the catalog's own check: every type it names has a shape
        code, name = AWS_ON_DEMAND["standard"]
        nodes = system.max_nodes
        items.append(
            QuotaNeed("system", code, name, per * nodes, "vCPUs", nodes, per, system.instance_type, "on-demand")
        )
        azs = len(spec.zones) or EKS_DEFAULT_AZ_COUNT
        eip_code, eip_name = AWS_ELASTIC_IPS
        if spec.network.vpc_id is None:  # an existing VPC: aistack creates no NAT gateway
            items.append(
                QuotaNeed(
                    "network", eip_code, eip_name, azs, "addresses", azs, 1, f"one NAT gateway per AZ ({azs})", "-"
                )
            )
    else:
        gke_system = catalog.gke().system
        creates_nat = spec.network.network is None  # an existing network: aistack creates no Cloud NAT
        cpus = catalog.gke().vcpus(gke_system.machine_type)
        assert cpus is not None
        family = gce_cpu_metrics(gke_system.machine_type)
        nodes = gke_system.max_nodes
        items.append(
            QuotaNeed(
                "system",
                family[0],
                family[0],
                cpus * nodes,
                "vCPUs",
                nodes,
                cpus,
                gke_system.machine_type,
                "on-demand",
                family[1:],
            )
        )
        items += [
            QuotaNeed(
                "network",
                GCP_IN_USE_ADDRESSES,
                GCP_IN_USE_ADDRESSES,
                1,
                "addresses",
                1,
                1,
                "Cloud NAT allocates at least one external address (nodes are private)",
                "-",
            )
        ][: int(creates_nat)]
    for pool in spec.accelerator_pools:
        try:
            found, more = _aws_pool(spec, pool, live) if spec.target == "aws" else _gcp_pool(spec, pool)
        except ShapeError as exc:  # spec validation rejects these; kept as a note, never a crash
            found, more = [], [f"{pool.name}: {exc}"]
        items.extend(found)
        notes.extend(more)
    return StackNeeds(
        spec.target,
        spec.region,
        quotas=tuple(i for i in items if isinstance(i, QuotaNeed)),
        reservations=tuple(i for i in items if isinstance(i, ReservationNeed)),
        offerings=tuple(i for i in items if isinstance(i, OfferingNeed)),
        notes=tuple(notes),
    )
