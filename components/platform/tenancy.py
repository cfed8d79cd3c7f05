"""Tenancy: per team a namespace with Pod Security labels, default-deny network policies plus the
allows the platform needs, a quota ceiling, default container limits, RBAC for its groups and the
service account its workloads run as.

Pure functions over the spec and the handle's facts; the Platform component registers what they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from ..handle import EgressPeer, ObjectStore, PoolInventory, TargetHandle
from ..identities import TEAM_SERVICE_ACCOUNT, team_component
from ..spec import StackSpec, TeamSpec

PSS_RESTRICTED = "restricted"
PSS_BASELINE = "baseline"
TEAM_LABEL = "aistack.io/team"  # on everything that belongs to a team; ClusterQueues select namespaces by it
MONITORING_NAMESPACE = "monitoring"
KUBEFLOW_NAMESPACES = ("kubeflow", "istio-system")
LINK_LOCAL = "169.254.0.0/16"  # metadata servers: reachable only through the handle's identity endpoints

# A team's static object-store credentials (targets without workload identity), in the names every
# S3 client reads from the environment (envFrom: secretRef works as is).
OBJECT_STORE_SECRET = "object-store"
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"

# Built-in aggregated roles; with Kubeflow its own roles, which add notebooks, pipelines and jobs.
K8S_ROLES = {"admins": "admin", "editors": "edit", "viewers": "view"}
KUBEFLOW_ROLES = {"admins": "kubeflow-admin", "editors": "kubeflow-edit", "viewers": "kubeflow-view"}


def pod_security_level(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> str:
    """restricted by default; baseline for teams that run on TPU pools.

    GKE's TPU runtime pods need host-level settings the restricted profile forbids, while
    NVIDIA GPU and Neuron workloads run under restricted with the device plugin.
    """
    kinds = {p.kind for p in inventory if team.quotas.get(p.pool)}
    return PSS_BASELINE if "tpu" in kinds else PSS_RESTRICTED


def profiles_enabled(spec: StackSpec) -> bool:
    return spec.kubeflow.enabled and "profiles" in spec.kubeflow.components


def profile_owner(team: TeamSpec) -> dict[str, str]:
    """Kubeflow Profile owner: the team's owner user, else its first admins group, else <team>-admins."""
    if team.owner is not None:
        return {"kind": "User", "name": team.owner}
    return {"kind": "Group", "name": team.admins[0] if team.admins else f"{team.name}-admins"}


def team_namespace(spec: StackSpec, team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, Any]:
    level = pod_security_level(team, inventory)
    meta: dict[str, Any] = {
        "name": team.name,
        "labels": {
            TEAM_LABEL: team.name,
            "app.kubernetes.io/managed-by": "aistack",
            "aistack.io/stack": spec.name,
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/audit": PSS_RESTRICTED,
            "pod-security.kubernetes.io/warn": PSS_RESTRICTED,
        },
    }
    if profiles_enabled(spec):
        # The Profile controller adopts an existing namespace only when this names the profile's owner.
        meta["annotations"] = {"owner": profile_owner(team)["name"]}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def _namespace_peer(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(
    spec: StackSpec, team: TeamSpec, identity: tuple[EgressPeer, ...], store: ObjectStore | None = None
) -> list[dict[str, Any]]:
    """Default deny both ways, then: same namespace, DNS, HTTPS out (cloud APIs, object stores, the API
    server; never the link-local metadata range), the identity endpoint, the object store where it is
    in the cluster or on another port, and ingress from the platform."""
    ns = team.name
    policies = [
        _policy(ns, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            ns,
            "allow-same-namespace",
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            ns,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {**_namespace_peer("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _policy(
            ns,
            "allow-https-egress",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}],
                        # 443: cloud APIs, object stores, managed API servers; 6443: self-managed API servers.
                        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
                    }
                ],
            },
        ),
    ]
    if identity:
        policies.append(
            _policy(
                ns,
                "allow-workload-identity",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": p.cidr}}], "ports": [{"protocol": p.protocol, "port": p.port}]}
                        for p in identity
                    ],
                },
            )
        )
    store_rule = object_store_egress(store)
    if store_rule is not None:
        policies.append(
            _policy(ns, "allow-object-store", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [store_rule]})
        )
    sources = [MONITORING_NAMESPACE] if spec.monitoring.enabled else []
    if spec.kubeflow.enabled and spec.kubeflow.components:
        sources += list(KUBEFLOW_NAMESPACES)
    if sources:
        policies.append(
            _policy(
                ns,
                "allow-from-platform",
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [_namespace_peer(s) for s in sources]}],
                },
            )
        )
    if spec.kubeflow.enabled and spec.kubeflow.components:
        policies.append(
            _policy(
                ns,
                "allow-to-kubeflow",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [_namespace_peer(s) for s in KUBEFLOW_NAMESPACES]}],
                },
            )
        )
    return policies


def quota_hard(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, str]:
    """Namespace ceiling on accelerators: what Kueue could ever admit for the team.

    Kueue enforces the guarantee; this only stops pods that bypass the queue from taking more. A
    team that may borrow can reach every unit of the pools in its resource, so that is the ceiling.
    """
    ceiling: dict[str, int] = {}
    for p in inventory:
        units = p.capacity if team.can_borrow else team.quotas.get(p.pool, 0)
        ceiling[p.resource_name] = ceiling.get(p.resource_name, 0) + units
    return {f"requests.{res}": str(n) for res, n in sorted(ceiling.items())}


def resource_quota(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, Any] | None:
    hard = quota_hard(team, inventory)
    if not hard:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "accelerators", "namespace": team.name},
        "spec": {"hard": hard},
    }


def limit_range(team: TeamSpec) -> dict[str, Any]:
    """Defaults for containers that state no resources, so every pod is accountable to a queue."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "container-defaults", "namespace": team.name},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                    "default": {"cpu": "2", "memory": "8Gi"},
                }
            ]
        },
    }


def role_bindings(spec: StackSpec, team: TeamSpec) -> list[dict[str, Any]]:
    roles = KUBEFLOW_ROLES if profiles_enabled(spec) else K8S_ROLES
    out = []
    for field, role in roles.items():
        groups: tuple[str, ...] = getattr(team, field)
        if not groups:
            continue
        out.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"aistack-{field}", "namespace": team.name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups],
            }
        )
    return out


def service_account(
    name: str, namespace: str, component: str, annotations: Mapping[str, pulumi.Input[str]]
) -> dict[str, Any]:
    """A workload's service account, bound to its cloud identity by the target's annotations (if any)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"aistack.io/workload-identity": component},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def object_store_egress(store: ObjectStore | None) -> dict[str, Any] | None:
    """An egress rule for the object store when the HTTPS rule does not already cover it."""
    if store is None:
        return None
    port = [{"protocol": "TCP", "port": store.port}]
    if store.namespace is not None:
        return {"to": [_namespace_peer(store.namespace)], "ports": port}
    if store.port in (443, 6443):
        return None
    return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}], "ports": port}


def credentials_secret(team: TeamSpec, store: ObjectStore | None) -> dict[str, Any] | None:
    """The team's copy of the store's static credentials (Secrets cannot be read across namespaces).
    Values stay Pulumi secrets; None where pods use their cloud identity instead."""
    if store is None or store.credentials is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": OBJECT_STORE_SECRET, "namespace": team.name, "labels": {TEAM_LABEL: team.name}},
        "type": "Opaque",
        "stringData": {
            ACCESS_KEY_ID: store.credentials.access_key_id,
            SECRET_ACCESS_KEY: store.credentials.secret_access_key,
        },
    }


def team_objects(spec: StackSpec, team: TeamSpec, handle: TargetHandle) -> list[dict[str, Any]]:
    """Everything inside one team's namespace (the namespace itself excluded)."""
    inventory = handle.inventory
    objs: list[dict[str, Any]] = [*network_policies(spec, team, handle.identity_endpoints, handle.object_store)]
    secret = credentials_secret(team, handle.object_store)
    if secret is not None:
        objs.append(secret)
    quota = resource_quota(team, inventory)
    if quota is not None:
        objs.append(quota)
    objs.append(limit_range(team))
    objs += role_bindings(spec, team)
    component = team_component(team.name)
    objs.append(
        service_account(
            TEAM_SERVICE_ACCOUNT, team.name, component, handle.service_account_annotations.get(component, {})
        )
    )
    return objs
