"""Facts about the ways a cloud sells accelerator capacity, as data the spec rules check against.

Each figure names where it came from and when it was read; when a provider adds an instance
type or a new way to buy, this file is the one place to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Which capacity types each target offers (spec: accelerator_pools[].capacity.type).
# gcp: Compute Engine reservations and GKE flex-start (Dynamic Workload Scheduler);
# aws: On-Demand Capacity Reservations and EC2 Capacity Blocks for ML; onprem: the nodes you own.
TYPES_BY_TARGET: dict[str, tuple[str, ...]] = {
    "gcp": ("on-demand", "spot", "reservation", "flex-start"),
    "aws": ("on-demand", "spot", "reservation", "capacity-block"),
    "onprem": ("on-demand",),
}


@dataclass(frozen=True)
class CapacityBlockType:
    instance_type: str
    source: str


_EC2_UG = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-capacity-blocks.html"
_SAGEMAKER = (
    "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sagemaker/aws.sdk.kotlin.services.sagemaker.model/"
    "-reserved-capacity-instance-type"  # training plans are sold from the same Capacity Block pool
)
_PCS = "https://docs.aws.amazon.com/pcs/latest/userguide/capacity-blocks.html"

# EC2 instance types AWS sells as Capacity Blocks for ML (read 2026-12-01). The EC2 User Guide
# lists p4d, p5, p5e, p5en, trn1 and trn2; the newer P6 and single-GPU p5 sizes are in the
# SageMaker reserved-capacity enum and the AWS PCS Capacity Block page. Regions vary per type and
# change often, so the region is left to AWS: DescribeCapacityBlockOfferings answers it.
CAPACITY_BLOCK_TYPES: tuple[CapacityBlockType, ...] = (
    CapacityBlockType("p4d.24xlarge", _EC2_UG),
    CapacityBlockType("p4de.24xlarge", _SAGEMAKER),
    CapacityBlockType("p5.4xlarge", _SAGEMAKER),
    CapacityBlockType("p5.48xlarge", _EC2_UG),
    CapacityBlockType("p5e.48xlarge", _EC2_UG),
    CapacityBlockType("p5en.48xlarge", _EC2_UG),
    CapacityBlockType("p6-b200.48xlarge", _SAGEMAKER),
    CapacityBlockType("p6-b300.48xlarge", _PCS),
    CapacityBlockType("p6e-gb200.36xlarge", _SAGEMAKER),
    CapacityBlockType("trn1.32xlarge", _EC2_UG),
    CapacityBlockType("trn2.48xlarge", _EC2_UG),
)
CAPACITY_BLOCK_INSTANCE_TYPES = frozenset(t.instance_type for t in CAPACITY_BLOCK_TYPES)

# A Capacity Block is delivered as a targeted Capacity Reservation; both ids are cr- and 8 or 17 hex
# digits (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CapacityReservation.html, read 2026-12-01).
AWS_RESERVATION_ID = re.compile(r"^cr-[0-9a-f]{8,17}$")
# GCP reservation names are RFC 1035 labels; one shared from another project is named by path
# (https://cloud.google.com/kubernetes-engine/docs/how-to/consuming-reservations, read 2026-12-01).
_NAME = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
GCP_RESERVATION_NAME = re.compile(rf"^{_NAME}$")
GCP_SHARED_RESERVATION = re.compile(rf"^projects/[a-z][-a-z0-9]{{4,28}}[a-z0-9]/reservations/{_NAME}$")

# GKE flex-start with queued provisioning runs a node for at most 7 days
# (https://cloud.google.com/kubernetes-engine/docs/concepts/dws, read 2026-12-01).
FLEX_START_MAX_DAYS = 7
