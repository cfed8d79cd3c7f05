"""EKS target layer: a private, secure EKS cluster whose GPU, Trainium and Inferentia nodes
Karpenter launches when a pod needs them.

One file per concern (network, cluster, nodegroups, karpenter, storage, identity, iam); this class
only composes them and hands the platform the same uniform handle as every other target.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ... import naming
from ...handle import (
    EgressPeer,
    NvidiaStack,
    ObjectStore,
    PoolInventory,
    StorageClasses,
    StorageClassSpec,
    TargetHandle,
    accelerator_inventory,
)
from ...spec import StackSpec
from ..base import Target
from .cluster import build_cluster, kubeconfig
from .identity import build_identities
from .karpenter import build_karpenter_cloud, install_karpenter
from .network import build_network
from .nodegroups import build_node_groups
from .storage import EksStorage, build_storage

DEFAULT_AZ_COUNT = 3


def availability_zones(spec: StackSpec) -> list[str]:
    if spec.network.vpc_id is not None:
        return []  # an existing VPC: its subnets' zones
    if spec.zones:
        return list(spec.zones)
    names = aws.get_availability_zones(state="available", region=spec.region).names
    return list(names)[:DEFAULT_AZ_COUNT]


def upstream_keys(spec: StackSpec) -> list[str]:
    """The pinned upstreams (components/versions.py) this target installs for the spec: Karpenter."""
    return ["karpenter"] if spec.target == "aws" else []


# EKS Pod Identity agent: a node-local endpoint pods fetch credentials from.
POD_IDENTITY_AGENT = EgressPeer("169.254.170.23/32", 80, "EKS Pod Identity agent")


def eks_handle(
    spec: StackSpec,
    provider: k8s.Provider,
    inventory: tuple[PoolInventory, ...],
    key: aws.kms.Key | None,
    storage: EksStorage,
) -> TargetHandle:
    """EKS facts for the platform: EBS gp3 (KMS) as default class, EFS access points as RWX, S3, Pod Identity."""
    create = []
    default = spec.storage.default_storage_class
    if default is None:
        default = "gp3"
        params: dict[str, pulumi.Input[str]] = {"type": "gp3", "encrypted": "true"}
        if key is not None:
            params["kmsKeyId"] = key.arn
        create.append(StorageClassSpec("gp3", "ebs.csi.aws.com", params))
    fs = storage.filesystem
    shared = None
    if isinstance(fs, aws.efs.FileSystem):
        shared = "efs"
        efs_params: dict[str, pulumi.Input[str]] = {
            "provisioningMode": "efs-ap",
            "fileSystemId": fs.id,
            "directoryPerms": "700",
        }
        create.append(StorageClassSpec("efs", "efs.csi.aws.com", efs_params, rwx=True))
    elif fs is not None:
        # FSx for Lustre is one filesystem made by the target; it is mounted through a static volume,
        # so there is no dynamic class to create (the FSx CSI driver's class would create new filesystems).
        shared = "fsx-lustre"
    return TargetHandle(
        provider=provider,
        inventory=inventory,
        storage=StorageClasses(default=default, shared=shared, create=tuple(create)),
        object_store=ObjectStore(
            kind="s3",
            endpoint=f"https://s3.{spec.region}.amazonaws.com",
            region=spec.region,
            buckets={p: b.bucket.apply(lambda n: f"s3://{n}") for p, b in storage.buckets.items()},
        ),
        # Pod Identity binds roles to service accounts by association; no annotation is needed.
        service_account_annotations={},
        identity_endpoints=(POD_IDENTITY_AGENT,),
        # AL2023 NVIDIA AMIs ship the driver and container toolkit; device plugin and DCGM come from the platform.
        nvidia=NvidiaStack(driver=True, toolkit=True),
    )


class EksTarget(Target):
    """Children: the VPC and its subnets/NAT/S3 endpoint, ``{name}-kms`` (customer-managed keys),
    ``{name}-eks`` with its add-ons, ``{name}-system`` and a fixed node group per pool floor
    (min_nodes > 0), Karpenter (IAM, interruption queue, chart, one NodePool and EC2NodeClass per
    autoscaled pool), hardened buckets, an optional EFS/FSx filesystem, Pod Identity roles, and
    ``{name}-k8s``."""

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EksTarget", name, opts)
        inventory = accelerator_inventory(spec)
        azs = availability_zones(spec)
        self.network = build_network(name, spec, azs, self)
        subnet_ids: list[pulumi.Input[str]] = list(self.network.private_subnet_ids)
        self.key = None
        if spec.security.customer_managed_keys:
            self.key = aws.kms.Key(
                f"{name}-kms",
                description=f"{spec.name}: EKS secrets, S3, EBS and shared filesystem",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags={"managed-by": "aistack", "stack": spec.name, **naming.current_identity().tags()},
                opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
            )
        self.eks = build_cluster(name, spec, self.network, self.key, self)
        self.cluster = self.eks.cluster
        self.node_role, self.node_groups = build_node_groups(name, spec, self.cluster, self.network, inventory, self)
        self.karpenter = build_karpenter_cloud(name, spec, self.cluster, self.key, self)
        self.storage = build_storage(name, spec, self.key, subnet_ids, self)
        if isinstance(self.storage.filesystem, aws.efs.FileSystem):
            cluster_sg = self.cluster.vpc_config.cluster_security_group_id
            for i, subnet_id in enumerate(self.network.private_subnet_ids):
                aws.efs.MountTarget(
                    f"{name}-efs-{i}",
                    file_system_id=self.storage.filesystem.id,
                    subnet_id=subnet_id,
                    security_groups=[cluster_sg],
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.identities = build_identities(name, spec, self.cluster, self.storage.buckets, self)

        self.kubeconfig = kubeconfig(self.cluster, spec.region)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.node_groups["system"], *self.eks.addons.values()]
            ),
        )
        self.karpenter_chart, self.karpenter_pools = install_karpenter(
            name, spec, self.provider, self.karpenter, self.cluster, inventory, self.key, self, self.network
        )
        self.handle = eks_handle(spec, self.provider, inventory, self.key, self.storage)
        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "endpoint": self.cluster.endpoint,
                "kubeconfig": self.kubeconfig,
                "buckets": {p: b.bucket for p, b in self.storage.buckets.items()},
            }
        )
