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


def bucket_args(spec: StackSpec, project: str, purpose: str, key: pulumi.Input[str] | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": naming.gcs_bucket_name(project, spec.name, purpose),  # global: the project makes it unique
        "location": spec.region.upper(),  # single region: data stays where the spec says
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "versioning": {"enabled": True},
        "force_destroy": not spec.data_protection,
        "labels": {"managed-by": "aistack", "stack": spec.name, "purpose": purpose},
    }
    if key is not None:
        args["encryption"] = {"default_kms_key_name": key}
    return args


def build_storage(
    name: str,
    spec: StackSpec,
    project: str,
    network: gcp.compute.Network,
    key: gcp.kms.CryptoKey | None,
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> GkeStorage:
    keep = spec.data_protection
    opts = pulumi.ResourceOptions(parent=parent, protect=keep, retain_on_delete=keep or None, depends_on=depends_on)
    key_id = key.id if key is not None else None
    buckets = {
        purpose: gcp.storage.Bucket(f"{name}-{purpose}", **bucket_args(spec, project, purpose, key_id), opts=opts)
        for purpose in spec.storage.buckets
    }
    filestore = None
    fs = spec.storage.shared_filesystem
    if fs.enabled:
        zone = spec.zones[0] if spec.zones else f"{spec.region}-a"
        filestore = gcp.filestore.Instance(
            f"{name}-filestore",
            name=naming.filestore_instance_name(spec.name),
            location=zone,
            tier="ZONAL",  # supports CMEK, unlike BASIC tiers
            file_shares={"name": "shared", "capacity_gb": fs.capacity_gb},
            networks=[{"network": network.name, "modes": ["MODE_IPV4"], "connect_mode": "DIRECT_PEERING"}],
            kms_key_name=key_id,
            deletion_protection_enabled=spec.data_protection,
            labels={"managed-by": "aistack", "stack": spec.name},
            opts=opts,
        )
    return GkeStorage(buckets, filestore)
