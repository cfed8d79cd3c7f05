"""S3 buckets: private, versioned, SSE-KMS with our key, TLS-only; and an optional EFS or FSx
for Lustre filesystem. Protected unless data protection is off."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ... import naming
from ...spec import StackSpec


@dataclass(frozen=True)
class EksStorage:
    buckets: dict[str, aws.s3.Bucket]
    filesystem: aws.efs.FileSystem | aws.fsx.LustreFileSystem | None


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def build_storage(
    name: str, spec: StackSpec, key: aws.kms.Key | None, subnet_ids: list[pulumi.Input[str]], parent: pulumi.Resource
) -> EksStorage:
    keep = spec.data_protection
    stateful = pulumi.ResourceOptions(parent=parent, protect=keep, retain_on_delete=keep or None)
    opts = pulumi.ResourceOptions(parent=parent)
    # the stack identity (#26): what finds these after a teardown (#24)
    tags = {"managed-by": "aistack", "stack": spec.name, **naming.current_identity().tags()}
    buckets = {}
    for purpose in spec.storage.buckets:
        bucket = aws.s3.Bucket(
            f"{name}-{purpose}",
            bucket_prefix=naming.s3_bucket_prefix(spec.name, purpose),
            force_destroy=not keep,
            tags={**tags, "purpose": purpose},
            opts=stateful,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-{purpose}-private",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketVersioning(
            f"{name}-{purpose}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
        )
        rule: aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict = (
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                "bucket_key_enabled": True,
            }
            if key is not None
            else {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-{purpose}-sse", bucket=bucket.id, rules=[rule], opts=opts
        )
        aws.s3.BucketPolicy(
            f"{name}-{purpose}-tls", bucket=bucket.id, policy=bucket.arn.apply(tls_only_policy), opts=opts
        )
        buckets[purpose] = bucket
    fs = spec.storage.shared_filesystem
    filesystem: aws.efs.FileSystem | aws.fsx.LustreFileSystem | None = None
    if fs.enabled and fs.kind == "fsx-lustre":
        filesystem = aws.fsx.LustreFileSystem(
            f"{name}-fsx",
            storage_capacity=fs.capacity_gb,
            subnet_ids=subnet_ids[0],
            deployment_type="PERSISTENT_2",
            per_unit_storage_throughput=250,
            kms_key_id=key.arn if key is not None else None,
            tags=tags,
            opts=stateful,
        )
    elif fs.enabled:
        filesystem = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            kms_key_id=key.arn if key is not None else None,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            tags=tags,
            opts=stateful,
        )
    return EksStorage(buckets, filesystem)
