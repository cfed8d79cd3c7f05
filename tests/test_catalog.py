"""The offerings catalog's sanity rules: the shipped catalog passes them, and each rule catches
the copying error it exists for (a synthetic catalog that breaks it must produce its finding)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from foundation import catalog
from foundation.catalog import OfferingCatalog, sanity

TODAY = datetime.date(2026, 12, 1)


def cat(*rows: dict[str, Any]) -> OfferingCatalog:
    return OfferingCatalog.model_validate(
        {"schema_version": 2, "data_version": "t", "sources": {}, "offerings": list(rows)}
    )


def aws(region: str, price: float, spot: float | None = None, **extra: Any) -> dict[str, Any]:
    row = {
        "target": "aws",
        "region": region,
        "accelerator": "nvidia-a10g",
        "instance": "g5.xlarge",
        "chips": 1,
        "usd_per_hour": price,
        "source": "https://example.test/aws",
        "as_of": "2026-11-30",
    }
    if spot is not None:
        row["spot_usd_per_hour"] = spot
    return row | extra


def gcp_gpu(region: str, vm: float, gpus: float, **extra: Any) -> dict[str, Any]:
    row = {
        "target": "gcp",
        "region": region,
        "accelerator": "nvidia-h100-80gb",
        "instance": "a3-highgpu-1g",
        "chips": 1,
        "vm_usd_per_hour": vm,
        "accelerators_usd_per_hour": gpus,
        "source": "https://example.test/gcp",
        "as_of": "2026-11-30",
    }
    return row | extra


def rules(c: OfferingCatalog, today: datetime.date = TODAY) -> dict[str, list[sanity.Finding]]:
    out: dict[str, list[sanity.Finding]] = {}
    for f in sanity.check(c, today):
        out.setdefault(f.rule, []).append(f)
    return out


# --------------------------------------------------------------------------- the shipped catalog
def test_shipped_catalog_has_no_sanity_errors() -> None:
    """Checked as of the day the catalog was last refreshed (its data_version), not the day the test runs:
    the result does not change with the calendar."""
    shipped = catalog.offerings()
    refreshed = datetime.date.fromisoformat(shipped.data_version)
    findings = sanity.check(shipped, refreshed)
    errors = sanity.errors(findings)
    assert not errors, "\n".join(map(str, errors))
    # Stale rows are allowed but must be reported, never silently dropped.
    assert all(f.severity == "stale" and f.rule == "age" for f in findings)
    # A day earlier the newest figures would be dated in the future: the date really is what is checked.
    early = sanity.errors(sanity.check(shipped, refreshed - datetime.timedelta(days=1)))
    assert early and all(f.rule == "age" and "is after today" in f.message for f in early)


def test_every_sold_accelerator_is_priced_or_excluded_with_a_reason() -> None:
    offers = catalog.offerings()
    priced = {(o.target, o.accelerator) for o in offers.offerings}
    excluded = {(e.target, e.accelerator) for e in offers.excluded}
    for acc in catalog.accelerators().accelerators:
        for target in set(acc.targets) & {"gcp", "aws"}:
            assert (target, acc.id) in priced | excluded, f"{acc.id} on {target}: no price and no exclusion"
    # H100 PCIe is not sold by either cloud: the catalog says so explicitly.
    assert {("gcp", "nvidia-h100-pcie-80gb"), ("aws", "nvidia-h100-pcie-80gb")} <= excluded


def test_exclusions_name_known_accelerators_regions_and_a_reason() -> None:
    accs = catalog.accelerators()
    for e in catalog.offerings().excluded:
        assert accs.get(e.accelerator) is not None, e.accelerator
        assert len(e.reason) > 20 and e.sources, e
        if e.region is not None:
            assert e.region in catalog.regions().for_target(e.target), e.region


def test_purchase_options_are_sourced_and_only_where_the_provider_sells_them() -> None:
    rows = [o for o in catalog.offerings().offerings if o.purchase_options]
    assert rows, "capacity blocks expected on the AWS P-family rows"
    for o in rows:
        for p in o.purchase_options:
            assert p.source.startswith("https://") and p.as_of
            if p.kind == "capacity-block":
                assert o.target == "aws" and o.instance.startswith(("p4", "p5", "p6", "trn"))
                # AWS docs: 1-day steps up to 14 days, 7-day steps up to 182 days, up to 8 weeks ahead.
                assert (p.min_hours, p.max_hours, p.lead_time_days) == (24, 182 * 24, 56)


def test_flex_start_options_carry_gcp_dws_constraints() -> None:
    rows = [o for o in catalog.offerings().offerings if o.purchase("flex-start") is not None]
    assert rows, "the DWS flex-start price of a2-highgpu-1g in us-central1 is expected"
    for o in rows:
        flex = o.purchase("flex-start")
        assert flex is not None and o.target == "gcp"
        # GCP docs: flex-start VMs run for at most seven days and start when capacity is found.
        assert (flex.max_hours, flex.lead_time_days) == (168, None)
        assert flex.usd_per_hour < o.on_demand and (o.spot is None or flex.usd_per_hour > 0.5 * o.spot)


def test_offering_lookup_helpers() -> None:
    row = next(o for o in catalog.offerings().offerings if o.purchase("capacity-block") is not None)
    assert row.purchase("capacity-block") is row.purchase_options[0]
    assert row.purchase("flex-start") is None
    assert row.key == f"aws/{row.region}/{row.instance}"


def test_no_shipped_row_is_blocked_by_its_own_exclusions() -> None:
    # An exclusion names figures a refresh must not bring back; if it matched a shipped row, the next
    # refresh from the same source would silently drop that row.
    offers = catalog.offerings()
    for o in offers.offerings:
        for e in offers.excluded:
            assert not e.blocks(o.target, o.accelerator, o.region, o.instance, o.source), (o.key, e.reason)


def test_every_priced_accelerator_has_a_us_row_and_an_eu_row_or_a_reason() -> None:
    offers = catalog.offerings()
    regions = catalog.regions()
    priced = {(o.target, o.accelerator) for o in offers.offerings}
    for target, acc in sorted(priced):
        rows = [o for o in offers.offerings if (o.target, o.accelerator) == (target, acc)]
        assert any(sanity.continent(o.region) == "north-america" for o in rows), f"{target} {acc}: no US row"
        assert any(o.spot is not None for o in rows), f"{target} {acc}: no spot price anywhere"
        eu_row = any(regions.for_target(target)[o.region].eu for o in rows)
        eu_reason = any(
            (e.target, e.accelerator) == (target, acc) and (e.region is None or regions.for_target(target)[e.region].eu)
            for e in offers.excluded
        )
        assert eu_row or eu_reason, f"{target} {acc}: no EU row and no exclusion saying why"


# --------------------------------------------------------------------------- each rule, broken on purpose
def test_spot_at_or_above_on_demand_is_an_error() -> None:
    found = rules(cat(aws("us-east-1", 1.0, spot=1.2)))
    assert [f.severity for f in found["spot-below-on-demand"]] == ["error"]
    assert not rules(cat(aws("us-east-1", 1.0, spot=0.4)))


def test_gcp_gpu_spot_part_above_its_on_demand_part_is_an_error() -> None:
    row = gcp_gpu("us-east4", 1.0, 10.0, vm_spot_usd_per_hour=0.2, accelerators_spot_usd_per_hour=10.5)
    found = rules(cat(row))["spot-below-on-demand"]
    assert any("GPU spot" in f.message for f in found)


def test_flex_start_above_on_demand_is_an_error() -> None:
    flex = {"kind": "flex-start", "usd_per_hour": 11.5, "source": "https://example.test", "as_of": "2026-11-30"}
    found = rules(cat(gcp_gpu("us-east4", 1.0, 9.8, purchase_options=[flex])))
    assert "flex-start" in found["spot-below-on-demand"][0].message
    assert "purchase-option" not in found


def test_purchase_option_on_the_wrong_provider_or_far_above_on_demand_is_an_error() -> None:
    def option(kind: str, price: float) -> dict[str, Any]:
        return {"kind": kind, "usd_per_hour": price, "source": "https://example.test", "as_of": "2026-11-30"}

    (wrong,) = rules(cat(aws("us-east-1", 1.0, purchase_options=[option("flex-start", 0.5)])))["purchase-option"]
    assert "aws does not sell flex-start" in wrong.message
    block_on_gcp = gcp_gpu("us-east4", 1.0, 9.8, purchase_options=[option("capacity-block", 5.0)])
    assert "gcp does not sell capacity-block" in rules(cat(block_on_gcp))["purchase-option"][0].message
    (dear,) = rules(cat(aws("us-east-1", 1.0, purchase_options=[option("capacity-block", 1.3)])))["purchase-option"]
    assert "1.30x on-demand" in dear.message
    # At or a little above on-demand (demand peak) is allowed; so is a reservation on either cloud.
    fine = [option("capacity-block", sanity.PURCHASE_MAX_RATIO * 1.0), option("reservation", 0.7)]
    assert "purchase-option" not in rules(cat(aws("us-east-1", 1.0, purchase_options=fine)))


def test_price_outside_the_band_is_named_with_median_and_ratio() -> None:
    c = cat(aws("us-east-1", 1.0), aws("us-west-2", 1.05), aws("eu-west-1", 0.5))
    (finding,) = rules(c)["price-band"]
    assert finding.offering == "aws/eu-west-1/g5.xlarge"
    assert "median 1.0000" in finding.message and "0.50x" in finding.message
    # Inside the band (0.75-1.6x of the median): no finding.
    assert "price-band" not in rules(cat(aws("us-east-1", 1.0), aws("eu-west-1", 1.3)))


def test_gcp_gpu_part_outside_the_band_is_caught_even_when_the_host_hides_it() -> None:
    # The per-chip VM price is within band, but the GPU part alone is halved.
    c = cat(gcp_gpu("us-east4", 1.0, 9.8), gcp_gpu("us-east5", 1.0, 11.0), gcp_gpu("europe-west1", 6.0, 4.6))
    assert any("per-GPU part" in f.message and "europe-west1" in f.offering for f in rules(c)["price-band"])


def test_gcp_gpu_vm_must_be_host_plus_gpus() -> None:
    whole = gcp_gpu("us-east4", 1.0, 9.8) | {"usd_per_hour": 11.0}
    assert "host-plus-gpus" in rules(cat(whole))
    no_host = {k: v for k, v in gcp_gpu("us-east4", 1.0, 9.8).items() if k != "vm_usd_per_hour"}
    no_host["usd_per_hour"] = 9.8
    assert "host-plus-gpus" in rules(cat(no_host))
    half_spot = gcp_gpu("us-east4", 1.0, 9.8, vm_spot_usd_per_hour=0.2)
    assert "host-plus-gpus" in rules(cat(half_spot))
    parts_on_aws = aws("us-east-1", 1.0, vm_usd_per_hour=0.5)
    assert "host-plus-gpus" in rules(cat(parts_on_aws))
    assert "host-plus-gpus" not in rules(cat(gcp_gpu("us-east4", 1.0, 9.8)))


def test_same_figure_on_two_continents_needs_the_providers_word() -> None:
    c = cat(gcp_gpu("us-east4", 1.0, 4.20076), gcp_gpu("asia-northeast1", 1.1, 4.20076))
    found = rules(c)["uniform-across-continents"]
    assert {f.offering for f in found} == {"gcp/us-east4/a3-highgpu-1g", "gcp/asia-northeast1/a3-highgpu-1g"}
    ok = "https://cloud.google.com/compute/gpus-pricing"
    flagged = cat(
        gcp_gpu("us-east4", 1.0, 4.20076, uniform_price_ok_source=ok),
        gcp_gpu("asia-northeast1", 1.1, 4.20076, uniform_price_ok_source=ok),
    )
    assert "uniform-across-continents" not in rules(flagged)
    # The same figure within one continent is normal (US regions often share a price).
    assert "uniform-across-continents" not in rules(cat(gcp_gpu("us-east4", 1.0, 9.8), gcp_gpu("us-east5", 1.1, 9.8)))


def test_purchase_window_must_be_ordered() -> None:
    bad = {
        "kind": "capacity-block",
        "usd_per_hour": 0.5,
        "min_hours": 48,
        "max_hours": 24,
        "source": "https://example.test",
        "as_of": "2026-11-30",
    }
    assert "purchase-option" in rules(cat(aws("us-east-1", 1.0, purchase_options=[bad])))


def test_old_prices_are_reported_stale_and_future_ones_are_errors() -> None:
    old = (TODAY - datetime.timedelta(days=sanity.MAX_AGE_DAYS + 1)).isoformat()
    (finding,) = rules(cat(aws("us-east-1", 1.0, as_of=old)))["age"]
    assert finding.severity == "stale" and "days old" in finding.message
    fresh = (TODAY - datetime.timedelta(days=sanity.MAX_AGE_DAYS)).isoformat()
    assert "age" not in rules(cat(aws("us-east-1", 1.0, as_of=fresh)))
    (future,) = rules(cat(aws("us-east-1", 1.0, as_of="2027-01-01")))["age"]
    assert future.severity == "error"
    stale_spot = aws("us-east-1", 1.0, spot=0.3, spot_as_of=old)
    assert rules(cat(stale_spot))["age"][0].message.startswith("spot price")


def test_errors_filter_keeps_only_errors() -> None:
    findings = sanity.check(cat(aws("us-east-1", 1.0, spot=2.0, as_of="2020-01-01")), TODAY)
    assert {f.severity for f in findings} == {"error", "stale"}
    assert all(f.severity == "error" for f in sanity.errors(findings))


@pytest.mark.parametrize(
    ("region", "continent"),
    [
        ("us-central1", "north-america"),
        ("northamerica-northeast2", "north-america"),
        ("europe-west4", "europe"),
        ("eu-north-1", "europe"),
        ("ap-southeast-2", "oceania"),
        ("ap-south-1", "asia"),
        ("me-west1", "middle-east"),
        ("il-central-1", "middle-east"),
        ("sa-east-1", "south-america"),
        ("af-south-1", "africa"),
    ],
)
def test_continent_of_region(region: str, continent: str) -> None:
    assert sanity.continent(region) == continent


def test_every_catalog_region_has_a_known_continent() -> None:
    regions = catalog.regions()
    for name in [*regions.gcp, *regions.aws]:
        assert sanity.continent(name) != "unknown", name


def test_every_tpu_offering_has_a_zone_of_its_generation_in_the_region() -> None:
    for o in catalog.offerings().offerings:
        if o.accelerator.startswith("tpu-"):
            gen = catalog.gke().tpus[o.accelerator]
            assert any(z.rsplit("-", 1)[0] == o.region for z in gen.zones), f"{o.key}: no zone in gke.yaml"
            assert o.chips in gen.machine_types and gen.machine_types[o.chips] == o.instance, o.key


def test_exclusion_scope_decides_what_a_refresh_may_bring_back() -> None:
    offers = catalog.offerings()
    wrong = next(e for e in offers.excluded if e.accelerator == "nvidia-h100-80gb" and e.region == "us-central1")
    sky = wrong.sources[0]
    assert wrong.blocks("gcp", "nvidia-h100-80gb", "us-central1", "a3-highgpu-1g", sky)
    # The same shape read from the provider's own billing API is not blocked (it still faces the sanity rules).
    assert not wrong.blocks("gcp", "nvidia-h100-80gb", "us-central1", "a3-highgpu-1g", "https://cloudbilling.test")
    assert not wrong.blocks("gcp", "nvidia-h100-80gb", "us-east4", "a3-highgpu-1g", sky)
    pcie = next(e for e in offers.excluded if e.accelerator == "nvidia-h100-pcie-80gb" and e.target == "aws")
    assert pcie.scope == "shape" and pcie.blocks("aws", "nvidia-h100-pcie-80gb", "us-east-1", "any", "anything")
