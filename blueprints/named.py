"""Named blueprints (blueprints/*.yaml): common situations as a workload plus stack extras."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import yaml

from . import workload as wl


@dataclass(frozen=True)
class Blueprint:
    name: str
    title: str
    description: str
    workload: wl.Workload
    stack: dict[str, object] = field(default_factory=dict)


def names() -> list[str]:
    root = resources.files(__package__)
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def load(name: str) -> Blueprint:
    if name not in names():  # a name, never a path: checked against the shipped list before any look-up
        raise wl.WorkloadError(f"no blueprint named {name!r}. To fix: use one of {', '.join(names())}.")
    path = resources.files(__package__).joinpath(f"{name}.yaml")
    if not path.is_file():
        raise wl.WorkloadError(f"no blueprint named {name!r}. To fix: use one of {', '.join(names())}.")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Blueprint(
        name=name,
        title=str(data["title"]),
        description=" ".join(str(data.get("description", "")).split()),
        workload=wl.parse(data["workload"], f"blueprint {name}"),
        stack=dict(data.get("stack") or {}),
    )
