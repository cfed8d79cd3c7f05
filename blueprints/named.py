"""Named blueprints (blueprints/*.yaml): common situations as a workload plus stack extras.

A blueprint file is a mapping with `title`, `description`, `workload` (a workload, as
`aistack recommend --workload` reads) and `stack` (extras for the stack file). `load` reads a
shipped one by name; `load_file` reads one from any path, for `recommend --blueprint FILE` and for
a blueprint file given to `--workload` by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from foundation import safe_yaml
from foundation.errors import SpecError, did_you_mean

from . import workload as wl

# The keys a blueprint file has; a workload file has none of the first three.
BLUEPRINT_KEYS = frozenset({"title", "description", "workload", "stack"})


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


class UnknownBlueprint(wl.WorkloadError):
    """A blueprint name that is not shipped; the message suggests the closest and lists them all."""

    def __init__(self, name: str) -> None:
        known = names()
        super().__init__(
            f"--blueprint: no blueprint named {name!r}. To fix: {did_you_mean(name, known)} "
            f"Known blueprints: {', '.join(known)}."
        )


def load(name: str) -> Blueprint:
    """A shipped blueprint by name (never a path: checked against the shipped list before any look-up)."""
    if name not in names():
        raise UnknownBlueprint(name)
    path = resources.files(__package__).joinpath(f"{name}.yaml")
    if not path.is_file():
        raise UnknownBlueprint(name)
    return from_data(name, yaml.safe_load(path.read_text(encoding="utf-8")), f"blueprint {name}")


def load_file(path: Path) -> Blueprint:
    """A blueprint file anywhere, read through the bounded YAML reader."""
    try:
        data = safe_yaml.load_file(path, "blueprint file")
    except SpecError as exc:
        raise wl.WorkloadError("; ".join(str(i) for i in exc.issues)) from None
    return from_data(path.stem, data, str(path))


def resolve(name_or_path: str) -> Blueprint:
    """`--blueprint` takes a shipped name or a path to a blueprint file."""
    if name_or_path in names():
        return load(name_or_path)
    path = Path(name_or_path)
    if path.is_file():
        return load_file(path)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        known = names()
        raise wl.WorkloadError(
            f"--blueprint {name_or_path}: no such file, and it is not a shipped blueprint's name. To fix: pass "
            f"an existing blueprint file, or a name: {did_you_mean(path.stem, known)} Known blueprints: "
            f"{', '.join(known)}."
        )
    raise UnknownBlueprint(name_or_path)


def from_data(name: str, data: object, origin: str) -> Blueprint:
    """A blueprint from parsed YAML; every problem names the key and the fix."""
    if not wl.is_blueprint(data):
        raise wl.WorkloadError(
            f"{origin}: not a blueprint: it has no `workload:` section. To fix: put the workload under "
            "`workload:` (see blueprints/starter-notebooks.yaml), or pass the file to --workload."
        )
    assert isinstance(data, dict)
    unknown = sorted(str(k) for k in data if k not in BLUEPRINT_KEYS)
    if unknown:
        raise wl.WorkloadError(
            f"{origin}: {unknown[0]}: unknown key in a blueprint. To fix: a blueprint has only "
            f"{', '.join(sorted(BLUEPRINT_KEYS))}; {did_you_mean(unknown[0], sorted(BLUEPRINT_KEYS))}"
        )
    stack = data.get("stack") or {}
    if not isinstance(stack, dict):
        raise wl.WorkloadError(f"{origin}: stack: expected a mapping. To fix: write `stack:` as key: value lines.")
    return Blueprint(
        name=name,
        title=str(data.get("title") or name),
        description=" ".join(str(data.get("description") or "").split()),
        workload=wl.parse(data["workload"], f"{origin}: workload"),
        stack=dict(stack),
    )
