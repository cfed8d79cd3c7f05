"""The GKE control plane: regional, private nodes, Workload Identity, Dataplane V2, Shielded
Nodes, secrets encrypted with our key, managed Prometheus, and a least-privilege node identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec
from ...spec.network import DEFAULT_MAX_PODS_PER_NODE
from ..kubeconfig import secret_kubeconfig
from . import network as net

# Least privilege for nodes (GKE hardening guide): the purpose-made node role plus image pulls.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
LOGGED_COMPONENTS = ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
MONITORED_COMPONENTS = [
    "SYSTEM_COMPONENTS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER",
    "STORAGE", "POD", "DAEMONSET", "DEPLOYMENT", "STATEFULSET",
]  # fmt: skip


@dataclass(frozen=True)
class GkeCluster:
    cluster: gcp.container.Cluster
    node_sa: gcp.serviceaccount.Account
    node_roles: tuple[gcp.projects.IAMMember, ...]


def cluster_args(
    spec: StackSpec,
    project: str,
    secrets_key: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    """Pure: the security- and AI-relevant cluster settings, as plain inputs. ``identity``: the stack's
    (its labels, and the name prefix of a stack without aistack:name); None: as before it existed."""
    prefix = spec.name if identity is None else naming.physical_prefix(spec, identity)
    network = spec.network
    has_gpus = any(p.accelerator.startswith("nvidia-") for p in spec.accelerator_pools)
    monitored = MONITORED_COMPONENTS + (["DCGM"] if has_gpus else [])
    args: dict[str, Any] = {
        "name": naming.gke_cluster_name(prefix),
        "location": spec.region,  # regional control plane: survives a zone outage
        "remove_default_node_pool": True,
        "initial_node_count": 1,
        "networking_mode": "VPC_NATIVE",
        "ip_allocation_policy": {
            "cluster_secondary_range_name": network.pods_range or net.PODS_RANGE,
            "services_secondary_range_name": network.services_range or net.SERVICES_RANGE,
        },
        "release_channel": {"channel": spec.cluster.release_channel.upper()},
        "workload_identity_config": {"workload_pool": f"{project}.svc.id.goog"},
        "private_cluster_config": {
            "enable_private_nodes": True,
            "enable_private_endpoint": spec.cluster.private_endpoint,
            "master_ipv4_cidr_block": net.master_cidr(spec),
            "master_global_access_config": {"enabled": True},
        },
        "master_authorized_networks_config": {
            "cidr_blocks": [
                {"cidr_block": n.cidr, "display_name": n.name or n.cidr} for n in spec.cluster.authorized_networks
            ],
            "gcp_public_cidrs_access_enabled": False,
        },
        "datapath_provider": "ADVANCED_DATAPATH",  # Dataplane V2 enforces NetworkPolicy
        "enable_shielded_nodes": True,
        "database_encryption": {"state": "ENCRYPTED", "key_name": secrets_key}
        if secrets_key is not None
        else {"state": "DECRYPTED"},
        "logging_config": {"enable_components": LOGGED_COMPONENTS},
        "monitoring_config": {"enable_components": monitored, "managed_prometheus": {"enabled": True}},
        "addons_config": {
            "gcs_fuse_csi_driver_config": {"enabled": True},
            "gcp_filestore_csi_driver_config": {"enabled": spec.storage.shared_filesystem.enabled},
            "gce_persistent_disk_csi_driver_config": {"enabled": True},
        },
        # Weekend nights UTC; GKE needs at least 48h of window in 32 days.
        "maintenance_policy": {
            "recurring_window": {
                "start_time": "2026-01-03T01:00:00Z",
                "end_time": "2026-01-03T07:00:00Z",
                "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
            }
        },
        "deletion_protection": spec.data_protection,
        "resource_labels": {
            "managed-by": "aistack",
            "stack": spec.name,
            **(identity.gcp_labels() if identity is not None else {}),
        },
    }
    if network.max_pods_per_node != DEFAULT_MAX_PODS_PER_NODE:  # unset: GKE's default, as before
        args["default_max_pods_per_node"] = network.max_pods_per_node
    if spec.zones:
        args["node_locations"] = list(spec.zones)
    if spec.cluster.kubernetes_version:
        args["min_master_version"] = spec.cluster.kubernetes_version
    return args


def build_cluster(
    name: str,
    spec: StackSpec,
    project: str,
    network: net.GkeNetwork,
    secrets_key: gcp.kms.CryptoKey | None,
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> GkeCluster:
    opts = pulumi.ResourceOptions(parent=parent)
    identity = naming.current_identity()
    prefix = naming.physical_prefix(spec, identity)
    node_sa = gcp.serviceaccount.Account(
        f"{name}-node-sa",
        account_id=naming.gke_node_service_account_id(prefix),
        display_name=naming.gke_node_service_account_display_name(prefix),
        opts=opts,
    )
    roles = tuple(
        gcp.projects.IAMMember(
            f"{name}-node-{role.split('/')[-1]}", project=project, role=role, member=node_sa.member, opts=opts
        )
        for role in NODE_ROLES
    )
    cluster = gcp.container.Cluster(
        f"{name}-gke",
        project=project,
        network=network.network,
        subnetwork=network.subnetwork,
        **cluster_args(spec, project, secrets_key.id if secrets_key is not None else None, identity),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    return GkeCluster(cluster, node_sa, roles)


def kubeconfig(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    """Authenticates with gke-gcloud-auth-plugin."""
    plugin = {
        "command": "gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
        "installHint": "Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin).",
    }
    ca = cluster.master_auth.apply(lambda a: (a.cluster_ca_certificate or "") if a else "")
    return secret_kubeconfig(cluster.name, pulumi.Output.concat("https://", cluster.endpoint), ca, plugin)
