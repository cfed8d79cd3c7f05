"""Shared fixtures. Tests run from any directory; paths are anchored at the repo root."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.offline import PlannedResource

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
EXAMPLE_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))


@pytest.fixture(autouse=True)
def _at_repo_root() -> Iterator[None]:
    before = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)


def stack_values(name: str) -> dict[str, Any]:
    """The aistack:* keys of an example stack, namespace stripped."""
    from components.spec.loader import SECRET_CONFIG_KEYS

    doc = yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())
    values = {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("aistack:")}
    return {k: v for k, v in values.items() if k not in SECRET_CONFIG_KEYS}


def of_type(resources: list[PlannedResource], type_: str) -> list[PlannedResource]:
    return [r for r in resources if r.type == type_]


def one(resources: list[PlannedResource], type_: str) -> PlannedResource:
    (found,) = of_type(resources, type_)
    return found


# Object-store credentials for specs that need them, as `pulumi config set --secret` would store them.
CREDENTIALS = {"object_store_access_key_id": "AKIATEST", "object_store_secret_access_key": "s3cr3t-test-key"}


def plan_values(
    values: dict[str, Any], stack: str = "test", secrets: dict[str, str] | None = None
) -> list[PlannedResource]:
    """Plan a spec given as aistack:* values (namespace stripped), under a fixed stack name.

    ``secrets``: extra aistack:* config keys given as Pulumi secrets (default: test object-store credentials).
    """
    from pathlib import Path as _Path

    from aistack.offline import plan
    from components.spec import LoadedStack, parse_spec

    spec = parse_spec(values)
    secrets = CREDENTIALS if secrets is None else secrets
    config = {f"aistack:{k}": v for k, v in {**values, **secrets}.items()}
    return plan(LoadedStack(stack, _Path("x"), spec, config, tuple(f"aistack:{k}" for k in secrets))).resources


def config_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node inside a nested config (keys and list indexes), for the mutation fuzzers."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += config_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += config_paths(v, (*prefix, i))
    return out


def run_aistack(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 180
) -> subprocess.CompletedProcess[str]:
    """`python -m aistack ARGS` in a fresh process, as a user runs it (exit code, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "aistack", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )
