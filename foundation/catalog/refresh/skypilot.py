"""Fallback: SkyPilot's public catalog (skypilot-org/skypilot-catalog, catalogs/v7/{aws,gcp}/vms.csv).

Only ever a gap filler: a row comes from here when the provider's own price list, read in the same
refresh, had no figure for that shape in that region; such rows say so in `note`, name the CSV as
their `source`, carry no `skus`, and are never marked as provider-confirmed for the sanity rules.

CSV columns used: InstanceType, AcceleratorName, AcceleratorCount, Price, SpotPrice, Region,
AvailabilityZone (one row per zone). AWS rows are instance types (they contain a dot); GCP prices
GPU VMs as a host row (machine type, no accelerator) plus an accelerator row (no machine type), and
TPUs as slices ``tpu-<gen>-<N>`` (v5p and v4: N TensorCores, 2 per chip; v5e/v6e: N chips).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from . import NoProgress, Progress, RefreshError, open_source

NOTE = "fallback: the SkyPilot catalog; the provider's price list gave no figure for this shape here"

# SkyPilot's AcceleratorName -> catalog accelerator id (GCP accelerator rows).
GPU_NAMES = {
    "T4": "nvidia-t4",
    "L4": "nvidia-l4",
    "A100": "nvidia-a100-40gb",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-MEGA": "nvidia-h100-mega-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}
# TPU generation -> (slice name prefix, slice units per chip).
TPU_SLICES = {
    "tpu-v4": ("tpu-v4-", 2),
    "tpu-v5p": ("tpu-v5p-", 2),
    "tpu-v5e": ("tpu-v5litepod-", 1),
    "tpu-v6e": ("tpu-v6e-", 1),
}


def read(location: str, progress: Progress | None = None) -> list[dict[str, str]]:
    progress = progress or NoProgress()
    stream, size = open_source(location)
    progress.begin(f"SkyPilot catalog {location}", size)
    with stream:
        raw = stream.read()
    progress.advance(len(raw))
    records = list(csv.DictReader(io.StringIO(raw.decode("utf-8", "replace"))))
    needed = {"InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "SpotPrice", "Region"}
    if records and not needed <= set(records[0]):
        raise RefreshError(
            f"{location}: not a SkyPilot vms.csv (needs columns {sorted(needed)})", "pass catalogs/v7/<cloud>/vms.csv."
        )
    progress.end(f"{len(records)} rows")
    return records


def _price(value: str | None) -> float | None:
    try:
        price = float(value or "")
    except ValueError:
        return None
    return price if price > 0 else None


def _lowest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def rows(
    records: list[dict[str, str]],
    source: str,
    aws_shapes: dict[str, tuple[str, int]],
    gpu_shapes: Iterable[tuple[str, int, str]],
    tpu_shapes: Iterable[tuple[str, int, str]],
    aws_regions: Iterable[str],
    gcp_regions: Iterable[str],
) -> list[dict[str, Any]]:
    """Catalog rows (no as_of) for every shape x region the CSV prices; AWS spot = the lowest zone's."""
    by_key: dict[tuple[str, str, str, str], list[dict[str, str]]] = {}
    aws_rows: dict[tuple[str, str], list[dict[str, str]]] = {}  # (region, instance) -> its zones' rows
    tpu_keys: dict[str, set[tuple[str, str, str, str]]] = {}  # region -> its TPU slice keys
    for r in records:
        key = (
            r.get("Region", ""),
            r.get("InstanceType", ""),
            r.get("AcceleratorName", ""),
            r.get("AcceleratorCount", ""),
        )
        by_key.setdefault(key, []).append(r)
        if "." in key[1]:
            aws_rows.setdefault(key[:2], []).append(r)
        elif key[2].startswith("tpu-"):
            tpu_keys.setdefault(key[0], set()).add(key)

    def figures(found: list[dict[str, str]]) -> tuple[float | None, float | None]:
        return _lowest(_price(r["Price"]) for r in found), _lowest(_price(r["SpotPrice"]) for r in found)

    out: list[dict[str, Any]] = []
    base = {"source": source, "note": NOTE}
    aws_set, gcp_set = set(aws_regions), set(gcp_regions)
    for (region, instance), found in sorted(aws_rows.items()):
        od, spot = figures(found)
        if region not in aws_set or instance not in aws_shapes or od is None:
            continue
        accelerator, chips = aws_shapes[instance]
        row = {"target": "aws", "region": region, "accelerator": accelerator, "instance": instance, "chips": chips}
        row["usd_per_hour"] = od
        if spot is not None and spot < od:
            row["spot_usd_per_hour"] = spot
        out.append(row | base)
    names = {v: k for k, v in GPU_NAMES.items()}
    for accelerator, chips, machine in gpu_shapes:
        name = names.get(accelerator)
        for region in sorted(gcp_set):
            host, host_spot = figures(by_key.get((region, machine, "", ""), []))
            cards = by_key.get((region, "", name or "", str(chips))) or by_key.get(
                (region, "", name or "", f"{chips}.0"), []
            )
            gpus, gpus_spot = figures(cards)
            if host is None or gpus is None:
                continue
            row = {"target": "gcp", "region": region, "accelerator": accelerator, "instance": machine, "chips": chips}
            row |= {"vm_usd_per_hour": host, "accelerators_usd_per_hour": gpus}
            if host_spot is not None and gpus_spot is not None:
                row |= {"vm_spot_usd_per_hour": host_spot, "accelerators_spot_usd_per_hour": gpus_spot}
            out.append(row | base)
    for accelerator, chips, machine in tpu_shapes:
        if accelerator not in TPU_SLICES:
            continue
        prefix, units = TPU_SLICES[accelerator]
        for region in sorted(gcp_set):
            slices = sorted(
                (int(k[2].removeprefix(prefix)), k)
                for k in tpu_keys.get(region, ())
                if k[2].startswith(prefix) and k[2].removeprefix(prefix).isdigit()
            )
            if not slices:
                continue
            size, key = slices[0]  # prices are linear in slice size; the smallest is the plainest row
            od, spot = figures(by_key[key])
            if od is None:
                continue
            per_chip = units / size
            row = {"target": "gcp", "region": region, "accelerator": accelerator, "instance": machine, "chips": chips}
            row["usd_per_hour"] = round(od * per_chip * chips, 6)
            if spot is not None and spot < od:
                row["spot_usd_per_hour"] = round(spot * per_chip * chips, 6)
            out.append(row | base)
    return out
