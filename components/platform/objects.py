"""Plain Kubernetes objects (dicts) → Pulumi resources.

The platform decides in pure functions that return manifests as plain dicts, so they can be
validated strictly against the Kubernetes schema and the upstream CRDs, diffed across targets,
and written out by ``aistack manifests``. This module is the only place that turns them into
registered resources: built-in kinds through their typed pulumi-kubernetes classes, custom
resources through ``CustomResource``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

K8sObject = Mapping[str, Any]

# (apiVersion, kind) → typed class. Only kinds the platform emits; anything else is a custom resource.
_BUILTIN: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
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


def register(prefix: str, obj: K8sObject, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register one object as a Pulumi resource named ``{prefix}-{kind}-{namespace}-{name}``."""
    name = f"{prefix}-{object_key(obj)}"
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    cls = _BUILTIN.get((obj["apiVersion"], obj["kind"]))
    if cls is not None:
        return cls(name, opts=opts, **body)
    return k8s.apiextensions.CustomResource(name, api_version=obj["apiVersion"], kind=obj["kind"], opts=opts, **body)
