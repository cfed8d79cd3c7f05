"""Workload Identity: a Google service account per in-cluster component that touches cloud data,
bound to its Kubernetes service account and granted only its own buckets."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...identities import workload_identities
from ...naming import gke_workload_service_account_display_name
from ...naming import gke_workload_service_account_id as account_id
from ...spec import StackSpec

GCS_ROLES = {"read": "roles/storage.objectViewer", "write": "roles/storage.objectAdmin"}


def build_identities(
    name: str, spec: StackSpec, project: str, buckets: dict[str, gcp.storage.Bucket], parent: pulumi.Resource
) -> dict[str, gcp.serviceaccount.Account]:
    opts = pulumi.ResourceOptions(parent=parent)
    prefix = naming.physical_prefix(spec, naming.current_identity())  # service account ids are per project
    accounts = {}
    for wi in workload_identities(spec):
        gsa = gcp.serviceaccount.Account(
            f"{name}-{wi.component}",
            account_id=account_id(prefix, wi.component),
            display_name=gke_workload_service_account_display_name(prefix, wi.component),
            opts=opts,
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-{wi.component}-wi",
            service_account_id=gsa.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{wi.namespace}/{wi.service_account}]",
            opts=opts,
        )
        for purpose, access in wi.buckets.items():
            gcp.storage.BucketIAMMember(
                f"{name}-{wi.component}-{purpose}",
                bucket=buckets[purpose].name,
                role=GCS_ROLES[access],
                member=gsa.member,
                opts=opts,
            )
        accounts[wi.component] = gsa
    return accounts
