"""The achievable-utilisation (MFU) model: how much of a chip's peak a dense transformer gets.

    achieved FLOP/s per chip = P16 × m0 × (B / P16 / R)^γ × s(precision) × e(n)

P16 is the chip's dense 16-bit peak and B its memory bandwidth (performance.yaml); R = 3.387
GB/s per TFLOP/s is the H100 SXM's ratio, so m0 reads as "H100 BF16 MFU at one node". The
bandwidth term captures that chips with little bandwidth per FLOP (TPU v6e, L4) keep their
matrix units busy less of the time; s(fp8) is the speed-up FP8 buys over BF16 *relative to the
BF16 peak* (FP8 peaks are 2× but attention, norms and communication do not speed up), and
e(n) = 1 / (1 + α·log2(n / 8)) for n > 8 chips is the scaling loss of data/tensor/pipeline
parallelism past one 8-chip host. m0, γ, s8 and α are fitted to published MLPerf Training
results (calibration.py); MFU is reported against the peak of the precision used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .catalog import Performance

REFERENCE_BYTES_PER_FLOP = 3350 / 989  # H100 SXM: GB/s per TFLOP/s
GAMMA_RANGE = (0.0, 1.0)  # bandwidth helps, never hurts, and at most proportionally
NODE_CHIPS = 8
# Scaling losses are modelled from the smallest scale MLPerf rows cover; below it the model
# assumes no further gain (conservative: small jobs are not predicted faster than measured).
SCALING_FROM_CHIPS = 64
MAX_MFU = 0.75  # ceiling: the best MLPerf row in the calibration set reaches 0.75 of its peak


@dataclass(frozen=True)
class UtilisationModel:
    m0: float  # H100-like BF16 MFU at one 8-chip node
    gamma: float  # bandwidth-balance exponent
    fp8_speedup: float  # FP8 throughput ÷ BF16 throughput on chips with an FP8 path
    alpha: float  # scaling loss per doubling past one node


class NotEstimable(ValueError):  # noqa: N818 — reads as a verdict: "not estimable: <why>"
    """The catalog lacks a figure the estimate needs; the message names it."""


def peak_tflops(perf: Performance, precision: str) -> float:
    """Dense peak of the precision used, TFLOP/s per chip."""
    if precision == "fp8":
        if perf.fp8_tflops is None:
            raise NotEstimable("no FP8 data path")
        return perf.fp8_tflops
    if precision == "int8":
        if perf.int8_tops is None:
            raise NotEstimable("no sourced INT8 peak")
        return perf.int8_tops
    if precision == "fp16" and perf.fp16_tflops is not None:
        return perf.fp16_tflops
    peak = perf.dense_16bit_tflops
    if peak is None:
        raise NotEstimable("no sourced 16-bit peak" if perf.fp16_tflops is None else "no BF16 support")
    if precision == "bf16" and perf.bf16_tflops is None:
        raise NotEstimable("no BF16 support (FP16 only)")
    return peak


def scaling_efficiency(model: UtilisationModel, chips: int) -> float:
    if chips <= SCALING_FROM_CHIPS:
        return 1.0
    return 1.0 / (1.0 + model.alpha * math.log2(chips / SCALING_FROM_CHIPS))


def achieved_tflops(model: UtilisationModel, perf: Performance, precision: str, chips: int) -> float:
    """Sustained model TFLOP/s per chip for a dense transformer on `chips` chips."""
    p16 = perf.dense_16bit_tflops
    if p16 is None:
        raise NotEstimable("no sourced 16-bit peak")
    if perf.memory_bandwidth_gbps is None:
        raise NotEstimable("no sourced memory bandwidth")
    if precision == "fp8" and perf.fp8_tflops is None:
        raise NotEstimable("no FP8 data path")
    balance = (perf.memory_bandwidth_gbps / p16) / REFERENCE_BYTES_PER_FLOP
    speed = model.fp8_speedup if precision == "fp8" else 1.0
    value = float(p16 * model.m0 * balance**model.gamma * speed * scaling_efficiency(model, chips))
    return min(value, peak_tflops(perf, precision) * MAX_MFU)


def mfu(model: UtilisationModel, perf: Performance, precision: str, chips: int) -> float:
    """Model FLOPs utilisation against the dense peak of the precision used."""
    return float(achieved_tflops(model, perf, precision, chips) / peak_tflops(perf, precision))
