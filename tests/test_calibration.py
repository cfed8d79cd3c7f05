"""Calibration on published training runs: data integrity, honest out-of-sample errors, error bands,
fixed costs and goodput in the estimate."""

from __future__ import annotations

import json
import math
import re

import pytest
from typer.testing import CliRunner

from aistack.cli import app
from blueprints import calibration, decide, named, workload
from blueprints.estimator import Billing, estimate_training
from blueprints.utilisation import UtilisationModel
from foundation import catalog
from foundation.catalog.runs import training_runs

runner = CliRunner()
URL = re.compile(r"^https://\S+$")
FLAT = UtilisationModel(m0=0.5, gamma=0.0, fp8_speedup=1.0, alpha=0.0)


def wl(**fields: object) -> workload.Workload:
    return workload.parse({"kind": "training", "framework": "jax", **fields})


def row(run_id: str) -> calibration.Row:
    return next(r for r in calibration.rows() if r.run.id == run_id)


# --------------------------------------------------------------------------- the data
def test_every_reference_row_is_kept_used_or_flagged_with_a_reason() -> None:
    runs = {r.id: r for r in training_runs().runs}
    for n in range(1, 30):
        rid = f"C{n:02d}"
        assert rid in runs, f"{rid} from the reference set is missing"
        assert runs[rid].use or runs[rid].reason, rid
    flagged = {r.id for r in training_runs().runs if not r.use}
    # peaks, unstated conventions, missing GPU counts, a chip not in the catalog: not fitted
    assert {"C04", "C05", "C11", "C12", "C14"} <= flagged
    for r in training_runs().runs:
        assert URL.match(r.source), r.id
        if r.use:
            assert r.accelerator in catalog.performance().performance, r.id


def test_the_data_spans_what_the_model_claims() -> None:
    used = training_runs().used
    assert len(used) >= 200
    assert {r.precision for r in used} >= {"bf16", "fp8", "int8"}
    assert {calibration.family(r.accelerator) for r in used} == {"gpu", "tpu"}
    assert min(r.chips or 1 for r in used) == 1 and max(r.chips or 1 for r in used) == 16384
    assert {r.method for r in used} >= {"pretrain", "full", "lora", "qlora"}
    # fine-tuning rests on more than one source
    assert len({r.source_id for r in used if r.method in ("lora", "qlora")}) >= 2
    assert len({r.group for r in used}) >= 15


def test_measurements_are_converted_to_model_tflops_as_documented() -> None:
    # MLPerf v4.0, 11,616 H100: (6·175e9 + 12·96·12288·2048)·1.231e9 tokens in 3.444 min
    per_token = 6 * 175e9 + 12 * 96 * 12288 * 2048
    assert row("C22").measured_tflops == pytest.approx(per_token * 1231110144 / (11616 * 3.444 * 60) / 1e12)
    # Megatron-LM 2021 counts recompute (4 passes); model FLOPs are 3/4 of its 137 TFLOP/s
    assert row("C08").measured_tflops == pytest.approx(137 * 0.75)
    # Llama 3: 43% BF16 MFU of 989 TFLOP/s
    assert row("C01").measured_tflops == pytest.approx(0.43 * 989)
    # Qwen-7B LoRA, seq 2048, 8 sequences per 5.2 s step on one A100: 4·N + attention (d/L = 128)
    layers, d = calibration.shape(7e9)
    q = row("Q-7B-lora-2048")
    assert q.measured_tflops == pytest.approx((4 * 7e9 + 12 * layers * d * 2048) * 8 * 2048 / 5.2 / 1e12)
    # Falcon's GPU-hours include restarts: its target is divided by the goodput
    falcon = row("C13")
    assert calibration.target(falcon) == pytest.approx(
        math.log(falcon.measured_tflops / 312) - math.log(calibration.DEFAULT_GOODPUT)
    )


def test_reference_rows_agree_with_their_own_sources() -> None:
    """A row's figures check out against each other before the fit relies on them."""
    # PaLM and MT-NLG: the papers' tokens/s (238.3K on 6,144 TPU v4; 65.43K on 2,240 A100) with
    # attention counted reproduce the rows' MFU (46.2%, 30.2%)
    for rid, tokens_per_s, chips, peak in (("C06", 238.3e3, 6144, 275e12), ("C07", 65.43e3, 2240, 312e12)):
        run = row(rid).run
        per_token = 6 * run.params + calibration.attention_flops_per_token(
            run.params, run.seq_len, run.layers, run.d_model
        )
        assert per_token * tokens_per_s / chips / peak == pytest.approx(run.mfu, abs=0.004), rid
    # MPT-70B on 64 H100: 1,039 tokens/s/GPU × (6·N + 12·80·8192·2048) is the table's 42.57% MFU
    mpt = row("C15").run
    assert mpt.mfu is not None
    assert (6 * mpt.params + 12 * 80 * 8192 * 2048) * 1039 / 989e12 == pytest.approx(mpt.mfu, rel=0.002)


def test_shape_rule_matches_known_models() -> None:
    # d/L = 128 with N ≈ 12·L·d²: GPT-3 175B is 96 × 12288, Llama 3 405B 126 × 16384
    for params, layers, d in ((175e9, 96, 12288), (405e9, 126, 16384)):
        got_layers, got_d = calibration.shape(params)
        assert got_d == pytest.approx(d, rel=0.05) and got_layers == pytest.approx(layers, rel=0.05)


# --------------------------------------------------------------------------- out of sample
def test_goals_met_per_group_out_of_sample() -> None:
    report = calibration.check()
    assert report.median_abs_error <= 0.25
    assert report.group_median_abs_error <= 0.25
    assert report.ranking_accuracy >= 0.90 and report.ranking_pairs >= 100
    assert report.close_ranking_accuracy >= 0.90 and report.close_pairs >= 50
    stats = {(g.category, g.value): g for g in report.groups}
    for key in (
        ("precision", "16-bit"),
        ("precision", "fp8"),
        ("family", "gpu"),
        ("family", "tpu"),
        ("scale", "≤64 chips"),
        ("scale", ">64 chips"),
    ):
        assert stats[key].median_abs_error <= 0.25, key
    # Not met, reported honestly (docs/estimator.md): LoRA/QLoRA rests on two READMEs whose stacks
    # differ by ~40% (Qwen's PEFT vs torchtune's packed + compiled runs). This bound only stops it
    # getting worse.
    assert stats[("method", "lora/qlora")].median_abs_error <= 0.35


def test_strict_leave_source_out_is_reported_and_bounded() -> None:
    strict = calibration.check(strict=True)
    assert strict.left_out_units < calibration.check().left_out_units
    # Misses the 25% goal when all llm-foundry tables go at once (docs say so); a regression bound.
    assert strict.median_abs_error <= 0.40
    assert strict.ranking_accuracy >= 0.90


def test_a_groups_prediction_does_not_depend_on_its_own_rows() -> None:
    """Out of sample means it: doubling a group's measurements leaves its predictions unchanged."""
    data = calibration.rows()
    group = "mpt-h100-bf16"
    bumped = tuple(calibration.Row(r.run, r.measured_tflops * 2) if r.run.group == group else r for r in data)
    others = [r for r in bumped if r.run.group != group]
    assert calibration.fit(others) == calibration.fit([r for r in data if r.run.group != group])
    fitted_with = calibration.fit(bumped)
    assert fitted_with != calibration.fitted()  # the in-sample fit does move
    oos = {c.row.run.id: c.predicted_tflops for c in calibration.out_of_sample() if c.row.run.group == group}
    model = calibration.fit(others)
    for r in data:
        if r.run.group == group:
            assert oos[r.run.id] == pytest.approx(calibration.predicted_tflops(model, r), rel=1e-9)


def test_fitted_model_shows_the_effects_the_rows_show() -> None:
    m = calibration.fitted()
    assert 0 < m.lora_factor < 1 and 0 < m.qlora_factor <= 1  # LoRA/QLoRA below full training per FLOP
    assert m.fp8_speedup > 1 and m.alpha > 0 and m.size_exponent >= 0 and m.context_exponent > 0
    assert 0 <= m.gamma <= 1


# --------------------------------------------------------------------------- the estimate
def starter() -> workload.Workload:
    return named.load("starter-notebooks").workload


def test_qlora_starter_is_not_predicted_at_pretraining_mfu() -> None:
    est = estimate_training(starter(), "nvidia-h200-141gb", 8, 3.0, None, target="gcp")
    assert est.mfu < 0.40  # was 0.75 before QLoRA had its own factor
    assert est.fixed_hours >= 8 / 60  # provisioning is part of the time
    assert est.time_band[0] <= 1.0 <= est.time_band[1] and est.time_band[1] > 1.2
    assert any("nvidia-h200-141gb" in r for r in est.extrapolation)  # LoRA/QLoRA rows are A100-80GB only
    assert any("goodput" in a for a in est.assumptions) and est.goodput == calibration.DEFAULT_GOODPUT


def test_fixed_costs_make_short_jobs_cheaper_on_fewer_chips() -> None:
    tiny = wl(params=1e8, tokens=1e9, seq_len=2048)
    one = estimate_training(tiny, "nvidia-h100-80gb", 1, 4.0, FLAT, target="aws")
    eight = estimate_training(tiny, "nvidia-h100-80gb", 8, 4.0, FLAT, target="aws")
    assert one.cost_usd is not None and eight.cost_usd is not None
    assert eight.time_hours < one.time_hours and eight.cost_usd > one.cost_usd
    # the difference is the 7 extra chips idling through the fixed time
    assert eight.cost_usd - one.cost_usd == pytest.approx(7 * one.fixed_hours * 4.0, rel=0.05)
    # on-prem has no provisioning step
    assert estimate_training(tiny, "nvidia-h100-80gb", 1, 4.0, FLAT, target="onprem").fixed_hours < one.fixed_hours
    # the decision itself (the issue's case: QLoRA 3B on 200M tokens, up to 8 chips, objective cost):
    # where a venue rents single GPUs it picks one, and nothing is ranked at pretraining MFU
    issue = starter().model_copy(
        update={"tokens": 2e8, "constraints": starter().constraints.model_copy(update={"max_chips": 8})}
    )
    options = decide.decide(issue, limit=40).options
    assert options and all(o.estimate.mfu < 0.40 and o.estimate.fixed_hours > 0 for o in options)
    assert all(o.estimate.chips == 1 for o in options if o.venue.chips_per_instance == 1)


def test_minimum_billing_and_capacity_block_increments() -> None:
    assert Billing().billed_hours(10 / 3600) == pytest.approx(1 / 60)  # 60 s minimum
    assert Billing().billed_hours(90.5 / 3600) == pytest.approx(91 / 3600)  # then per second
    block = Billing(min_hours=24, increment_hours=24)
    assert block.billed_hours(3) == 24 and block.billed_hours(25) == 48
    tiny = wl(flops=1e15, setup_minutes=0)
    est = estimate_training(tiny, "nvidia-h100-80gb", 8, 10.0, FLAT, billing=block)
    assert est.cost_usd == pytest.approx(24 * 8 * 10.0)


def test_setup_minutes_and_goodput_come_from_the_workload() -> None:
    w = wl(params=7e9, tokens=1e10, setup_minutes=30, goodput=0.5)
    est = estimate_training(w, "nvidia-h100-80gb", 8, 2.0, FLAT)
    base = estimate_training(w.model_copy(update={"goodput": 1.0}), "nvidia-h100-80gb", 8, 2.0, FLAT)
    assert est.fixed_hours >= 0.5 and est.goodput == 0.5
    assert est.time_hours - est.fixed_hours == pytest.approx(2 * (base.time_hours - base.fixed_hours))


def test_long_context_costs_more_than_6nd() -> None:
    short = wl(params=7e9, tokens=1e10, seq_len=2048)
    long = wl(params=7e9, tokens=1e10, seq_len=131072)
    assert long.total_flops > 2 * short.total_flops  # attention dominates at 128k
    a = estimate_training(short, "nvidia-h100-80gb", 64, 2.0, None)
    b = estimate_training(long, "nvidia-h100-80gb", 64, 2.0, None)
    assert b.mfu < a.mfu and b.time_hours > 2 * a.time_hours


def test_extrapolation_is_said_and_widens_the_band() -> None:
    w = wl(params=7e9, tokens=1e10)
    trn = estimate_training(w, "aws-trainium2", 16, 2.0, None, target="aws")
    assert trn.unvalidated is not None and "Trainium" in trn.unvalidated
    assert any("aws-trainium2" in r for r in trn.extrapolation)  # no rows on the chip either
    inside = estimate_training(w, "nvidia-h100-80gb", 1024, 2.0, None)
    assert inside.extrapolation == ()
    huge = estimate_training(wl(params=2e12, tokens=1e10), "nvidia-h100-80gb", 1024, 2.0, None)
    assert any("params outside the calibrated" in r for r in huge.extrapolation)
    assert huge.time_band[1] > inside.time_band[1]  # same comparable rows, widened ×1.5
    lora_h100 = workload.parse({"kind": "fine-tuning", "method": "lora", "params": 7e9, "tokens": 1e8})
    many = estimate_training(lora_h100, "nvidia-a100-80gb", 64, 2.0, None)
    assert any("more than the largest calibrated LoRA/QLoRA job" in r for r in many.extrapolation)
    lora = estimate_training(
        workload.parse({"kind": "fine-tuning", "method": "lora", "params": 7e9, "tokens": 1e8}),
        "nvidia-a100-80gb",
        1,
        2.0,
        None,
    )
    assert lora.extrapolation == ()  # Qwen's and torchtune's rows: one A100, 7B, seq 4096
    assert "lora/qlora" in next(a for a in lora.assumptions if a.startswith("band"))


def test_estimate_json_carries_the_band() -> None:
    data = estimate_training(wl(params=7e9, tokens=1e10), "nvidia-h100-80gb", 64, 2.0, None).as_json()
    assert {"time_hours", "cost_usd", "mfu", "assumptions", "time_hours_low", "time_hours_high"} <= set(data)
    assert {"cost_usd_low", "cost_usd_high", "extrapolation", "goodput", "fixed_hours"} <= set(data)
    assert data["time_hours_low"] <= data["time_hours"] <= data["time_hours_high"]  # type: ignore[operator]
    assert data["cost_usd_low"] <= data["cost_usd"] <= data["cost_usd_high"]  # type: ignore[operator]


def test_workload_shape_fields_are_validated() -> None:
    with pytest.raises(workload.WorkloadError, match=r"layers.*d_model.*To fix"):
        wl(params=7e9, tokens=1e10, layers=32)
    with pytest.raises(workload.WorkloadError, match=r"goodput.*To fix"):
        wl(params=7e9, tokens=1e10, goodput=1.5)
    with pytest.raises(workload.WorkloadError, match=r"seq_len.*To fix"):
        wl(params=7e9, tokens=1e10, seq_len="long")
    for name in named.names():  # existing workload files stay valid
        assert named.load(name).workload.seq_len == 4096


def test_calibration_cli_prints_the_group_table() -> None:
    result = runner.invoke(app, ["calibration", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["left_out"] == "benchmark group" and data["median_abs_error"] <= 0.25
    assert {f["family"] for f in data["families"]} == {"gpu", "tpu", "neuron"}
    assert data["goals"]["met"] is True
    cats = {(g["category"], g["value"]) for g in data["groups"]}
    assert {("precision", "16-bit"), ("precision", "fp8"), ("family", "tpu"), ("scale", ">64 chips")} <= cats
    assert all(URL.match(r["source"]) for r in data["rows"])
    text = runner.invoke(app, ["calibration", "--strict"])
    assert text.exit_code == 0 and "sources left out" in text.output.replace("\n", " ")
    plain = runner.invoke(app, ["calibration"])
    assert plain.exit_code == 0
    for name in ("NVIDIA GPU", "Google TPU", "AWS Trainium/Inferentia", "bias", "unvalidated"):
        assert name in plain.output, name


# --------------------------------------------------------------------------- per hardware family (#29)
def _check(run_id: str, group: str, accelerator: str, measured: float, predicted: float) -> calibration.CheckRow:
    """A synthetic out-of-sample row: `measured` and `predicted` TFLOP/s per chip."""
    base = row("C01").run
    run = base.model_copy(update={"id": run_id, "group": group, "accelerator": accelerator})
    return calibration.CheckRow(calibration.Row(run, measured), predicted)


def test_family_split_worked_by_hand() -> None:
    """Five synthetic rows; error = predicted time ÷ measured time − 1 = measured ÷ predicted TF/s − 1.

    GPU: 110/100 → +10%, 80/100 → −20%, 150/100 → +50% (three groups): |errors| 10, 20, 50 → median
    20%; signed −20, +10, +50 → bias +10%. TPU: 100/125 → −20%, 100/80 → +25% (one group): median
    |error| 22.5%, bias +2.5%. No Neuron rows: nan, and listed all the same.
    """
    rows = [
        _check("g1", "a", "nvidia-h100-80gb", 110, 100),
        _check("g2", "b", "nvidia-a100-80gb", 80, 100),
        _check("g3", "c", "nvidia-h100-80gb", 150, 100),
        _check("t1", "d", "tpu-v5p", 100, 125),
        _check("t2", "d", "tpu-v5e", 100, 80),
    ]
    stats = {f.family: f for f in calibration.family_stats(rows)}
    assert list(stats) == ["gpu", "tpu", "neuron"]
    gpu, tpu, neuron = stats["gpu"], stats["tpu"], stats["neuron"]
    assert (gpu.rows, gpu.groups) == (3, 3) and (tpu.rows, tpu.groups) == (2, 1)
    assert gpu.median_abs_error == pytest.approx(0.20) and gpu.bias == pytest.approx(0.10)
    assert tpu.median_abs_error == pytest.approx(0.225) and tpu.bias == pytest.approx(0.025)
    assert neuron.rows == 0 and math.isnan(neuron.median_abs_error) and math.isnan(neuron.bias)
    # three rows are too few however good the error: validation needs ≥10 rows in ≥3 benchmarks
    assert not gpu.validated and "3 rows in 3 benchmarks" in gpu.status
    assert not tpu.validated and not neuron.validated
    enough = calibration.FamilyStat("gpu", 10, 3, 0.20, 0.10)
    too_wrong = calibration.FamilyStat("gpu", 10, 3, 0.30, 0.30)
    assert enough.validated and enough.status == "validated"
    assert not too_wrong.validated and "30% > 25%" in too_wrong.status
    assert calibration.FamilyStat("tpu", 12, 2, 0.05, 0.0).status.startswith("unvalidated: 12 rows in 2")


def test_leave_one_group_out_per_family_by_hand() -> None:
    """Three one-row groups on one H100 node, model ≥ knee, seq ≤ 4096, BF16: every term but m0 is
    zero, so a fit is the mean log MFU of its rows and each group is predicted at the geometric mean
    of the other two. MFU 0.40, 0.50, 0.32 → predicted √(0.5·0.32) = 0.40, √(0.4·0.32) = 0.358,
    √(0.4·0.5) = 0.447 → errors 0, +39.75%, −28.45%: median |error| 28.45%, bias 0."""
    base = row("C01").run.model_copy(update={"chips": 8, "seq_len": 2048})
    data = [
        calibration.Row(base.model_copy(update={"id": g, "group": g, "source_id": g}), mfu * 989)
        for g, mfu in (("a", 0.40), ("b", 0.50), ("c", 0.32))
    ]
    checked = {c.row.run.id: c for c in calibration.leave_out(data)}
    assert checked["a"].predicted_tflops == pytest.approx(math.sqrt(0.5 * 0.32) * 989)
    assert checked["a"].error == pytest.approx(0.0, abs=1e-9)
    assert checked["b"].error == pytest.approx(0.5 / math.sqrt(0.4 * 0.32) - 1)
    assert checked["c"].error == pytest.approx(0.32 / math.sqrt(0.4 * 0.5) - 1)
    gpu = calibration.family_stats(list(checked.values()))[0]
    assert gpu.family == "gpu" and (gpu.rows, gpu.groups) == (3, 3)
    assert gpu.median_abs_error == pytest.approx(1 - 0.32 / math.sqrt(0.2))  # 28.45%
    assert gpu.bias == pytest.approx(0.0, abs=1e-9)


def test_shipped_data_meets_the_family_goals() -> None:
    """Issue #29 on the shipped rows (real data as the oracle): overall ≤ 15%, every family with
    ≥10 rows in ≥3 benchmarks ≤ 25%, and the families the issue names are reported."""
    report = calibration.check()
    assert report.median_abs_error <= calibration.OVERALL_GOAL
    fams = {f.family: f for f in report.families}
    assert set(fams) == {"gpu", "tpu", "neuron"}
    for f in fams.values():
        if f.enough_data:
            assert f.median_abs_error <= calibration.FAMILY_GOAL, f.family
            assert f.validated
    assert fams["gpu"].validated and fams["tpu"].validated  # MaxText v4/v5e/v5p + MLPerf + PaLM
    assert not fams["neuron"].validated and fams["neuron"].rows == 0  # no sourced Trainium rows yet
    assert report.goals_met
    assert calibration.families() == {f.family: f for f in report.families}


def test_tpu_rows_reproduce_their_sources() -> None:
    """MaxText reports TFLOP/s per chip and MFU against the bf16 peak; the rows keep the MFU and
    count chips, not TensorCores (v5p-128 is 64 chips)."""
    v5p = row("MX-v5p-32B-128-1x")
    assert v5p.run.chips == 64 and v5p.measured_tflops == pytest.approx(328, rel=0.005)
    v5e = row("MX-v5e-16B-32x")
    assert v5e.run.chips == 32 * 256 and v5e.measured_tflops == pytest.approx(108, rel=0.005)
    v4 = row("MX-v4-52B-2x")
    assert v4.run.chips == 384 and v4.measured_tflops == pytest.approx(162, rel=0.005)


def test_unvalidated_family_says_so_and_gets_a_wider_band() -> None:
    w = wl(params=7e9, tokens=1e10)
    # same job, same chip count; Trainium2 and H100 have similar bandwidth per FLOP (4.3 vs 3.4 GB/s per TF/s)
    trn = estimate_training(w, "aws-trainium2", 64, 2.0, None, target="aws")
    gpu = estimate_training(w, "nvidia-h100-80gb", 64, 2.0, None, target="aws")
    assert gpu.unvalidated is None and trn.unvalidated is not None
    assert trn.assumptions[0].startswith("UNVALIDATED") and "×2" in trn.assumptions[0]
    assert not any(a.startswith("UNVALIDATED") for a in gpu.assumptions)
    assert math.log(trn.time_band[1]) - math.log(trn.time_band[0]) > 2 * (
        math.log(gpu.time_band[1]) - math.log(gpu.time_band[0])
    )
    data, gdata = trn.as_json(), gpu.as_json()
    assert data["family"] == "neuron" and data["family_validated"] is False and data["unvalidated"]
    assert gdata["family"] == "gpu" and gdata["family_validated"] is True and gdata["unvalidated"] is None
    # the band rule itself: the same comparable rows, ×2 in log space for the unvalidated family
    valid = calibration.band_for("nvidia-h100-80gb", "bf16", 64, "full", False)
    unval = calibration.band_for("aws-trainium2", "bf16", 64, "full", False)
    assert valid.widening == 1.0 and valid.unvalidated is None
    assert unval.widening == calibration.UNVALIDATED_WIDENING and unval.unvalidated
    assert calibration.band_for("aws-trainium2", "bf16", 64, "full", True).widening == pytest.approx(
        calibration.UNVALIDATED_WIDENING * calibration.EXTRAPOLATION_WIDENING
    )
    # a validated TPU estimate carries its family's measured error and bias instead
    tpu = estimate_training(w, "tpu-v5p", 64, 2.0, None, target="gcp")
    assert tpu.unvalidated is None and any(a.startswith("Google TPU: out-of-sample") for a in tpu.assumptions)


def test_recommend_marks_unvalidated_options() -> None:
    from aistack.cli.recommend import options_table

    w = wl(params=7e9, tokens=1e10)
    decision = decide.decide(w, limit=400)
    flagged = [o for o in decision.options if o.estimate.unvalidated]
    assert flagged and len(flagged) < len(decision.options)  # Trainium options next to GPU/TPU ones
    for o in decision.options:
        assert (o.estimate.unvalidated is not None) == (calibration.family(o.venue.accelerator) == "neuron")
        assert o.as_json()["unvalidated"] == o.estimate.unvalidated
    table = options_table(decision)
    assert "unvalidated hardware family" in str(table.caption)
    assert any(str(cell).endswith(" †") for cell in table.columns[2].cells)
