"""Published training runs and throughput benchmarks (training_runs.yaml) as typed data.

The utilisation model is fitted on these rows and checked out of sample against them
(blueprints/calibration.py). This module only parses and validates; what each `measured` kind
means is documented at the top of the YAML file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Measured = Literal["mfu", "hfu_tflops", "minutes", "gpu_hours", "seconds_per_step", "tokens_per_s", "tflops"]
# What each measurement kind needs besides the common fields.
_NEEDS: dict[str, tuple[str, ...]] = {
    "mfu": ("mfu", "chips"),
    "hfu_tflops": ("hfu_tflops", "recompute_factor", "chips"),
    "minutes": ("minutes", "tokens", "chips"),
    "gpu_hours": ("gpu_hours", "tokens"),
    "seconds_per_step": ("seconds_per_step", "tokens_per_step", "chips"),
    "tokens_per_s": ("tokens_per_s", "chips"),
    "tflops": ("tflops",),
}


class TrainingRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    group: str = Field(description="Benchmark left out together in the out-of-sample check.")
    source_id: str = Field(description="Whole source, for the stricter leave-source-out check.")
    use: bool = Field(description="False: kept for the record, not fitted; `reason` says why.")
    reason: str | None = None
    model: str
    params: float = Field(gt=0, description="Parameters N (MoE: activated).")
    layers: int | None = Field(default=None, gt=0)
    d_model: int | None = Field(default=None, gt=0)
    seq_len: int = Field(gt=0)
    method: Literal["pretrain", "full", "lora", "qlora"]
    accelerator: str
    chips: int | None = Field(default=None, gt=0)
    precision: Literal["bf16", "fp16", "fp8", "int8"]
    measured: Measured
    mfu: float | None = Field(default=None, gt=0, lt=1)
    hfu_tflops: float | None = Field(default=None, gt=0)
    recompute_factor: float | None = Field(default=None, gt=0, le=1)
    tflops: float | None = Field(default=None, gt=0)
    tokens: float | None = Field(default=None, gt=0)
    minutes: float | None = Field(default=None, gt=0)
    gpu_hours: float | None = Field(default=None, gt=0)
    goodput_included: bool = False
    seconds_per_step: float | None = Field(default=None, gt=0)
    tokens_per_step: int | None = Field(default=None, gt=0)
    tokens_per_s: float | None = Field(default=None, gt=0, description="Aggregate over all chips.")
    source: str = Field(pattern=r"^https://\S+$")
    table: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> TrainingRun:
        missing = [f for f in _NEEDS[self.measured] if getattr(self, f) is None]
        if self.use and missing:
            raise ValueError(f"{self.id}: measured {self.measured} needs {', '.join(missing)}")
        if not self.use and not self.reason:
            raise ValueError(f"{self.id}: a row left out of the fit needs a `reason`")
        return self


class TrainingRunCatalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    data_version: str
    sources: dict[str, str] = {}
    runs: tuple[TrainingRun, ...]

    @property
    def used(self) -> tuple[TrainingRun, ...]:
        return tuple(r for r in self.runs if r.use)


@cache
def training_runs() -> TrainingRunCatalog:
    text = resources.files(__package__).joinpath("training_runs.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    catalog = TrainingRunCatalog.model_validate(data)
    if catalog.schema_version != SCHEMA_VERSION:
        raise RuntimeError(
            f"training_runs.yaml has schema_version {catalog.schema_version}, this aistack reads "
            f"{SCHEMA_VERSION}. To fix: reinstall aistack so code and catalog match."
        )
    ids = [r.id for r in catalog.runs]
    if len(ids) != len(set(ids)):
        raise RuntimeError("training_runs.yaml: duplicate row ids")
    return catalog
