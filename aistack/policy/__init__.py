"""Compliance policies: one rule set run offline by `aistack check` and by the CrossGuard pack."""

from __future__ import annotations

from aistack.offline import Plan

from .rules import POLICIES, Policy, Resource, Violation, evaluate


def plan_resources(plan: Plan) -> list[Resource]:
    """The plan's custom resources as the rules see them (component resources carry no settings)."""
    return [Resource(r.type, r.urn, r.name, r.inputs) for r in plan.resources if r.custom]


def check_plan(plan: Plan) -> list[Violation]:
    return evaluate(plan_resources(plan), plan.spec.compliance)


__all__ = ["POLICIES", "Policy", "Resource", "Violation", "check_plan", "evaluate", "plan_resources"]
