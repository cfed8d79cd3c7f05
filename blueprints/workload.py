"""The workload file `aistack recommend --workload FILE` reads: what to run, under which constraints.

Validated in full before anything is estimated; an error names the field and the fix, like the
stack spec does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from foundation import safe_yaml
from foundation.errors import SpecError

Kind = Literal["training", "fine-tuning", "serving"]
Precision = Literal["bf16", "fp8", "fp16", "int8"]
Framework = Literal["jax", "pytorch", "tensorflow"]
Objective = Literal["cost", "time", "balanced"]
Cloud = Literal["gcp", "aws", "onprem"]


class Explained(ValueError):  # noqa: N818 — a message that already explains the fix
    """A validator's error whose message already ends with "To fix: …": shown as written."""


def _not_bool(value: object) -> object:
    # YAML reads 7e9 as text, so numbers stay lax (pydantic parses "7e9"); but `params: yes` is not 1.
    if isinstance(value, bool):
        raise ValueError("true/false is not a number; write a number such as 7e9")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]


class _Model(BaseModel):
    # allow_inf_nan=False: `.inf`/`nan` are errors, so every estimate stays finite and strict JSON.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class OnPremSystem(_Model):
    """Hardware the organisation owns (or would buy), turned into an effective hourly price."""

    name: str = Field(default="onprem", description="Label for the site or system, e.g. fra-dgx.")
    accelerator: str = Field(description="Catalog id of the chips, e.g. nvidia-h100-80gb.")
    count: StrictInt = Field(gt=0, le=1_000_000, description="Chips available to this workload.")
    purchase_usd: Number = Field(gt=0, le=1e12, description="Purchase price of those chips' servers and network, USD.")
    amortisation_years: Number = Field(default=4, gt=0, le=10, description="Straight-line write-off. Default: 4.")
    power_usd_per_kwh: Number = Field(
        default=0.15, ge=0, le=10, description="Electricity price, USD/kWh. Default: 0.15."
    )
    pue: Number = Field(default=1.4, ge=1, le=3, description="Data-centre power usage effectiveness. Default: 1.4.")
    host_power_w_per_chip: Number = Field(
        default=0, ge=0, description="Extra server power (CPUs, NICs, fans) per chip, W. Default: 0 (chips only)."
    )
    ops_usd_per_year: Number = Field(
        default=0, ge=0, le=1e10, description="Space, support, staff share, USD/year. Default: 0."
    )
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO country of the site (GDPR).")


class Constraints(_Model):
    deadline_hours: Number | None = Field(default=None, gt=0, le=87_600, description="Wall-clock limit. Default: none.")
    budget_usd: Number | None = Field(
        default=None, gt=0, le=1e12, description="Spend limit for the whole run. Default: none."
    )
    compliance: Literal["standard", "hipaa", "gdpr"] = Field(
        default="standard", description="gdpr keeps data in EU/EEA regions and sites. Default: standard."
    )
    regions: tuple[str, ...] = Field(default=(), description="Allowed cloud regions. Default: any.")
    clouds: tuple[Cloud, ...] = Field(default=("gcp", "aws", "onprem"), description="Allowed targets.")
    spot_ok: StrictBool = Field(default=False, description="Spot/preemptible capacity is acceptable. Default: false.")
    max_chips: StrictInt = Field(
        default=512,
        gt=0,
        le=16384,
        description="Largest job considered; bigger ones need reservations. Default: 512.",
    )
    onprem: tuple[OnPremSystem, ...] = Field(default=(), description="Owned hardware to consider.")
    accelerators: tuple[str, ...] = Field(
        default=(),
        description="Allowed accelerators, catalog ids such as nvidia-h100-80gb (a team that has standardised on "
        "one chip, or holds its quota). Default: any.",
    )

    @field_validator("accelerators")
    @classmethod
    def _known_accelerators(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import difflib

        from foundation.catalog import accelerators

        known = accelerators().ids
        for accelerator in value:
            if accelerator not in known:
                close = difflib.get_close_matches(accelerator, known, n=1)
                hint = f"did you mean {close[0]}?" if close else "use one of: " + ", ".join(known)
                raise Explained(f"'{accelerator}' is not in the accelerator catalog. To fix: {hint}")
        return value


class Workload(_Model):
    kind: Kind = Field(description="training | fine-tuning | serving")
    params: Number | None = Field(default=None, gt=0, le=1e14, description="Model parameters (N).")
    tokens: Number | None = Field(default=None, gt=0, le=1e16, description="Training tokens (D).")
    flops: Number | None = Field(
        default=None, gt=0, le=1e30, description="Total training FLOPs, instead of params×tokens."
    )
    method: Literal["full", "lora", "qlora"] = Field(
        default="lora", description="fine-tuning only: full, lora or qlora. Default: lora."
    )
    lora_trainable_fraction: Number = Field(
        default=0.01, gt=0, le=0.5, description="LoRA adapters as a fraction of N. Default: 0.01."
    )
    seq_len: StrictInt = Field(
        default=4096,
        ge=64,
        le=2_097_152,
        description="Training sequence length (context), tokens; attention work grows with it. Default: 4096.",
    )
    layers: StrictInt | None = Field(
        default=None, gt=0, le=1000, description="Transformer layers (with d_model). Default: from params, d/L = 128."
    )
    d_model: StrictInt | None = Field(
        default=None, gt=0, le=1_000_000, description="Hidden size (with layers). Default: from params, d/L = 128."
    )
    goodput: Number | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of run time spent in productive steps (restarts, evaluation, checkpoint stalls "
        "are the rest). Default: 0.9 (Llama 3 405B reported >90%).",
    )
    setup_minutes: Number | None = Field(
        default=None,
        ge=0,
        le=10_080,
        description="Fixed time per run before training starts (provisioning, image pull, model and data "
        "load), minutes. Default: by target, see docs/estimator.md.",
    )
    target_tokens_per_s: Number | None = Field(
        default=None, gt=0, le=1e9, description="serving: aggregate decode tokens/s."
    )
    max_ms_per_token: Number | None = Field(
        default=None, gt=0, le=1e6, description="serving: latency ceiling per token."
    )
    batch: StrictInt = Field(default=32, ge=1, le=4096, description="serving: concurrent sequences per replica.")
    duration_hours: Number = Field(
        default=730, gt=0, le=87_600, description="serving: how long to price it. Default: a month."
    )
    precision: Precision = Field(default="bf16", description="bf16 | fp8 | fp16 | int8. Default: bf16.")
    framework: Framework = Field(default="pytorch", description="jax | pytorch | tensorflow. Default: pytorch.")
    pytorch_xla: StrictBool = Field(default=False, description="pytorch on TPU through PyTorch/XLA. Default: false.")
    objective: Objective = Field(default="balanced", description="cost | time | balanced. Default: balanced.")
    constraints: Constraints = Field(default_factory=Constraints)

    @model_validator(mode="after")
    def _check(self) -> Workload:
        if self.kind in ("training", "fine-tuning"):
            if self.flops is None and (self.params is None or self.tokens is None):
                raise Explained(
                    f"{self.kind} needs `flops`, or both `params` and `tokens`. "
                    "To fix: add `params: 7e9` and `tokens: 1.4e11` (or `flops: 5.9e21`)."
                )
            if self.precision == "int8":
                raise Explained("precision int8 is for serving. To fix: train in bf16 or fp8.")
        if (self.layers is None) != (self.d_model is None):
            raise Explained(
                "`layers` and `d_model` go together (they size the attention work). "
                "To fix: give both, e.g. `layers: 32` and `d_model: 4096`, or neither."
            )
        if self.kind == "fine-tuning" and self.params is None:
            raise Explained("fine-tuning needs `params` to size memory. To fix: add `params: 7e9`.")
        if self.kind == "serving" and (self.params is None or self.target_tokens_per_s is None):
            raise Explained(
                "serving needs `params` and `target_tokens_per_s`. To fix: add e.g. "
                "`params: 8e9` and `target_tokens_per_s: 2000`."
            )
        return self

    @property
    def method_used(self) -> str:
        """The training method the work and utilisation follow: pretrain-style for training."""
        return self.method if self.kind == "fine-tuning" else "full"

    @property
    def total_flops(self) -> float:
        """The work to do: explicit FLOPs, else (6·N or 4·N for LoRA/QLoRA) + 12·L·d·s per token, × D."""
        if self.flops is not None:
            return self.flops
        assert self.params is not None and self.tokens is not None
        from .calibration import flops_per_token

        return flops_per_token(self.params, self.seq_len, self.method_used, self.layers, self.d_model) * self.tokens


class WorkloadError(ValueError):
    """A workload file that cannot be used; the message says what and how to fix it."""


class BlueprintFileGiven(WorkloadError):  # noqa: N818 — reads as what happened
    """A blueprint file (title, workload, stack) was given where a bare workload was expected."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"--workload {path}: this is a blueprint file (title, workload, stack), not a workload. "
            f"To fix: use `--blueprint {path}`, or pass only its `workload:` section to --workload."
        )


def is_blueprint(data: object) -> bool:
    """Whether parsed YAML is a blueprint (a `workload:` section, no `kind:`) rather than a workload."""
    return isinstance(data, dict) and "workload" in data and "kind" not in data


def parse(data: object, origin: str = "workload") -> Workload:
    if not isinstance(data, dict):
        raise WorkloadError(f"{origin}: expected a mapping of fields. To fix: see `aistack recommend --help`.")
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {_describe(e)}" for e in exc.errors(include_url=False)]
        raise WorkloadError(f"{origin} is not a valid workload:\n" + "\n".join(lines)) from None


def _describe(e: Any) -> str:
    """One pydantic error as `field: what is wrong (got X). To fix: what the field takes.`"""
    loc = [p for p in e["loc"] if p != "__root__"]
    where = ".".join(str(p) for p in loc) or "(file)"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if isinstance((e.get("ctx") or {}).get("error"), Explained):
        return f"{where}: {msg}"
    value = e.get("input")
    got = "" if isinstance(value, (dict, list)) or e["type"] == "missing" else f" (got {str(value)[:40]!r})"
    model: type[BaseModel] = Workload
    for part in loc[:-1]:
        sections: dict[str, type[BaseModel]] = {"constraints": Constraints, "onprem": OnPremSystem}
        model = sections.get(str(part), model)
    info = model.model_fields.get(str(loc[-1])) if loc else None
    what = info.description if info is not None and info.description else "see docs/decision.md"
    ctx = e.get("ctx") or {}
    bound = next(((word, ctx[k]) for k, word in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")) if k in ctx), None)
    if e["type"] == "extra_forbidden":
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
        fix = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(model.model_fields) + "."
        return f"{where}: unknown key. To fix: {fix}"
    name = where.rsplit(".", 1)[-1]
    fix = f"use a value {bound[0]} {bound[1]:g} ({name}: {what})" if bound else f"{name} takes: {what}"
    return f"{where}: {msg}{got}. To fix: {fix}"


def load(path: Path) -> Workload:
    """Read a workload file through the bounded YAML reader (no alias bombs, duplicate keys or .inf)."""
    try:
        data = safe_yaml.load_file(path, "workload file")
    except SpecError as exc:
        raise WorkloadError("; ".join(str(i) for i in exc.issues)) from None
    if is_blueprint(data):
        raise BlueprintFileGiven(path)
    return parse(data, str(path))
