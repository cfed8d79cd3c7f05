"""Time, cost and memory estimates: pure functions over the catalog and a workload.

Training and fine-tuning
    work      = `flops`, else 6·N·D for dense training (forward 2ND + backward 4ND, Kaplan et al.
                2020) and 4·N·D for LoRA/QLoRA (frozen weights get no weight gradients: forward 2ND +
                activation gradients 2ND; the adapters' own cost is negligible at ~1% of N).
    time      = work / (chips × achieved FLOP/s per chip), achieved from utilisation.py.
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
Cost = chips used × the offering's price per chip-hour × hours (serving: `duration_hours`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import catalog
from .calibration import fitted
from .catalog import Performance
from .utilisation import NotEstimable, UtilisationModel, achieved_tflops, mfu, peak_tflops
from .workload import Workload

TRAIN_BYTES_PER_PARAM = 16.0
LORA_BASE_BYTES = {"lora": 2.0, "qlora": 0.5}
ADAPTER_BYTES_PER_PARAM = 16.0
MEMORY_HEADROOM = 0.8  # share of device memory for weights/optimiser state; the rest is activations etc.
SERVING_MEMORY_OVERHEAD = 1.2
BANDWIDTH_EFFICIENCY = 0.7
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}

SOURCES = {
    "6ND": "https://arxiv.org/abs/2001.08361",
    "ZeRO 16 bytes/param": "https://arxiv.org/abs/1910.02054",
    "LoRA": "https://arxiv.org/abs/2106.09685",
    "QLoRA": "https://arxiv.org/abs/2305.14314",
    "MLPerf calibration": "docs/estimator.md",
}


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

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "time_hours": round(self.time_hours, 4),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
            "mfu": round(self.mfu, 4),
            "assumptions": self.assumptions,
            "accelerator": self.accelerator,
            "count": self.chips,
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


def _training_assumptions(workload: Workload, model: UtilisationModel, accelerator: str, chips: int) -> list[str]:
    perf = perf_of(accelerator)
    notes = []
    if workload.flops is not None:
        notes.append(f"work: {workload.flops:.3g} FLOPs as given")
    elif workload.kind == "fine-tuning" and workload.method != "full":
        notes.append(f"work: 4·N·D = {workload.total_flops:.3g} FLOPs ({workload.method}; {SOURCES['LoRA']})")
    else:
        notes.append(f"work: 6·N·D = {workload.total_flops:.3g} FLOPs ({SOURCES['6ND']})")
    notes.append(
        f"utilisation model fitted to {len(catalog.mlperf().results)} MLPerf Training results: "
        f"m0={model.m0:.3f}, γ={model.gamma:.3f}, fp8 speed-up={model.fp8_speedup:.3f}, α={model.alpha:.3f} "
        f"({SOURCES['MLPerf calibration']})"
    )
    peak = peak_tflops(perf, workload.precision)
    notes.append(f"{accelerator}: {peak:g} TFLOP/s dense {workload.precision} peak ({perf.sources[0]})")
    if accelerator.startswith("aws-"):
        notes.append("Neuron chips have no MLPerf rows: their utilisation is the GPU/TPU fit, unvalidated")
    if workload.params is None:
        notes.append("memory fit not checked: only FLOPs were given")
    else:
        state = training_state_gb(workload)
        what = "16 bytes/param" if workload.method == "full" or workload.kind == "training" else workload.method
        notes.append(
            f"memory: {state:.0f} GB of weights/optimiser state ({what}; {SOURCES['ZeRO 16 bytes/param']}) "
            f"sharded over {chips} chips; {round((1 - MEMORY_HEADROOM) * 100)}% of each chip kept for activations "
            "(assumption)"
        )
    return notes


def estimate_training(
    workload: Workload, accelerator: str, chips: int, usd_per_chip_hour: float | None, model: UtilisationModel | None
) -> Estimate:
    """Time and cost of a training or fine-tuning run on `chips` chips. Raises NotEstimable."""
    model = model or fitted()
    perf = perf_of(accelerator)
    needed = min_chips_for_memory(workload, accelerator)
    if chips < needed:
        raise NotEstimable(
            f"does not fit: {training_state_gb(workload):.0f} GB of training state needs ≥{needed} × "
            f"{memory_gb(accelerator):g} GB chips"
        )
    per_chip = achieved_tflops(model, perf, workload.precision, chips) * 1e12
    hours = workload.total_flops / (per_chip * chips) / 3600
    cost = None if usd_per_chip_hour is None else hours * chips * usd_per_chip_hour
    notes = _training_assumptions(workload, model, accelerator, chips)
    if usd_per_chip_hour is not None:
        notes.append(f"price: {usd_per_chip_hour:.4f} USD per chip-hour")
    return Estimate(
        accelerator=accelerator,
        chips=chips,
        time_hours=hours,
        cost_usd=cost,
        mfu=mfu(model, perf, workload.precision, chips),
        usd_per_chip_hour=usd_per_chip_hour,
        assumptions=notes,
    )


def serving_replica_chips(workload: Workload, accelerator: str, shapes: tuple[int, ...]) -> int:
    """Smallest chips-per-replica among `shapes` that holds the weights plus overhead."""
    assert workload.params is not None
    need_gb = workload.params * WEIGHT_BYTES[workload.precision] * SERVING_MEMORY_OVERHEAD / 1e9
    for n in sorted(shapes):
        if n * memory_gb(accelerator) >= need_gb:
            return n
    raise NotEstimable(
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
        raise NotEstimable("no sourced memory bandwidth")
    per_replica = serving_replica_chips(workload, accelerator, shapes)
    weight_bytes = workload.params * WEIGHT_BYTES[workload.precision]
    bw = per_replica * perf.memory_bandwidth_gbps * 1e9 * BANDWIDTH_EFFICIENCY

    n_params = workload.params

    def step_s(batch: int) -> float:
        compute = 2 * n_params * batch / (achieved_tflops(model, perf, workload.precision, per_replica) * 1e12)
        return max(weight_bytes / bw, compute / per_replica)

    batch = workload.batch
    if workload.max_ms_per_token is not None:
        if step_s(1) * 1000 > workload.max_ms_per_token:
            raise NotEstimable(
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
        f"{per_replica} chip(s) per replica hold the weights + {round((SERVING_MEMORY_OVERHEAD - 1) * 100)}% "
        "for KV cache and runtime (assumption)",
        f"{replicas} replica(s) packed into {chips // billing_unit} instance(s) of {billing_unit} chip(s); "
        f"priced for {hours:g} h",
    ]
    return Estimate(
        accelerator=accelerator,
        chips=chips,
        time_hours=hours,
        cost_usd=cost,
        mfu=mfu(model, perf, workload.precision, per_replica) if workload.precision != "int8" else 0.0,
        usd_per_chip_hour=usd_per_chip_hour,
        assumptions=notes,
        tokens_per_s=replicas * tps_replica,
        ms_per_token=step_s(batch) * 1000,
        replicas=replicas,
        chips_per_replica=per_replica,
    )
