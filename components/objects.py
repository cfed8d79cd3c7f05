"""Plain Kubernetes objects (dicts) → Pulumi resources.

The platform decides in pure functions that return manifests as plain dicts, so they can be
validated strictly against the Kubernetes schema and the upstream CRDs, diffed across targets,
and written out by ``aistack manifests``. This module is the only place that turns them into
registered resources: built-in kinds through their typed pulumi-kubernetes classes, custom
resources through ``CustomResource``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

K8sObject = Mapping[str, Any]

# (apiVersion, kind) → typed class. Only kinds the platform emits; anything else is a custom resource.
_BUILTIN: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("storage.k8s.io/v1", "StorageClass"): k8s.storage.v1.StorageClass,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
}


def object_key(obj: K8sObject) -> str:
    """Stable, readable logical name: kind-namespace-name (cluster-scoped objects skip the namespace)."""
    meta = obj["metadata"]
    parts = [obj["kind"].lower(), meta.get("namespace"), meta["name"]]
    return "-".join(p for p in parts if p)


# Objects another installer owns, which the platform only adds fields to (server-side apply patches).
_PATCH: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccountPatch,
    ("v1", "Node"): k8s.core.v1.NodePatch,
}


class KubernetesObject(pulumi.CustomResource):
    """An object of a custom kind, registered exactly as written (top-level fields included).

    ``CustomResource`` only carries ``spec``; kinds such as Kueue's WorkloadPriorityClass keep
    their data at the top level (``value``, ``description``), so they need the whole body.
    """

    def __init__(self, resource_name: str, obj: K8sObject, opts: pulumi.ResourceOptions) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s_version()))
        super().__init__(f"kubernetes:{obj['apiVersion']}:{obj['kind']}", resource_name, dict(obj), opts)


@functools.cache
def k8s_version() -> str:
    """The pulumi-kubernetes provider version matching the installed SDK, as its own classes request.

    Cached: reading package metadata scans the installed distributions, once per custom resource otherwise.
    """
    return str(importlib.metadata.version("pulumi_kubernetes"))


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def register(
    prefix: str, obj: K8sObject, opts: pulumi.ResourceOptions, *, patch: bool = False
) -> pulumi.CustomResource:
    """Register one object as a Pulumi resource named ``{prefix}-{kind}-{namespace}-{name}``.

    ``patch``: the object exists already (another installer created it); only the given fields are
    applied, under aistack's own field manager, and deleting the stack removes only those fields.
    """
    name = f"{prefix}-{object_key(obj)}"
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    cls = (_PATCH if patch else _BUILTIN).get((obj["apiVersion"], obj["kind"]))
    if cls is not None:
        # Typed classes take top-level fields as Python keywords (roleRef -> role_ref); nested dicts
        # keep the Kubernetes spelling.
        return cls(name, opts=opts, **{_snake(k): v for k, v in body.items()})
    return KubernetesObject(name, obj, opts)
