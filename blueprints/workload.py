"""The workload file `aistack recommend --workload FILE` reads: what to run, under which constraints.

Validated in full before anything is estimated; an error names the field and the fix, like the
stack spec does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Kind = Literal["training", "fine-tuning", "serving"]
Precision = Literal["bf16", "fp8", "fp16", "int8"]
Framework = Literal["jax", "pytorch", "tensorflow"]
Objective = Literal["cost", "time", "balanced"]
Cloud = Literal["gcp", "aws", "onprem"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OnPremSystem(_Model):
    """Hardware the organisation owns (or would buy), turned into an effective hourly price."""

    name: str = Field(default="onprem", description="Label for the site or system, e.g. fra-dgx.")
    accelerator: str = Field(description="Catalog id of the chips, e.g. nvidia-h100-80gb.")
    count: int = Field(gt=0, description="Chips available to this workload.")
    purchase_usd: float = Field(gt=0, description="Purchase price of those chips' servers and network, USD.")
    amortisation_years: float = Field(default=4, gt=0, le=10, description="Straight-line write-off. Default: 4.")
    power_usd_per_kwh: float = Field(default=0.15, ge=0, description="Electricity price, USD/kWh. Default: 0.15.")
    pue: float = Field(default=1.4, ge=1, le=3, description="Data-centre power usage effectiveness. Default: 1.4.")
    host_power_w_per_chip: float = Field(
        default=0, ge=0, description="Extra server power (CPUs, NICs, fans) per chip, W. Default: 0 (chips only)."
    )
    ops_usd_per_year: float = Field(default=0, ge=0, description="Space, support, staff share, USD/year. Default: 0.")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO country of the site (GDPR).")


class Constraints(_Model):
    deadline_hours: float | None = Field(default=None, gt=0, description="Wall-clock limit. Default: none.")
    budget_usd: float | None = Field(default=None, gt=0, description="Spend limit for the whole run. Default: none.")
    compliance: Literal["standard", "hipaa", "gdpr"] = Field(
        default="standard", description="gdpr keeps data in EU/EEA regions and sites. Default: standard."
    )
    regions: tuple[str, ...] = Field(default=(), description="Allowed cloud regions. Default: any.")
    clouds: tuple[Cloud, ...] = Field(default=("gcp", "aws", "onprem"), description="Allowed targets.")
    spot_ok: bool = Field(default=False, description="Spot/preemptible capacity is acceptable. Default: false.")
    max_chips: int = Field(
        default=512,
        gt=0,
        le=16384,
        description="Largest job considered; bigger ones need reservations. Default: 512.",
    )
    onprem: tuple[OnPremSystem, ...] = Field(default=(), description="Owned hardware to consider.")


class Workload(_Model):
    kind: Kind = Field(description="training | fine-tuning | serving")
    params: float | None = Field(default=None, gt=0, description="Model parameters (N).")
    tokens: float | None = Field(default=None, gt=0, description="Training tokens (D).")
    flops: float | None = Field(default=None, gt=0, description="Total training FLOPs, instead of params×tokens.")
    method: Literal["full", "lora", "qlora"] = Field(
        default="lora", description="fine-tuning only: full, lora or qlora. Default: lora."
    )
    lora_trainable_fraction: float = Field(
        default=0.01, gt=0, le=0.5, description="LoRA adapters as a fraction of N. Default: 0.01."
    )
    target_tokens_per_s: float | None = Field(default=None, gt=0, description="serving: aggregate decode tokens/s.")
    max_ms_per_token: float | None = Field(default=None, gt=0, description="serving: latency ceiling per token.")
    batch: int = Field(default=32, ge=1, le=4096, description="serving: concurrent sequences per replica.")
    duration_hours: float = Field(default=730, gt=0, description="serving: how long to price it. Default: a month.")
    precision: Precision = Field(default="bf16", description="bf16 | fp8 | fp16 | int8. Default: bf16.")
    framework: Framework = Field(default="pytorch", description="jax | pytorch | tensorflow. Default: pytorch.")
    pytorch_xla: bool = Field(default=False, description="pytorch on TPU through PyTorch/XLA. Default: false.")
    objective: Objective = Field(default="balanced", description="cost | time | balanced. Default: balanced.")
    constraints: Constraints = Field(default_factory=Constraints)

    @model_validator(mode="after")
    def _check(self) -> Workload:
        if self.kind in ("training", "fine-tuning"):
            if self.flops is None and (self.params is None or self.tokens is None):
                raise ValueError(
                    f"{self.kind} needs `flops`, or both `params` and `tokens`. "
                    "To fix: add `params: 7e9` and `tokens: 1.4e11` (or `flops: 5.9e21`)."
                )
            if self.precision == "int8":
                raise ValueError("precision int8 is for serving. To fix: train in bf16 or fp8.")
        if self.kind == "fine-tuning" and self.params is None:
            raise ValueError("fine-tuning needs `params` to size memory. To fix: add `params: 7e9`.")
        if self.kind == "serving" and (self.params is None or self.target_tokens_per_s is None):
            raise ValueError(
                "serving needs `params` and `target_tokens_per_s`. To fix: add e.g. "
                "`params: 8e9` and `target_tokens_per_s: 2000`."
            )
        return self

    @property
    def total_flops(self) -> float:
        """The work to do: explicit FLOPs, else 6·N·D (full) or 4·N·D (LoRA/QLoRA; see estimator)."""
        if self.flops is not None:
            return self.flops
        assert self.params is not None and self.tokens is not None
        per_token = 4.0 if (self.kind == "fine-tuning" and self.method != "full") else 6.0
        return per_token * self.params * self.tokens


class WorkloadError(ValueError):
    """A workload file that cannot be used; the message says what and how to fix it."""


def parse(data: object, origin: str = "workload") -> Workload:
    if not isinstance(data, dict):
        raise WorkloadError(f"{origin}: expected a mapping of fields. To fix: see `aistack recommend --help`.")
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(file)"
            lines.append(f"  {where}: {e['msg']}")
        raise WorkloadError(f"{origin} is not a valid workload:\n" + "\n".join(lines)) from None


def load(path: Path) -> Workload:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkloadError(f"{path}: no such file. To fix: pass the path of a workload YAML.") from None
    except yaml.YAMLError as exc:
        raise WorkloadError(f"{path}: not YAML ({exc}).") from None
    return parse(data, str(path))
