"""On-prem target layer: an existing conformant cluster, reached through a kubeconfig.

Nothing here creates machines. The target marks the existing accelerator nodes (labels and
taints, by server-side apply), provides volumes (an existing class or local-path), a shared
filesystem (NFS CSI against the site's export), object storage (an existing S3 endpoint or
SeaweedFS in the cluster) and, optionally, MetalLB, and hands the platform the same handle as
the clouds. One file per concern; this class only composes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s

from ...charts import install_chart, system_namespace
from ...handle import (
    NvidiaStack,
    ObjectStore,
    PoolInventory,
    StaticCredentials,
    TargetHandle,
    accelerator_inventory,
)
from ...images import pull, rewrite
from ...images.charts import PULL_SECRET
from ...objects import register
from ...sources import manifest_file
from ...spec import StackSpec
from ...spec.loader import NAMESPACE as CONFIG_NAMESPACE
from ...spec.loader import OBJECT_STORE_CREDENTIALS
from ..base import Target
from . import metallb, nodes, object_store, storage
from .nodes import ClusterNodes, NodeSource
from .storage import LOCAL_PATH_NAMESPACE


def kubeconfig_input(value: str | None) -> pulumi.Input[str] | None:
    """A kubeconfig given inline is content and becomes a secret; otherwise it is a path (~ expanded)."""
    if value is None:
        return None
    if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
        return pulumi.Output.secret(value)
    return os.path.expanduser(value)


def cluster_nodes(spec: StackSpec) -> NodeSource:
    return ClusterNodes(spec.cluster.kubeconfig, spec.cluster.context)


# How the target reads existing nodes. The offline planner swaps in ``nodes.OfflineNodes``.
node_source: Callable[[StackSpec], NodeSource] = cluster_nodes


def stack_credentials() -> StaticCredentials:
    """The object-store key pair from secret config (the spec rules made sure both are set)."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    key_id, secret = (config.require_secret(k) for k in OBJECT_STORE_CREDENTIALS)
    return StaticCredentials(access_key_id=key_id, secret_access_key=secret)


def upstream_keys(spec: StackSpec) -> list[str]:
    """The pinned upstreams (components/versions.py) this target installs for the spec."""
    keys: list[str] = []
    if spec.target != "onprem":
        return keys
    if spec.onprem.volumes == "local-path":
        keys.append("local-path-provisioner")
    if spec.storage.shared_filesystem.enabled and spec.storage.shared_filesystem.nfs_server is not None:
        keys.append("csi-driver-nfs")
    if spec.onprem.object_store.kind == "seaweedfs":
        keys.append("seaweedfs")
    if spec.onprem.metallb.addresses:
        keys.append("metallb")
    return keys


def onprem_handle(spec: StackSpec, provider: k8s.Provider, store: ObjectStore | None) -> TargetHandle:
    """On-prem facts for the platform: the spec's pools, the chosen classes and store, and no NVIDIA
    software assumed on the hosts (the GPU Operator brings driver, toolkit, device plugin and DCGM)."""
    return TargetHandle(
        provider=provider,
        inventory=accelerator_inventory(spec),
        storage=storage.storage_classes(spec),
        object_store=store,
        nvidia=NvidiaStack(),
    )


class OnPremTarget(Target):
    """Children: ``{name}-k8s`` (provider), ``{name}-labels-node-*`` and ``{name}-taints-node-*`` (NodePatch),
    and, as the spec asks, ``{name}-local-path``, ``{name}-nfs-csi``, ``{name}-seaweedfs`` and ``{name}-metallb``.

    Outputs: ``provider``, ``nodes`` (pool → patched node names), ``object_store_endpoint``.
    """

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("OnPremTarget", name, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig_input(spec.cluster.kubeconfig),
            context=spec.cluster.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._name = name
        self._spec = spec
        inventory = accelerator_inventory(spec)
        self.nodes = self._mark_nodes(spec, inventory, node_source(spec))
        self._volumes(spec)
        store = self._object_store(spec)
        if spec.onprem.metallb.addresses:
            self._metallb(spec)
        self.handle = onprem_handle(spec, self.provider, store)
        self.register_outputs(
            {
                "provider": self.provider,
                "nodes": self.nodes,
                "object_store_endpoint": store.endpoint if store else None,
            }
        )

    # ------------------------------------------------------------------ helpers

    def _opts(self, depends_on: Sequence[pulumi.Resource] = (), **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=list(depends_on), **extra)  # type: ignore[arg-type]

    def _components(self, depends_on: Sequence[pulumi.Resource] = (), **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, providers=[self.provider], depends_on=list(depends_on), **extra)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ concerns

    def _mark_nodes(
        self, spec: StackSpec, inventory: Sequence[PoolInventory], source: NodeSource
    ) -> dict[str, list[str]]:
        marked: dict[str, list[str]] = {}
        for pool_spec, pool in zip(spec.accelerator_pools, inventory, strict=True):
            found = nodes.pool_nodes(pool_spec, source)
            if pool_spec.node_selector and source.offline:
                pulumi.log.warn(
                    f"pool '{pool.pool}': nodes matching {dict(pool_spec.node_selector)} are found at deploy time; "
                    "the offline plan shows only the pool's named nodes."
                )
            elif not found:
                raise pulumi.RunError(
                    f"pool '{pool.pool}': no node matches (nodes {list(pool_spec.nodes)}, selector "
                    f"{dict(pool_spec.node_selector)}). To fix: label the machines or correct the pool's nodes."
                )
            marked[pool.pool] = [n.name for n in found]
            for role, patch in nodes.node_patches(pool, found):
                # The taint list is atomic (see nodes.py): keep it on destroy rather than strip others' taints.
                register(f"{self._name}-{role}", patch, self._opts(retain_on_delete=role == "taints"), patch=True)
        return marked

    def _pull_secrets(self, spec: StackSpec, namespaces: list[str], after: pulumi.Resource | None = None) -> None:
        """The site registry's pull secret (upstream.image_pull_secret) in each namespace, once it exists."""
        content = pull.pull_content(spec)
        for ns in namespaces if content is not None else []:
            register(self._name, pull.pull_secret(ns, content), self._opts([after] if after else []))

    def _volumes(self, spec: StackSpec) -> None:
        if not spec.upstream.install:
            return
        if spec.onprem.volumes == "local-path":
            registry = spec.upstream.image_registry
            pulls = PULL_SECRET if spec.upstream.image_pull_secret is not None else None
            local_path = k8s.yaml.v2.ConfigFile(
                f"{self._name}-local-path",
                file=manifest_file("local-path-provisioner", spec.upstream),
                # Air-gapped: its images (the provisioner's and its helper pod's) under the site registry.
                opts=pulumi.ResourceOptions.merge(
                    self._components(),
                    pulumi.ResourceOptions(transforms=rewrite.transform(registry, pulls) if registry else None),
                ),
            )
            self._pull_secrets(spec, [LOCAL_PATH_NAMESPACE], local_path)
        fs = spec.storage.shared_filesystem
        if fs.enabled and fs.nfs_server is not None:
            self._pull_secrets(spec, [storage.NFS_NAMESPACE])  # kube-system: there already
            install_chart(
                f"{self._name}-nfs-csi",
                "csi-driver-nfs",
                storage.NFS_NAMESPACE,
                storage.nfs_values(spec),
                spec,
                self._components(),
                release="csi-driver-nfs",
            )

    def _object_store(self, spec: StackSpec) -> ObjectStore | None:
        kind = spec.onprem.object_store.kind
        if kind == "none":
            return None
        credentials = stack_credentials()
        if kind == "seaweedfs":
            ns = register(
                self._name,
                system_namespace(object_store.NAMESPACE, "baseline", spec),
                self._opts(retain_on_delete=spec.data_protection),
            )
            secret = register(self._name, object_store.config_secret(credentials), self._opts([ns]))
            self._pull_secrets(spec, [object_store.NAMESPACE], ns)
            classes = storage.storage_classes(spec)
            install_chart(
                f"{self._name}-seaweedfs",
                "seaweedfs",
                object_store.NAMESPACE,
                object_store.seaweedfs_values(spec, classes.default),
                spec,
                # Its volumes hold the stack's data: protected (children inherit it) and kept on delete.
                self._components([ns, secret], protect=spec.data_protection, retain_on_delete=spec.data_protection),
                release=object_store.RELEASE,
                include_hooks=True,  # the chart creates the buckets in a post-install Job
            )
        return object_store.object_store(spec, credentials)

    def _metallb(self, spec: StackSpec) -> None:
        ns = register(self._name, system_namespace(metallb.NAMESPACE, "privileged", spec), self._opts())
        self._pull_secrets(spec, [metallb.NAMESPACE], ns)
        chart = install_chart(
            f"{self._name}-metallb",
            "metallb",
            metallb.NAMESPACE,
            metallb.metallb_values(),
            spec,
            self._components([ns]),
            release="metallb",
        )
        for obj in metallb.address_pool(spec):
            register(self._name, obj, self._opts([ns, *([chart] if chart else [])]))
