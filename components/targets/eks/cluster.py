"""The EKS control plane: private subnets, private endpoint (public only if the spec allows, and
then only to its CIDRs), secrets envelope-encrypted with our KMS key, control-plane logs, API
access entries, and the managed add-ons the platform relies on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ... import naming
from ...spec import StackSpec
from ..kubeconfig import secret_kubeconfig
from .iam import MANAGED, trust
from .network import EksNetwork

# Newest minor AL2023 accelerated AMIs are published for (amazon-eks-ami release notes) that is
# also inside standard support; the release channel picks how far behind it a stack runs.
KUBERNETES_BY_CHANNEL = {"rapid": "1.36", "regular": "1.35", "stable": "1.34", "extended": "1.33"}
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
CORE_ADDONS = ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent")
SHARED_FS_ADDON = {"efs": "aws-efs-csi-driver", "fsx-lustre": "aws-fsx-csi-driver"}


@dataclass(frozen=True)
class EksCluster:
    cluster: aws.eks.Cluster
    role: aws.iam.Role
    addons: dict[str, aws.eks.Addon]


def kubernetes_version(spec: StackSpec) -> str:
    return spec.cluster.kubernetes_version or KUBERNETES_BY_CHANNEL[spec.cluster.release_channel]


def shared_fs_kind(spec: StackSpec) -> str | None:
    fs = spec.storage.shared_filesystem
    if not fs.enabled:
        return None
    return "efs" if fs.kind in ("auto", "efs") else fs.kind


def cluster_args(
    spec: StackSpec,
    subnet_ids: list[pulumi.Input[str]],
    key_arn: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    """Pure. ``identity``: the stack's (its tags, and the name prefix of a stack without aistack:name)."""
    prefix = spec.name if identity is None else naming.physical_prefix(spec, identity)
    public = not spec.cluster.private_endpoint
    vpc_config: dict[str, Any] = {
        "subnet_ids": subnet_ids,
        "endpoint_private_access": True,
        "endpoint_public_access": public,
    }
    if public:
        vpc_config["public_access_cidrs"] = [n.cidr for n in spec.cluster.authorized_networks] or ["0.0.0.0/0"]
    args: dict[str, Any] = {
        "name": naming.eks_cluster_name(prefix),
        "version": kubernetes_version(spec),
        "vpc_config": vpc_config,
        "access_config": {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
        "enabled_cluster_log_types": LOG_TYPES if spec.security.audit_logging else ["audit"],
        "deletion_protection": spec.data_protection,
        "upgrade_policy": {"support_type": "EXTENDED" if spec.cluster.release_channel == "extended" else "STANDARD"},
        "tags": {"managed-by": "aistack", "stack": spec.name, **(identity.tags() if identity is not None else {})},
    }
    if key_arn is not None:
        args["encryption_config"] = {"provider": {"key_arn": key_arn}, "resources": ["secrets"]}
    return args


def build_cluster(
    name: str, spec: StackSpec, network: EksNetwork, key: aws.kms.Key | None, parent: pulumi.Resource
) -> EksCluster:
    opts = pulumi.ResourceOptions(parent=parent)
    identity = naming.current_identity()
    tags = {"managed-by": "aistack", "stack": spec.name, **identity.tags()}
    role = aws.iam.Role(
        naming.eks_cluster_role_resource(name),  # auto-named from this: see naming.py
        assume_role_policy=trust("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
        managed_policy_arns=[MANAGED + "AmazonEKSClusterPolicy"],
        tags=tags,
        opts=opts,
    )
    cluster = aws.eks.Cluster(
        f"{name}-eks",
        role_arn=role.arn,
        **cluster_args(spec, list(network.private_subnet_ids), key.arn if key is not None else None, identity),
        opts=opts,
    )
    names = list(CORE_ADDONS)
    fs = shared_fs_kind(spec)
    if fs is not None:
        names.append(SHARED_FS_ADDON[fs])
    addons = {
        n: aws.eks.Addon(
            f"{name}-{n}",
            cluster_name=cluster.name,
            addon_name=n,
            resolve_conflicts_on_update="OVERWRITE",
            # The VPC CNI enforces NetworkPolicy: the platform's default-deny policies need it.
            configuration_values=addon_configuration(n, identity),
            tags=tags,
            opts=opts,
        )
        for n in names
    }
    return EksCluster(cluster, role, addons)


def addon_configuration(addon: str, identity: naming.StackIdentity) -> str | None:
    """The VPC CNI enforces NetworkPolicy (the platform's default-deny policies need it); the EBS CSI driver
    tags every volume it creates with the stack identity (its add-on schema's controller.extraVolumeTags)."""
    if addon == "vpc-cni":
        return '{"enableNetworkPolicy":"true"}'
    if addon == "aws-ebs-csi-driver":
        return json.dumps({"controller": {"extraVolumeTags": {"managed-by": "aistack", **identity.tags()}}})
    return None


def kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """Authenticates with `aws eks get-token`."""
    ca = cluster.certificate_authority.apply(lambda c: (c.data or "") if c else "")
    token = cluster.name.apply(
        lambda n: {"command": "aws", "args": ["eks", "get-token", "--cluster-name", n, "--region", region]}
    )
    return secret_kubeconfig(cluster.name, cluster.endpoint, ca, token)
