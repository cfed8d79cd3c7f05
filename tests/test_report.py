"""`aistack recommend --report`: a self-contained page whose chart a real browser renders.

The browser half runs headless Chromium (Debian's `chromium`; `make chromium` installs it) on the
written file: the DOM it builds must hold one point per ranked option, and its screenshot must show
the chart (many colours, the Pareto fill among them), not a blank page.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aistack.cli import app
from blueprints import decide, report, workload
from tests.conftest import need

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WORKLOAD = {
    "kind": "training",
    "params": 7e9,
    "tokens": 1.4e11,
    "framework": "pytorch",
    "objective": "cost",
    "constraints": {"deadline_hours": 200, "spot_ok": True},
}


def _decision() -> decide.Decision:
    return decide.decide(workload.parse(WORKLOAD))


def test_page_is_self_contained_and_has_one_point_per_option() -> None:
    d = _decision()
    assert len(d.options) >= 3
    page = report.page(d, "w.yaml")
    # Nothing fetched from anywhere: no script, stylesheet link, image, font or CSS url().
    for pattern in (r"<script", r"<link\b", r"<img\b", r"@import", r"url\(", r"@font-face", r"\bsrc="):
        assert not re.search(pattern, page, re.I), pattern
    assert page.count('<circle class="option"') == len(d.options)
    assert page.count('data-pareto="true"') == len(report.pareto(d.options)) >= 1
    assert "prices: " + decide.price_date() in page.replace("Prices: ", "prices: ")
    for g in decide.group_eliminations(d):
        assert report.esc(g.compact) in page


def test_pareto_front_and_ties_are_drawn() -> None:
    d = _decision()
    a, b, c = d.options[:3]
    # b is slower and dearer than a: off the front; c is faster but dearer: on it.
    fake = (
        replace(a, estimate=replace(a.estimate, time_hours=10.0, cost_usd=100.0), tie_with=(3,)),
        replace(b, estimate=replace(b.estimate, time_hours=20.0, cost_usd=200.0)),
        replace(c, estimate=replace(c.estimate, time_hours=5.0, cost_usd=300.0), tie_with=(1,)),
    )
    assert report.pareto(fake) == {0, 2}
    page = report.chart(replace(d, options=fake))
    assert page.count('<circle class="option"') == 3
    assert 'class="tie" data-ranks="1 3"' in page  # drawn once per pair
    assert page.count('class="tie"') == 1
    assert re.search(r'<polyline class="pareto-front" points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"', page)


def test_log_axes_when_the_span_is_wide() -> None:
    assert report.Axis.fit([1.0, 500.0], 0, 100).log
    assert not report.Axis.fit([100.0, 190.0], 0, 100).log
    axis = report.Axis.fit([3.0, 700.0], 0, 300)
    assert axis.low == 1 and axis.high == 1000
    assert axis(10) == pytest.approx(100) and axis(100) == pytest.approx(200)


def test_cli_writes_the_report(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(WORKLOAD))
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["recommend", "--workload", str(f), "--report", str(out), "--limit", "6"])
    assert result.exit_code == 0, result.output
    assert out.read_text().count('<circle class="option"') == 6
    bad = runner.invoke(app, ["recommend", "--workload", str(f), "--report", str(tmp_path / "no" / "r.html")])
    assert bad.exit_code == 2 and "To fix" in bad.output


# --------------------------------------------------------------------------- in a real browser
def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixel bytes; no Pillow needed."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind_byte = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            if kind_byte == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_byte == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_byte == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind_byte == 4:
                corner = prev[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, channels, rows


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[decide.Decision, Path, Path]:
    if CHROMIUM is None:
        need("chromium", "no chromium on PATH (Debian: `make chromium`, or apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("report")
    d = _decision()
    page = tmp / "report.html"
    page.write_text(report.page(d, "w.yaml"), encoding="utf-8")
    profile = tmp / "profile"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    shot = tmp / "shot.png"
    subprocess.run(
        [*common, "--window-size=800,620", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    (tmp / "dom.html").write_text(dom, encoding="utf-8")
    return d, tmp / "dom.html", shot


def test_browser_builds_one_point_per_option(rendered: tuple[decide.Decision, Path, Path]) -> None:
    d, dom, _ = rendered
    text = dom.read_text(encoding="utf-8")
    assert len(re.findall(r'<circle class="option"', text)) == len(d.options)
    assert "<svg" in text and "Eliminated" in text


def test_browser_screenshot_shows_the_chart(rendered: tuple[decide.Decision, Path, Path]) -> None:
    _, _, shot = rendered
    width, channels, rows = _png_pixels(shot.read_bytes())
    colours: set[bytes] = set()
    ink = 0
    total = 0
    for row in rows:
        for x in range(0, width * channels, channels):
            px = row[x : x + 3]
            colours.add(px)
            total += 1
            ink += px != b"\xff\xff\xff"
    assert len(colours) > 50, f"{len(colours)} colours: a blank or failed render"
    assert ink / total > 0.03, f"only {ink / total:.1%} of the pixels are not white"
    pareto = bytes.fromhex(report.PARETO_FILL.removeprefix("#"))
    assert pareto in colours, "no point in the Pareto fill colour was drawn"


def test_page_without_options_says_what_to_relax_and_serving_has_a_flat_time_axis() -> None:
    none = decide.decide(workload.parse(WORKLOAD | {"constraints": {"budget_usd": 100}}))
    assert not none.options
    page = report.page(none, "w.yaml")
    assert "<circle" not in page and "No option satisfies" in page
    assert all(report.esc(line) in page for line in none.relax)
    serving = decide.decide(workload.parse({"kind": "serving", "params": 8e9, "target_tokens_per_s": 2000}))
    svg = report.chart(serving)
    assert svg.count('<circle class="option"') == len(serving.options) and "hours priced" in svg
