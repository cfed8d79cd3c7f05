"""EKS Pod Identity: one IAM role per in-cluster component that touches data, trusted by the
Pod Identity agent, allowed only its own buckets, associated with its Kubernetes service account."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ... import naming
from ...identities import workload_identities
from ...spec import StackSpec
from .iam import bucket_access_policy, trust


def build_identities(
    name: str, spec: StackSpec, cluster: aws.eks.Cluster, buckets: dict[str, aws.s3.Bucket], parent: pulumi.Resource
) -> dict[str, aws.iam.Role]:
    opts = pulumi.ResourceOptions(parent=parent)
    roles = {}
    tags = {"managed-by": "aistack", "stack": spec.name, **naming.current_identity().tags()}
    for wi in workload_identities(spec):
        arns: dict[str, pulumi.Input[str]] = {p: buckets[p].arn for p in wi.buckets}
        writable = {p for p, access in wi.buckets.items() if access == "write"}
        role = aws.iam.Role(
            naming.eks_workload_role_resource(name, wi.component),  # auto-named from this
            assume_role_policy=trust("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            inline_policies=[{"name": "buckets", "policy": bucket_access_policy(arns, writable)}],
            tags=tags,
            opts=opts,
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-{wi.component}",
            cluster_name=cluster.name,
            namespace=wi.namespace,
            service_account=wi.service_account,
            role_arn=role.arn,
            tags=tags,
            opts=opts,
        )
        roles[wi.component] = role
    return roles
