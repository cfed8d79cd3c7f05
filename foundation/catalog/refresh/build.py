"""Fetch every provider's figures and assemble the new offerings catalog (pure apart from the fetch).

The shapes priced are the catalog's own: every instance type in eks.yaml and machine type in
gke.yaml, in every region of regions.yaml the provider prices it in. What the price sources do not
say is carried from the current catalog: purchase options (capacity blocks, flex-start), notes,
`excluded:` (a shape listed there is never written back), and the rows of a provider not refreshed.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from foundation import catalog
from foundation.catalog import OFFERINGS_SCHEMA_VERSION, Excluded, OfferingCatalog

from . import NoProgress, Progress, RefreshError, aws, gcp, skypilot

PROVIDERS = ("aws", "gcp")


@dataclass(frozen=True)
class Inputs:
    """Where to read prices from (defaults: the providers' public endpoints)."""

    providers: tuple[str, ...] = PROVIDERS
    aws_offers: str = aws.REGION_INDEX_URL  # region index URL, or a directory of offer files
    aws_spot: str | None = aws.SPOT_FEED_URL  # None: no AWS spot figures
    gcp_endpoint: str = gcp.ENDPOINT
    gcp_api_key: str = ""
    fallbacks: tuple[str, ...] = ()  # SkyPilot vms.csv files/URLs: fill only what the providers did not price


def aws_shapes() -> dict[str, tuple[str, int]]:
    """Instance type -> (accelerator id, accelerators per instance), from eks.yaml."""
    return {
        instance: (accelerator, count)
        for accelerator, per in catalog.eks().instance_types.items()
        for count, instance in per.items()
    }


def gke_shapes() -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    """(accelerator id, chips per VM, machine type) for GPU and TPU machine types, from gke.yaml."""
    gke = catalog.gke()
    gpus = [(a, n, m) for a, per in gke.gpu_machine_types.items() for n, m in per.items()]
    tpus = [(a, n, m) for a, gen in gke.tpus.items() for n, m in gen.machine_types.items()]
    return gpus, tpus


def tpu_regions() -> dict[str, set[str]]:
    """TPU generation -> the regions of its zones in gke.yaml: a TPU SKU elsewhere is not a GKE offering."""
    return {a: {z.rsplit("-", 1)[0] for z in gen.zones} for a, gen in catalog.gke().tpus.items()}


def _offered(row: dict[str, Any], tpus: dict[str, set[str]]) -> bool:
    return row["accelerator"] not in tpus or row["region"] in tpus[row["accelerator"]]


def fetch_aws(inputs: Inputs, progress: Progress) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """AWS rows (no as_of yet), the sources they name, and notes on what was left out."""
    shapes = aws_shapes()
    files, missing = aws.region_offer_files(inputs.aws_offers, catalog.regions().aws)
    notes = (
        [f"AWS: {len(missing)} region(s) of regions.yaml not in the region index, no rows: {', '.join(missing)}"]
        if missing
        else []
    )
    spot: dict[tuple[str, str], float] = {}
    if inputs.aws_spot:
        spot = aws.read_spot_feed(inputs.aws_spot, progress)
    rows: list[dict[str, Any]] = []
    for offer in files:
        prices, more = aws.read_offer_file(offer, set(shapes), progress)
        notes += more
        for p in prices:
            accelerator, chips = shapes[p.instance]
            row: dict[str, Any] = {
                "target": "aws", "region": p.region, "accelerator": accelerator, "instance": p.instance,
                "chips": chips, "usd_per_hour": p.usd_per_hour,
            }  # fmt: skip
            spot_price = spot.get((p.region, p.instance))
            # A spot figure at or above on-demand is not a discount: the feed is stale or wrong there.
            if spot_price is not None and spot_price < p.usd_per_hour:
                row["spot_usd_per_hour"] = spot_price
                row["spot_source"] = inputs.aws_spot  # not in the Price List: the spot pricing page's feed
            elif spot_price is not None:
                notes.append(
                    f"AWS {p.region} {p.instance}: spot {spot_price} >= on-demand {p.usd_per_hour}; spot left out"
                )
            row["source"] = p.source
            row["skus"] = [p.rate_code]
            rows.append(row)
    sources = {"aws": inputs.aws_offers, "aws_docs": aws.PRICE_LIST_DOCS}
    if inputs.aws_spot:
        sources["aws_spot"] = f"{inputs.aws_spot} (the feed of {aws.SPOT_PAGE})"
    return rows, sources, notes


def fetch_gcp(inputs: Inputs, progress: Progress) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    if not inputs.gcp_api_key:
        raise RefreshError("no GCP API key", "set the environment variable --gcp-api-key-env names, or --only aws.")
    skus = gcp.list_skus(gcp.COMPUTE_SERVICE, inputs.gcp_api_key, inputs.gcp_endpoint, progress)
    tpu_skus = gcp.list_skus(gcp.TPU_SERVICE, inputs.gcp_api_key, inputs.gcp_endpoint, progress)
    from_tpu_service = {str(s.get("skuId")) for s in tpu_skus}
    gpu_shapes, tpu_shapes = gke_shapes()
    rows, notes = gcp.price_rows(skus + tpu_skus, gpu_shapes, tpu_shapes, catalog.regions().gcp)
    tpus = tpu_regions()
    dropped = sorted({f"{r['accelerator']} in {r['region']}" for r in rows if not _offered(r, tpus)})
    if dropped:
        notes.append(
            f"GCP: TPU SKUs priced where gke.yaml lists no zone of that generation, left out: {', '.join(dropped)}"
        )
    rows = [r for r in rows if _offered(r, tpus)]
    base = inputs.gcp_endpoint.rstrip("/")
    for row in rows:
        service = gcp.TPU_SERVICE if from_tpu_service & set(row["skus"]) else gcp.COMPUTE_SERVICE
        row["source"] = f"{base}/v1/services/{service}/skus"
    sources = {
        "gcp": f"{base}/v1/services/{gcp.COMPUTE_SERVICE}/skus",
        "gcp_tpu": f"{base}/v1/services/{gcp.TPU_SERVICE}/skus",
    }
    sources["gcp_docs"] = "https://cloud.google.com/billing/docs/how-to/get-pricing-information-api"
    return rows, sources, notes


def _excluded(row: dict[str, Any], excluded: Iterable[Excluded]) -> bool:
    # An exclusion of a wrong figure names the source that printed it (scope "source"): the provider's own
    # price list may bring that shape back, checked by the sanity rules like any row. A shape the cloud does
    # not sell (scope "shape") never comes back.
    return any(
        e.blocks(row["target"], row["accelerator"], row["region"], row["instance"], row["source"]) for e in excluded
    )


def _key(row: dict[str, Any]) -> str:
    return f"{row['target']}/{row['region']}/{row['instance']}"


def assemble(
    old: OfferingCatalog,
    fetched: list[dict[str, Any]],
    sources: dict[str, str],
    providers: Iterable[str],
    today: datetime.date,
) -> OfferingCatalog:
    """The new catalog: fetched rows dated today, plus what the price sources cannot say, from `old`."""
    from foundation.catalog import sanity

    refreshed = set(providers)
    day = today.isoformat()
    carried = {o.key: o for o in old.offerings}
    rows: list[dict[str, Any]] = []
    for row in fetched:
        if _excluded(row, old.excluded):
            continue
        row = {**row, "as_of": day}
        if "spot_source" in row:
            row["spot_as_of"] = day
        previous = carried.get(_key(row))
        if previous is not None:
            if previous.purchase_options:
                row["purchase_options"] = [p.model_dump(exclude_defaults=True) for p in previous.purchase_options]
            if previous.note:
                row["note"] = previous.note
        rows.append(row)
    rows += [o.model_dump(exclude_defaults=True) for o in old.offerings if o.target not in refreshed]
    rows.sort(key=lambda r: (r["target"], r["accelerator"], r["instance"], r["region"]))
    kept_sources = {k: v for k, v in old.sources.items() if not any(k.startswith(p) for p in refreshed)}
    doc: dict[str, Any] = {
        "schema_version": OFFERINGS_SCHEMA_VERSION,
        "data_version": day,
        "sources": kept_sources | sources,
        "offerings": rows,
    }
    if old.excluded:
        doc["excluded"] = [e.model_dump(exclude_defaults=True) for e in old.excluded]
    candidate = OfferingCatalog.model_validate(doc)
    # Each refreshed figure was read for its own region from the provider's price list, so a figure the
    # provider charges on several continents is no copying error: say so, naming that price list.
    same = {f.offering for f in sanity.check(candidate, today) if f.rule == "uniform-across-continents"}
    for row in rows:
        if row["target"] in refreshed and row.get("skus") and _key(row) in same:  # not fallback rows
            row["uniform_price_ok_source"] = row["source"]
    return OfferingCatalog.model_validate(doc)


def fetch(inputs: Inputs, progress: Progress | None = None) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """Every refreshed provider's rows, sources and notes."""
    progress = progress or NoProgress()
    rows: list[dict[str, Any]] = []
    sources: dict[str, str] = {}
    notes: list[str] = []
    for provider in inputs.providers:
        r, s, n = (fetch_aws if provider == "aws" else fetch_gcp)(inputs, progress)
        rows, sources, notes = rows + r, sources | s, notes + n
    if inputs.fallbacks:
        rows, sources, notes = _fill_from_fallbacks(inputs, rows, sources, notes, progress)
    return rows, sources, notes


def _fill_from_fallbacks(
    inputs: Inputs, rows: list[dict[str, Any]], sources: dict[str, str], notes: list[str], progress: Progress
) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """Add SkyPilot rows for shapes x regions of the refreshed providers that their price lists left unpriced."""
    have = {_key(r) for r in rows}
    gpu_shapes, tpu_shapes = gke_shapes()
    tpus = tpu_regions()
    added: list[dict[str, Any]] = []
    for n, location in enumerate(inputs.fallbacks, 1):
        records = skypilot.read(location, progress)
        for row in skypilot.rows(
            records, location, aws_shapes(), gpu_shapes, tpu_shapes, catalog.regions().aws, catalog.regions().gcp
        ):
            if row["target"] in inputs.providers and _key(row) not in have and _offered(row, tpus):
                have.add(_key(row))
                added.append(row)
        sources = sources | {f"fallback_skypilot_{n}": location}
    if added:
        notes = [*notes, f"{len(added)} row(s) from the SkyPilot fallback (see each row's note)"]
    return rows + added, sources, notes


HEADER = """\
# Rentable shapes with their hourly prices, per region. Versioned data (see README.md).
# Written by `aistack catalog refresh` on {day}; re-run it to re-read every figure.
#
# Units: USD per hour for the whole VM / instance (all its chips), Linux, no commitment discount.
# Every row names its `source`, the day it was read (`as_of`) and the provider `skus` behind it:
#   AWS: the Price List bulk offer file of the region (on-demand, Linux, shared tenancy, no
#     pre-installed software, capacity status Used); skus = SKU.offerTermCode.rateCode. Spot is not
#     in the Price List: `spot_source` names the EC2 spot pricing page's public feed.
#   GCP: the Cloud Billing Catalog API. GPU VMs = host (vCPUs x core SKU + GiB x RAM SKU of the
#     machine family) + GPUs x GPU SKU, as Compute Engine bills them; spot from the "Spot
#     Preemptible" SKUs; TPUs = chips x the per-chip-hour SKU. skus = the SKU ids, on-demand first.
"""


class _Dumper(yaml.SafeDumper):
    """Mappings as blocks (one field a line: reviewable diffs); lists of scalars (SKU ids) on one line."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _list)


def to_yaml(new: OfferingCatalog) -> str:
    doc = new.model_dump(exclude_defaults=True, mode="json")
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=140, default_flow_style=False, allow_unicode=True)
    return HEADER.format(day=new.data_version) + body


def write_atomic(path: Path, text: str) -> None:
    """Write beside the target and rename over it: a reader never sees half a catalog."""
    path = path.resolve()
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600; keep the catalog readable as it was
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
