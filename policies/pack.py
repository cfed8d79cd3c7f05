"""aistack's CrossGuard pack, built from the same rules `aistack check` runs offline.

The profile comes from ``AISTACK_PROFILE`` (standard | hipaa | gdpr; default standard): each
policy is mandatory, advisory or disabled as the profile says. Run it with
``AISTACK_PROFILE=hipaa pulumi preview --policy-pack policies``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# The rules live in the aistack package beside this directory; the pack's venv holds only
# pulumi-policy and the rules' pure dependencies (see requirements.txt).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aistack.policy.rules import POLICIES, Policy, Resource

LEVELS = {"mandatory": "MANDATORY", "advisory": "ADVISORY"}


def profile() -> str:
    value = os.environ.get("AISTACK_PROFILE", "standard")
    if value not in ("standard", "hipaa", "gdpr"):
        raise SystemExit(f"AISTACK_PROFILE={value!r}: use standard, hipaa or gdpr")
    return value


def build(pulumi_policy: Any, active_profile: str) -> list[Any]:
    """One CrossGuard policy per aistack policy active in the profile."""
    out = []
    for policy in POLICIES:
        level = policy.level(active_profile)
        if level is None:
            continue
        enforcement = getattr(pulumi_policy.EnforcementLevel, LEVELS[level])
        out.append(_crossguard(pulumi_policy, policy, enforcement))
    return out


def _crossguard(pp: Any, policy: Policy, enforcement: Any) -> Any:
    description = f"{policy.description} To fix: {policy.fix}"
    if policy.resource is not None:
        check = policy.resource

        def validate(args: Any, report: Any) -> None:
            message = check(Resource(args.resource_type, args.urn, args.name, args.props))
            if message is not None:
                report(f"{message}. To fix: {policy.fix}")

        return pp.ResourceValidationPolicy(
            name=policy.name, description=description, validate=validate, enforcement_level=enforcement
        )
    stack_check = policy.stack
    assert stack_check is not None

    def validate_stack(args: Any, report: Any) -> None:
        resources = [Resource(r.resource_type, r.urn, r.name, r.props) for r in args.resources]
        for found, message in stack_check(resources):
            report(f"{message}. To fix: {policy.fix}", found.urn if found else None)

    return pp.StackValidationPolicy(
        name=policy.name, description=description, validate=validate_stack, enforcement_level=enforcement
    )
