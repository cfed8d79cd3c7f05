"""The Pulumi program: config → validated spec → AiStack. ``__main__.py`` calls ``main``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

from . import local_overrides
from .local_overrides import UPSTREAM_KEY
from .spec import SpecError, StackSpec, parse_spec, spec_values_from_config
from .spec.dra import notes as dra_notes
from .spec.loader import (
    ALERT_CREDENTIALS_KEY,
    NAMESPACE,
    OBJECT_STORE_CREDENTIALS,
    AlertCredentials,
    alert_credentials_from_engine,
    credential_issues,
    pull_secret_issues,
)
from .stack import AiStack


def config_bag() -> dict[str, Any]:
    """Every config value the engine (or the offline planner) handed this program, with what `aistack local
    env` exported for this stack applied (components/local_overrides.py)."""
    bag, _ = _overridden()
    return bag


def _overridden() -> tuple[dict[str, Any], str | None]:
    try:
        return local_overrides.apply({**get_config_env(), **CONFIG.get()}, pulumi.get_stack(), os.environ)
    except local_overrides.OverrideError as exc:
        raise pulumi.RunError(str(exc)) from None


def spec_from_config() -> StackSpec:
    """Validate the whole stack config before any resource exists; fail with every problem listed."""
    bag, note = _overridden()
    if note is not None:
        pulumi.log.info(note)
    source = f"stack {pulumi.get_stack()}"
    try:
        values = spec_values_from_config(bag)  # a near-miss namespace is an error too
        spec = parse_spec(values, source=source)
        keys = {key: f"{NAMESPACE}:{key}" for key in OBJECT_STORE_CREDENTIALS}
        present = {key: is_config_secret(full) for key, full in keys.items() if full in bag}
        alerts = (
            alert_credentials_from_engine(bag[ALERT_CREDENTIALS_KEY], is_config_secret(ALERT_CREDENTIALS_KEY))
            if ALERT_CREDENTIALS_KEY in bag
            else AlertCredentials()
        )
        issues = credential_issues(spec, present, alerts)
        issues += pull_secret_issues(spec, is_config_secret(UPSTREAM_KEY))
        if issues:
            raise SpecError(issues, source)
        return spec
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None


# What runs between validation and the first resource: the CLI's quota preflight
# (``aistack.preflight.hook.run_preflight``), handed in by the entry point, since this floor may not import it.
PreflightHook = Callable[[StackSpec, dict[str, Any]], None]


def main(preflight: PreflightHook | None = None) -> AiStack:
    spec = spec_from_config()
    for note in dra_notes(spec):  # once per stack (spec/dra.py)
        pulumi.log.warn(note)
    if preflight is not None:
        preflight(spec, config_bag())
    stack = AiStack(spec.name, spec)
    pulumi.export("target", spec.target)
    pulumi.export("region", spec.region)
    pulumi.export("pools", stack.pools)
    pulumi.export("teams", [t.name for t in spec.teams])
    if stack.target.kubeconfig is not None:
        pulumi.export("kubeconfig", stack.target.kubeconfig)
    return stack
