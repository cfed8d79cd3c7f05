"""On-prem object storage: an existing S3-compatible endpoint, or SeaweedFS deployed in the cluster.

Either way the platform gets the same ``ObjectStore`` a cloud target hands it, plus static
credentials (there is no workload identity on-prem) that stay Pulumi secrets end to end.
MinIO is deliberately not offered: its open-source edition is in maintenance only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pulumi

from ... import naming
from ...handle import ObjectStore, StaticCredentials
from ...spec import StackSpec

NAMESPACE = "object-store"
RELEASE = "seaweedfs"
S3_PORT = 8333  # the chart's s3.port default
CONFIG_SECRET = "aistack-s3-config"
CONFIG_KEY = "seaweedfs_s3_config"  # the key the chart reads from s3.existingConfigSecret


def bucket_names(spec: StackSpec) -> dict[str, str]:
    """Purpose → physical bucket name, with the stack prefix (as on the clouds)."""
    return {b: naming.object_store_bucket_name(spec.name, b) for b in spec.storage.buckets}


def seaweedfs_endpoint() -> str:
    return f"http://{RELEASE}-s3.{NAMESPACE}.svc:{S3_PORT}"


def seaweedfs_values(spec: StackSpec, storage_class: str) -> dict[str, Any]:
    """One master, volume and filer, each on a persistent volume of the stack's RWO class, and the
    S3 gateway with authentication from a Secret aistack writes (never the chart's random keys,
    which would change on every render and show as drift).

    The hostPath defaults of the chart would tie data to one node's disk outside any claim; every
    data directory here is a PVC instead. PVCs of a StatefulSet outlive it, and the chart resource
    is protected under data protection.
    """
    size = f"{spec.onprem.object_store.capacity_gb}Gi"

    def pvc(gi: str) -> dict[str, Any]:
        return {"type": "persistentVolumeClaim", "size": gi, "storageClass": storage_class}

    return {
        "master": {"data": pvc("10Gi"), "logs": {"type": "emptyDir"}},
        "volume": {
            "dataDirs": [{"name": "data", **pvc(size), "maxVolumes": 0}],
            "logs": {"type": "emptyDir"},
        },
        "filer": {"data": pvc("25Gi"), "logs": {"type": "emptyDir"}},
        "s3": {
            "enabled": True,
            "port": S3_PORT,
            "enableAuth": True,
            "existingConfigSecret": CONFIG_SECRET,
            "createBuckets": [{"name": n, "anonymousRead": False} for n in bucket_names(spec).values()],
            "logs": {"type": "emptyDir"},
        },
    }


def s3_identities(access_key_id: str, secret_access_key: str) -> str:
    """SeaweedFS's S3 identity file: one identity with full access, the stack's credential pair."""
    return json.dumps(
        {
            "identities": [
                {
                    "name": "aistack",
                    "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        },
        sort_keys=True,
    )


def config_secret(credentials: StaticCredentials) -> dict[str, Any]:
    pair = pulumi.Output.all(credentials.access_key_id, credentials.secret_access_key)
    body: pulumi.Output[str] = pulumi.Output.secret(pair.apply(lambda a: s3_identities(str(a[0]), str(a[1]))))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CONFIG_SECRET, "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {CONFIG_KEY: body},
    }


def object_store(spec: StackSpec, credentials: StaticCredentials) -> ObjectStore | None:
    """The handle's store: where it is, its buckets as s3:// URLs, and how pods reach it."""
    store = spec.onprem.object_store
    buckets = {purpose: f"s3://{name}" for purpose, name in bucket_names(spec).items()}
    if store.kind == "seaweedfs":
        return ObjectStore(
            kind="s3",
            endpoint=seaweedfs_endpoint(),
            buckets=buckets,
            region=store.region,
            credentials=credentials,
            namespace=NAMESPACE,
            port=S3_PORT,
        )
    if store.kind == "s3" and store.endpoint is not None:
        url = urlsplit(store.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        return ObjectStore(
            kind="s3", endpoint=store.endpoint, buckets=buckets, region=store.region, credentials=credentials, port=port
        )
    return None
