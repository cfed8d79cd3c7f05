"""AWS prices: the Price List bulk offer files (on-demand) and the spot pricing page's feed (spot).

Price List bulk API (public, no credentials), documented at
https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api.html
and the offer-file format at
https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-an-offer.html :

- region index ``/offers/v1.0/aws/AmazonEC2/current/region_index.json``: ``{"regions": {"us-east-1":
  {"regionCode": ..., "currentVersionUrl": "/offers/v1.0/aws/AmazonEC2/<version>/us-east-1/index.json"}}}``
- per-region offer file: ``{"version", "publicationDate", "products": {SKU: {"sku", "productFamily",
  "attributes": {...}}}, "terms": {"OnDemand": {SKU: {"SKU.OTC": {"offerTermCode", "priceDimensions":
  {"SKU.OTC.RC": {"rateCode", "unit": "Hrs", "pricePerUnit": {"USD": "98.3200000000"}}}}}}, "Reserved": ...}}``

Spot prices are not in the Price List. DescribeSpotPriceHistory needs credentials; the public source
is the feed behind https://aws.amazon.com/ec2/spot/pricing/ (``spot.json``: regions -> instanceTypes ->
sizes -> valueColumns linux/mswin -> prices.USD). It is undocumented, so rows say where spot came from.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from . import NoProgress, Progress, RefreshError, is_url, open_source
from .jsonstream import JsonStream

REGION_INDEX_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/region_index.json"
PRICE_LIST_DOCS = "https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api.html"
SPOT_FEED_URL = "https://website.spot.ec2.aws.a2z.com/spot.json"
SPOT_PAGE = "https://aws.amazon.com/ec2/spot/pricing/"

# The one product per instance type that is "an on-demand Linux instance you run yourself":
# shared tenancy, no pre-installed SQL etc., capacity actually used (not an unused reservation),
# no Windows/RHEL licence. Values as the offer files spell them.
_PRODUCT_FILTER = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}
_OPTIONAL_FILTER = {
    "licenseModel": "No License required",
    "operation": "RunInstances",  # RunInstances:0002 etc. are Windows/RHEL/SUSE
    "marketoption": "OnDemand",  # newer files; Capacity Block products say "CapacityBlock"
}
_FAMILIES = ("Compute Instance", "Compute Instance (bare metal)")

# Legacy spot-feed region names (older copies of the feed); current ones are region codes.
_SPOT_REGION_ALIASES = {
    "us-east": "us-east-1",
    "us-west": "us-west-1",
    "eu-ireland": "eu-west-1",
    "apac-sin": "ap-southeast-1",
    "apac-syd": "ap-southeast-2",
    "apac-tokyo": "ap-northeast-1",
}


class OnDemand(NamedTuple):
    region: str
    instance: str
    usd_per_hour: float
    rate_code: str  # SKU.offerTermCode.rateCode
    source: str  # the versioned offer file it came from


class OfferFile(NamedTuple):
    region: str
    location: str  # URL or path
    version: str


def region_offer_files(index: str, regions: Iterable[str]) -> tuple[list[OfferFile], list[str]]:
    """The current offer file of each wanted region listed in the region index, and the regions it lacks.

    ``index``: the region index URL, or a directory holding ``region_index.json`` with the offer files
    at the paths the index names (relative to the directory) or at ``<region>/index.json``.
    """
    location = index
    if not is_url(index) and Path(index).is_dir():
        location = str(Path(index) / "region_index.json")
    stream, _ = open_source(location)
    with stream:
        try:
            doc = json.load(stream)
        except ValueError as exc:
            raise RefreshError(
                f"{location}: not JSON ({exc})", f"pass the region index ({REGION_INDEX_URL})."
            ) from None
    listed = doc.get("regions") if isinstance(doc, dict) else None
    if not isinstance(listed, dict):
        raise RefreshError(f"{location}: no 'regions' object", f"pass the AmazonEC2 region index ({REGION_INDEX_URL}).")
    files: list[OfferFile] = []
    missing: list[str] = []
    for region in regions:
        entry = listed.get(region)
        url = entry.get("currentVersionUrl") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            missing.append(region)
            continue
        # /offers/v1.0/aws/AmazonEC2/<version>/<region>/index.json
        parts = url.strip("/").split("/")
        version = parts[-3] if len(parts) >= 3 else ""
        if is_url(location):
            files.append(OfferFile(region, urllib.parse.urljoin(location, url), version))
        else:
            base = Path(location).parent
            candidate = base / url.lstrip("/")
            files.append(
                OfferFile(region, str(candidate if candidate.exists() else base / region / "index.json"), version)
            )
    return files, missing


def _wanted(product: Any, region: str, instances: set[str]) -> str | None:
    """The instance type if this product is the on-demand Linux shared-tenancy SKU of one we price."""
    if not isinstance(product, dict) or product.get("productFamily") not in _FAMILIES:
        return None
    attrs = product.get("attributes")
    if not isinstance(attrs, dict) or attrs.get("instanceType") not in instances:
        return None
    if any(attrs.get(k) != v for k, v in _PRODUCT_FILTER.items()):
        return None
    if any(k in attrs and attrs[k] != v for k, v in _OPTIONAL_FILTER.items()):
        return None
    if attrs.get("regionCode", region) != region:
        return None
    return str(attrs["instanceType"])


def _hourly(sku: str, offers: Any) -> tuple[float, str] | None:
    """The one USD-per-hour price dimension of a SKU's on-demand terms, with its full rate code."""
    found: list[tuple[float, str]] = []
    for term in offers.values() if isinstance(offers, dict) else ():
        dimensions = term.get("priceDimensions") if isinstance(term, dict) else None
        for dim in dimensions.values() if isinstance(dimensions, dict) else ():
            if not isinstance(dim, dict) or dim.get("unit") != "Hrs":
                continue
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            try:
                price = float(str(usd))
            except (TypeError, ValueError):
                continue
            code = str(dim.get("rateCode", ""))
            if not code.startswith(f"{sku}."):  # the format documents rateCode as SKU.offerTermCode.rateCode
                code = f"{sku}.{term.get('offerTermCode', '')}.{code}"
            found.append((price, code))
    if len(found) != 1 or found[0][0] <= 0:  # 0.00 = listed but not sold; several = not the plain hourly rate
        return None
    return found[0]


def read_offer_file(
    offer: OfferFile, instances: set[str], progress: Progress | None = None
) -> tuple[list[OnDemand], list[str]]:
    """Stream one region's offer file: the on-demand hourly price of each wanted instance type.

    Returns the prices and notes on what was ambiguous (several matching products) and so left out.
    """
    progress = progress or NoProgress()
    stream, size = open_source(offer.location)
    progress.begin(f"AWS {offer.region} offer file", size)
    skus: dict[str, str] = {}  # SKU -> instance type
    dupes: set[str] = set()
    terms: dict[str, Any] = {}  # SKU -> its OnDemand offers (only for wanted SKUs, or all if terms come first)
    products_seen = False
    with stream:
        doc = JsonStream(stream, offer.location, progress.advance)
        for key in doc.members():
            if key == "products":
                for sku in doc.members():
                    instance = _wanted(doc.value(), offer.region, instances)
                    if instance is None:
                        continue
                    if instance in skus.values():
                        dupes.add(instance)
                    skus[sku] = instance
                products_seen = True
            elif key == "terms":
                for term_type in doc.members():
                    if term_type != "OnDemand":
                        doc.skip()
                        continue
                    for sku in doc.members():
                        offers = doc.value()
                        if sku in skus or not products_seen:
                            terms[sku] = offers
            else:
                doc.skip()
    notes = [f"AWS {offer.region} {i}: several Linux/Shared/NA/Used products; left out" for i in sorted(dupes)]
    prices: list[OnDemand] = []
    for sku, instance in sorted(skus.items(), key=lambda kv: kv[1]):
        if instance in dupes:
            continue
        hourly = _hourly(sku, terms.get(sku))
        if hourly is None:
            notes.append(f"AWS {offer.region} {instance}: no single USD/Hrs on-demand rate for SKU {sku}; left out")
            continue
        prices.append(OnDemand(offer.region, instance, hourly[0], hourly[1], offer.location))
    progress.end(f"{len(prices)} on-demand prices")
    return prices, notes


def read_spot_feed(location: str, progress: Progress | None = None) -> dict[tuple[str, str], float]:
    """(region, instance type) -> Linux spot USD/h from the spot pricing page's feed (JSON or JSONP)."""
    progress = progress or NoProgress()
    stream, size = open_source(location)
    progress.begin("AWS spot price feed", size)
    with stream:
        raw = stream.read()
    progress.advance(len(raw))
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("callback("):  # the page's JSONP wrapper
        text = text.removeprefix("callback(").rstrip(";").removesuffix(")")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RefreshError(f"{location}: not the spot price feed ({exc})", f"pass {SPOT_FEED_URL}.") from None
    out: dict[tuple[str, str], float] = {}
    for region in (doc.get("config") or {}).get("regions") or ():
        code = _SPOT_REGION_ALIASES.get(region.get("region", ""), region.get("region", ""))
        for group in region.get("instanceTypes") or ():
            for size_ in group.get("sizes") or ():
                for column in size_.get("valueColumns") or ():
                    if column.get("name") != "linux":
                        continue
                    try:
                        price = float(str((column.get("prices") or {}).get("USD")))
                    except (TypeError, ValueError):  # "N/A*": not offered there
                        continue
                    if price > 0:
                        out[(code, str(size_.get("size")))] = price
    progress.end(f"{len(out)} Linux spot prices")
    return out
