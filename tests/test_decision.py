"""The decision blueprint: catalog integrity, estimator arithmetic, eliminations, calibration, CLI contracts."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aistack.cli import app
from blueprints import calibration, catalog, decide, named, render, workload
from blueprints.estimator import estimate_serving, estimate_training, min_chips_for_memory
from blueprints.utilisation import UtilisationModel, achieved_tflops, scaling_efficiency
from components.spec import load_stack

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


def test_every_mlperf_row_is_sourced_and_in_the_catalog() -> None:
    data = catalog.mlperf()
    for r in data.results:
        assert URL.match(r.source) and r.benchmark in data.benchmarks
        assert r.accelerator in catalog.performance().performance


def test_tpu_zones_belong_to_known_regions() -> None:
    for gen in catalog.gke().tpus.values():
        for zone in gen.zones:
            assert zone.rsplit("-", 1)[0] in catalog.regions().gcp


# --------------------------------------------------------------------------- estimator tables
@pytest.mark.parametrize(
    ("params", "tokens", "chips", "hours"),
    [
        # 6·7e9·1.4e11 = 5.88e21 FLOPs; 8 H100 × 494.5 TFLOP/s = 3.956e15 FLOP/s → 1.486e6 s = 412.9 h
        (7e9, 1.4e11, 8, 5.88e21 / (8 * 494.5e12) / 3600),
        # 16× the chips, no scaling loss in FLAT → 16× faster
        (7e9, 1.4e11, 128, 5.88e21 / (128 * 494.5e12) / 3600),
        # 1e9 × 2e10 → 1.2e20 FLOPs on 8 chips
        (1e9, 2e10, 8, 1.2e20 / (8 * 494.5e12) / 3600),
    ],
)
def test_training_time_is_flops_over_achieved_throughput(
    params: float, tokens: float, chips: int, hours: float
) -> None:
    est = estimate_training(wl(params=params, tokens=tokens), "nvidia-h100-80gb", chips, 2.0, FLAT)
    assert est.time_hours == pytest.approx(hours, rel=1e-9)
    assert est.cost_usd == pytest.approx(hours * chips * 2.0, rel=1e-9)
    assert est.mfu == pytest.approx(0.5)


def test_lora_counts_4nd_and_explicit_flops_win() -> None:
    lora = wl(kind="fine-tuning", method="lora", params=7e9, tokens=1e9)
    assert lora.total_flops == pytest.approx(4 * 7e9 * 1e9)
    full = wl(kind="fine-tuning", method="full", params=7e9, tokens=1e9)
    assert full.total_flops == pytest.approx(6 * 7e9 * 1e9)
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
    assert scaling_efficiency(model, 64) == 1.0
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
    xla = decide.decide(wl(params=7e9, tokens=1.4e11, framework="pytorch", pytorch_xla=True))
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
def test_calibration_meets_its_goals_leave_one_out() -> None:
    report = calibration.check()
    assert len(report.rows) == len(catalog.mlperf().results) >= 8
    assert report.median_abs_error <= 0.25
    assert report.ranking_accuracy >= 0.90


def test_fit_recovers_a_known_model() -> None:
    truth = UtilisationModel(m0=0.45, gamma=0.3, fp8_speedup=1.3, alpha=0.04)
    synthetic = []
    for row in calibration.rows():
        minutes = calibration.predicted_minutes(truth, row)
        synthetic.append(calibration.Row(row.result.model_copy(update={"minutes": minutes}), row.flops))
    got = calibration.fit(synthetic)
    assert got.m0 == pytest.approx(0.45, rel=0.02)
    assert got.gamma == pytest.approx(0.3, abs=0.02)
    assert got.fp8_speedup == pytest.approx(1.3, rel=0.02)
    assert got.alpha == pytest.approx(0.04, abs=0.002)


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
    flops = runner.invoke(
        app, ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--flops", "5.88e21", "--json"]
    )
    assert json.loads(flops.output)["time_hours"] == pytest.approx(data["time_hours"], rel=1e-6)


def test_estimate_rejects_bad_input_with_a_suggestion() -> None:
    result = runner.invoke(app, ["estimate", "--accelerator", "nvidia-h100", "--count", "8", "--flops", "1e21"])
    assert result.exit_code == 2 and "Did you mean nvidia-h100-80gb" in result.output.replace("\n", " ")
    result = runner.invoke(app, ["estimate", "--accelerator", "nvidia-a10g", "--count", "1", "--flops", "1e21"])
    assert result.exit_code == 2 and "no sourced 16-bit peak" in result.output
