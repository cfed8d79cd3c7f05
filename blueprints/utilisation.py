"""The achievable-utilisation (MFU) model: how much of a chip's peak a transformer run gets.

    achieved FLOP/s per chip = P16 × m0 × (B / P16 / R)^γ × s(precision) × e(n) × z(N) × c(s) × f(method) × h(family)

P16 is the chip's dense 16-bit peak and B its memory bandwidth (performance.yaml); R = 3.387 GB/s
per TFLOP/s is the H100 SXM's ratio, so m0 reads as "MFU of an H100-balanced chip, BF16, one
8-chip node, a large model, ≤4k context". Each factor is something the published rows show:

  (B/P16/R)^γ   chips with little bandwidth per FLOP keep their matrix units busy less of the time
  s(precision)  FP8 (GPUs) and AQT int8 (TPUs) speed-ups *relative to the BF16 peak*: their peaks
                are 2× but attention, norms and communication do not speed up; FP8's gain shrinks
                for small models, whose matmuls are too short to profit, × (N/knee)^δ8, ≥ 1
  e(n)          (n/8)^−α for n > 8 chips: data/tensor/pipeline-parallel losses past one node;
                below one node the model assumes no further gain (no rows there)
  z(N)          (N/knee)^δ for N < knee: small models cannot fill the chip (short matmuls,
                relatively more time in norms, optimizer and launches)
  c(s)          (s/4096)^−κ for longer sequences: attention kernels run below matmul efficiency
                even with their FLOPs counted in the work (see estimator.py)
  h(family)     TPUs (and AWS Neuron chips, once rows exist) against NVIDIA GPUs of the same
                balance: compiler, interconnect and software stack differ by family; 1 for GPUs
  f(method)     LoRA as typical PEFT stacks run it (frozen weights, small batches, adapters'
                unfused matmuls, gradient checkpointing), and QLoRA's extra 4-bit → BF16
                dequantisation of every weight on every pass, on top of LoRA

The parameters are fitted to published runs and benchmarks (calibration.py). Work is model
FLOPs including attention, so MFU is comparable with the PaLM/Llama 3/MPT figures, and it is
reported against the peak of the precision used.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundation.catalog import Performance

REFERENCE_BYTES_PER_FLOP = 3350 / 989  # H100 SXM: GB/s per TFLOP/s
NODE_CHIPS = 8  # scaling losses are measured from one 8-chip node (the smallest multi-chip rows)
REFERENCE_SEQ = 4096  # sequences up to this length carry no context penalty
# Ceiling on MFU against the precision's peak: the best row in the calibration set reaches 0.715
# (MaxText 32B on 64 TPU v5p; the best GPU row is MPT-7B on 8 A100-80GB at 0.64); nothing is
# predicted above what has been measured.
MAX_MFU = 0.72


@dataclass(frozen=True)
class UtilisationModel:
    m0: float  # MFU at the reference point (H100-balanced chip, BF16, one node, large model)
    gamma: float  # bandwidth-balance exponent, 0..1
    fp8_speedup: float  # FP8 throughput ÷ BF16 throughput on chips with an FP8 path
    alpha: float  # scaling exponent past one node: e(n) = (n/8)^−α
    int8_speedup: float = 1.0  # int8 (AQT) training throughput ÷ BF16 throughput
    size_exponent: float = 0.0  # δ: z(N) = (N/knee)^δ below the knee
    knee_params: float = 1e10  # model size above which size stops mattering
    context_exponent: float = 0.0  # κ: c(s) = (s/4096)^−κ above 4096
    lora_factor: float = 1.0  # LoRA throughput ÷ full-training throughput (per model FLOP)
    qlora_factor: float = 1.0  # QLoRA throughput ÷ LoRA throughput
    fp8_size_exponent: float = 0.0  # δ8: FP8's gain × (N/knee)^δ8 below the knee, never below 1
    tpu_factor: float = 1.0  # h(family): TPU throughput ÷ what a GPU of the same balance would get
    neuron_factor: float = 1.0  # the same for AWS Trainium/Inferentia (1: no rows, no evidence)


class NotEstimable(ValueError):  # noqa: N818 — reads as a verdict: "not estimable: <why>"
    """The catalog lacks a figure the estimate needs; the message names it."""


# What went wrong, as a type: callers catch these, never match the message (#29).
class MissingFigure(NotEstimable):
    """performance.yaml has no sourced value for `figure` (a field name, e.g. bf16_tflops)."""

    def __init__(self, message: str, figure: str = "") -> None:
        super().__init__(message)
        self.figure = figure


class UnsupportedPrecision(NotEstimable):
    """The chip has no data path for `precision`; `best_16bit` is its best 16-bit one, if any."""

    def __init__(self, message: str, precision: str, best_16bit: str | None = None) -> None:
        super().__init__(message)
        self.precision = precision
        self.best_16bit = best_16bit


class DoesNotFit(NotEstimable):
    """The job's memory (training state, or weights and cache) exceeds what the chips hold."""


class TooSlow(NotEstimable):
    """The chip cannot meet the latency ceiling even at batch 1."""


def best_16bit(perf: Performance) -> str | None:
    """The chip's best 16-bit training precision: bf16 where it has it, else fp16, else None."""
    if perf.bf16_tflops is not None:
        return "bf16"
    return "fp16" if perf.fp16_tflops is not None else None


def peak_tflops(perf: Performance, precision: str) -> float:
    """Dense peak of the precision used, TFLOP/s per chip."""
    if precision == "fp8":
        if perf.fp8_tflops is None:
            raise UnsupportedPrecision("no FP8 data path", "fp8", best_16bit(perf))
        return perf.fp8_tflops
    if precision == "int8":
        if perf.int8_tops is None:
            raise MissingFigure("no sourced INT8 peak", "int8_tops")
        return perf.int8_tops
    if precision == "fp16" and perf.fp16_tflops is not None:
        return perf.fp16_tflops
    peak = perf.dense_16bit_tflops
    if peak is None:
        raise MissingFigure("no sourced 16-bit peak", "bf16_tflops")
    if precision == "bf16" and perf.bf16_tflops is None:
        raise UnsupportedPrecision("no BF16 support (FP16 only)", "bf16", best_16bit(perf))
    return peak


def scaling_efficiency(model: UtilisationModel, chips: int) -> float:
    if chips <= NODE_CHIPS:
        return 1.0
    return float((chips / NODE_CHIPS) ** -model.alpha)


def size_efficiency(model: UtilisationModel, params: float | None) -> float:
    if params is None or params >= model.knee_params:
        return 1.0
    return float((params / model.knee_params) ** model.size_exponent)


def context_efficiency(model: UtilisationModel, seq_len: int | None) -> float:
    if seq_len is None or seq_len <= REFERENCE_SEQ:
        return 1.0
    return float((seq_len / REFERENCE_SEQ) ** -model.context_exponent)


def fp8_speedup(model: UtilisationModel, params: float | None) -> float:
    if params is None or params >= model.knee_params:
        return model.fp8_speedup
    return float(max(1.0, model.fp8_speedup * (params / model.knee_params) ** model.fp8_size_exponent))


def family_factor(model: UtilisationModel, family: str) -> float:
    """h(family): 1 for NVIDIA GPUs (the reference); TPUs and AWS Neuron chips carry their own factor."""
    return {"tpu": model.tpu_factor, "neuron": model.neuron_factor}.get(family, 1.0)


def method_efficiency(model: UtilisationModel, method: str) -> float:
    if method == "lora":
        return model.lora_factor
    if method == "qlora":
        return model.lora_factor * model.qlora_factor
    return 1.0


def uncapped_tflops(
    model: UtilisationModel,
    perf: Performance,
    precision: str,
    chips: int,
    *,
    params: float | None = None,
    seq_len: int | None = None,
    method: str = "full",
    family: str = "gpu",
) -> float:
    """The model's product of factors, before the MAX_MFU ceiling (calibration uses it for the
    TPU int8 rows, whose chips may have no sourced int8 peak to put a ceiling on)."""
    p16 = perf.dense_16bit_tflops
    if p16 is None:
        raise MissingFigure("no sourced 16-bit peak", "bf16_tflops")
    if perf.memory_bandwidth_gbps is None:
        raise MissingFigure("no sourced memory bandwidth", "memory_bandwidth_gbps")
    if precision == "fp8" and perf.fp8_tflops is None:
        raise UnsupportedPrecision("no FP8 data path", "fp8", best_16bit(perf))
    balance = (perf.memory_bandwidth_gbps / p16) / REFERENCE_BYTES_PER_FLOP
    speed = {"fp8": fp8_speedup(model, params), "int8": model.int8_speedup}.get(precision, 1.0)
    return float(
        p16
        * model.m0
        * balance**model.gamma
        * speed
        * scaling_efficiency(model, chips)
        * size_efficiency(model, params)
        * context_efficiency(model, seq_len)
        * method_efficiency(model, method)
        * family_factor(model, family)
    )


def achieved_tflops(
    model: UtilisationModel,
    perf: Performance,
    precision: str,
    chips: int,
    *,
    params: float | None = None,
    seq_len: int | None = None,
    method: str = "full",
    family: str = "gpu",
) -> float:
    """Sustained model TFLOP/s per chip (attention included) on `chips` chips."""
    value = uncapped_tflops(model, perf, precision, chips, params=params, seq_len=seq_len, method=method, family=family)
    return min(value, peak_tflops(perf, precision) * MAX_MFU)


def mfu(
    model: UtilisationModel,
    perf: Performance,
    precision: str,
    chips: int,
    *,
    params: float | None = None,
    seq_len: int | None = None,
    method: str = "full",
    family: str = "gpu",
) -> float:
    """Model FLOPs utilisation against the dense peak of the precision used."""
    achieved = achieved_tflops(
        model, perf, precision, chips, params=params, seq_len=seq_len, method=method, family=family
    )
    return float(achieved / peak_tflops(perf, precision))
