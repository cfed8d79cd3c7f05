"""Are cloud credentials present? Answered locally, without a network call.

The preflight runs inside `pulumi up` (and the offline tests run the same program), so finding out
must be cheap: AWS through botocore's own provider chain (environment, profiles, SSO cache,
container and instance roles; IMDS is skipped when AWS_EC2_METADATA_DISABLED=true), GCP through
the places Application Default Credentials are read from (GOOGLE_APPLICATION_CREDENTIALS, the
gcloud ADC file) and, on a Google VM, the metadata server, recognised from the DMI product name
rather than by calling it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

AWS_HOW = (
    "no AWS credentials found (looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and "
    "~/.aws/credentials, ~/.aws/config (SSO), container and instance roles). To fix: run `aws configure` "
    "or `aws sso login --profile <profile>` and export AWS_PROFILE=<profile>, then run this again."
)
GCP_HOW = (
    "no Google Cloud credentials found (looked at GOOGLE_APPLICATION_CREDENTIALS, the gcloud application "
    "default credentials file, and the metadata server of a Google VM). To fix: run `gcloud auth "
    "application-default login`, or export GOOGLE_APPLICATION_CREDENTIALS=<service-account key file>, "
    "then run this again."
)
# compute: quotas, reservations, networks; cloud-platform.read-only: Resource Manager's projects.get and
# getIamPolicy (the Shared VPC grants of an existing network).
SCOPES = [
    "https://www.googleapis.com/auth/compute.readonly",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
]


@dataclass(frozen=True)
class Found:
    """Credentials were found: ``source`` says where; ``value`` is the library's credentials object."""

    source: str
    value: Any = None


def aws_credentials(region: str) -> Found | None:
    import boto3

    session = boto3.Session(region_name=region)
    creds = session.get_credentials()
    if creds is None:
        return None
    return Found(getattr(creds, "method", "aws") or "aws", session)


def _on_google_vm() -> bool:
    try:
        with open("/sys/class/dmi/id/product_name", encoding="utf-8") as fh:
            return "Google" in fh.read()
    except OSError:
        return False


def gcp_credentials() -> Found | None:
    """Credentials from a key/ADC file, or the VM's service account on Google Cloud; None if neither.

    google.auth.default is called only once a file is known to exist: it reads that file first and so
    never reaches its last resort, pinging the metadata server."""
    import google.auth
    from google.auth import _cloud_sdk

    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    adc = _cloud_sdk.get_application_default_credentials_path()  # type: ignore[no-untyped-call]
    for path, source in ((explicit, "GOOGLE_APPLICATION_CREDENTIALS"), (adc, "gcloud ADC file")):
        if path and os.path.isfile(path):
            creds, _ = google.auth.default(scopes=SCOPES)
            return Found(f"{source} ({path})", creds)
        if path and source == "GOOGLE_APPLICATION_CREDENTIALS":
            raise FileNotFoundError(f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist")
    if _on_google_vm():
        from google.auth import compute_engine

        return Found("metadata server", compute_engine.Credentials(scopes=SCOPES))  # type: ignore[no-untyped-call]
    return None
