"""Time, cost and memory estimates: pure functions over the catalog and a workload.

Training and fine-tuning
    work      = `flops`, else per token 6·N (forward 2N + backward 4N, Kaplan et al. 2020) or 4·N for
                LoRA/QLoRA (the backward still flows through the frozen weights for activation
                gradients, 2N, but computes no weight gradients for them; LoRA Sec. 4.2), plus
                12·L·d·s of attention (PaLM App. B), × D tokens. L and d follow d/L = 128 unless given.
    kernel    = work / (chips × achieved FLOP/s per chip), achieved from utilisation.py, whose
                parameters are fitted to published runs (calibration.py).
    run       = kernel ÷ goodput (restarts, evaluation, checkpoint stalls; default 0.9, Llama 3).
    time      = fixed + run; fixed = provisioning + image pull + model load + final checkpoint write.
    band      = ≈80% range of the run part from out-of-sample residuals of comparable calibration
                rows (calibration.band_for), widened where the estimate extrapolates.
    memory    = full: 16 bytes/param (BF16 weights and gradients + FP32 master weights and two Adam
                moments; Rajbhandari et al. 2020, "ZeRO", 16Ψ), sharded over all chips (ZeRO-3/FSDP).
                LoRA: 2 bytes/param frozen BF16 base + 16 bytes per adapter param.
                QLoRA: 0.5 bytes/param 4-bit base + 16 bytes per adapter param.
                A fifth of each chip's memory is kept for activations (with checkpointing),
                workspace and fragmentation — an assumption, stated in every estimate.
Serving (decode)
    Each step reads every weight once, so a replica's step time is at least
    weight bytes / (chips × bandwidth × 0.7), and at least 2·N·batch / (chips × achieved FLOP/s);
    tokens/s = batch / step time. The 0.7 is an assumed achievable fraction of peak bandwidth.
    A replica's chips must hold the weights plus 20% for KV cache and runtime (assumption).
Cost = chips used × the offering's price per chip-hour × billed hours: time rounded up to the
billing increment, at least the minimum charge (AWS and GCP: per second, 1-minute minimum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from foundation import catalog
from foundation.catalog import Performance
from foundation.words import counted

from . import calibration
from .calibration import DEFAULT_GOODPUT, GOODPUT_SOURCE, fitted
from .utilisation import (
    NODE_CHIPS,
    DoesNotFit,
    MissingFigure,
    NotEstimable,
    TooSlow,
    UtilisationModel,
    achieved_tflops,
    mfu,
    peak_tflops,
)
from .workload import Workload

TRAIN_BYTES_PER_PARAM = 16.0
LORA_BASE_BYTES = {"lora": 2.0, "qlora": 0.5}
ADAPTER_BYTES_PER_PARAM = 16.0
MEMORY_HEADROOM = 0.8  # share of device memory for weights/optimiser state; the rest is activations etc.
SERVING_MEMORY_OVERHEAD = 1.2
BANDWIDTH_EFFICIENCY = 0.7
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}

# Fixed time per run (assumptions; `setup_minutes` in the workload replaces the first three).
# Provisioning: create the VMs, boot, install/verify the GPU driver and device plugin until the node
# advertises its chips. No provider publishes an SLA; 8 minutes is an assumption to replace with
# your own measurement. On-prem nodes are already running.
PROVISION_MINUTES = {"gcp": 8.0, "aws": 8.0, "onprem": 0.0}
# Container image: NGC's PyTorch image is ~10 GB compressed (catalog.ngc.nvidia.com, nvidia/pytorch);
# pulled and unpacked at an assumed 0.2 GB/s per node (GKE image streaming exists to cut this).
IMAGE_GB = 10.0
IMAGE_PULL_GBPS = 0.2
# Model weights (BF16 checkpoint) and the final training-state checkpoint move at an assumed
# 1 GB/s per node (object storage / shared filesystem); nodes read and write their shards in parallel.
STORAGE_GBPS_PER_NODE = 1.0
CHECKPOINT_BYTES_PER_PARAM = 14.0  # BF16 weights + FP32 master copy + two FP32 Adam moments
# Minimum charge and increment, hours. AWS On-Demand Linux: per second, minimum 60 s
# (https://aws.amazon.com/ec2/pricing/on-demand/); Compute Engine: per second after a 1-minute
# minimum (https://cloud.google.com/compute/vm-instance-pricing). Capacity blocks and other
# purchase options pass their own (`Billing`).
CLOUD_MIN_BILLED_HOURS = 1 / 60
CLOUD_BILLING_INCREMENT_HOURS = 1 / 3600

SERVING_UNCALIBRATED = (
    "serving is not calibrated against measured throughput: decode time comes from the bandwidth "
    "and FLOP assumptions above"
)

SOURCES = {
    "6ND": "https://arxiv.org/abs/2001.08361",
    "attention": "https://arxiv.org/abs/2204.02311",
    "ZeRO 16 bytes/param": "https://arxiv.org/abs/1910.02054",
    "LoRA": "https://arxiv.org/abs/2106.09685",
    "QLoRA": "https://arxiv.org/abs/2305.14314",
    "goodput": GOODPUT_SOURCE,
    "calibration": "docs/estimator.md",
}


@dataclass(frozen=True)
class Billing:
    """How a purchase option bills: the shortest charge and the increment above it, hours."""

    min_hours: float = CLOUD_MIN_BILLED_HOURS
    increment_hours: float = CLOUD_BILLING_INCREMENT_HOURS

    def billed_hours(self, hours: float) -> float:
        """Hours charged for `hours` of use: rounded up to the increment, at least the minimum."""
        if self.increment_hours > 0:
            hours = math.ceil(hours / self.increment_hours - 1e-9) * self.increment_hours
        return max(self.min_hours, hours)


ONPREM_BILLING = Billing(min_hours=0.0, increment_hours=0.0)


@dataclass(frozen=True)
class Estimate:
    accelerator: str
    chips: int
    time_hours: float
    cost_usd: float | None
    mfu: float
    usd_per_chip_hour: float | None
    assumptions: list[str] = field(default_factory=list)
    tokens_per_s: float | None = None  # serving: aggregate decode throughput
    ms_per_token: float | None = None  # serving: step time at the chosen batch
    replicas: int | None = None
    chips_per_replica: int | None = None
    time_band: tuple[float, float] = (1.0, 1.0)  # multiplicative: time_hours*low … time_hours*high (≈80%)
    extrapolation: tuple[str, ...] = ()  # why this estimate is outside the calibrated range, if it is
    fixed_hours: float = 0.0  # provisioning + load + checkpoint time included in time_hours
    goodput: float = 1.0  # stated goodput assumption applied
    cost_band: tuple[float, float] | None = None  # USD, billing increments applied (None: no price)
    family: str = "gpu"  # hardware family: gpu | tpu | neuron (calibration.family)
    unvalidated: str | None = None  # why the family's estimates are not validated; None when they are

    @property
    def time_hours_low(self) -> float:
        return self.time_hours * self.time_band[0]

    @property
    def time_hours_high(self) -> float:
        return self.time_hours * self.time_band[1]

    def as_json(self) -> dict[str, object]:
        low, high = self.cost_band if self.cost_band is not None else (self.cost_usd, self.cost_usd)
        out: dict[str, object] = {
            "time_hours": round(self.time_hours, 4),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
            "mfu": round(self.mfu, 4),
            "assumptions": self.assumptions,
            "accelerator": self.accelerator,
            "count": self.chips,
            "time_hours_low": round(self.time_hours_low, 4),
            "time_hours_high": round(self.time_hours_high, 4),
            "cost_usd_low": None if low is None else round(low, 2),
            "cost_usd_high": None if high is None else round(high, 2),
            "extrapolation": list(self.extrapolation),
            "goodput": self.goodput,
            "fixed_hours": round(self.fixed_hours, 4),
            "family": self.family,
            "family_validated": self.unvalidated is None,
            "unvalidated": self.unvalidated,
        }
        if self.tokens_per_s is not None:
            out |= {
                "tokens_per_s": round(self.tokens_per_s, 1),
                "ms_per_token": None if self.ms_per_token is None else round(self.ms_per_token, 2),
                "replicas": self.replicas,
                "chips_per_replica": self.chips_per_replica,
            }
        return out


def perf_of(accelerator: str) -> Performance:
    perf = catalog.performance().performance.get(accelerator)
    if perf is None:
        raise NotEstimable(f"{accelerator} has no performance figures in the catalog")
    return perf


def memory_gb(accelerator: str) -> float:
    acc = catalog.accelerators().get(accelerator)
    if acc is None:
        raise NotEstimable(f"unknown accelerator {accelerator}")
    return acc.memory_gb


def training_state_gb(workload: Workload) -> float:
    """Weights + gradients + optimiser state to hold across all chips, GB."""
    if workload.params is None:
        return 0.0  # only FLOPs given: memory cannot be checked (said in the assumptions)
    n = workload.params
    if workload.kind == "fine-tuning" and workload.method != "full":
        base = LORA_BASE_BYTES[workload.method] * n
        return (base + ADAPTER_BYTES_PER_PARAM * workload.lora_trainable_fraction * n) / 1e9
    return TRAIN_BYTES_PER_PARAM * n / 1e9


def min_chips_for_memory(workload: Workload, accelerator: str) -> int:
    need = training_state_gb(workload)
    return max(1, math.ceil(need / (memory_gb(accelerator) * MEMORY_HEADROOM)))


@dataclass(frozen=True)
class FixedTime:
    provision_h: float
    image_h: float
    load_h: float
    checkpoint_h: float
    overridden: bool

    @property
    def hours(self) -> float:
        return self.provision_h + self.image_h + self.load_h + self.checkpoint_h


def fixed_time(workload: Workload, chips: int, target: str | None) -> FixedTime:
    """Once-per-run time around the training steps (periodic checkpoints are inside goodput)."""
    nodes = max(1, math.ceil(chips / NODE_CHIPS))
    n = workload.params or 0.0
    if workload.method_used in ("lora", "qlora"):
        final_gb = ADAPTER_BYTES_PER_PARAM * workload.lora_trainable_fraction * n / 1e9
    else:
        final_gb = CHECKPOINT_BYTES_PER_PARAM * n / 1e9
    checkpoint_h = final_gb / (nodes * STORAGE_GBPS_PER_NODE) / 3600
    if workload.setup_minutes is not None:
        return FixedTime(workload.setup_minutes / 60, 0.0, 0.0, checkpoint_h, True)
    provision_h = PROVISION_MINUTES.get(target or "gcp", PROVISION_MINUTES["gcp"]) / 60
    image_h = IMAGE_GB / IMAGE_PULL_GBPS / 3600
    load_h = 2.0 * n / 1e9 / STORAGE_GBPS_PER_NODE / 3600  # every node reads the BF16 weights
    return FixedTime(provision_h, image_h, load_h, checkpoint_h, False)


def extrapolation(workload: Workload, accelerator: str, chips: int) -> tuple[str, ...]:
    """Why an estimate leaves the calibrated range (empty: it stays inside)."""
    method = workload.method_used
    cov = calibration.coverage(method)
    fam = calibration.family(accelerator)
    what = "LoRA/QLoRA" if method in ("lora", "qlora") else "full-training"
    reasons = []
    if accelerator not in cov.accelerators:
        reasons.append(f"no {what} calibration rows on {accelerator}: its utilisation comes from the bandwidth term")
    if (fam, calibration.precision_class(workload.precision)) not in cov.families_precisions:
        name = calibration.FAMILY_NAMES.get(fam, fam)
        reasons.append(f"{workload.precision} on {name} chips has no {what} calibration rows")
    lo, hi = cov.chips
    if chips < lo:
        reasons.append(f"{counted(chips, 'chip')}: fewer than the smallest calibrated {what} job ({lo})")
    elif chips > hi:
        reasons.append(f"{counted(chips, 'chip')}: more than the largest calibrated {what} job ({hi})")
    if workload.params is None:
        reasons.append("only FLOPs given: the model-size and context terms are not applied")
    else:
        plo, phi = cov.params
        if not plo <= workload.params <= phi:
            reasons.append(f"{workload.params:.3g} params outside the calibrated {what} range {plo:.3g}–{phi:.3g}")
        slo, shi = cov.seq_len
        if not slo <= workload.seq_len <= shi:
            reasons.append(f"seq_len {workload.seq_len} outside the calibrated {what} range {slo}–{shi}")
    return tuple(reasons)


def _training_assumptions(
    workload: Workload, model: UtilisationModel, accelerator: str, chips: int, fixed: FixedTime, goodput: float
) -> list[str]:
    perf = perf_of(accelerator)
    notes = []
    if workload.flops is not None:
        notes.append(f"work: {workload.flops:.3g} FLOPs as given")
    else:
        per = "4·N" if workload.method_used in ("lora", "qlora") else "6·N"
        shape = "given" if workload.layers else "d/L = 128"
        notes.append(
            f"work: ({per} + 12·L·d·s attention, s={workload.seq_len}, L·d {shape}) × D = "
            f"{workload.total_flops:.3g} FLOPs ({SOURCES['6ND']}; {SOURCES['attention']}"
            + (
                f"; LoRA backward through frozen weights, no weight gradients: {SOURCES['LoRA']})"
                if per == "4·N"
                else ")"
            )
        )
    report = calibration.out_of_sample()
    notes.append(
        f"utilisation model fitted to {len(calibration.rows())} published training rows "
        f"(m0={model.m0:.3f}, γ={model.gamma:.2f}, fp8×{model.fp8_speedup:.2f}, α={model.alpha:.3f}, "
        f"δ={model.size_exponent:.3f}, κ={model.context_exponent:.3f}, LoRA×{model.lora_factor:.2f}, "
        f"QLoRA×{model.qlora_factor:.2f} on top, TPU×{model.tpu_factor:.2f}); out-of-sample median error "
        f"{calibration.median_abs_error():.0%} over {len(report)} rows ({SOURCES['calibration']})"
    )
    peak = peak_tflops(perf, workload.precision)
    notes.append(f"{accelerator}: {peak:g} TFLOP/s dense {workload.precision} peak ({perf.sources[0]})")
    notes.append(
        f"goodput {goodput:g}: share of run time in productive steps"
        + (" (workload)" if workload.goodput is not None else f" (default; Llama 3 reports >90%, {SOURCES['goodput']})")
    )
    if fixed.overridden:
        notes.append(f"fixed time: setup_minutes {workload.setup_minutes:g} (workload) + final checkpoint")
    else:
        notes.append(
            f"fixed time {fixed.hours * 60:.0f} min: provisioning {fixed.provision_h * 60:.0f} min (assumption), "
            f"image pull {fixed.image_h * 60:.1f} min ({IMAGE_GB:g} GB at {IMAGE_PULL_GBPS:g} GB/s, assumption), "
            f"model load {fixed.load_h * 60:.1f} min and final checkpoint {fixed.checkpoint_h * 60:.1f} min "
            f"at {STORAGE_GBPS_PER_NODE:g} GB/s per node (assumption)"
        )
    if workload.params is None:
        notes.append("memory fit not checked: only FLOPs were given")
    else:
        state = training_state_gb(workload)
        what = "16 bytes/param" if workload.method_used == "full" else workload.method
        notes.append(
            f"memory: {state:.0f} GB of weights/optimiser state ({what}; {SOURCES['ZeRO 16 bytes/param']}) "
            f"sharded over {counted(chips, 'chip')}; {round((1 - MEMORY_HEADROOM) * 100)}% of each chip kept for "
            "activations (assumption)"
        )
    return notes


def estimate_training(
    workload: Workload,
    accelerator: str,
    chips: int,
    usd_per_chip_hour: float | None,
    model: UtilisationModel | None,
    *,
    target: str | None = None,
    billing: Billing | None = None,
) -> Estimate:
    """Time and cost of a training or fine-tuning run on `chips` chips. Raises NotEstimable.

    `target` ("gcp" | "aws" | "onprem") picks the provisioning assumption; `billing` the minimum
    charge and increment (default: per second with a 1-minute minimum; on-prem: none).
    """
    calibrated = model is None
    model = model or fitted()
    perf = perf_of(accelerator)
    needed = min_chips_for_memory(workload, accelerator)
    if chips < needed:
        raise DoesNotFit(
            f"does not fit: {training_state_gb(workload):.0f} GB of training state needs ≥{needed} × "
            f"{memory_gb(accelerator):g} GB chips"
        )
    params, seq_len, method = workload.params, workload.seq_len, workload.method_used
    fam = calibration.family(accelerator)
    per_chip = achieved_tflops(
        model, perf, workload.precision, chips, params=params, seq_len=seq_len, method=method, family=fam
    )
    per_chip *= 1e12
    kernel_h = workload.total_flops / (per_chip * chips) / 3600
    goodput = workload.goodput if workload.goodput is not None else DEFAULT_GOODPUT
    run_h = kernel_h / goodput
    fixed = fixed_time(workload, chips, target)
    hours = fixed.hours + run_h
    outside = extrapolation(workload, accelerator, chips)
    if calibrated:
        band = calibration.band_for(accelerator, workload.precision, chips, workload.method_used, bool(outside))
        low_h, high_h = fixed.hours + run_h * band.low, fixed.hours + run_h * band.high
    else:  # a caller-supplied model has no residuals to draw a band from
        band, low_h, high_h = None, hours, hours
    bill = billing or (ONPREM_BILLING if target == "onprem" else Billing())
    cost = cost_band = None
    if usd_per_chip_hour is not None:
        cost = bill.billed_hours(hours) * chips * usd_per_chip_hour
        cost_band = (
            bill.billed_hours(low_h) * chips * usd_per_chip_hour,
            bill.billed_hours(high_h) * chips * usd_per_chip_hour,
        )
    notes = _training_assumptions(workload, model, accelerator, chips, fixed, goodput)
    fam_stat = calibration.family_status(accelerator)
    why_unvalidated = None if fam_stat.validated else f"{fam_stat.name} is {fam_stat.status}"
    if why_unvalidated is not None:
        notes.insert(
            0,
            f"UNVALIDATED: {why_unvalidated}; a family is validated with ≥{calibration.MIN_FAMILY_ROWS} rows in "
            f"≥{calibration.MIN_FAMILY_GROUPS} benchmarks and an out-of-sample median |error| ≤ "
            f"{calibration.FAMILY_GOAL:.0%}, so the fit is applied here unchecked"
            + (f" and the band is widened ×{calibration.UNVALIDATED_WIDENING:g}" if band is not None else ""),
        )
    else:
        notes.append(
            f"{fam_stat.name}: out-of-sample median |error| {fam_stat.median_abs_error:.0%}, bias "
            f"{fam_stat.bias:+.0%} (+ = predicted slower than measured) over {fam_stat.rows} rows in "
            f"{fam_stat.groups} benchmarks (validated)"
        )
    if band is not None:
        widened = []
        if outside:
            widened.append(f"×{calibration.EXTRAPOLATION_WIDENING:g} (extrapolating)")
        if why_unvalidated is not None:
            widened.append(f"×{calibration.UNVALIDATED_WIDENING:g} (unvalidated family)")
        notes.append(
            f"band {low_h / hours:.2f}–{high_h / hours:.2f}× on time: 10th–90th percentile of out-of-sample "
            f"errors of {band.basis}" + (", widened " + " and ".join(widened) if widened else "")
        )
    notes.extend(f"extrapolating: {r}" for r in outside)
    if usd_per_chip_hour is not None:
        notes.append(
            f"price: {usd_per_chip_hour:.4f} USD per chip-hour, billed {bill.billed_hours(hours):.4g} h "
            f"(minimum {bill.min_hours * 60:g} min, increment {bill.increment_hours * 3600:g} s)"
        )
    return Estimate(
        accelerator=accelerator,
        chips=chips,
        time_hours=hours,
        cost_usd=cost,
        mfu=mfu(model, perf, workload.precision, chips, params=params, seq_len=seq_len, method=method, family=fam),
        usd_per_chip_hour=usd_per_chip_hour,
        assumptions=notes,
        time_band=(low_h / hours, high_h / hours),
        extrapolation=outside,
        fixed_hours=fixed.hours,
        goodput=goodput,
        cost_band=cost_band,
        family=fam,
        unvalidated=why_unvalidated,
    )


def serving_replica_chips(workload: Workload, accelerator: str, shapes: tuple[int, ...]) -> int:
    """Smallest chips-per-replica among `shapes` that holds the weights plus overhead."""
    assert workload.params is not None
    need_gb = workload.params * WEIGHT_BYTES[workload.precision] * SERVING_MEMORY_OVERHEAD / 1e9
    for n in sorted(shapes):
        if n * memory_gb(accelerator) >= need_gb:
            return n
    raise DoesNotFit(
        f"does not fit: {need_gb:.0f} GB of weights and cache exceed the largest replica "
        f"({max(shapes)} × {memory_gb(accelerator):g} GB)"
    )


def estimate_serving(
    workload: Workload,
    accelerator: str,
    usd_per_chip_hour: float | None,
    shapes: tuple[int, ...] = (1, 2, 4, 8),
    model: UtilisationModel | None = None,
    billing_unit: int = 1,
) -> Estimate:
    """Replicas and cost to sustain `target_tokens_per_s` of decode. Raises NotEstimable."""
    model = model or fitted()
    perf = perf_of(accelerator)
    assert workload.params is not None and workload.target_tokens_per_s is not None
    if perf.memory_bandwidth_gbps is None:
        raise MissingFigure("no sourced memory bandwidth", "memory_bandwidth_gbps")
    per_replica = serving_replica_chips(workload, accelerator, shapes)
    weight_bytes = workload.params * WEIGHT_BYTES[workload.precision]
    bw = per_replica * perf.memory_bandwidth_gbps * 1e9 * BANDWIDTH_EFFICIENCY

    n_params = workload.params
    fam = calibration.family(accelerator)

    def step_s(batch: int) -> float:
        achieved = achieved_tflops(model, perf, workload.precision, per_replica, family=fam)
        compute = 2 * n_params * batch / (achieved * 1e12)
        return max(weight_bytes / bw, compute / per_replica)

    batch = workload.batch
    if workload.max_ms_per_token is not None:
        if step_s(1) * 1000 > workload.max_ms_per_token:
            raise TooSlow(
                f"too slow: {step_s(1) * 1000:.1f} ms per token even at batch 1 "
                f"> max_ms_per_token {workload.max_ms_per_token:g}"
            )
        while batch > 1 and step_s(batch) * 1000 > workload.max_ms_per_token:
            batch //= 2
    tps_replica = batch / step_s(batch)
    replicas = math.ceil(workload.target_tokens_per_s / tps_replica)
    # Replicas pack into whole VMs/instances, and whole instances are what is billed.
    chips = math.ceil(replicas * per_replica / billing_unit) * billing_unit
    hours = workload.duration_hours
    cost = None if usd_per_chip_hour is None else chips * usd_per_chip_hour * hours
    notes = [
        f"decode is memory-bound: step ≥ {weight_bytes / 1e9:.1f} GB of weights ÷ ({per_replica} × "
        f"{perf.memory_bandwidth_gbps:g} GB/s × {BANDWIDTH_EFFICIENCY} achievable, assumption) "
        f"({perf.sources[0]})",
        f"batch {batch} concurrent sequences per replica; {tps_replica:.0f} tokens/s per replica",
        f"{counted(per_replica, 'chip')} per replica hold the weights + {round((SERVING_MEMORY_OVERHEAD - 1) * 100)}% "
        "for KV cache and runtime (assumption)",
        f"{counted(replicas, 'replica')} packed into {counted(chips // billing_unit, 'instance')} of "
        f"{counted(billing_unit, 'chip')}; "
        f"priced for {hours:g} h",
    ]
    return Estimate(
        accelerator=accelerator,
        chips=chips,
        time_hours=hours,
        cost_usd=cost,
        mfu=mfu(model, perf, workload.precision, per_replica, family=fam) if workload.precision != "int8" else 0.0,
        usd_per_chip_hour=usd_per_chip_hour,
        assumptions=notes,
        tokens_per_s=replicas * tps_replica,
        ms_per_token=step_s(batch) * 1000,
        replicas=replicas,
        chips_per_replica=per_replica,
        extrapolation=(SERVING_UNCALIBRATED,),
        family=fam,
    )
