"""GCP prices from the Cloud Billing Catalog API, priced the way Compute Engine bills a VM.

API: GET {endpoint}/v1/services/{service}/skus (an API key; pages joined by nextPageToken), see
https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list and
https://cloud.google.com/billing/docs/how-to/get-pricing-information-api . A SKU carries
``skuId``, ``description``, ``category.{resourceFamily, resourceGroup, usageType}``,
``serviceRegions`` and ``pricingInfo[].pricingExpression.{usageUnit, tieredRates[].unitPrice.{units, nanos}}``.

Compute Engine (service 6F81-5844-456A) bills an accelerator-optimized VM as vCPUs x the family's
core SKU + GiB x its RAM SKU, plus each attached GPU at the GPU SKU
(https://cloud.google.com/compute/vm-instance-pricing, https://cloud.google.com/compute/gpus-pricing);
spot VMs use the "Spot Preemptible" SKUs (usageType Preemptible). TPU v5e/v5p/v6e chips are
Compute Engine SKUs priced per chip-hour; older generations are under the Cloud TPU service
(E000-3F24-B8AA), both ids as listed at https://cloud.google.com/skus .
"""

from __future__ import annotations

import json
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from . import NoProgress, Progress, RefreshError, open_source

ENDPOINT = "https://cloudbilling.googleapis.com"
COMPUTE_SERVICE = "6F81-5844-456A"
TPU_SERVICE = "E000-3F24-B8AA"
PAGE_SIZE = 5000  # the API's maximum page size
MAX_PAGES = 1000  # a loop guard: Compute Engine has some tens of thousands of SKUs

# Machine type -> (vCPUs, memory GiB): the accelerator-optimized and N1/G2 shapes GKE pools use
# (gke.yaml). Sources: https://cloud.google.com/compute/docs/accelerator-optimized-machines
# (A2, A3, A4, G2 tables) and https://cloud.google.com/compute/docs/general-purpose-machines#n1_machines
# (N1: 3.75 GB per vCPU). Read 2026-12-01.
SHAPES: dict[str, tuple[int, float]] = {
    "n1-standard-8": (8, 30),
    "n1-standard-16": (16, 60),
    "n1-standard-32": (32, 120),
    "g2-standard-8": (8, 32),
    "g2-standard-24": (24, 96),
    "g2-standard-48": (48, 192),
    "g2-standard-96": (96, 384),
    "a2-highgpu-1g": (12, 85),
    "a2-highgpu-2g": (24, 170),
    "a2-highgpu-4g": (48, 340),
    "a2-highgpu-8g": (96, 680),
    "a2-megagpu-16g": (96, 1360),
    "a2-ultragpu-1g": (12, 170),
    "a2-ultragpu-2g": (24, 340),
    "a2-ultragpu-4g": (48, 680),
    "a2-ultragpu-8g": (96, 1360),
    "a3-highgpu-1g": (26, 234),
    "a3-highgpu-2g": (52, 468),
    "a3-highgpu-4g": (104, 936),
    "a3-highgpu-8g": (208, 1872),
    "a3-megagpu-8g": (208, 1872),
    "a3-ultragpu-8g": (224, 2952),
    "a4-highgpu-8g": (224, 3968),
}

# Machine-type prefix -> the family label its core/RAM SKU descriptions start with
# ("A3 Instance Core running in Americas"; spot: "Spot Preemptible A3 Instance Core ..."), most
# specific first: a sub-family with SKUs of its own uses them, else the family's.
FAMILY_LABELS: dict[str, tuple[str, ...]] = {
    "n1-": ("N1 Predefined Instance",),
    "g2-": ("G2 Instance",),
    "a2-ultragpu-": ("A2 Ultra Instance", "A2 Instance"),
    "a2-": ("A2 Instance",),
    "a3-megagpu-": ("A3 Mega Instance", "A3 Instance"),
    "a3-ultragpu-": ("A3 Ultra Instance", "A3 Instance"),
    "a3-": ("A3 Instance",),
    "a4-": ("A4 Instance",),
}

# Accelerator id -> how its GPU SKU descriptions start ("Nvidia H100 80GB GPU running in Americas";
# spot: "... GPU attached to Spot Preemptible VMs running in ..."). H100 Mega has had three spellings.
GPU_LABELS: dict[str, tuple[str, ...]] = {
    "nvidia-t4": ("Nvidia Tesla T4 GPU",),
    "nvidia-l4": ("Nvidia L4 GPU",),
    "nvidia-a100-40gb": ("Nvidia Tesla A100 GPU",),
    "nvidia-a100-80gb": ("Nvidia Tesla A100 80GB GPU",),
    "nvidia-h100-80gb": ("Nvidia H100 80GB GPU",),
    "nvidia-h100-mega-80gb": ("Nvidia H100 80GB Mega GPU", "Nvidia H100 Mega 80GB GPU", "Nvidia H100 80GB Plus GPU"),
    "nvidia-h200-141gb": ("Nvidia H200 141GB GPU",),
    "nvidia-b200": ("Nvidia B200",),
}

# TPU generation -> the token its per-chip-hour SKU descriptions carry. TPU v4 is left out: its
# Cloud TPU SKUs are priced per pod slice unit, not per chip, and the unit is not stated in the SKU.
TPU_LABELS: dict[str, str] = {"tpu-v5e": "TpuV5e", "tpu-v5p": "TpuV5p", "tpu-v6e": "TpuV6e"}

# SKUs that are another way to buy (commitments, reservations, DWS, sole tenancy) or another product.
_NOT_PLAIN = ("commitment", "dws", "defined duration", "reserved", "reservation", "calendar", "flex", "custom",
              "sole tenancy", "premium", "virtual workstation", "extended", "subscription", "fixed price",
              "capacity optimized")  # fmt: skip


def list_skus(
    service: str, api_key: str, endpoint: str = ENDPOINT, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Every Compute SKU of a service with an on-demand or preemptible price, all pages joined.

    The key goes in the X-Goog-Api-Key header (one of the two ways Google APIs take a key,
    https://cloud.google.com/docs/authentication/api-keys-use): unlike ?key= it never appears in a
    URL that an error message, a proxy log or a progress line could show.
    """
    progress = progress or NoProgress()
    progress.begin(f"GCP SKUs of service {service}", None)
    kept: list[dict[str, Any]] = []
    token = ""
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        query = {"currencyCode": "USD", "pageSize": str(PAGE_SIZE)} | ({"pageToken": token} if token else {})
        url = f"{endpoint.rstrip('/')}/v1/services/{service}/skus?{urllib.parse.urlencode(query)}"
        try:
            stream, _ = open_source(url, headers={"X-Goog-Api-Key": api_key})
        except RefreshError as exc:  # an error body could echo the key back: never show it
            raise RefreshError(str(exc).replace(api_key, "<key>"), exc.fix) from None
        with stream:
            try:
                page = json.load(stream)
            except ValueError as exc:
                raise RefreshError(f"{url}: not JSON ({exc})", "check --gcp-endpoint.") from None
        skus = page.get("skus", []) if isinstance(page, dict) else None
        if not isinstance(skus, list):
            raise RefreshError(f"{url}: no 'skus' list", "check --gcp-endpoint points at the Cloud Billing API.")
        kept += [
            s
            for s in skus
            if _category(s, "resourceFamily") in ("Compute", "TPU") or "Tpu" in str(s.get("description"))
        ]
        progress.advance(len(skus))
        token = str(page.get("nextPageToken") or "")
        if not token:
            progress.end(f"{len(kept)} compute SKUs")
            return kept
        if token in seen:
            raise RefreshError(f"{url}: the API returned page token {token!r} twice", "retry later.")
        seen.add(token)
    raise RefreshError(f"service {service}: more than {MAX_PAGES} pages of SKUs", "retry later.")


def _category(sku: dict[str, Any], field: str) -> str:
    category = sku.get("category")
    return str(category.get(field, "")) if isinstance(category, dict) else ""


class UnitPrice(NamedTuple):
    sku_id: str
    usd: float


def unit_price(sku: dict[str, Any], unit: str) -> UnitPrice | None:
    """The SKU's current first-tier USD price per `unit` ("h" or "GiBy.h"); None if it has no such price."""
    infos = sku.get("pricingInfo") or []
    if not infos:
        return None
    expression = infos[-1].get("pricingExpression") or {}  # the list is oldest first; the last is current
    if expression.get("usageUnit") != unit:
        return None
    tiers = expression.get("tieredRates") or []
    first = next((t for t in tiers if float(t.get("startUsageAmount", 0) or 0) == 0), None)
    money = (first or {}).get("unitPrice") or {}
    if money.get("currencyCode", "USD") != "USD":
        return None
    usd = int(money.get("units", 0) or 0) + int(money.get("nanos", 0) or 0) / 1e9
    return UnitPrice(str(sku.get("skuId", "")), usd) if usd > 0 else None


class _Index:
    """The SKUs of each region (serviceRegions), split on-demand / spot."""

    def __init__(self, skus: Iterable[dict[str, Any]]) -> None:
        self.by_region: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
        for sku in skus:
            description = str(sku.get("description", ""))
            if any(word in description.lower() for word in _NOT_PLAIN):
                continue
            usage = _category(sku, "usageType")
            # Preemptible TPU SKUs are filed under usageType OnDemand; their description says Preemptible.
            spot = usage == "Preemptible" or "preemptible" in description.lower()
            if usage not in ("OnDemand", "Preemptible"):
                continue
            for region in sku.get("serviceRegions") or ():
                self.by_region[(region, spot)].append(sku)

    def find(self, region: str, spot: bool, starts: tuple[str, ...], unit: str) -> tuple[UnitPrice | None, str]:
        """The one price whose description starts with the first label that has any; a note if ambiguous."""
        for label in starts:
            matches = {
                p
                for sku in self.by_region.get((region, spot), ())
                if str(sku.get("description", "")).removeprefix("Spot Preemptible ").startswith(label)
                and (p := unit_price(sku, unit)) is not None
            }
            if len({p.usd for p in matches}) > 1:
                ids = ", ".join(sorted(p.sku_id for p in matches))
                return None, f"GCP {region}: several {'spot ' if spot else ''}'{label}' SKUs disagree ({ids}); left out"
            if matches:
                return min(matches), ""
        return None, ""

    def find_tpu(self, region: str, spot: bool, token: str) -> tuple[UnitPrice | None, str]:
        matches = {
            p
            for sku in self.by_region.get((region, spot), ())
            if token in str(sku.get("description", "")) and (p := unit_price(sku, "h")) is not None
        }
        if len({p.usd for p in matches}) > 1:
            ids = ", ".join(sorted(p.sku_id for p in matches))
            return None, f"GCP {region}: several {'spot ' if spot else ''}{token} SKUs disagree ({ids}); left out"
        return (min(matches), "") if matches else (None, "")


def _family(machine: str) -> tuple[str, ...]:
    return next((labels for prefix, labels in FAMILY_LABELS.items() if machine.startswith(prefix)), ())


def price_rows(
    skus: Iterable[dict[str, Any]],
    gpu_shapes: Iterable[tuple[str, int, str]],
    tpu_shapes: Iterable[tuple[str, int, str]],
    regions: Iterable[str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Catalog rows (no source/as_of yet) for each shape x region the SKUs price, and notes.

    ``gpu_shapes``/``tpu_shapes``: (accelerator id, chips per VM, machine type), from gke.yaml.
    """
    index = _Index(skus)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    gpu_shapes, tpu_shapes, regions = list(gpu_shapes), list(tpu_shapes), list(regions)
    for accelerator, chips, machine in gpu_shapes:
        shape, family, gpu = SHAPES.get(machine), _family(machine), GPU_LABELS.get(accelerator)
        if shape is None or not family or gpu is None:
            notes.append(f"GCP {machine}: no vCPU/RAM shape or SKU label known to the refresher; left out")
            continue
        vcpus, gib = shape
        for region in regions:
            parts: dict[bool, tuple[float, float, list[str]]] = {}
            for spot in (False, True):
                core, n1 = index.find(region, spot, tuple(f"{f} Core running in" for f in family), "h")
                ram, n2 = index.find(region, spot, tuple(f"{f} Ram running in" for f in family), "GiBy.h")
                card, n3 = index.find(region, spot, gpu, "h")
                notes += [n for n in (n1, n2, n3) if n]
                if core and ram and card:
                    host = round(vcpus * core.usd + gib * ram.usd, 6)
                    parts[spot] = (host, round(chips * card.usd, 6), [core.sku_id, ram.sku_id, card.sku_id])
            if False not in parts:
                continue  # the GPU (or the family) is not sold in this region
            host, gpus, ids = parts[False]
            row: dict[str, Any] = {
                "target": "gcp", "region": region, "accelerator": accelerator, "instance": machine, "chips": chips,
                "vm_usd_per_hour": host, "accelerators_usd_per_hour": gpus,
            }  # fmt: skip
            if True in parts:
                row["vm_spot_usd_per_hour"], row["accelerators_spot_usd_per_hour"], spot_ids = parts[True]
                ids = ids + spot_ids
            row["skus"] = ids
            rows.append(row)
    for accelerator, chips, machine in tpu_shapes:
        token = TPU_LABELS.get(accelerator)
        if token is None:
            notes.append(f"GCP {machine} ({accelerator}): no per-chip SKU known to the refresher; left out")
            continue
        for region in regions:
            chip, n1 = index.find_tpu(region, False, token)
            spot_chip, n2 = index.find_tpu(region, True, token)
            notes += [n for n in (n1, n2) if n]
            if chip is None:
                continue
            row = {
                "target": "gcp", "region": region, "accelerator": accelerator, "instance": machine, "chips": chips,
                "usd_per_hour": round(chips * chip.usd, 6),
            }  # fmt: skip
            ids = [chip.sku_id]
            if spot_chip is not None:
                row["spot_usd_per_hour"] = round(chips * spot_chip.usd, 6)
                ids.append(spot_chip.sku_id)
            row["skus"] = ids
            rows.append(row)
    return rows, notes
