"""GCS buckets (hardened, CMEK, in the stack's region) and an optional Filestore share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec


@dataclass(frozen=True)
class GkeStorage:
    buckets: dict[str, gcp.storage.Bucket]
    filestore: gcp.filestore.Instance | None


def bucket_args(
    spec: StackSpec,
    project: str,
    purpose: str,
    key: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    prefix = spec.name if identity is None else naming.physical_prefix(spec, identity)
    args: dict[str, Any] = {
        "name": naming.gcs_bucket_name(project, prefix, purpose),  # global: project and stack make it unique
        "location": spec.region.upper(),  # single region: data stays where the spec says
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "versioning": {"enabled": True},
        "force_destroy": not spec.data_protection,
        "labels": {
            "managed-by": "aistack",
            "stack": spec.name,
            "purpose": purpose,
            **(identity.gcp_labels() if identity is not None else {}),
        },
    }
    if key is not None:
        args["encryption"] = {"default_kms_key_name": key}
    return args


def build_storage(
    name: str,
    spec: StackSpec,
    project: str,
    network: pulumi.Input[str],
    key: gcp.kms.CryptoKey | None,
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> GkeStorage:
    keep = spec.data_protection
    opts = pulumi.ResourceOptions(parent=parent, protect=keep, retain_on_delete=keep or None, depends_on=depends_on)
    key_id = key.id if key is not None else None
    identity = naming.current_identity()
    buckets = {
        purpose: gcp.storage.Bucket(
            f"{name}-{purpose}", **bucket_args(spec, project, purpose, key_id, identity), opts=opts
        )
        for purpose in spec.storage.buckets
    }
    filestore = None
    fs = spec.storage.shared_filesystem
    if fs.enabled:
        zone = spec.zones[0] if spec.zones else f"{spec.region}-a"
        filestore = gcp.filestore.Instance(
            f"{name}-filestore",
            name=naming.filestore_instance_name(naming.physical_prefix(spec, identity)),
            location=zone,
            tier="ZONAL",  # supports CMEK, unlike BASIC tiers
            file_shares={"name": "shared", "capacity_gb": fs.capacity_gb},
            # A Shared VPC reaches Filestore through private services access, set up in the host project.
            networks=[
                {
                    "network": network,
                    "modes": ["MODE_IPV4"],
                    "connect_mode": "PRIVATE_SERVICE_ACCESS" if spec.network.host_project else "DIRECT_PEERING",
                }
            ],
            kms_key_name=key_id,
            deletion_protection_enabled=spec.data_protection,
            labels={"managed-by": "aistack", "stack": spec.name, **identity.gcp_labels()},
            opts=opts,
        )
    return GkeStorage(buckets, filestore)
