"""Sanity rules for the offerings catalog: figures a source printed are not trusted blindly.

Every rule here caught a real copying error in a scraped price list (see README.md): the same
H100 price in seven GCP regions on four continents, a spot price above on-demand, one
region's A100 at half another's. `check` returns findings instead of raising so that the test
suite (tests/test_catalog.py, which fails the build on any "error") and `aistack catalog
refresh` (which prints them next to the rows it would write) share one implementation.

Rules and their thresholds (the README states the same numbers):

- ``spot-below-on-demand``: spot (and each GCP spot part) strictly below its on-demand figure;
  a flex-start purchase option below the row's on-demand price (GCP sells it at a discount).
- ``price-band``: per-chip on-demand price of one instance type, and per-GPU price of one GCP
  accelerator part, within BAND_LOW..BAND_HIGH of the provider's median for it across the
  regions in the catalog. Outliers are named with the median and the ratio.
- ``host-plus-gpus``: GCP GPU VMs carry both the host (vm_*) and the GPU (accelerators_*)
  parts that Compute Engine bills separately and no whole-VM figure (the loader sums the
  parts, so a whole figure would silently win over them); AWS rows and GCP TPU rows carry one
  whole-instance figure and no parts.
- ``uniform-across-continents``: one figure repeated in regions on two or more continents is
  an error unless every such row names, in ``uniform_price_ok_source``, the provider's own price
  list that shows it so.
- ``purchase-option``: booking windows are ordered (min_hours <= max_hours); each kind sits on the
  provider that sells it (capacity-block: AWS; flex-start, calendar: GCP); a capacity-block,
  calendar or reservation price is at most PURCHASE_MAX_RATIO x the row's on-demand price (they
  are sold at or below it; a block at twice on-demand is a unit or region mix-up).
- ``age`` (severity "stale"): a figure whose as_of is more than MAX_AGE_DAYS before `today`; an
  as_of after `today` is an error.
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal, NamedTuple

from foundation.catalog import Offering, OfferingCatalog

# A sku's per-chip price across one provider's regions stays within this band of the median.
# Provider regional multipliers observed on the GCP and AWS price lists run from about 0.85x
# (cheapest US regions) to about 1.45x (São Paulo, Tel Aviv, Zurich) of the median; 0.75-1.6x
# leaves room for those and still catches a halved or doubled figure.
BAND_LOW = 0.75
BAND_HIGH = 1.6
# A reserved-capacity price (capacity block, calendar mode, reservation) may exceed on-demand by at
# most this factor: AWS prices blocks dynamically around on-demand (post-June-2025 blocks run
# 0.4-0.9x of it in offerings.yaml), so 1.25x leaves room for a demand peak and still catches a
# figure copied from another region or instance size.
PURCHASE_MAX_RATIO = 1.25
# Which provider sells each purchase kind (reservation: both).
_PURCHASE_TARGETS: dict[str, frozenset[str]] = {
    "capacity-block": frozenset({"aws"}),
    "flex-start": frozenset({"gcp"}),
    "calendar": frozenset({"gcp"}),
    "reservation": frozenset({"aws", "gcp"}),
}
# A price read more than this long ago is reported as stale (not an error: it may still hold).
MAX_AGE_DAYS = 180
# Two figures equal to this many USD are "the same figure".
_SAME = 1e-6

Severity = Literal["error", "stale"]


class Finding(NamedTuple):
    rule: str
    severity: Severity
    offering: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.offering}: {self.message}"


# Region-name prefixes -> continent. Longest prefix wins; the few regions whose prefix does not
# say where they are (AWS ap-southeast-2/-4 are in Australia) are listed whole.
_CONTINENT_PREFIXES: dict[str, str] = {
    "us-": "north-america",
    "northamerica-": "north-america",
    "ca-": "north-america",
    "mx-": "north-america",
    "southamerica-": "south-america",
    "sa-": "south-america",
    "europe-": "europe",
    "eu-": "europe",
    "asia-": "asia",
    "ap-": "asia",
    "australia-": "oceania",
    "ap-southeast-2": "oceania",
    "ap-southeast-4": "oceania",
    "me-": "middle-east",
    "il-": "middle-east",
    "africa-": "africa",
    "af-": "africa",
}


def continent(region: str) -> str:
    """The continent a GCP/AWS region lies on, from its name; "unknown" when the name does not say."""
    best = ""
    for prefix in _CONTINENT_PREFIXES:
        if region.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return _CONTINENT_PREFIXES.get(best, "unknown")


def _is_gcp_gpu(o: Offering) -> bool:
    return o.target == "gcp" and not o.accelerator.startswith("tpu-")


def _spot_below_on_demand(rows: Iterable[Offering]) -> list[Finding]:
    out = []
    for o in rows:
        pairs: list[tuple[str, float | None, float | None]] = [("spot", o.spot, o.on_demand)]
        if _is_gcp_gpu(o):
            pairs += [
                ("host spot", o.vm_spot_usd_per_hour, o.vm_usd_per_hour),
                ("GPU spot", o.accelerators_spot_usd_per_hour, o.accelerators_usd_per_hour),
            ]
        flex = o.purchase("flex-start")
        if flex is not None:
            pairs.append(("flex-start", flex.usd_per_hour, o.on_demand))
        for what, low, high in pairs:
            if low is not None and high is not None and low >= high:
                out.append(
                    Finding(
                        "spot-below-on-demand",
                        "error",
                        o.key,
                        f"{what} price {low:g} USD/h is not below on-demand {high:g} USD/h. To fix: re-read "
                        "both figures from the provider's price list; a discount price above list is a copying error.",
                    )
                )
    return out


def _band(groups: dict[tuple[str, ...], list[tuple[Offering, float]]], what: str) -> list[Finding]:
    out = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        median = statistics.median(price for _, price in members)
        for o, price in members:
            ratio = price / median
            if not BAND_LOW <= ratio <= BAND_HIGH:
                out.append(
                    Finding(
                        "price-band",
                        "error",
                        o.key,
                        f"{what} {key[-1]} costs {price:.4f} USD/h, {ratio:.2f}x the {key[0]} median {median:.4f} "
                        f"over {len(members)} regions (allowed {BAND_LOW}-{BAND_HIGH}x). To fix: re-read it from "
                        "the provider's price list, or move the row to `excluded:` with the reason.",
                    )
                )
    return out


def _price_band(rows: Iterable[Offering]) -> list[Finding]:
    per_chip: dict[tuple[str, ...], list[tuple[Offering, float]]] = defaultdict(list)
    per_gpu: dict[tuple[str, ...], list[tuple[Offering, float]]] = defaultdict(list)
    for o in rows:
        per_chip[(o.target, o.instance)].append((o, o.on_demand / o.chips))
        if _is_gcp_gpu(o) and o.accelerators_usd_per_hour is not None:
            per_gpu[(o.target, o.accelerator)].append((o, o.accelerators_usd_per_hour / o.chips))
    return _band(per_chip, "per-chip on-demand of") + _band(per_gpu, "per-GPU part of")


def _host_plus_gpus(rows: Iterable[Offering]) -> list[Finding]:
    out = []
    for o in rows:
        parts = (o.vm_usd_per_hour, o.accelerators_usd_per_hour)
        spot_parts = (o.vm_spot_usd_per_hour, o.accelerators_spot_usd_per_hour)
        problem = ""
        if _is_gcp_gpu(o):
            if None in parts:
                problem = "a GCP GPU VM needs both vm_usd_per_hour and accelerators_usd_per_hour"
            elif (spot_parts[0] is None) != (spot_parts[1] is None):
                problem = "a GCP GPU VM's spot price needs both vm_spot_ and accelerators_spot_ parts, or neither"
            elif o.usd_per_hour is not None or o.spot_usd_per_hour is not None:
                problem = "a GCP GPU VM's price is host + GPUs: give the parts only, the loader sums them"
        elif any(p is not None for p in (*parts, *spot_parts)):
            problem = "host/GPU parts are for GCP GPU VMs; this provider bills the instance as one figure"
        elif o.usd_per_hour is None:
            problem = "no usd_per_hour"
        if problem:
            out.append(
                Finding(
                    "host-plus-gpus",
                    "error",
                    o.key,
                    f"{problem}. To fix: record the figures the way the provider bills them (README.md).",
                )
            )
    return out


def _figures(o: Offering) -> list[tuple[str, float]]:
    named = [
        ("on-demand per chip", o.on_demand / o.chips),
        ("GPU part per GPU", (o.accelerators_usd_per_hour or 0) / o.chips),
        ("GPU spot part per GPU", (o.accelerators_spot_usd_per_hour or 0) / o.chips),
    ]
    spot = o.spot
    if spot is not None:
        named.append(("spot per chip", spot / o.chips))
    return [(name, value) for name, value in named if value > 0]


def _uniform_across_continents(rows: Iterable[Offering]) -> list[Finding]:
    # (target, accelerator, figure name, rounded value) -> rows carrying it
    seen: dict[tuple[str, str, str, float], list[Offering]] = defaultdict(list)
    for o in rows:
        for name, value in _figures(o):
            seen[(o.target, o.accelerator, name, round(value / _SAME) * _SAME)].append(o)
    out = []
    flagged: set[tuple[str, str]] = set()
    for (_, _, name, value), members in seen.items():
        continents = {continent(o.region) for o in members}
        if len(continents) < 2:
            continue
        for o in members:
            if o.uniform_price_ok_source is None and (o.key, name) not in flagged:
                flagged.add((o.key, name))
                regions = ", ".join(sorted({m.region for m in members}))
                out.append(
                    Finding(
                        "uniform-across-continents",
                        "error",
                        o.key,
                        f"{name} {value:g} USD/h is the same figure in {regions} on {len(continents)} continents. "
                        "To fix: re-read each region from the provider's price list, or set uniform_price_ok_source "
                        "to the provider page that shows one price everywhere.",
                    )
                )
    return out


def _purchase_options(rows: Iterable[Offering]) -> list[Finding]:
    out = []
    for o in rows:
        for p in o.purchase_options:
            problems = []
            if p.min_hours is not None and p.max_hours is not None and p.min_hours > p.max_hours:
                problems.append(
                    f"min_hours {p.min_hours:g} > max_hours {p.max_hours:g}. "
                    "To fix: copy the booking window from the provider's documentation."
                )
            if o.target not in _PURCHASE_TARGETS[p.kind]:
                problems.append(
                    f"{o.target} does not sell {p.kind} (only {', '.join(sorted(_PURCHASE_TARGETS[p.kind]))}). "
                    "To fix: move the option to a row of the provider that sells it, or drop it."
                )
            if p.kind != "flex-start" and p.usd_per_hour > PURCHASE_MAX_RATIO * o.on_demand:
                problems.append(
                    f"price {p.usd_per_hour:g} USD/h is {p.usd_per_hour / o.on_demand:.2f}x on-demand "
                    f"{o.on_demand:g} (allowed up to {PURCHASE_MAX_RATIO}x). To fix: re-read it for this region "
                    "and instance type; reserved capacity is not sold far above on-demand."
                )
            out += [Finding("purchase-option", "error", o.key, f"{p.kind}: {msg}") for msg in problems]
    return out


def _age(rows: Iterable[Offering], today: datetime.date) -> list[Finding]:
    out = []
    for o in rows:
        dated = [("price", o.as_of, o.source)]
        if o.spot_as_of is not None:
            dated.append(("spot price", o.spot_as_of, o.spot_source or o.source))
        dated += [(f"{p.kind} price", p.as_of, p.source) for p in o.purchase_options]
        for what, as_of, source in dated:
            age = (today - datetime.date.fromisoformat(as_of)).days
            if age < 0:
                out.append(
                    Finding(
                        "age",
                        "error",
                        o.key,
                        f"{what} as_of {as_of} is after today ({today}). To fix: date it the day the source says.",
                    )
                )
            elif age > MAX_AGE_DAYS:
                out.append(
                    Finding(
                        "age",
                        "stale",
                        o.key,
                        f"{what} as_of {as_of} is {age} days old (limit {MAX_AGE_DAYS}); it may have changed. "
                        f"To fix: re-read {source} (`aistack catalog refresh`).",
                    )
                )
    return out


def check(catalog: OfferingCatalog, today: datetime.date) -> list[Finding]:
    """Every finding of every rule on the catalog; severity "error" findings must fail a build."""
    rows = catalog.offerings
    return [
        *_spot_below_on_demand(rows),
        *_price_band(rows),
        *_host_plus_gpus(rows),
        *_uniform_across_continents(rows),
        *_purchase_options(rows),
        *_age(rows, today),
    ]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


__all__ = ["BAND_HIGH", "BAND_LOW", "MAX_AGE_DAYS", "PURCHASE_MAX_RATIO", "Finding", "check", "continent", "errors"]
