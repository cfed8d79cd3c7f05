"""Fit the utilisation model to published training runs and measure it out of sample.

Rows: foundation/catalog/training_runs.yaml (published pre-training runs, llm-foundry MPT
throughput tables, MLPerf Training GPT-3 results, Qwen's LoRA/Q-LoRA profile). Each row becomes
a measured model TFLOP/s per chip, attention FLOPs included (`measured_tflops`).

The fit is weighted least squares on log(achieved ÷ P16); in logs the model is linear in
(log m0, γ, log s8, log s_int8, α, δ, κ, log f_lora, log f_qlora, δ8) once the size knee is fixed,
so the knee is searched on a short grid and the rest solved exactly. Physical bounds (γ in 0..1,
losses never gains, FP8 never slower) are enforced by pinning a violating term at its bound and
re-solving. Every benchmark group weighs the same in total, however many rows it has, so 78
llm-foundry rows do not outvote the Llama 3 paper.

Honest error numbers come from leaving out a whole group (a paper, an MLPerf submission, one
llm-foundry table, one Qwen model size) — never one row — and predicting it with a model fitted on
the rest; `check(strict=True)` leaves out whole sources instead. Normal equations are sums over
rows, so every fold is the total minus its group: the whole check costs about one fit.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations

from foundation import catalog
from foundation.catalog import Performance
from foundation.catalog.runs import TrainingRun, training_runs

from .utilisation import (
    MAX_MFU,
    NODE_CHIPS,
    REFERENCE_BYTES_PER_FLOP,
    REFERENCE_SEQ,
    NotEstimable,
    UtilisationModel,
    peak_tflops,
    uncapped_tflops,
)

# Goodput: the share of a run's wall-clock that is productive training steps (restarts after
# failures, evaluation and checkpoint stalls are the rest). Meta reports "higher than 90%
# effective training time" for Llama 3 405B on 16K H100s (arXiv:2407.21783, Sec. 3.3.4).
DEFAULT_GOODPUT = 0.90
GOODPUT_SOURCE = "https://arxiv.org/abs/2407.21783"
ASPECT_RATIO = 128  # d_model ÷ layers when a model's shape is not given (GPT-3 175B: 12288/96 = 128)
KNEES = (3e8, 1e9, 3e9, 1e10, 3e10)
FEATURES = ("m0", "gamma", "fp8", "int8", "alpha", "delta", "kappa", "lora", "qlora", "fp8_size", "tpu", "neuron")
# Bounds on each fitted coefficient (in log space for the factors).
BOUNDS: tuple[tuple[float, float], ...] = (
    (-math.inf, math.inf),  # log m0
    (0.0, 1.0),  # γ: bandwidth helps, never hurts, and at most proportionally
    (0.0, math.inf),  # log s8 ≥ 0: FP8 is never slower than BF16
    (0.0, math.inf),  # log s_int8 ≥ 0
    (0.0, math.inf),  # α ≥ 0: more chips never raise per-chip throughput
    (0.0, math.inf),  # δ ≥ 0: smaller models never use the chip better
    (0.0, math.inf),  # κ ≥ 0: longer context never raises MFU
    (-math.inf, 0.0),  # log f_lora ≤ 0
    (-math.inf, 0.0),  # log f_qlora ≤ 0
    (0.0, math.inf),  # δ8 ≥ 0: FP8 gains shrink for small models, never grow
    (-math.inf, math.inf),  # log h(tpu): either way, as the TPU rows say
    (-math.inf, math.inf),  # log h(neuron): no rows today, so pinned at 0 (no evidence, no effect)
)
BAND_QUANTILES = (0.1, 0.9)  # ≈80% band
EXTRAPOLATION_WIDENING = 1.5  # log-band multiplier when an estimate leaves the calibrated range
MIN_BAND_GROUPS = 3
SMALL_SCALE_CHIPS = 64
CLOSE_CALL = 2.0  # a two-option pair is a close call when measured throughputs differ by < 2×
# Per hardware family (issue #29): a family is validated when it has at least MIN_FAMILY_ROWS rows
# in MIN_FAMILY_GROUPS benchmark groups and its leave-one-group-out median |error| is within
# FAMILY_GOAL. Estimates for any other family say so, and their band is widened
# UNVALIDATED_WIDENING× in log space (an assumption: without enough rows the family's own bias is
# unmeasured; ×2 covers the largest per-family bias seen before the family term existed, +22% on
# TPUs) and stretched to cover every out-of-sample residual the family does have.
FAMILIES = ("gpu", "tpu", "neuron")
FAMILY_NAMES = {"gpu": "NVIDIA GPU", "tpu": "Google TPU", "neuron": "AWS Trainium/Inferentia"}
MIN_FAMILY_ROWS = 10
MIN_FAMILY_GROUPS = 3
FAMILY_GOAL = 0.25
OVERALL_GOAL = 0.15
UNVALIDATED_WIDENING = 2.0


# --------------------------------------------------------------------------- work per token
def shape(params: float, layers: int | None = None, d_model: int | None = None) -> tuple[float, float]:
    """(layers, d_model); unknown shapes follow d/L = 128, N ≈ 12·L·d² (Kaplan et al. 2020)."""
    if layers is not None and d_model is not None:
        return float(layers), float(d_model)
    d = (ASPECT_RATIO * params / 12) ** (1 / 3)
    return d / ASPECT_RATIO, d


def attention_flops_per_token(
    params: float, seq_len: int, layers: int | None = None, d_model: int | None = None
) -> float:
    """12·L·d·s: QKᵀ and AV are 2·s·d FLOPs each per layer per token forward, ×3 for forward +
    backward (PaLM, arXiv:2204.02311, App. B). Counted in full, as MFU conventions do."""
    n_layers, d = shape(params, layers, d_model)
    return 12.0 * n_layers * d * seq_len


def weight_flops_per_token(params: float, method: str) -> float:
    """6·N for full training (forward 2N + backward 4N); 4·N for LoRA/QLoRA: the backward still
    flows through the frozen weights (activation gradients, 2N) but computes no weight gradients
    for them (LoRA, arXiv:2106.09685 Sec. 4.2); the adapters (~1% of N) are left out."""
    return (4.0 if method in ("lora", "qlora") else 6.0) * params


def flops_per_token(
    params: float, seq_len: int, method: str, layers: int | None = None, d_model: int | None = None
) -> float:
    return weight_flops_per_token(params, method) + attention_flops_per_token(params, seq_len, layers, d_model)


# --------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Row:
    run: TrainingRun
    measured_tflops: float  # model TFLOP/s per chip incl. attention, as measured (GPU-hour rows: goodput included)

    @property
    def chips(self) -> int:
        return self.run.chips or 1

    @property
    def perf(self) -> Performance:
        return catalog.performance().performance[self.run.accelerator]

    @property
    def family(self) -> str:
        return family(self.run.accelerator)


def _perf(accelerator: str) -> Performance:
    perf = catalog.performance().performance.get(accelerator)
    if perf is None:
        raise ValueError(f"training_runs.yaml: accelerator {accelerator} is not in performance.yaml")
    return perf


def measured_tflops(run: TrainingRun) -> float:
    """Model TFLOP/s per chip (attention included) that a row's measurement implies."""
    per_token = flops_per_token(run.params, run.seq_len, run.method, run.layers, run.d_model)
    if run.measured == "mfu":
        assert run.mfu is not None
        return run.mfu * peak_tflops(_perf(run.accelerator), run.precision)
    if run.measured == "hfu_tflops":
        assert run.hfu_tflops is not None and run.recompute_factor is not None
        return run.hfu_tflops * run.recompute_factor
    if run.measured == "minutes":
        assert run.minutes is not None and run.tokens is not None and run.chips is not None
        return per_token * run.tokens / (run.chips * run.minutes * 60) / 1e12
    if run.measured == "gpu_hours":
        assert run.gpu_hours is not None and run.tokens is not None
        return per_token * run.tokens / (run.gpu_hours * 3600) / 1e12
    if run.measured == "seconds_per_step":
        assert run.seconds_per_step is not None and run.tokens_per_step is not None and run.chips is not None
        return per_token * run.tokens_per_step / run.seconds_per_step / run.chips / 1e12
    if run.measured == "tokens_per_s":
        assert run.tokens_per_s is not None and run.chips is not None
        return per_token * run.tokens_per_s / run.chips / 1e12
    raise ValueError(f"{run.id}: measured {run.measured} cannot be put on the MFU scale")


@cache
def rows() -> tuple[Row, ...]:
    return tuple(Row(r, measured_tflops(r)) for r in training_runs().used)


def features(row: Row, knee: float) -> tuple[float, ...]:
    run, perf = row.run, row.perf
    p16 = perf.dense_16bit_tflops
    assert p16 is not None and perf.memory_bandwidth_gbps is not None
    lora = 1.0 if run.method in ("lora", "qlora") else 0.0
    return (
        1.0,
        math.log((perf.memory_bandwidth_gbps / p16) / REFERENCE_BYTES_PER_FLOP),
        1.0 if run.precision == "fp8" else 0.0,
        1.0 if run.precision == "int8" else 0.0,
        -math.log(max(1.0, row.chips / NODE_CHIPS)),
        min(0.0, math.log(run.params / knee)),
        -max(0.0, math.log(run.seq_len / REFERENCE_SEQ)),
        lora,
        1.0 if run.method == "qlora" else 0.0,
        (1.0 if run.precision == "fp8" else 0.0) * min(0.0, math.log(run.params / knee)),
        1.0 if row.family == "tpu" else 0.0,
        1.0 if row.family == "neuron" else 0.0,
    )


def target(row: Row, goodput: float = DEFAULT_GOODPUT) -> float:
    p16 = row.perf.dense_16bit_tflops
    assert p16 is not None
    y = math.log(row.measured_tflops / p16)
    # A GPU-hour total includes restarts and evaluation: compare kernel throughput × goodput.
    return y - math.log(goodput) if row.run.goodput_included else y


# --------------------------------------------------------------------------- least squares
K = len(FEATURES)


@dataclass
class _Normal:
    """Weighted normal equations Σw·xxᵀ, Σw·xy, Σw·y² of a set of rows."""

    a: list[list[float]]
    b: list[float]
    yy: float

    @classmethod
    def zero(cls) -> _Normal:
        return cls([[0.0] * K for _ in range(K)], [0.0] * K, 0.0)

    def add(self, x: Sequence[float], y: float, w: float, sign: float = 1.0) -> None:
        for i in range(K):
            if x[i] == 0.0:
                continue
            wx = sign * w * x[i]
            self.b[i] += wx * y
            row = self.a[i]
            for j in range(K):
                row[j] += wx * x[j]
        self.yy += sign * w * y * y

    def minus(self, other: _Normal) -> _Normal:
        return _Normal(
            [[u - v for u, v in zip(ra, rb, strict=True)] for ra, rb in zip(self.a, other.a, strict=True)],
            [u - v for u, v in zip(self.b, other.b, strict=True)],
            self.yy - other.yy,
        )


def _gauss(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("calibration data cannot separate the model's terms")
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                if f:
                    m[r] = [vr - f * vc for vr, vc in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def _solve(ne: _Normal) -> tuple[list[float], float]:
    """Bounded least squares: solve, pin the worst bound violation, repeat. Returns (coef, SSE).

    A term no row informs (its column is all zeros, e.g. LoRA when the LoRA rows are left out)
    is pinned at 0: no evidence, no effect.
    """
    scale = max(ne.a[i][i] for i in range(K)) or 1.0
    fixed: dict[int, float] = {j: 0.0 for j in range(K) if ne.a[j][j] <= 1e-12 * scale}
    coef = [0.0] * K
    for _ in range(K + 1):
        free = [j for j in range(K) if j not in fixed]
        a = [[ne.a[i][j] + (1e-9 * scale if i == j else 0.0) for j in free] for i in free]
        b = [ne.b[i] - sum(ne.a[i][j] * v for j, v in fixed.items()) for i in free]
        sol = _gauss(a, b)
        coef = [fixed.get(j, 0.0) for j in range(K)]
        for j, v in zip(free, sol, strict=True):
            coef[j] = v
        worst, worst_by = -1, 0.0
        for j in free:
            lo, hi = BOUNDS[j]
            by = max(lo - coef[j], coef[j] - hi, 0.0)
            if by > worst_by:
                worst, worst_by = j, by
        if worst < 0:
            break
        lo, hi = BOUNDS[worst]
        fixed[worst] = min(max(coef[worst], lo), hi)
    sse = ne.yy - 2 * sum(c * bi for c, bi in zip(coef, ne.b, strict=True))
    sse += sum(coef[i] * ne.a[i][j] * coef[j] for i in range(K) for j in range(K))
    return coef, sse


def _model(coef: Sequence[float], knee: float) -> UtilisationModel:
    return UtilisationModel(
        m0=math.exp(coef[0]),
        gamma=coef[1],
        fp8_speedup=math.exp(coef[2]),
        int8_speedup=math.exp(coef[3]),
        alpha=coef[4],
        size_exponent=coef[5],
        knee_params=knee,
        context_exponent=coef[6],
        lora_factor=math.exp(coef[7]),
        qlora_factor=math.exp(coef[8]),
        fp8_size_exponent=coef[9],
        tpu_factor=math.exp(coef[10]),
        neuron_factor=math.exp(coef[11]),
    )


def _weights(data: Sequence[Row]) -> list[float]:
    sizes: dict[str, int] = {}
    for r in data:
        sizes[r.run.group] = sizes.get(r.run.group, 0) + 1
    return [1.0 / math.sqrt(sizes[r.run.group]) for r in data]


def _normals(data: Sequence[Row], key: Callable[[Row], str]) -> dict[float, dict[str, _Normal]]:
    """Per knee, per left-out unit: the normal equations of that unit's rows."""
    weights = _weights(data)
    out: dict[float, dict[str, _Normal]] = {}
    for knee in KNEES:
        per: dict[str, _Normal] = {}
        for r, w in zip(data, weights, strict=True):
            per.setdefault(key(r), _Normal.zero()).add(features(r, knee), target(r), w)
        out[knee] = per
    return out


def _total(parts: Iterable[_Normal]) -> _Normal:
    total = _Normal.zero()
    for p in parts:
        total.a = [[u + v for u, v in zip(ra, rb, strict=True)] for ra, rb in zip(total.a, p.a, strict=True)]
        total.b = [u + v for u, v in zip(total.b, p.b, strict=True)]
        total.yy += p.yy
    return total


def _best(normals: dict[float, _Normal]) -> UtilisationModel:
    best: tuple[float, UtilisationModel] | None = None
    for knee, ne in normals.items():
        try:
            coef, sse = _solve(ne)
        except ValueError:
            continue
        if best is None or sse < best[0]:
            best = (sse, _model(coef, knee))
    if best is None:
        raise ValueError("calibration failed: no knee gives a solvable fit")
    return best[1]


def fit(data: Sequence[Row]) -> UtilisationModel:
    per = _normals(data, lambda r: r.run.group)
    return _best({knee: _total(groups.values()) for knee, groups in per.items()})


@cache
def fitted() -> UtilisationModel:
    """The model the estimator uses: fitted on every row the data set uses."""
    return fit(rows())


def predicted_tflops(model: UtilisationModel, row: Row) -> float:
    """The model's TFLOP/s per chip for a row's configuration (GPU-hour rows: × goodput)."""
    run = row.run
    value = uncapped_tflops(
        model,
        row.perf,
        run.precision,
        row.chips,
        params=run.params,
        seq_len=run.seq_len,
        method=run.method,
        family=row.family,
    )
    with contextlib.suppress(NotEstimable):  # TPU int8 rows: no sourced int8 peak to put the ceiling on
        value = min(value, peak_tflops(row.perf, run.precision) * MAX_MFU)
    return value * (DEFAULT_GOODPUT if run.goodput_included else 1.0)


# --------------------------------------------------------------------------- out-of-sample check
@dataclass(frozen=True)
class CheckRow:
    row: Row
    predicted_tflops: float  # by a model fitted without this row's group (or source)

    @property
    def time_ratio(self) -> float:
        """Measured time ÷ predicted time (> 1: the run took longer than predicted)."""
        return self.predicted_tflops / self.row.measured_tflops

    @property
    def error(self) -> float:
        """Predicted time ÷ measured time − 1."""
        return self.row.measured_tflops / self.predicted_tflops - 1


def family(accelerator: str) -> str:
    acc = catalog.accelerators().get(accelerator)
    kind = acc.kind if acc is not None else "gpu"
    return {"gpu": "gpu", "tpu": "tpu"}.get(kind, "neuron")


def precision_class(precision: str) -> str:
    return "16-bit" if precision in ("bf16", "fp16") else precision


def method_class(method: str) -> str:
    return "lora/qlora" if method in ("lora", "qlora") else "full"


def scale_class(chips: int) -> str:
    return f"≤{SMALL_SCALE_CHIPS} chips" if chips <= SMALL_SCALE_CHIPS else f">{SMALL_SCALE_CHIPS} chips"


CATEGORIES: tuple[tuple[str, Callable[[Row], str]], ...] = (
    ("precision", lambda r: precision_class(r.run.precision)),
    ("family", lambda r: family(r.run.accelerator)),
    ("scale", lambda r: scale_class(r.chips)),
    ("method", lambda r: method_class(r.run.method)),
    (
        "measured",
        lambda r: (
            "GPU-hour totals"
            if r.run.goodput_included
            else "wall-clock"
            if r.run.measured in ("minutes", "seconds_per_step", "tokens_per_s")
            else "reported MFU/TFLOP/s"
        ),
    ),
)


@dataclass(frozen=True)
class GroupStat:
    category: str
    value: str
    rows: int
    groups: int
    median_abs_error: float
    ranking_right: int
    ranking_pairs: int

    @property
    def ranking_accuracy(self) -> float | None:
        return self.ranking_right / self.ranking_pairs if self.ranking_pairs else None


@dataclass(frozen=True)
class FamilyStat:
    """Out-of-sample error on one hardware family; error = predicted ÷ measured time − 1."""

    family: str
    rows: int
    groups: int
    median_abs_error: float  # nan without rows
    bias: float  # median signed error: > 0, the model predicts this family slower than measured
    time_ratios: tuple[float, ...] = ()  # measured ÷ predicted time of each row

    @property
    def name(self) -> str:
        return FAMILY_NAMES.get(self.family, self.family)

    @property
    def enough_data(self) -> bool:
        return self.rows >= MIN_FAMILY_ROWS and self.groups >= MIN_FAMILY_GROUPS

    @property
    def validated(self) -> bool:
        return self.enough_data and self.median_abs_error <= FAMILY_GOAL

    @property
    def status(self) -> str:
        """'validated', or why not, in words."""
        if not self.enough_data:
            return (
                f"unvalidated: {self.rows} rows in {self.groups} benchmarks "
                f"(needs ≥{MIN_FAMILY_ROWS} rows in ≥{MIN_FAMILY_GROUPS})"
            )
        if not self.validated:
            return f"unvalidated: out-of-sample median |error| {self.median_abs_error:.0%} > {FAMILY_GOAL:.0%}"
        return "validated"

    def as_json(self) -> dict[str, object]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)

        return {
            "family": self.family,
            "name": self.name,
            "rows": self.rows,
            "benchmarks": self.groups,
            "median_abs_error": num(self.median_abs_error),
            "bias": num(self.bias),
            "validated": self.validated,
            "status": self.status,
        }


def family_stats(checked: Sequence[CheckRow]) -> tuple[FamilyStat, ...]:
    """Every family in FAMILIES (rows or not), then any other family the rows have."""
    by: dict[str, list[CheckRow]] = {f: [] for f in FAMILIES}
    for c in checked:
        by.setdefault(c.row.family, []).append(c)
    return tuple(
        FamilyStat(
            fam,
            len(part),
            len({c.row.run.group for c in part}),
            _median_abs(part),
            statistics.median(c.error for c in part) if part else math.nan,
            tuple(c.time_ratio for c in part),
        )
        for fam, part in by.items()
    )


@dataclass(frozen=True)
class Report:
    model: UtilisationModel
    rows: tuple[CheckRow, ...]
    strict: bool
    median_abs_error: float  # over rows
    group_median_abs_error: float  # every benchmark group weighing the same
    ranking_right: int
    ranking_pairs: int
    groups: tuple[GroupStat, ...]
    close_right: int  # ranking over close calls only (measured throughputs within 2×)
    close_pairs: int
    families: tuple[FamilyStat, ...] = ()  # per hardware family: error, bias, validated or not

    @property
    def ranking_accuracy(self) -> float:
        return self.ranking_right / self.ranking_pairs if self.ranking_pairs else 1.0

    @property
    def close_ranking_accuracy(self) -> float:
        return self.close_right / self.close_pairs if self.close_pairs else 1.0

    @property
    def left_out_units(self) -> int:
        return len({c.row.run.source_id if self.strict else c.row.run.group for c in self.rows})

    @property
    def goals_met(self) -> bool:
        """Issue #29: overall median ≤ 15% and every family with enough rows ≤ 25%."""
        return self.median_abs_error <= OVERALL_GOAL and all(
            f.median_abs_error <= FAMILY_GOAL for f in self.families if f.enough_data
        )

    def as_json(self) -> dict[str, object]:
        """`aistack calibration --json` (keys are added, never removed)."""
        return {
            "model": self.model.__dict__,
            "left_out": "source" if self.strict else "benchmark group",
            "left_out_units": self.left_out_units,
            "median_abs_error": round(self.median_abs_error, 4),
            "group_median_abs_error": round(self.group_median_abs_error, 4),
            "ranking_accuracy": round(self.ranking_accuracy, 4),
            "ranking_pairs": self.ranking_pairs,
            "close_call_ranking_accuracy": round(self.close_ranking_accuracy, 4),
            "close_call_pairs": self.close_pairs,
            "goals": {
                "overall_median_abs_error": OVERALL_GOAL,
                "family_median_abs_error": FAMILY_GOAL,
                "family_min_rows": MIN_FAMILY_ROWS,
                "family_min_benchmarks": MIN_FAMILY_GROUPS,
                "met": self.goals_met,
            },
            "families": [f.as_json() for f in self.families],
            "groups": [
                {
                    "category": g.category,
                    "value": g.value,
                    "rows": g.rows,
                    "benchmarks": g.groups,
                    "median_abs_error": round(g.median_abs_error, 4),
                    "ranking_accuracy": None if g.ranking_accuracy is None else round(g.ranking_accuracy, 4),
                    "ranking_pairs": g.ranking_pairs,
                }
                for g in self.groups
            ],
            "rows": [
                {
                    "id": c.row.run.id,
                    "group": c.row.run.group,
                    "family": c.row.family,
                    "accelerator": c.row.run.accelerator,
                    "chips": c.row.chips,
                    "precision": c.row.run.precision,
                    "method": c.row.run.method,
                    "measured_tflops_per_chip": round(c.row.measured_tflops, 2),
                    "predicted_tflops_per_chip": round(c.predicted_tflops, 2),
                    "error": round(c.error, 4),
                    "source": c.row.run.source,
                }
                for c in self.rows
            ],
        }


def _job(row: Row) -> tuple[float, int, str]:
    """Rows with the same job: same model size (±~12%), sequence length and method class."""
    return (round(math.log10(row.run.params), 1), row.run.seq_len, method_class(row.run.method))


def _ranking(checked: Sequence[CheckRow], max_ratio: float = math.inf) -> tuple[int, int]:
    """Of two options for the same job, is the faster one (total throughput) predicted faster?

    max_ratio keeps only close calls: pairs whose measured throughputs differ by less than it
    (8 vs 64 chips of one kind is an easy pair; H100 vs A100 at similar chip counts is not).
    """
    right = pairs = 0
    for a, b in combinations(checked, 2):
        if a.row.run.goodput_included or b.row.run.goodput_included or _job(a.row) != _job(b.row):
            continue
        ma, mb = a.row.measured_tflops * a.row.chips, b.row.measured_tflops * b.row.chips
        if abs(ma / mb - 1) < 0.05 or max(ma / mb, mb / ma) >= max_ratio:
            continue  # within 5%: a tie, not a ranking
        pairs += 1
        pa, pb = a.predicted_tflops * a.row.chips, b.predicted_tflops * b.row.chips
        if (pa > pb) == (ma > mb):
            right += 1
    return right, pairs


def _median_abs(checked: Sequence[CheckRow]) -> float:
    return statistics.median(abs(c.error) for c in checked) if checked else math.nan


def _stats(checked: Sequence[CheckRow]) -> tuple[GroupStat, ...]:
    out = []
    for name, key in CATEGORIES:
        for value in sorted({key(c.row) for c in checked}):
            part = [c for c in checked if key(c.row) == value]
            right, pairs = _ranking(part)
            out.append(
                GroupStat(name, value, len(part), len({c.row.run.group for c in part}), _median_abs(part), right, pairs)
            )
    return tuple(out)


@cache
def out_of_sample(strict: bool = False) -> tuple[CheckRow, ...]:
    """Each row predicted by a model fitted without its group (strict: without its whole source)."""
    return leave_out(rows(), strict)


def leave_out(data: Sequence[Row], strict: bool = False) -> tuple[CheckRow, ...]:
    """Each of `data` predicted by a model fitted on the rest of `data` less its group (or source)."""
    key: Callable[[Row], str] = (lambda r: r.run.source_id) if strict else (lambda r: r.run.group)
    per = _normals(data, key)
    totals = {knee: _total(units.values()) for knee, units in per.items()}
    checked: list[CheckRow] = []
    for unit in sorted({key(r) for r in data}):
        model = _best({knee: totals[knee].minus(per[knee][unit]) for knee in KNEES})
        checked.extend(CheckRow(r, predicted_tflops(model, r)) for r in data if key(r) == unit)
    return tuple(checked)


@cache
def median_abs_error() -> float:
    """Out-of-sample median |error| over rows (cheap: no ranking statistics)."""
    return _median_abs(out_of_sample())


def _group_median(checked: Sequence[CheckRow]) -> float:
    """Median |error| with every benchmark group weighing the same (78 MPT rows count as one)."""
    sizes: dict[str, int] = {}
    for c in checked:
        sizes[c.row.run.group] = sizes.get(c.row.run.group, 0) + 1
    return _weighted_quantile([(abs(c.error), 1.0 / sizes[c.row.run.group]) for c in checked], 0.5)


@cache
def check(strict: bool = False) -> Report:
    """The out-of-sample report: errors overall and per group, and two-option ranking accuracy."""
    checked = out_of_sample(strict)
    right, pairs = _ranking(checked)
    close_right, close_pairs = _ranking(checked, CLOSE_CALL)
    return Report(
        fitted(),
        checked,
        strict,
        _median_abs(checked),
        _group_median(checked),
        right,
        pairs,
        _stats(checked),
        close_right,
        close_pairs,
        family_stats(checked),
    )


@cache
def families() -> dict[str, FamilyStat]:
    """Per-family leave-one-group-out statistics (cheap: no ranking statistics)."""
    return {f.family: f for f in family_stats(out_of_sample())}


def family_status(accelerator: str) -> FamilyStat:
    return families()[family(accelerator)]


# --------------------------------------------------------------------------- error bands
@dataclass(frozen=True)
class Band:
    low: float  # multiplier on predicted time
    high: float
    basis: str  # which rows it came from, in words
    widening: float = 1.0  # log-space factor applied (extrapolation × unvalidated family)
    unvalidated: str | None = None  # why the accelerator's family is not validated; None when it is


def _weighted_quantile(values: Sequence[tuple[float, float]], q: float) -> float:
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    acc = 0.0
    for v, w in ordered:
        acc += w
        if acc >= q * total - 1e-12:
            return v
    return ordered[-1][0]


def band_for(accelerator: str, precision: str, chips: int, method: str, extrapolating: bool) -> Band:
    """≈80% band on time from out-of-sample residuals of comparable rows.

    Comparable = same accelerator family, precision, scale and method class; when fewer than
    three benchmark groups match, the scale, then the precision, then the family condition is
    dropped. Each group weighs the same. Outside the calibrated range the band widens ×1.5 in
    log space (an assumption: residuals inside the range say little about outside it). For a
    family that is not validated (FamilyStat.validated) it also widens ×2 in log space and
    stretches to cover every out-of-sample residual the family has.
    """
    checked = out_of_sample()
    want = {
        "family": family(accelerator),
        "precision": precision_class(precision),
        "scale": scale_class(chips),
        "method": method_class(method),
    }
    getters: dict[str, Callable[[Row], str]] = {
        "family": lambda r: family(r.run.accelerator),
        "precision": lambda r: precision_class(r.run.precision),
        "scale": lambda r: scale_class(r.chips),
        "method": lambda r: method_class(r.run.method),
    }
    for keys in (
        ("family", "precision", "scale", "method"),
        ("family", "precision", "method"),
        ("family", "method"),
        ("method",),
        (),
    ):
        part = [c for c in checked if all(getters[k](c.row) == want[k] for k in keys)]
        if len({c.row.run.group for c in part}) >= MIN_BAND_GROUPS:
            break
    sizes: dict[str, int] = {}
    for c in part:
        sizes[c.row.run.group] = sizes.get(c.row.run.group, 0) + 1
    values = [(math.log(c.time_ratio), 1.0 / sizes[c.row.run.group]) for c in part]
    lo = min(0.0, _weighted_quantile(values, BAND_QUANTILES[0]))
    hi = max(0.0, _weighted_quantile(values, BAND_QUANTILES[1]))
    fam = families()[want["family"]]
    widening = EXTRAPOLATION_WIDENING if extrapolating else 1.0
    if not fam.validated:
        widening *= UNVALIDATED_WIDENING
        seen = [math.log(r) for r in fam.time_ratios]
        lo, hi = min([lo, *seen]), max([hi, *seen])
    lo, hi = lo * widening, hi * widening
    basis = ", ".join(want[k] for k in keys) or "all rows"
    return Band(
        math.exp(lo),
        math.exp(hi),
        f"{len(part)} rows in {len(sizes)} benchmarks ({basis})",
        widening,
        None if fam.validated else f"{fam.name} is {fam.status}",
    )


@dataclass(frozen=True)
class Coverage:
    """The calibrated range per method class: what an estimate must stay inside not to extrapolate."""

    accelerators: frozenset[str]
    families_precisions: frozenset[tuple[str, str]]
    chips: tuple[int, int]
    params: tuple[float, float]
    seq_len: tuple[int, int]


@cache
def coverage(method: str) -> Coverage:
    part = [r for r in rows() if method_class(r.run.method) == method_class(method)]
    return Coverage(
        frozenset(r.run.accelerator for r in part),
        frozenset((family(r.run.accelerator), precision_class(r.run.precision)) for r in part),
        (min(r.chips for r in part), max(r.chips for r in part)),
        (min(r.run.params for r in part), max(r.run.params for r in part)),
        (min(r.run.seq_len for r in part), max(r.run.seq_len for r in part)),
    )
