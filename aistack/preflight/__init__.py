"""Quota and capacity preflight: before any resource exists, does the account have what the stack needs?

``stack_needs`` (pure) lists what each pool draws on; ``run`` finds credentials, asks the cloud
(read-only) and returns a ``Report`` whose ``exit_code`` follows the CLI contract. The cloud clients
(boto3, google-cloud-compute) are imported only when a check runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .needs import QuotaNeed, ReservationNeed, StackNeeds, stack_needs
from .report import Check, Report, render_table

# Where the Compute Engine API is reached; tests point it at a server on loopback.
GCP_ENDPOINT_ENV = "AISTACK_GCP_COMPUTE_ENDPOINT"
# Where the Resource Manager API is reached (Shared VPC grants); tests point it at the same loopback server.
GCP_RESOURCE_MANAGER_ENV = "AISTACK_GCP_RESOURCE_MANAGER_ENDPOINT"


def gcp_project(spec: Any, config: Mapping[str, Any]) -> str | None:
    """The project the stack deploys into: aistack:project, else gcp:project, else the environment."""
    value = spec.project or config.get("gcp:project")
    if value:
        return str(value)
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT") or None


def credentials_missing(spec: Any) -> str | None:
    """Why the preflight cannot ask the cloud (no credentials), or None when it can. No network call."""
    from . import credentials

    if spec.target == "aws":
        from botocore.exceptions import BotoCoreError

        try:
            return None if credentials.aws_credentials(spec.region) else credentials.AWS_HOW
        except BotoCoreError as exc:  # AWS_PROFILE names no profile, a config file does not parse
            return f"AWS credentials could not be read: {exc}. To fix: {credentials.AWS_HOW.split('To fix: ')[1]}"
    if spec.target == "gcp":
        try:
            return None if credentials.gcp_credentials() else credentials.GCP_HOW
        except Exception as exc:  # a malformed key file: google.auth raises its own errors
            return (
                f"Google Cloud credentials could not be read: {exc}. To fix: {credentials.GCP_HOW.split('To fix: ')[1]}"
            )
    return None


def run(spec: Any, config: Mapping[str, Any] | None = None) -> Report:
    """Check the stack against its account. On-prem: nothing to check (an empty, passing report)."""
    from . import credentials

    config = config or {}
    if spec.target not in ("gcp", "aws"):
        report = Report(spec.target, spec.region)
        report.notes.append("on-prem stack: the nodes exist already, no cloud quota applies; nothing to check")
        return report
    if spec.target == "aws":
        from .aws import check_aws

        missing = credentials_missing(spec)
        found = None if missing else credentials.aws_credentials(spec.region)
        if found is None:
            return Report("aws", spec.region, problem=missing or credentials.AWS_HOW)
        return check_aws(spec, session=found.value)
    missing = credentials_missing(spec)
    if missing:
        return Report("gcp", spec.region, problem=missing)
    project = gcp_project(spec, config)
    if not project:
        return Report(
            "gcp",
            spec.region,
            problem="no GCP project: set aistack:project or gcp:project in the stack (or GOOGLE_CLOUD_PROJECT). "
            "To fix: pulumi config set gcp:project <project-id>",
        )
    from .gcp import check_gcp

    gcp = credentials.gcp_credentials()
    assert gcp is not None
    return check_gcp(
        spec,
        project,
        credentials=gcp.value,
        endpoint=os.environ.get(GCP_ENDPOINT_ENV) or None,
        rm_endpoint=os.environ.get(GCP_RESOURCE_MANAGER_ENV) or None,
    )


__all__ = [
    "GCP_ENDPOINT_ENV",
    "GCP_RESOURCE_MANAGER_ENV",
    "Check",
    "QuotaNeed",
    "Report",
    "ReservationNeed",
    "StackNeeds",
    "credentials_missing",
    "gcp_project",
    "render_table",
    "run",
    "stack_needs",
]
