"""Teardown: after `pulumi destroy`, is anything of the stack still in the cloud account, costing money?

``sweep`` finds the stack's credentials and asks the cloud what is left of it (AWS: instances, unattached
volumes and ENIs, load balancers, target groups, Elastic IPs, NAT gateways, security groups, launch
templates, instance profiles, log groups; GCP: instances, instance groups, disks, forwarding rules,
target pools, backend services, NEGs, firewall rules, addresses), each with the command that deletes
it; with ``delete`` it removes them in dependency order and lists again. The listing itself is pure
(``aws_findings``, ``gcp_findings``: API responses → findings); the cloud clients are imported only when
a sweep runs. `aistack sweep` runs it; `aistack destroy` runs it after `pulumi destroy`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .model import EXIT_CLEAN, EXIT_LEFT, EXIT_UNCHECKED, Finding, Owner, SweepReport

# How long --delete waits for instances to terminate, NAT gateways and GCP operations to finish.
WAIT_S = 600.0


def sweep(
    spec: Any, stack: str, config: Mapping[str, Any] | None = None, *, delete: bool = False, wait_s: float = WAIT_S
) -> SweepReport:
    """What of stack ``stack`` (the Pulumi stack name) is left in its account; ``delete``: remove it first."""
    from ..preflight import GCP_ENDPOINT_ENV, credentials, credentials_missing, gcp_project

    owner = Owner.of(spec, stack)
    if spec.target not in ("aws", "gcp"):
        report = SweepReport(spec.target, "on-prem", owner.describe(), {})
        report.notes.append("on-prem stack: no cloud account to sweep (what it ran on is yours)")
        return report
    missing = credentials_missing(spec)
    if spec.target == "aws":
        from .aws import KINDS, sweep_aws

        found = None if missing else credentials.aws_credentials(spec.region)
        if found is None:
            return SweepReport(
                "aws", spec.region, owner.describe(), dict(KINDS), problem=missing or credentials.AWS_HOW
            )
        return sweep_aws(owner, spec.region, found.value, delete=delete, wait_s=wait_s)
    from .gcp import COMPUTE_SCOPE, PLURALS, sweep_gcp

    if missing:
        return SweepReport("gcp", spec.region, owner.describe(), dict(PLURALS), problem=missing)
    project = gcp_project(spec, config or {})
    if not project:
        return SweepReport(
            "gcp",
            spec.region,
            owner.describe(),
            dict(PLURALS),
            problem="no GCP project: set aistack:project or gcp:project in the stack (or GOOGLE_CLOUD_PROJECT). "
            "To fix: pulumi config set gcp:project <project-id>",
        )
    from google.auth.credentials import Scoped

    gcp = credentials.gcp_credentials()
    assert gcp is not None
    scoped = isinstance(gcp.value, Scoped)  # deleting needs the compute scope, not the preflight's read-only one
    creds = gcp.value.with_scopes([COMPUTE_SCOPE]) if scoped else gcp.value
    return sweep_gcp(
        owner,
        project,
        credentials=creds,
        endpoint=os.environ.get(GCP_ENDPOINT_ENV) or None,
        delete=delete,
        wait_s=wait_s,
    )


__all__ = ["EXIT_CLEAN", "EXIT_LEFT", "EXIT_UNCHECKED", "WAIT_S", "Finding", "Owner", "SweepReport", "sweep"]
