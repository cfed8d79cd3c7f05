"""`aistack catalog refresh|check` against the providers' documented price formats, served on loopback.

The fixtures (tests/fixtures/pricing/) are small documents in the formats AWS and Google document:
an AmazonEC2 region index and two per-region offer files (with the distractor products a real file
has: Windows, dedicated, SQL, unused reservations, capacity blocks, reserved terms), the EC2 spot
pricing page's feed, and a two-page Billing Catalog SKU list (with commitment, DWS, sole-tenancy and
reserved SKUs that must not be taken for list prices). A real http.server on 127.0.0.1 serves them,
so the refresher's own HTTP code runs, and records each request for the assertions.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.cli import main
from foundation.catalog import OfferingCatalog
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "pricing"
SHIPPED = ROOT / "foundation" / "catalog" / "offerings.yaml"
KEY = "AIzaTEST-not-a-real-key-0123456789"
KEY_ENV = "TEST_AISTACK_BILLING_KEY"
OFFERS = "offers/v1.0/aws/AmazonEC2"
PAGE_2_TOKEN = json.loads((FIXTURES / "gcp" / "compute-page-1.json").read_text())["nextPageToken"]


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]
    fail_once: set[str]  # page tokens answered 503 the first time (a transient server error)

    def log_message(self, *_: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.requests.append({"path": url.path, "query": query, "headers": dict(self.headers)})
        if url.path.startswith("/offers/") or url.path == "/spot.json":
            file = FIXTURES / "aws" / url.path.lstrip("/")
            return self._send(200, file.read_bytes()) if file.is_file() else self._send(404, b"{}")
        parts = url.path.strip("/").split("/")  # v1/services/<id>/skus
        if len(parts) != 4 or parts[:2] != ["v1", "services"] or parts[3] != "skus":
            return self._send(404, b"{}")
        if self.headers.get("X-Goog-Api-Key") != KEY:  # what the Billing API answers a bad key
            error = {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                }
            }
            return self._send(400, json.dumps(error).encode())
        pages = {
            ("6F81-5844-456A", ""): "compute-page-1.json",
            ("6F81-5844-456A", PAGE_2_TOKEN): "compute-page-2.json",
            ("E000-3F24-B8AA", ""): "tpu-page-1.json",
        }
        token = query.get("pageToken", "")
        if token in self.fail_once:
            self.fail_once.discard(token)
            return self._send(
                503, b'{"error": {"code": 503, "message": "backend unavailable", "status": "UNAVAILABLE"}}'
            )
        name = pages.get((parts[2], token))
        if name is None:
            return self._send(
                400, b'{"error": {"code": 400, "message": "bad page token", "status": "INVALID_ARGUMENT"}}'
            )
        self._send(200, (FIXTURES / "gcp" / name).read_bytes())


Server = tuple[str, list[dict[str, Any]], set[str]]


@pytest.fixture
def server() -> Iterator[Server]:
    """A loopback server for the fixtures: its base URL, the requests it saw, page tokens to fail once."""
    seen: list[dict[str, Any]] = []
    fail_once: set[str] = set()
    handler = type("Handler", (_Handler,), {"requests": seen, "fail_once": fail_once})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen, fail_once
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _shipped_catalog_untouched() -> Iterator[None]:
    before = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    yield
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == before, "a test changed the shipped offerings.yaml"


OLD: dict[str, Any] = {
    "schema_version": 2,
    "data_version": "2026-11-24",
    "sources": {"aws": "https://example.invalid/old-aws", "gcp": "https://example.invalid/old-gcp"},
    "offerings": [
        {"target": "aws", "region": "us-east-1", "accelerator": "nvidia-h100-80gb", "instance": "p5.48xlarge",
         "chips": 8, "usd_per_hour": 98.32, "spot_usd_per_hour": 20.9934, "source": "https://example.invalid/old-aws",
         "as_of": "2026-11-24",
         "purchase_options": [{"kind": "capacity-block", "usd_per_hour": 31.464, "min_hours": 24, "max_hours": 4368,
                               "lead_time_days": 56, "source": "https://aws.amazon.com/ec2/capacityblocks/pricing/",
                               "as_of": "2026-11-24"}]},
        {"target": "aws", "region": "eu-central-1", "accelerator": "nvidia-a100-40gb", "instance": "p4d.24xlarge",
         "chips": 8, "usd_per_hour": 40.94475, "source": "https://example.invalid/old-aws", "as_of": "2026-11-24"},
        {"target": "gcp", "region": "us-central1", "accelerator": "nvidia-h100-80gb", "instance": "a3-highgpu-8g",
         "chips": 8, "vm_usd_per_hour": 9.46006, "accelerators_usd_per_hour": 33.60609,
         "source": "https://example.invalid/old-gcp", "as_of": "2026-11-24"},
    ],
    "excluded": [
        {"target": "aws", "accelerator": "nvidia-a100-40gb", "region": "eu-west-1", "instance": "p4d.24xlarge",
         "reason": "test: a shape the catalog leaves out on purpose", "scope": "shape"},
        # A wrong figure from another source: the provider's own price list brings the shape back.
        {"target": "aws", "accelerator": "nvidia-h100-80gb", "region": "eu-west-1", "instance": "p5.48xlarge",
         "reason": "test: the fallback source printed a wrong figure", "scope": "source",
         "sources": ["https://example.invalid/skypilot/vms.csv"]},
    ],
}  # fmt: skip


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def old_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "offerings.yaml"
    path.write_text(yaml.safe_dump(OLD, sort_keys=False))
    return path


def refresh_args(base: str, out: Path, *extra: str) -> list[str]:
    return [
        "catalog", "refresh",
        "--aws-offers", f"{base}/{OFFERS}/current/region_index.json",
        "--aws-spot", f"{base}/spot.json",
        "--gcp-endpoint", base,
        "--gcp-api-key-env", KEY_ENV,
        "--out", str(out), *extra,
    ]  # fmt: skip


def rows(path: Path) -> dict[str, Any]:
    catalog = OfferingCatalog.model_validate(yaml.safe_load(path.read_text()))
    return {o.key: o for o in catalog.offerings}


def test_refresh_writes_each_figure_from_its_sku(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen, _ = server
    monkeypatch.setenv(KEY_ENV, KEY)
    out = old_catalog(tmp_path)
    before = _today()
    code, stdout, stderr = run(*refresh_args(base, out))
    read_on = {before, _today()}  # the day the refresh ran (two days if it ran across midnight UTC)
    assert code == 0, stdout + stderr
    got = rows(out)

    # AWS: the Linux / Shared / NA / Used / OnDemand product of each instance type, not its distractors.
    p5 = got["aws/us-east-1/p5.48xlarge"]
    assert p5.usd_per_hour == 55.04 and p5.spot_usd_per_hour == 30.12
    assert p5.skus == ("E1P5LINUXSHARED1.JRTCKXETXF.6YS6EN2CT7",)
    assert p5.source == f"{base}/{OFFERS}/20261120000000/us-east-1/index.json"
    assert p5.spot_source is not None and "spot.json" in p5.spot_source and p5.spot_as_of in read_on
    assert p5.as_of in read_on
    assert [p.kind for p in p5.purchase_options] == ["capacity-block"]  # carried: no price list has it
    assert got["aws/eu-west-1/p5.48xlarge"].usd_per_hour == 60.5  # excluded for another source's figure only
    assert got["aws/us-east-1/p4d.24xlarge"].spot_usd_per_hour == 9.102
    # A spot figure above on-demand (eu-west-1 trn1: 25 vs 21.5) is not a discount: left out, not written.
    trn1 = got["aws/eu-west-1/trn1.32xlarge"]
    assert trn1.usd_per_hour == 21.5 and trn1.spot_usd_per_hour is None
    # The same figure on two continents, each read from its own region's offer file: marked as such.
    assert trn1.uniform_price_ok_source == trn1.source
    assert "aws/eu-west-1/p4d.24xlarge" not in got  # listed under excluded:
    assert not [k for k in got if "us-gov-west-1" in k or "m5.large" in k]  # not in regions.yaml / eks.yaml
    assert "aws/eu-central-1/p4d.24xlarge" not in got  # no longer priced: gone, and the diff says so

    # GCP: host = vCPUs x core SKU + GiB x RAM SKU (A3: 208 vCPUs, 1872 GiB), GPUs = 8 x H100 SKU.
    a3 = got["gcp/us-central1/a3-highgpu-8g"]
    assert a3.vm_usd_per_hour == pytest.approx(208 * 0.025498 + 1872 * 0.00222)
    assert a3.accelerators_usd_per_hour == pytest.approx(8 * 4.2)
    assert a3.vm_spot_usd_per_hour == pytest.approx(208 * 0.00612 + 1872 * 0.00053)
    assert a3.accelerators_spot_usd_per_hour == pytest.approx(8 * 2.253)
    assert a3.skus == (
        "A3C0-US01-CORE",
        "A3R0-US01-RAM0",
        "H100-US01-GPU0",
        "A3C0-US01-SPOT",
        "A3R0-US01-SPOT",
        "H100-US01-SPOT",
    )
    assert got["gcp/us-central1/a3-highgpu-1g"].vm_usd_per_hour == pytest.approx(26 * 0.025498 + 234 * 0.00222)
    # The second page (europe-west4, TPUs) was only reachable through nextPageToken.
    eu = got["gcp/europe-west4/a3-highgpu-8g"]
    assert eu.accelerators_usd_per_hour == pytest.approx(8 * 4.62) and eu.spot is None
    # A2 SKUs price A2 VMs only; the A100 40GB SKU their GPUs.
    a2 = got["gcp/us-central1/a2-highgpu-8g"]
    assert a2.vm_usd_per_hour == pytest.approx(96 * 0.031611 + 680 * 0.004237)
    assert a2.accelerators_usd_per_hour == pytest.approx(8 * 2.933908)
    v6e = got["gcp/us-central1/ct6e-standard-8t"]
    assert v6e.usd_per_hour == pytest.approx(8 * 2.7) and v6e.spot_usd_per_hour == pytest.approx(8 * 0.648333)
    assert v6e.skus == ("V6E0-US01-CHIP", "V6E0-US01-SPOT")
    assert "gcp/us-central2/ct4p-hightpu-4t" not in got  # v4 SKUs are not per chip: not guessed
    assert "gcp/asia-northeast1/ct6e-standard-8t" not in got  # a SKU, but gke.yaml lists no v6e zone there
    assert not [k for k in got if "a3-ultragpu" in k or "a2-ultragpu" in k]  # no H200 / A100 80GB SKU served

    # The Billing API: every page asked for, the key in the header it takes, never in a URL or the output.
    skus = [r for r in seen if r["path"].endswith("/skus")]
    assert [(r["path"].split("/")[3], r["query"].get("pageToken")) for r in skus] == [
        ("6F81-5844-456A", None),
        ("6F81-5844-456A", PAGE_2_TOKEN),
        ("E000-3F24-B8AA", None),
    ]
    assert all(r["headers"].get("X-Goog-Api-Key") == KEY and "key" not in r["query"] for r in skus)
    assert all(r["query"]["currencyCode"] == "USD" for r in skus)
    assert KEY not in stdout + stderr and KEY not in out.read_text()
    assert {r["path"] for r in seen if r["path"].endswith("/index.json")} == {
        f"/{OFFERS}/20261120000000/us-east-1/index.json",
        f"/{OFFERS}/20261120000000/eu-west-1/index.json",
    }  # us-gov-west-1 is in the index but not in regions.yaml: never downloaded

    # The diff: what moved, by how much; what is new; what is gone. Plain progress lines in a pipe.
    assert "aws/us-east-1/p5.48xlarge" in stdout and "-44.0%" in stdout  # 98.32 -> 55.04
    assert "aws/eu-central-1/p4d.24xlarge" in stdout and "gone" in stdout
    assert "new" in stdout
    assert "reading AWS us-east-1 offer file" in stderr and "GCP SKUs of service 6F81-5844-456A" in stderr
    assert f"wrote {len(got)} rows" in stdout


def test_sanity_error_stops_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A price the sanity rules reject (one region's p5 at 5.5x another's) leaves the catalog as it was.

    Also the directory form of --aws-offers: region_index.json with <region>/index.json beside it.
    """
    offers = tmp_path / "offers"
    offers.mkdir()
    shutil.copy(FIXTURES / "aws" / OFFERS / "current" / "region_index.json", offers / "region_index.json")
    for region in ("us-east-1", "eu-west-1"):
        (offers / region).mkdir()
        shutil.copy(
            FIXTURES / "aws" / OFFERS / "20261120000000" / region / "index.json", offers / region / "index.json"
        )
    eu = offers / "eu-west-1" / "index.json"
    eu.write_text(eu.read_text().replace('"USD": "60.5000000000"', '"USD": "300.0000000000"'))
    out = old_catalog(tmp_path)
    before = out.read_bytes()
    code, stdout, stderr = run(
        "catalog", "refresh", "--only", "aws", "--aws-offers", str(offers),
        "--aws-spot", str(FIXTURES / "aws" / "spot.json"), "--out", str(out),
    )  # fmt: skip
    assert code == 1, stdout + stderr
    assert "price-band" in stderr and "aws/eu-west-1/p5.48xlarge" in stderr
    assert "was not written" in stderr
    assert out.read_bytes() == before
    assert "300.0000" in stdout  # the diff still shows what the refresh read
    assert not list(tmp_path.glob(".offerings.yaml.*"))  # no temp file left behind


def test_only_one_provider_keeps_the_other_and_dry_run_writes_nothing(server: Server, tmp_path: Path) -> None:
    base, seen, _ = server
    out = old_catalog(tmp_path)
    before = out.read_bytes()
    code, stdout, stderr = run(*refresh_args(base, out, "--only", "aws", "--dry-run"))
    assert code == 0, stdout + stderr
    assert out.read_bytes() == before
    assert "dry run" in stdout and "-44.0%" in stdout
    assert "gcp/us-central1/a3-highgpu-8g" not in stdout  # kept as it was: nothing moved there
    assert not [r for r in seen if r["path"].endswith("/skus")]  # GCP not asked, no key needed

    code, stdout, stderr = run(*refresh_args(base, out, "--only", "aws"))
    assert code == 0, stdout + stderr
    got = rows(out)
    assert got["gcp/us-central1/a3-highgpu-8g"].vm_usd_per_hour == 9.46006  # the other provider's row, untouched
    assert got["aws/us-east-1/p5.48xlarge"].usd_per_hour == 55.04


def test_gcp_key_missing_or_wrong(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _, _ = server
    out = old_catalog(tmp_path)
    monkeypatch.delenv(KEY_ENV, raising=False)
    code, _, stderr = run(*refresh_args(base, out))
    assert code == 2 and KEY_ENV in stderr and "To fix" in stderr

    monkeypatch.setenv(KEY_ENV, "AIza-wrong-key-42")
    code, stdout, stderr = run(*refresh_args(base, out))
    assert code == 2, stdout + stderr
    assert "API key not valid" in stderr and "AIza-wrong-key-42" not in stdout + stderr
    assert yaml.safe_load(out.read_text()) == OLD


def test_stream_reader_survives_any_chunk_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offer file read 7 bytes at a time gives the same prices as read whole."""
    from foundation.catalog.refresh import aws, jsonstream

    offer = aws.OfferFile("us-east-1", str(FIXTURES / "aws" / OFFERS / "20261120000000/us-east-1/index.json"), "v")
    wanted = {"p5.48xlarge", "p4d.24xlarge", "trn1.32xlarge"}
    whole, _ = aws.read_offer_file(offer, wanted)
    monkeypatch.setattr(jsonstream, "CHUNK", 7)
    chunked, _ = aws.read_offer_file(offer, wanted)
    assert chunked == whole
    assert {p.instance: p.usd_per_hour for p in whole} == {
        "p5.48xlarge": 55.04,
        "p4d.24xlarge": 21.96,
        "trn1.32xlarge": 21.5,
    }


def test_stream_reader_rejects_a_truncated_file(tmp_path: Path) -> None:
    from foundation.catalog.refresh import RefreshError, aws

    text = (FIXTURES / "aws" / OFFERS / "20261120000000/us-east-1/index.json").read_text()
    cut = tmp_path / "index.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(RefreshError, match=r"ends early|not the JSON"):
        aws.read_offer_file(aws.OfferFile("us-east-1", str(cut), "v"), {"p5.48xlarge"})


def test_check_command(tmp_path: Path) -> None:
    good = old_catalog(tmp_path)
    code, stdout, _ = run("catalog", "check", str(good))
    assert code == 0 and "0 error(s)" in stdout
    bad = dict(OLD, offerings=[dict(OLD["offerings"][0], spot_usd_per_hour=120.0)])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    code, stdout, stderr = run("catalog", "check", str(path))
    assert code == 1 and "spot-below-on-demand" in stderr
    path.write_text("schema_version: 2\noffers: []\n")
    code, _, stderr = run("catalog", "check", str(path))
    assert code == 2 and "To fix" in stderr


def test_progress_bar_on_a_terminal(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the same steps show as a rich progress bar (one task per source, with its summary)."""
    from rich.console import Console

    from aistack.cli import catalog as cli_catalog

    screen = io.StringIO()
    monkeypatch.setattr(cli_catalog, "err", Console(file=screen, force_terminal=True, width=120))
    base, _, _ = server
    code, stdout, stderr = run(*refresh_args(base, old_catalog(tmp_path), "--only", "aws", "--dry-run"))
    assert code == 0, stdout + stderr
    shown = screen.getvalue()
    assert "AWS us-east-1 offer file: 3 on-demand prices" in shown and "\x1b[" in shown  # styled, redrawn
    assert "reading AWS" not in shown  # not the plain lines


def test_skypilot_fallback_fills_only_gaps(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _, _ = server
    monkeypatch.setenv(KEY_ENV, KEY)
    out = old_catalog(tmp_path)
    csv = FIXTURES / "skypilot" / "vms.csv"
    code, stdout, stderr = run(*refresh_args(base, out, "--fallback-skypilot", str(csv)))
    assert code == 0, stdout + stderr
    got = rows(out)
    assert got["aws/us-east-1/p5.48xlarge"].usd_per_hour == 55.04  # the provider's figure wins
    g5 = got["aws/us-east-1/g5.xlarge"]  # not in the offer file: from the fallback, lowest zone's spot
    assert (g5.usd_per_hour, g5.spot_usd_per_hour, g5.source, g5.skus) == (1.006, 0.3518, str(csv), ())
    assert "fallback" in g5.note and g5.uniform_price_ok_source is None
    assert "aws/eu-west-1/p4d.24xlarge" not in got  # excluded: stays out whatever the source
    a3 = got["gcp/us-east4/a3-highgpu-8g"]
    assert (a3.vm_usd_per_hour, a3.accelerators_usd_per_hour, a3.spot) == (9.5, 34.0, pytest.approx(20.4))
    v5p = got["gcp/us-east5/ct5p-hightpu-4t"]  # tpu-v5p-8 = 8 TensorCores = 4 chips
    assert (v5p.usd_per_hour, v5p.spot_usd_per_hour) == (16.8, 6.72)

    # --only aws: the fallback fills AWS gaps only, never GCP's.
    (tmp_path / "aws-only").mkdir()
    out2 = old_catalog(tmp_path / "aws-only")
    code, stdout, stderr = run(*refresh_args(base, out2, "--only", "aws", "--fallback-skypilot", str(csv)))
    assert code == 0, stdout + stderr
    assert "gcp/us-east4/a3-highgpu-8g" not in rows(out2) and "aws/us-east-1/g5.xlarge" in rows(out2)


def test_a_transient_server_error_is_retried(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from foundation.catalog.refresh import gcp

    base, seen, fail_once = server
    monkeypatch.setattr("foundation.catalog.refresh.RETRY_DELAYS_S", (0.0, 0.0))
    fail_once.add(PAGE_2_TOKEN)
    skus = gcp.list_skus(gcp.COMPUTE_SERVICE, KEY, base)
    assert "H100-EU04-GPU0" in {s["skuId"] for s in skus}  # page 2 arrived on the second try
    assert [r["query"].get("pageToken") for r in seen] == [None, PAGE_2_TOKEN, PAGE_2_TOKEN]


def test_gcp_skus_that_disagree_price_nothing() -> None:
    """Two plain on-demand SKUs for the same part in one region with different prices: no guess, a note."""
    from foundation.catalog.refresh import gcp

    page = json.loads((FIXTURES / "gcp" / "compute-page-1.json").read_text())["skus"]
    twin = json.loads(json.dumps(next(s for s in page if s["skuId"] == "H100-US01-GPU0")))
    twin["skuId"] = "H100-US01-TWIN"
    twin["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]["unitPrice"]["units"] = "9"
    shapes = [("nvidia-h100-80gb", 8, "a3-highgpu-8g")]
    rows, notes = gcp.price_rows(page, shapes, [], ["us-central1"])
    assert [r["instance"] for r in rows] == ["a3-highgpu-8g"]
    rows, notes = gcp.price_rows([*page, twin], shapes, [], ["us-central1"])
    assert rows == [] and any("H100-US01-GPU0" in n and "H100-US01-TWIN" in n for n in notes)


def test_offer_file_with_terms_before_products(tmp_path: Path) -> None:
    """Member order in a JSON object carries no meaning: terms listed first still price the products."""
    from foundation.catalog.refresh import aws

    doc = json.loads((FIXTURES / "aws" / OFFERS / "20261120000000/eu-west-1/index.json").read_text())
    reordered = {"terms": doc["terms"], "products": doc["products"], "version": doc["version"]}
    path = tmp_path / "index.json"
    path.write_text(json.dumps(reordered))
    prices, _ = aws.read_offer_file(aws.OfferFile("eu-west-1", str(path), "v"), {"p5.48xlarge", "p4d.24xlarge"})
    assert {p.instance: p.usd_per_hour for p in prices} == {"p5.48xlarge": 60.5, "p4d.24xlarge": 23.72}


def test_check_refuses_a_file_that_is_not_a_catalog(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("schema_version: 2\nschema_version: 2\n")
    code, _, stderr = run("catalog", "check", str(path))
    assert code == 2 and "duplicate key" in stderr
    old = dict(OLD, schema_version=1)
    path.write_text(yaml.safe_dump(old))
    code, _, stderr = run("catalog", "check", str(path))
    assert code == 2 and "schema_version 1" in stderr
    code, _, stderr = run("catalog", "check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such" in stderr
