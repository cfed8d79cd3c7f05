"""The Pulumi program: config → validated spec → AiStack. ``__main__.py`` calls ``main``."""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

from .engine import under_mocks
from .spec import SpecError, StackSpec, parse_spec, spec_values_from_config
from .spec.loader import (
    ALERT_CREDENTIALS_KEY,
    NAMESPACE,
    OBJECT_STORE_CREDENTIALS,
    AlertCredentials,
    alert_credentials_from_engine,
    credential_issues,
)
from .stack import AiStack


def config_bag() -> dict[str, Any]:
    """Every config value the engine (or the offline planner) handed this program."""
    return {**get_config_env(), **CONFIG.get()}


def spec_from_config() -> StackSpec:
    """Validate the whole stack config before any resource exists; fail with every problem listed."""
    bag = config_bag()
    source = f"stack {pulumi.get_stack()}"
    try:
        values = spec_values_from_config(bag, from_engine=True)  # a near-miss namespace is an error too
        spec = parse_spec(values, source=source)
        keys = {key: f"{NAMESPACE}:{key}" for key in OBJECT_STORE_CREDENTIALS}
        present = {key: is_config_secret(full) for key, full in keys.items() if full in bag}
        alerts = (
            alert_credentials_from_engine(bag[ALERT_CREDENTIALS_KEY], is_config_secret(ALERT_CREDENTIALS_KEY))
            if ALERT_CREDENTIALS_KEY in bag
            else AlertCredentials()
        )
        issues = credential_issues(spec, present, alerts)
        if issues:
            raise SpecError(issues, source)
        return spec
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None


# Set to 0 to skip the quota preflight for one run (`AISTACK_PREFLIGHT=0 pulumi up`); the stack's
# aistack:preflight: false turns it off for good.
PREFLIGHT_ENV = "AISTACK_PREFLIGHT"


def run_preflight(spec: StackSpec, bag: dict[str, Any]) -> None:
    """Before any resource is registered: fail the program when a quota or reservation is short.

    Runs only for cloud targets, with aistack:preflight on, outside mocks and when credentials are
    present (found without a network call); without credentials it logs one line and the deployment
    goes on, as it would have before. What could not be checked is a warning, never a failure."""
    if spec.target not in ("gcp", "aws") or not spec.preflight or os.environ.get(PREFLIGHT_ENV) == "0":
        return
    if under_mocks():
        return
    from aistack.preflight import credentials_missing, run

    missing = credentials_missing(spec)
    if missing:
        pulumi.log.info(f"aistack preflight skipped: {missing}")
        return
    report = run(spec, bag)
    # Only a limit below the need stops the deployment. Room taken by what runs now may be this stack's own
    # nodes (every `pulumi up` after the first), so a row short only because of usage is a warning.
    if report.over_limit:
        raise pulumi.RunError(
            report.text() + f"\nTo deploy anyway: {PREFLIGHT_ENV}=0 pulumi up, or set aistack:preflight: false."
        )
    if report.short:
        pulumi.log.warn(
            report.text() + "\n(what is in use may include this stack's own nodes; the limits themselves fit)"
        )
    elif report.problem or report.unchecked:
        pulumi.log.warn(report.text())
    else:
        pulumi.log.info(report.summary())


def main() -> AiStack:
    spec = spec_from_config()
    run_preflight(spec, config_bag())
    stack = AiStack(spec.name, spec)
    pulumi.export("target", spec.target)
    pulumi.export("region", spec.region)
    pulumi.export("pools", stack.pools)
    pulumi.export("teams", [t.name for t in spec.teams])
    if stack.target.kubeconfig is not None:
        pulumi.export("kubeconfig", stack.target.kubeconfig)
    return stack
