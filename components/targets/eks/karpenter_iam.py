"""Karpenter's IAM as plain data: the controller's policies and the interruption queue's policy.

Scoped as Karpenter v1.14's getting-started CloudFormation scopes them (NodeLifecycle,
IAMIntegration, EKSIntegration, Interruption and ResourceDiscovery policies):
https://github.com/aws/karpenter-provider-aws/blob/release-v1.14.1/website/content/en/v1.14/getting-started/
getting-started-with-karpenter/cloudformation.yaml (read 2026-12-01). Two departures, both narrower:
nodes use an instance profile the stack creates, so the instance-profile create/tag/add-role/delete
statements are left out and GetInstanceProfile is limited to that profile; PassRole names the node
role by its ARN. One addition: the stack's KMS key for root volumes, through EC2 only.
"""

from __future__ import annotations

from typing import Any


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


Statement = dict[str, Any]


def controller_policies(
    *,
    cluster: str,
    region: str,
    account: str,
    queue_arn: str,
    node_role_arn: str,
    instance_profile_arn: str,
    key_arn: str | None,
) -> dict[str, dict[str, Any]]:
    """The controller's inline policies by name, scoped as the v1.14 CloudFormation scopes them.

    A "*" resource appears only where the docs use one: read-only Describe calls (limited to the
    region), pricing, and listing instance profiles, none of which take a resource ARN.
    """
    p = partition(region)
    docs = {
        "node-lifecycle": node_lifecycle(cluster, region) + root_volume_key(key_arn, region),
        "iam-integration": iam_integration(node_role_arn, instance_profile_arn),
        "eks-integration": eks_integration(p, region, account, cluster),
        "interruption": interruption(queue_arn),
        "resource-discovery": resource_discovery(p, region),
    }
    return {name: {"Version": "2012-10-17", "Statement": stmts} for name, stmts in docs.items()}


def _ec2(region: str) -> str:
    return f"arn:{partition(region)}:ec2:{region}"


def _owned(cluster: str) -> dict[str, str]:
    """Condition: the resource carries the cluster's ownership tag."""
    return {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}


def _requested(cluster: str) -> dict[str, str]:
    """Condition: the request tags what it creates as the cluster's."""
    return {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
    }


def _launched(region: str) -> list[str]:
    """What a launch creates, and so must tag: fleets, instances, volumes, ENIs, templates, spot requests."""
    ec2 = _ec2(region)
    kinds = ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    return [f"{ec2}:*:{r}/*" for r in kinds]


def node_lifecycle(cluster: str, region: str) -> list[Statement]:
    """NodeLifecycle: launch, tag and terminate nodes, only on resources tagged as this cluster's."""
    return [
        *_launch_statements(cluster, region),
        *_tagging_statements(cluster, region),
        _deletion_statement(cluster, region),
    ]


def _launch_statements(cluster: str, region: str) -> list[Statement]:
    ec2 = _ec2(region)
    shared = ("image", "snapshot")  # account-less ARNs: AMIs and snapshots may be public
    scoped = ("security-group", "subnet", "capacity-reservation", "placement-group")
    nodepool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    return [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [f"{ec2}::{r}/*" for r in shared] + [f"{ec2}:*:{r}/*" for r in scoped],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": {"StringEquals": _owned(cluster), "StringLike": nodepool},
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": _launched(region),
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {
                "StringEquals": _requested(cluster),
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
    ]


def _tagging_statements(cluster: str, region: str) -> list[Statement]:
    creating = {**_requested(cluster), "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]}
    return [
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": _launched(region),
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": creating,
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{_ec2(region)}:*:instance/*",
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": _owned(cluster),
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
    ]


def _deletion_statement(cluster: str, region: str) -> Statement:
    ec2 = _ec2(region)
    return {
        "Sid": "AllowScopedDeletion",
        "Effect": "Allow",
        "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
        "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
        "Condition": {
            "StringEquals": _owned(cluster),
            "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
        },
    }


def root_volume_key(key_arn: str | None, region: str) -> list[Statement]:
    """Root volumes encrypted with the stack's key: EC2 uses it on the caller's behalf at launch."""
    if key_arn is None:
        return []
    actions = (
        "CreateGrant",
        "Decrypt",
        "DescribeKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
    )
    return [
        {
            "Sid": "AllowRootVolumeEncryptionWithStackKey",
            "Effect": "Allow",
            "Resource": key_arn,
            "Action": [f"kms:{a}" for a in actions],
            "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
        }
    ]


def iam_integration(node_role_arn: str, instance_profile_arn: str) -> list[Statement]:
    """IAMIntegration, narrowed: pass the node role by ARN, read the one instance profile the stack made."""
    return [
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Resource": instance_profile_arn,
            "Action": "iam:GetInstanceProfile",
        },
    ]


# ResourceDiscovery's read-only EC2 calls: they take no resource ARN, so "*" limited to the region.
REGIONAL_READS = (
    "DescribeCapacityReservations",
    "DescribeImages",
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeInstanceTypeOfferings",
    "DescribeInstanceTypes",
    "DescribeLaunchTemplates",
    "DescribePlacementGroups",
    "DescribeSecurityGroups",
    "DescribeSpotPriceHistory",
    "DescribeSubnets",
)


def resource_discovery(p: str, region: str) -> list[Statement]:
    """ResourceDiscovery: regional Describe calls, AMI parameters, prices, instance-profile listing."""
    return [
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [f"ec2:{a}" for a in REGIONAL_READS],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Resource": f"arn:{p}:ssm:{region}::parameter/aws/service/*",
            "Action": "ssm:GetParameter",
        },
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "iam:ListInstanceProfiles",
        },
    ]


def eks_integration(p: str, region: str, account: str, cluster: str) -> list[Statement]:
    """EKSIntegration: read this one cluster's API endpoint."""
    return [
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Resource": f"arn:{p}:eks:{region}:{account}:cluster/{cluster}",
            "Action": "eks:DescribeCluster",
        }
    ]


def interruption(queue_arn: str) -> list[Statement]:
    """Interruption: read and delete the interruption queue's messages."""
    return [
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        }
    ]


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """EventBridge (and SQS itself) may send to the queue; nothing reaches it without TLS."""
    return {
        "Version": "2012-10-17",
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {
                "Sid": "AllowEventBridge",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
