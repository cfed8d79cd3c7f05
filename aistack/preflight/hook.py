"""The preflight as the Pulumi program's hook: ``components.program.main(preflight=run_preflight)``.

The program (a lower floor) never imports the CLI's preflight; the entry point that runs the
program (``__main__.py``, ``aistack local``) hands this function in.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi

from components.engine import under_mocks
from components.spec import StackSpec

# Set to 0 to skip the quota preflight for one run (`AISTACK_PREFLIGHT=0 pulumi up`); the stack's
# aistack:preflight: false turns it off for good.
PREFLIGHT_ENV = "AISTACK_PREFLIGHT"


def run_preflight(spec: StackSpec, bag: dict[str, Any]) -> None:
    """Before any resource is registered: fail the program when a quota or reservation is short.

    Runs only for cloud targets, with aistack:preflight on, outside mocks and when credentials are
    present (found without a network call); without credentials it logs one line and the deployment
    goes on, as it would have before. What could not be checked is a warning, never a failure."""
    if under_mocks() or os.environ.get(PREFLIGHT_ENV) == "0":
        return
    _sources(spec)
    if spec.target not in ("gcp", "aws") or not spec.preflight:
        return
    # Looked up on the package at call time so that tests can stand in for the cloud calls.
    from aistack import preflight

    missing = preflight.credentials_missing(spec)
    if missing:
        pulumi.log.info(f"aistack preflight skipped: {missing}")
        return
    report = preflight.run(spec, bag)
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


def _sources(spec: StackSpec) -> None:
    """Every chart and manifest source the stack installs from answers, or one line says which does not."""
    from aistack.preflight import sources

    failed = sources.unreachable(spec)
    if failed:
        raise pulumi.RunError(sources.message(pulumi.get_stack(), failed))
