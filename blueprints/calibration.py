"""Fit the utilisation model to MLPerf Training results and measure how well it predicts them.

The fit is least squares on log throughput: for a fixed α the model is linear in
(log m0, γ, log s8), so α is searched on a grid and the rest solved exactly. Honest error
numbers come from leave-one-out: each result is predicted by a model fitted without it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cache
from itertools import combinations

from . import catalog
from .catalog import MlperfResult
from .utilisation import GAMMA_RANGE, REFERENCE_BYTES_PER_FLOP, SCALING_FROM_CHIPS, UtilisationModel, achieved_tflops


@dataclass(frozen=True)
class Row:
    result: MlperfResult
    flops: float

    @property
    def seconds(self) -> float:
        return self.result.minutes * 60


def rows() -> list[Row]:
    data = catalog.mlperf()
    out = []
    for r in data.results:
        bench = data.benchmarks[r.benchmark]
        out.append(Row(r, 6.0 * bench.params * bench.tokens))
    return out


def _features(row: Row) -> tuple[float, float, float, float, float]:
    perf = catalog.performance().performance[row.result.accelerator]
    p16 = perf.dense_16bit_tflops
    assert p16 is not None and perf.memory_bandwidth_gbps is not None
    achieved = row.flops / row.seconds / row.result.chips / 1e12
    y = math.log(achieved / p16)
    x_bw = math.log((perf.memory_bandwidth_gbps / p16) / REFERENCE_BYTES_PER_FLOP)
    x_fp8 = 1.0 if row.result.precision == "fp8" else 0.0
    log2n = max(0.0, math.log2(row.result.chips / SCALING_FROM_CHIPS))
    return y, 1.0, x_bw, x_fp8, log2n


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting for the 3×3 normal equations."""
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    n = 3
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("calibration data cannot separate the model's terms")
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [vr - f * vc for vr, vc in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def _solve_pinned(
    feats: list[tuple[float, float, float, float, float]], alpha: float, gamma: float
) -> tuple[float, float]:
    """Least squares for (log m0, log s8) with α and γ fixed."""
    s_cc = s_c8 = s_88 = t_c = t_8 = 0.0
    for y, _c, xb, x8, log2n in feats:
        target = y + math.log(1 + alpha * log2n) - gamma * xb
        s_cc += 1
        s_c8 += x8
        s_88 += x8 * x8
        t_c += target
        t_8 += x8 * target
    det = s_cc * s_88 - s_c8 * s_c8
    if abs(det) < 1e-12:  # no FP8 rows (or only FP8 rows): FP8 gains nothing measurable
        return t_c / s_cc, 0.0
    return (t_c * s_88 - s_c8 * t_8) / det, (s_cc * t_8 - s_c8 * t_c) / det


def fit(data: list[Row]) -> UtilisationModel:
    feats = [_features(r) for r in data]
    best: tuple[float, UtilisationModel] | None = None
    for step in range(0, 301):
        alpha = step / 1000
        ata = [[0.0] * 3 for _ in range(3)]
        atb = [0.0] * 3
        for y, c, xb, x8, log2n in feats:
            target = y + math.log(1 + alpha * log2n)
            x = (c, xb, x8)
            for i in range(3):
                atb[i] += x[i] * target
                for j in range(3):
                    ata[i][j] += x[i] * x[j]
        try:
            log_m0, gamma, log_s8 = _solve3(ata, atb)
        except ValueError:
            continue
        if not GAMMA_RANGE[0] <= gamma <= GAMMA_RANGE[1]:
            # Outside the physical range: pin γ at the bound and refit the other two terms.
            gamma = min(max(gamma, GAMMA_RANGE[0]), GAMMA_RANGE[1])
            log_m0, log_s8 = _solve_pinned(feats, alpha, gamma)
        sse = sum(
            (y + math.log(1 + alpha * log2n) - (log_m0 + gamma * xb + log_s8 * x8)) ** 2
            for y, _c, xb, x8, log2n in feats
        )
        model = UtilisationModel(m0=math.exp(log_m0), gamma=gamma, fp8_speedup=math.exp(log_s8), alpha=alpha)
        if best is None or sse < best[0]:
            best = (sse, model)
    if best is None:
        raise ValueError("calibration failed: no α gives a solvable fit")
    return best[1]


@cache
def fitted() -> UtilisationModel:
    """The model the estimator uses: fitted on every published row."""
    return fit(rows())


def predicted_minutes(model: UtilisationModel, row: Row) -> float:
    perf = catalog.performance().performance[row.result.accelerator]
    tflops = achieved_tflops(model, perf, row.result.precision, row.result.chips)
    return row.flops / (tflops * 1e12 * row.result.chips) / 60


@dataclass(frozen=True)
class CheckRow:
    row: Row
    predicted_minutes: float

    @property
    def error(self) -> float:
        return self.predicted_minutes / self.row.result.minutes - 1


@dataclass(frozen=True)
class Report:
    model: UtilisationModel
    rows: tuple[CheckRow, ...]
    median_abs_error: float
    ranking_right: int
    ranking_pairs: int

    @property
    def ranking_accuracy(self) -> float:
        return self.ranking_right / self.ranking_pairs if self.ranking_pairs else 1.0


def check() -> Report:
    """Leave-one-out: predict every published result with a model fitted on the others."""
    data = rows()
    checked = []
    for i, row in enumerate(data):
        model = fit(data[:i] + data[i + 1 :])
        checked.append(CheckRow(row, predicted_minutes(model, row)))
    errors = [abs(c.error) for c in checked]
    right = pairs = 0
    for a, b in combinations(checked, 2):
        if a.row.result.minutes == b.row.result.minutes:
            continue
        pairs += 1
        actual = a.row.result.minutes < b.row.result.minutes
        if (a.predicted_minutes < b.predicted_minutes) == actual:
            right += 1
    return Report(fitted(), tuple(checked), statistics.median(errors), right, pairs)
