"""The decision blueprint: catalog integrity, estimator arithmetic, eliminations, calibration, CLI contracts."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aistack.cli import app
from blueprints import calibration, decide, named, render, workload
from blueprints.estimator import Estimate, estimate_serving, estimate_training, min_chips_for_memory
from blueprints.utilisation import UtilisationModel, achieved_tflops, scaling_efficiency
from components.spec import load_stack
from foundation import catalog
from foundation.catalog.runs import training_runs

runner = CliRunner()
URL = re.compile(r"^https?://\S+$")

# A fixed model makes the arithmetic hand-checkable: 50% of the 16-bit peak on an H100-balanced
# chip, no bandwidth or FP8 effect, no scaling loss.
FLAT = UtilisationModel(m0=0.5, gamma=0.0, fp8_speedup=1.0, alpha=0.0)


def wl(**fields: object) -> workload.Workload:
    return workload.parse({"kind": "training", "framework": "jax", **fields})


# --------------------------------------------------------------------------- catalog integrity
def test_every_accelerator_has_sourced_performance_figures() -> None:
    perf = catalog.performance()
    assert set(perf.performance) == set(catalog.accelerators().ids)
    for acc_id, p in perf.performance.items():
        assert p.sources and all(URL.match(u) for u in p.sources), acc_id
        if p.bf16_tflops is not None and p.fp8_tflops is not None:
            assert p.fp8_tflops >= p.bf16_tflops, f"{acc_id}: FP8 peak below BF16 — units mixed up?"
        if p.memory_bandwidth_gbps is not None:
            assert 100 <= p.memory_bandwidth_gbps <= 20_000, f"{acc_id}: bandwidth must be GB/s"
        if p.dense_16bit_tflops is not None:
            assert 10 <= p.dense_16bit_tflops <= 5_000, f"{acc_id}: peak must be dense TFLOP/s"


def test_every_offering_is_sourced_dated_and_consistent() -> None:
    accs = catalog.accelerators()
    for o in catalog.offerings().offerings:
        acc = accs.get(o.accelerator)
        assert acc is not None, f"{o.instance}: unknown accelerator {o.accelerator}"
        assert o.target in acc.targets
        assert URL.match(o.source) and re.match(r"^\d{4}-\d{2}-\d{2}$", o.as_of)
        assert o.region in catalog.regions().for_target(o.target), f"{o.region} not in regions.yaml"
        assert o.on_demand > 0 and (o.spot is None or o.spot < o.on_demand), o.instance
        if o.target == "gcp" and not o.accelerator.startswith("tpu-"):
            assert catalog.gke().gpu_machine_types[o.accelerator][o.chips] == o.instance
        if o.target == "aws":
            assert catalog.eks().instance_types[o.accelerator][o.chips] == o.instance


def test_every_training_run_is_sourced_and_in_the_catalog() -> None:
    data = training_runs()
    for r in data.runs:
        assert URL.match(r.source), r.id
        assert r.use or r.reason, r.id
        if r.use:
            assert r.accelerator in catalog.performance().performance, r.id


def test_tpu_zones_belong_to_known_regions() -> None:
    for gen in catalog.gke().tpus.values():
        for zone in gen.zones:
            assert zone.rsplit("-", 1)[0] in catalog.regions().gcp


# --------------------------------------------------------------------------- estimator tables
# Shape fixed (32 layers × 4096, seq 2048) so the attention term is hand-checkable:
# 12·L·d·s = 12·32·4096·2048 = 3.221e9 FLOPs per token on top of 6·N.
ATTN = 12 * 32 * 4096 * 2048


@pytest.mark.parametrize(
    ("params", "tokens", "chips", "hours"),
    [
        # (6·7e9 + 3.221e9)·1.4e11 = 6.331e21 FLOPs; 8 H100 × 494.5 TFLOP/s = 3.956e15 FLOP/s → 444.6 h
        (7e9, 1.4e11, 8, (6 * 7e9 + ATTN) * 1.4e11 / (8 * 494.5e12) / 3600),
        # 16× the chips, no scaling loss in FLAT → 16× faster
        (7e9, 1.4e11, 128, (6 * 7e9 + ATTN) * 1.4e11 / (128 * 494.5e12) / 3600),
        # 1e9 × 2e10 on 8 chips
        (1e9, 2e10, 8, (6 * 1e9 + ATTN) * 2e10 / (8 * 494.5e12) / 3600),
    ],
)
def test_training_time_is_flops_over_achieved_throughput(
    params: float, tokens: float, chips: int, hours: float
) -> None:
    # goodput 1 and no setup time: what is left of the fixed time is the final checkpoint write,
    # 14 bytes/param at 1 GB/s per 8-chip node.
    w = wl(params=params, tokens=tokens, layers=32, d_model=4096, seq_len=2048, goodput=1.0, setup_minutes=0)
    est = estimate_training(w, "nvidia-h100-80gb", chips, 2.0, FLAT)
    checkpoint_h = 14 * params / 1e9 / (chips // 8) / 3600
    assert est.fixed_hours == pytest.approx(checkpoint_h, rel=1e-9)
    assert est.time_hours == pytest.approx(hours + checkpoint_h, rel=1e-9)
    exact = (hours + checkpoint_h) * chips * 2.0
    assert est.cost_usd is not None and exact <= est.cost_usd <= exact + chips * 2.0 / 3600  # per-second billing
    assert est.mfu == pytest.approx(0.5)
    # goodput stretches the run part only
    half = estimate_training(w.model_copy(update={"goodput": 0.5}), "nvidia-h100-80gb", chips, 2.0, FLAT)
    assert half.time_hours == pytest.approx(2 * hours + checkpoint_h, rel=1e-9)


def test_lora_counts_4nd_and_explicit_flops_win() -> None:
    shape = {"layers": 32, "d_model": 4096, "seq_len": 2048}
    lora = wl(kind="fine-tuning", method="lora", params=7e9, tokens=1e9, **shape)
    assert lora.total_flops == pytest.approx((4 * 7e9 + ATTN) * 1e9)
    full = wl(kind="fine-tuning", method="full", params=7e9, tokens=1e9, **shape)
    assert full.total_flops == pytest.approx((6 * 7e9 + ATTN) * 1e9)
    assert wl(flops=5.9e21).total_flops == 5.9e21


@pytest.mark.parametrize(
    ("method", "accelerator", "chips"),
    [
        ("full", "nvidia-h100-80gb", math.ceil(70e9 * 16 / 1e9 / (80 * 0.8))),  # 1120 GB / 64 GB = 18
        ("lora", "nvidia-h100-80gb", math.ceil((70e9 * 2 + 0.01 * 70e9 * 16) / 1e9 / 64)),  # 151 GB → 3
        ("qlora", "nvidia-a100-40gb", math.ceil((70e9 * 0.5 + 0.01 * 70e9 * 16) / 1e9 / 32)),  # 46 GB → 2
    ],
)
def test_memory_fit_gives_minimum_chips(method: str, accelerator: str, chips: int) -> None:
    w = wl(kind="fine-tuning", method=method, params=70e9, tokens=1e9)
    assert min_chips_for_memory(w, accelerator) == chips


def test_scaling_efficiency_falls_with_chip_count_and_bandwidth_helps() -> None:
    model = UtilisationModel(m0=0.5, gamma=0.5, fp8_speedup=1.2, alpha=0.05)
    assert scaling_efficiency(model, 8) == 1.0  # losses are counted from one 8-chip node
    assert scaling_efficiency(model, 128) > scaling_efficiency(model, 4096)
    perf = catalog.performance().performance
    h100 = achieved_tflops(model, perf["nvidia-h100-80gb"], "bf16", 8) / 989
    h200 = achieved_tflops(model, perf["nvidia-h200-141gb"], "bf16", 8) / 989
    assert h200 > h100  # same peak, more bandwidth
    assert achieved_tflops(model, perf["nvidia-h100-80gb"], "fp8", 8) == pytest.approx(989 * 0.5 * 1.2)


def test_serving_is_bandwidth_bound_at_small_batch() -> None:
    w = workload.parse({"kind": "serving", "params": 8e9, "target_tokens_per_s": 1000, "batch": 1})
    est = estimate_serving(w, "nvidia-h100-80gb", 3.0, (1, 2, 4, 8), FLAT)
    step = 16e9 / (3350e9 * 0.7)  # 16 GB of weights at 70% of 3.35 TB/s
    assert est.ms_per_token == pytest.approx(step * 1000)
    assert est.replicas == math.ceil(1000 / (1 / step))
    assert est.chips_per_replica == 1
    mid = workload.parse({"kind": "serving", "params": 60e9, "target_tokens_per_s": 100})
    assert estimate_serving(mid, "nvidia-h100-80gb", 3.0).chips_per_replica == 2  # 144 GB ≤ 2 × 80
    big = workload.parse({"kind": "serving", "params": 70e9, "target_tokens_per_s": 100})
    assert estimate_serving(big, "nvidia-h100-80gb", 3.0).chips_per_replica == 4  # 168 GB > 160


# --------------------------------------------------------------------------- eliminations
def _reasons(decision: decide.Decision, accelerator: str) -> list[str]:
    return [e.reason for e in decision.eliminated if e.option.startswith(accelerator + " ")]


def test_pytorch_without_xla_eliminates_tpus_with_the_reason() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, framework="pytorch"))
    assert any("PyTorch without XLA" in r for r in _reasons(d, "tpu-v5p"))
    assert all(not o.venue.accelerator.startswith("tpu-") for o in d.options)
    xla = decide.decide(wl(params=7e9, tokens=1.4e11, framework="pytorch", pytorch_xla=True), limit=100)
    assert any(o.venue.accelerator.startswith("tpu-") for o in xla.options)


def test_gdpr_keeps_only_eu_regions() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, constraints={"compliance": "gdpr"}))
    assert d.options
    for o in d.options:
        assert catalog.regions().for_target(o.venue.target)[o.venue.region].eu
    assert any("GDPR residency" in e.reason for e in d.eliminated)


def test_fp8_request_eliminates_chips_without_fp8() -> None:
    d = decide.decide(wl(params=7e9, tokens=1e10, precision="fp8"))
    assert any("no FP8 data path" in r for r in _reasons(d, "nvidia-a100-40gb"))


def test_deadline_and_budget_eliminate_with_numbers() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, constraints={"deadline_hours": 10, "max_chips": 64}))
    assert any(e.constraint == "deadline" and "deadline 10 h" in e.reason for e in d.eliminated)
    d = decide.decide(wl(params=7e9, tokens=1.4e11, constraints={"budget_usd": 100}))
    assert not d.options and any(e.constraint == "budget" for e in d.eliminated)
    assert any("budget_usd" in line for line in d.relax)


def test_spot_only_when_tolerated() -> None:
    assert not any(o.venue.spot for o in decide.decide(wl(params=1e9, tokens=1e10)).options)
    spot = decide.decide(wl(params=1e9, tokens=1e10, constraints={"spot_ok": True}))
    assert any(o.venue.spot for o in spot.options)
    assert any("preemption" in r for o in spot.options if o.venue.spot for r in o.risks)


def test_objective_orders_options() -> None:
    for objective, key in (("cost", lambda o: o.estimate.cost_usd), ("time", lambda o: o.estimate.time_hours)):
        d = decide.decide(wl(params=7e9, tokens=1.4e11, objective=objective))
        values = [key(o) for o in d.options]
        assert values == sorted(values), objective


def test_onprem_price_is_amortised_capital_plus_power() -> None:
    system = workload.OnPremSystem(
        accelerator="nvidia-h100-80gb",
        count=8,
        purchase_usd=350_400,
        amortisation_years=5,
        power_usd_per_kwh=0.2,
        pue=1.5,
    )
    capital = 350_400 / (5 * 8760) / 8  # = 1.0 USD per chip-hour
    power = 0.7 * 1.5 * 0.2  # 700 W × PUE × price
    assert decide.onprem_usd_per_chip_hour(system) == pytest.approx(capital + power)


def test_bad_workload_names_the_field_and_the_fix() -> None:
    with pytest.raises(workload.WorkloadError, match=r"tokens.*To fix"):
        workload.parse({"kind": "training", "params": 7e9})
    with pytest.raises(workload.WorkloadError, match="framework"):
        workload.parse({"kind": "training", "flops": 1e21, "framework": "mxnet"})


# --------------------------------------------------------------------------- calibration
def test_calibration_meets_its_goals_leave_one_group_out() -> None:
    report = calibration.check()
    assert len(report.rows) == len(training_runs().used) >= 200
    assert report.median_abs_error <= 0.25
    assert report.ranking_accuracy >= 0.90


def test_fit_recovers_a_known_model() -> None:
    truth = UtilisationModel(
        m0=0.45, gamma=0.3, fp8_speedup=1.3, alpha=0.04, int8_speedup=1.2, size_exponent=0.05,
        knee_params=1e10, context_exponent=0.03, lora_factor=0.6, qlora_factor=0.85,
    )  # fmt: skip
    synthetic = [calibration.Row(r.run, calibration.predicted_tflops(truth, r)) for r in calibration.rows()]
    got = calibration.fit(synthetic)
    assert got.knee_params == 1e10
    assert got.m0 == pytest.approx(0.45, rel=0.02)
    assert got.gamma == pytest.approx(0.3, abs=0.02)
    assert got.fp8_speedup == pytest.approx(1.3, rel=0.02)
    assert got.alpha == pytest.approx(0.04, abs=0.002)
    assert got.size_exponent == pytest.approx(0.05, abs=0.005)
    assert got.lora_factor == pytest.approx(0.6, rel=0.02)
    assert got.qlora_factor == pytest.approx(0.85, rel=0.02)


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", named.names())
def test_named_blueprint_recommends_and_renders_a_valid_stack(name: str, tmp_path: Path) -> None:
    bp = named.load(name)
    d = decide.decide(bp.workload)
    assert d.options, f"{name}: {d.relax}"
    text = render.render(d.options[0], bp.workload, bp.title, f"blueprint {name}", bp.stack)
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(text)
    loaded = load_stack(str(path), tmp_path)
    assert loaded.spec.accelerator_pools[0].accelerator == d.options[0].venue.accelerator
    assert "# " in text.split("config:", 1)[1]  # choices carry their reasons


def test_wizard_answers_file_writes_a_valid_stack(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "name": "eu-train",
                "kind": "training",
                "params": 7e9,
                "tokens": 1.4e11,
                "framework": "jax",
                "objective": "cost",
                "compliance": "gdpr",
                "spot_ok": True,
                "deadline_hours": 72,
                "choice": 2,
            }
        )
    )
    result = runner.invoke(app, ["wizard", "--answers", str(answers), "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "Pulumi.eu-train.yaml").read_text()
    assert "aistack:compliance: gdpr" in text and "spot: true" in text
    assert runner.invoke(app, ["validate", str(tmp_path / "Pulumi.eu-train.yaml")]).exit_code == 0
    again = runner.invoke(app, ["wizard", "--answers", str(answers), "--stacks-dir", str(tmp_path)])
    assert again.exit_code == 2  # never overwrites without --force


# --------------------------------------------------------------------------- CLI contracts
def test_recommend_json_contract(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "kind": "training",
                "params": 7e9,
                "tokens": 1.4e11,
                "precision": "bf16",
                "framework": "jax",
                "objective": "cost",
                "constraints": {
                    "deadline_hours": 72,
                    "budget_usd": 20000,
                    "compliance": "gdpr",
                    "regions": ["europe-west4"],
                    "clouds": ["gcp", "aws", "onprem"],
                    "spot_ok": True,
                },
            }
        )
    )
    result = runner.invoke(app, ["recommend", "--workload", str(f), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for o in data["options"]:
        assert {"target", "region", "accelerator", "count", "time_hours", "cost_usd", "spot", "why"} <= set(o)
        assert o["time_hours"] <= 72 and o["cost_usd"] <= 20000 and o["region"] == "europe-west4"
    costs = [o["cost_usd"] for o in data["options"]]
    assert costs == sorted(costs)
    assert all({"option", "reason"} <= set(e) for e in data["eliminated"])


def test_recommend_exits_1_naming_the_constraint_to_relax(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(
        yaml.safe_dump({"kind": "training", "params": 7e9, "tokens": 1.4e11, "constraints": {"deadline_hours": 2}})
    )
    result = runner.invoke(app, ["recommend", "--workload", str(f)])
    assert result.exit_code == 1
    assert "relax deadline_hours to ≥" in result.output.replace("\n", " ")


def test_estimate_json_contract() -> None:
    result = runner.invoke(
        app,
        [
            "estimate",
            "--accelerator",
            "nvidia-h100-80gb",
            "--count",
            "8",
            "--params",
            "7e9",
            "--tokens",
            "1.4e11",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"time_hours", "cost_usd", "mfu", "assumptions"} <= set(data)
    assert data["time_hours"] > 0 and 0 < data["mfu"] <= 0.75 and data["assumptions"]
    # C4: the band and the stated assumptions behind it
    assert data["time_hours_low"] <= data["time_hours"] <= data["time_hours_high"]
    assert data["cost_usd_low"] <= data["cost_usd"] <= data["cost_usd_high"]
    assert isinstance(data["extrapolation"], list) and 0 < data["goodput"] <= 1

    def run(flops: str) -> dict[str, float]:
        out = runner.invoke(
            app, ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--flops", flops, "--json"]
        )
        return dict(json.loads(out.output))

    # Only FLOPs given: the run part is linear in the work; the fixed part does not grow with it.
    one, two = run("5.88e21"), run("1.176e22")
    assert two["time_hours"] - two["fixed_hours"] == pytest.approx(
        2 * (one["time_hours"] - one["fixed_hours"]), rel=1e-4
    )
    assert "only FLOPs given" in " ".join(one["extrapolation"])  # type: ignore[arg-type]
    # params/tokens count attention on top of 6·N·D (5.88e21), so the same model takes longer
    assert data["time_hours"] > one["time_hours"]


def test_estimate_rejects_bad_input_with_a_suggestion() -> None:
    result = runner.invoke(app, ["estimate", "--accelerator", "nvidia-h100", "--count", "8", "--flops", "1e21"])
    assert result.exit_code == 2 and "Did you mean nvidia-h100-80gb" in result.output.replace("\n", " ")
    result = runner.invoke(app, ["estimate", "--accelerator", "nvidia-a10g", "--count", "1", "--flops", "1e21"])
    assert result.exit_code == 2 and "no sourced 16-bit peak" in result.output


# --------------------------------------------------------------------------- named blueprints lead with their chip
# What each blueprint is named for: the top option must be that kind of hardware (issue #16, item 3).
NAMED_FOR: dict[str, tuple[str, Callable[[decide.Option], bool]]] = {
    "starter-notebooks": ("an L4/T4-class GPU", lambda o: o.venue.accelerator in ("nvidia-l4", "nvidia-t4")),
    "cost-optimised-inference": (
        "an L4/L40S/Inferentia-class chip",
        lambda o: o.venue.accelerator in ("nvidia-l4", "nvidia-l40s", "nvidia-t4", "aws-inferentia2"),
    ),
    "llm-finetune-8xh100": ("an H100", lambda o: o.venue.accelerator.startswith("nvidia-h100")),
    "tpu-pretraining": ("a TPU", lambda o: o.venue.accelerator.startswith("tpu-")),
    "onprem-dgx": ("the owned on-prem system", lambda o: o.venue.target == "onprem"),
    "regulated-eu": (
        "an EU/EEA region",
        lambda o: bool(catalog.regions().for_target(o.venue.target)[o.venue.region].eu),
    ),
}


def test_every_named_blueprint_has_an_expectation() -> None:
    assert set(NAMED_FOR) == set(named.names())


@pytest.mark.parametrize("name", sorted(NAMED_FOR))
def test_named_blueprint_prices_three_options_and_leads_with_its_chip(name: str) -> None:
    d = decide.decide(named.load(name).workload)
    priced = [o for o in d.options if o.estimate.cost_usd is not None]
    assert len(priced) >= 3, f"{name}: {len(priced)} priced options; eliminated: {d.eliminated[:5]}"
    what, is_it = NAMED_FOR[name]
    top = d.options[0]
    assert is_it(top), f"{name}: #1 is {top.venue.label}, not {what}"


# --------------------------------------------------------------------------- readable output
def test_eliminations_group_by_reason_with_compact_option_lists() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, framework="pytorch"))
    groups = decide.group_eliminations(d)
    assert sum(len(g.options) for g in groups) == len(d.eliminated)
    reasons = [g.reason for g in groups]
    assert len(reasons) == len(set(zip(reasons, [g.constraint for g in groups], strict=True)))
    xla = [g for g in groups if "PyTorch without XLA" in g.reason]
    assert len(xla) == 1  # one row for every TPU variant, not one per variant
    tpu_rows = [e for e in d.eliminated if "PyTorch without XLA" in e.reason]
    assert len(xla[0].options) == len(tpu_rows) > 1
    regions = sorted({e.venue.region for e in tpu_rows if e.venue and e.venue.accelerator == "tpu-v6e"})
    assert f"tpu-v6e on gcp in {', '.join(regions)} (×" in xla[0].compact
    big = max(groups, key=lambda g: len(g.phrases()))
    if len(big.phrases()) > 2:  # the terminal row keeps two phrases and counts the options left out
        left = sum(n for _, n in big.phrases()[2:])
        assert big.short(2).endswith(f"; … and {left} more") and big.short(2).count(";") == 2


def test_region_specific_reasons_still_group(tmp_path: Path) -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, constraints={"compliance": "gdpr"}))
    gdpr = [g for g in decide.group_eliminations(d) if g.constraint == "compliance"]
    assert len(gdpr) == 1 and len(gdpr[0].options) > 3
    assert all(e.reason.startswith("GDPR residency: ") for e in gdpr[0].options)  # each keeps its own region


def test_counts_read_1_chip_not_1_chips(tmp_path: Path) -> None:
    assert decide.chips_text(1) == "1 chip" and decide.chips_text(8) == "8 chips"
    bp = named.load("starter-notebooks")  # one GPU per job: every option is one chip
    d = decide.decide(bp.workload)
    assert d.options[0].estimate.chips == 1
    text = render.render(d.options[0], bp.workload, bp.title, "test", bp.stack)
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(bp.workload.model_dump(mode="json", exclude_unset=True)))
    out = runner.invoke(app, ["recommend", "--workload", str(f)]).output
    for where in (text, d.options[0].why, out):
        assert not re.search(r"\b1 chips\b", where), where


def test_price_date_in_every_output(tmp_path: Path) -> None:
    date = catalog.offerings().data_version
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump({"kind": "training", "params": 1e9, "tokens": 2e10, "framework": "jax"}))
    human = runner.invoke(app, ["recommend", "--workload", str(f)], env={"COLUMNS": "200"})
    assert f"offerings catalog {date}" in human.output
    data = json.loads(runner.invoke(app, ["recommend", "--workload", str(f), "--json"]).output)
    assert data["prices"]["data_version"] == date
    assert all(re.match(r"^\d{4}-\d{2}-\d{2}$", o["price_as_of"]) for o in data["options"])
    est = runner.invoke(app, ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--flops", "1e21"])
    assert f"offerings catalog {date}" in est.output and "read 20" in est.output
    d = decide.decide(workload.parse({"kind": "training", "params": 1e9, "tokens": 2e10, "framework": "jax"}))
    assert f"# Prices: offerings catalog {date}" in render.render(d.options[0], d.workload, "t", "test")


# --------------------------------------------------------------------------- ties
def _opt(accelerator: str, chips: int, hours: float, cost: float, band: tuple[float, float]) -> decide.Option:
    venue = decide.Venue("gcp", "us-central1", accelerator, "vm", 8, cost / hours / chips, False, "test")
    est = Estimate(
        accelerator=accelerator,
        chips=chips,
        time_hours=hours,
        cost_usd=cost,
        mfu=0.4,
        usd_per_chip_hour=cost / hours / chips,
        time_band=band,
        cost_band=(cost * band[0], cost * band[1]),
    )
    return decide.Option(venue, est)


def test_overlapping_bands_are_ties_on_the_objective() -> None:
    a = _opt("nvidia-h100-80gb", 8, 10.0, 100.0, (0.9, 1.2))
    b = _opt("nvidia-h200-141gb", 8, 11.0, 110.0, (0.9, 1.2))  # within each other's band
    c = _opt("nvidia-a100-80gb", 8, 30.0, 300.0, (0.9, 1.2))  # far outside
    assert decide.tied(a, b, "cost") and decide.tied(a, b, "time") and decide.tied(a, b, "balanced")
    assert not decide.tied(a, c, "cost") and not decide.tied(a, c, "balanced")
    # Cost overlaps, time does not: a tie for cost, not for time, and balanced needs both.
    d = _opt("nvidia-l40s", 8, 30.0, 105.0, (0.9, 1.2))
    assert decide.tied(a, d, "cost") and not decide.tied(a, d, "time") and not decide.tied(a, d, "balanced")


def test_same_chip_and_size_is_never_a_tie_by_band_alone() -> None:
    # The same estimate twice at two prices: the model's error moves both alike, the price gap is known.
    a = _opt("nvidia-h100-80gb", 8, 10.0, 100.0, (0.7, 1.7))
    b = _opt("nvidia-h100-80gb", 8, 10.0, 130.0, (0.7, 1.7))
    assert not decide.tied(a, b, "cost")
    assert decide.tied(a, b, "time")  # same chip, same size: the same time
    assert decide.tied(a, _opt("nvidia-h100-80gb", 8, 10.0, 101.0, (0.7, 1.7)), "cost")  # within 2%


def test_decision_marks_ties_both_ways_in_json_and_why() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, objective="cost", constraints={"deadline_hours": 200}))
    data = d.as_json()
    for i, o in enumerate(d.options, 1):
        for j in o.tie_with:
            assert i in d.options[j - 1].tie_with  # symmetric
            assert decide.tied(o, d.options[j - 1], "cost")
        assert data["options"][i - 1]["tie_with"] == list(o.tie_with)  # type: ignore[index]
        if o.tie_with:
            assert "tie with #" in o.why
    assert any(o.tie_with for o in d.options)
    assert {"time_hours_low", "time_hours_high", "cost_usd_low", "cost_usd_high", "purchase"} <= set(
        data["options"][0]  # type: ignore[index]
    )


# --------------------------------------------------------------------------- purchase options
def _terms(kind: str, **fields: object) -> catalog.PurchaseOption:
    base: dict[str, object] = {
        "kind": kind,
        "usd_per_hour": 40.0,
        "source": "https://example.com/p",
        "as_of": "2026-11-30",
    }
    return catalog.PurchaseOption.model_validate(base | fields)


def _venue(purchase: str, terms: catalog.PurchaseOption | None, target: str = "aws") -> decide.Venue:
    return decide.Venue(
        target,
        "us-east-1" if target == "aws" else "us-central1",
        "nvidia-h100-80gb",
        "p5.48xlarge" if target == "aws" else "a3-highgpu-8g",
        8,
        5.0,
        False,
        "https://example.com/p",
        purchase=purchase,
        terms=terms,
        as_of="2026-11-30",
    )


def test_capacity_block_bills_whole_days_and_shows_its_lead_time() -> None:
    terms = _terms("capacity-block", min_hours=24, max_hours=4368, lead_time_days=56, billing_increment_hours=24)
    w = wl(params=7e9, tokens=1.4e11, constraints={"max_chips": 64})
    option, out = decide._best_size(_venue("capacity-block", terms), w)
    assert out is None and option is not None and option.purchase == "capacity-block"
    e = option.estimate
    days = math.ceil(e.time_hours / 24)
    assert e.cost_usd == pytest.approx(days * 24 * e.chips * 5.0)
    assert option.cost_range is not None
    assert option.cost_range[0] == pytest.approx(math.ceil(e.time_hours_low / 24) * 24 * e.chips * 5.0)
    assert any(r.startswith("lead time:") and "56 days" in r for r in option.risks)
    assert "capacity block" in option.venue.label


def test_flex_start_takes_runs_up_to_seven_days_and_waits_for_capacity() -> None:
    terms = _terms("flex-start", max_hours=168)
    short = wl(params=1e9, tokens=2e10, constraints={"max_chips": 8})
    option, out = decide._best_size(_venue("flex-start", terms, "gcp"), short)
    assert out is None and option is not None
    assert any(r.startswith("capacity wait:") for r in option.risks)
    assert option.estimate.cost_usd == pytest.approx(option.estimate.time_hours * option.estimate.chips * 5.0, rel=1e-3)
    long = wl(params=7e9, tokens=1.4e12, constraints={"max_chips": 8})  # weeks on one node
    option, out = decide._best_size(_venue("flex-start", terms, "gcp"), long)
    assert option is None and out is not None and out.constraint == "purchase" and "168 h maximum" in out.reason


def test_catalog_capacity_blocks_become_ranked_options() -> None:
    d = decide.decide(
        wl(
            params=7e9,
            tokens=1.4e11,
            framework="pytorch",
            objective="cost",
            constraints={"clouds": ["aws"], "deadline_hours": 200},
        ),
        limit=30,
    )
    blocks = [o for o in d.options if o.purchase == "capacity-block"]
    assert blocks, "the catalog's EC2 Capacity Blocks should price options"
    for o in blocks:
        assert o.estimate.cost_usd is not None
        billed = o.estimate.cost_usd / (o.estimate.chips * o.venue.usd_per_chip_hour)
        assert billed / 24 == pytest.approx(round(billed / 24)) and billed >= o.estimate.time_hours


@pytest.mark.parametrize(
    ("purchase", "terms", "target", "capacity"),
    [
        ("capacity-block", _terms("capacity-block", min_hours=24, billing_increment_hours=24), "aws", "on-demand"),
        ("flex-start", _terms("flex-start", max_hours=168), "gcp", "flex-start"),
        ("reservation", _terms("reservation"), "gcp", "reservation"),
    ],
)
def test_rendered_stack_buys_the_pool_the_chosen_way_and_validates(
    purchase: str, terms: catalog.PurchaseOption, target: str, capacity: str, tmp_path: Path
) -> None:
    w = wl(params=1e9, tokens=2e10, constraints={"max_chips": 8})
    option, out = decide._best_size(_venue(purchase, terms, target), w)
    assert option is not None, out
    text = render.render(option, w, "t", "test")
    path = tmp_path / "Pulumi.p.yaml"
    path.write_text(text)
    pool = load_stack(str(path), tmp_path).spec.accelerator_pools[0]
    assert pool.capacity_type == capacity
    if purchase == "capacity-block":
        # The block's id exists only once it is bought: the key is there, commented, with the steps.
        assert "  # capacity: {type: capacity-block, block_id: cr-" in text
        assert "describe-capacity-block-offerings --instance-type p5.48xlarge" in text


def test_wizard_answers_decide_on_capacity_blocks(tmp_path: Path) -> None:
    base = {
        "kind": "training",
        "params": 7e9,
        "tokens": 1.4e11,
        "framework": "pytorch",
        "objective": "cost",
        "deadline_hours": 200,
        "clouds": ["aws"],
    }
    top = decide.decide(workload.parse(_wizard_workload(base))).options[0]
    assert top.purchase == "capacity-block"  # the premise: a block is the cheapest way here

    def run(name: str, **extra: object) -> tuple[int, str]:
        f = tmp_path / f"{name}.yaml"
        f.write_text(yaml.safe_dump(base | {"name": name} | extra))
        result = runner.invoke(app, ["wizard", "--answers", str(f), "--stacks-dir", str(tmp_path)])
        path = tmp_path / f"Pulumi.{name}.yaml"
        return result.exit_code, path.read_text() if path.exists() else result.output

    code, text = run("blocks")  # not answered: the block stays and, being cheapest, is written
    assert code == 0 and "Chosen: " in text and "capacity block), " in text
    assert "  # capacity: {type: capacity-block, block_id: cr-" in text
    assert runner.invoke(app, ["validate", str(tmp_path / "Pulumi.blocks.yaml")]).exit_code == 0
    code, text = run("no-blocks", capacity_block=False)
    assert code == 0 and "capacity block" not in text.split("config:", 1)[0]
    code, text = run("bad", capacity_block="yes")
    assert code == 2 and "capacity_block" in text and "To fix" in text


def test_wizard_asks_only_about_purchases_that_are_ranked() -> None:
    import importlib

    wizard = importlib.import_module("aistack.cli.wizard")
    base = {"kind": "training", "params": 7e9, "tokens": 1.4e11, "framework": "pytorch", "objective": "cost"}
    aws = decide.decide(workload.parse(base | {"constraints": {"clouds": ["aws"], "deadline_hours": 200}}), limit=5)
    assert "capacity-block" in wizard.offered_purchases(aws)
    gcp = decide.decide(workload.parse(base | {"constraints": {"clouds": ["gcp"], "spot_ok": True}}), limit=5)
    assert {o.purchase for o in gcp.options} <= {"on-demand", "spot"}  # the catalog sells GCP no blocks
    assert wizard.offered_purchases(gcp) == []  # so nothing to ask: spot has its own question


def _wizard_workload(answers: dict[str, object]) -> dict[str, object]:
    keys = ("deadline_hours", "clouds")
    return {k: v for k, v in answers.items() if k not in keys} | {"constraints": {k: answers[k] for k in keys}}


def test_an_accelerator_allow_list_screens_the_rest_with_the_reason() -> None:
    d = decide.decide(wl(params=7e9, tokens=1.4e11, constraints={"accelerators": ["nvidia-h100-80gb"]}))
    assert d.options and {o.venue.accelerator for o in d.options} == {"nvidia-h100-80gb"}
    screened = [e for e in d.eliminated if e.constraint == "accelerators"]
    assert screened and all("not in constraints.accelerators ['nvidia-h100-80gb']" in e.reason for e in screened)


def test_an_unknown_accelerator_in_the_allow_list_is_a_named_error() -> None:
    with pytest.raises(workload.WorkloadError, match=r"did you mean nvidia-h100-80gb\?"):
        workload.parse(
            {"kind": "training", "params": 7e9, "tokens": 1e11, "constraints": {"accelerators": ["nvidia-h100-80g"]}}
        )


def test_estimate_prints_its_band() -> None:
    runner = CliRunner()
    args = ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "64", "--params", "8e9", "--tokens", "1e12"]
    data = json.loads(runner.invoke(app, [*args, "--json"]).output)
    head = runner.invoke(app, args, env={"COLUMNS": "200"}).output.splitlines()[0]
    low, high = data["time_hours_low"], data["time_hours_high"]
    assert low < data["time_hours"] < high
    assert f"({low:,.1f}–{high:,.1f}) h" in head and "≈80% bands" in head
