"""Before the platform goes: what its controllers created outside Pulumi's state, and what would get stuck.

Pure decisions over objects as the API server returns them (JSON dicts); aistack/teardown/kube.py lists and
deletes them. Drained in this order, each while the controllers that clean up after it still run:

1. Kueue Workloads and the jobs that own them (a Job, a TrainJob): their pods release GPU nodes and quota.
2. Services of type LoadBalancer, Ingresses and Gateways: the cloud's load balancers (and their ENIs and
   security groups) are deleted by the controller that made them, which a VPC's deletion otherwise trips
   over (terraform-aws-modules/terraform-aws-eks#1267, hashicorp/terraform-provider-kubernetes#437).
3. Kubeflow Profiles: the profile controller owns each Profile's namespace (ownerReference), so deleting a
   Profile deletes its namespace. Under data_protection a namespace holding claims is first released from
   its Profile (the ownerReference removed), so the volumes inside survive.
4. PersistentVolumeClaims, once nothing mounts them (what runs the pods that do is scaled to zero or
   deleted: ``pod_controllers``); the CSI driver deletes their volumes. Under data_protection they are kept
   and listed, never deleted.
5. Karpenter NodeClaims, last: each is gone only when its instance is terminated (karpenter.sh/termination).

Then what is still there after the bounded wait is *stuck*: reported with the object, the finalizer that
holds it and the controller that owns that finalizer. Admission webhooks that would refuse a deletion
(``failurePolicy: Fail`` and nothing behind their Service) are reported the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class DrainKind:
    """One kind the drain deletes: API group and kind, how it is shown, which objects of it count."""

    key: str
    group: str
    kind: str
    label: str
    namespaced: bool = True
    select: Callable[[Obj], bool] = lambda _o: True


def _load_balancer(o: Obj) -> bool:
    return (o.get("spec") or {}).get("type") == "LoadBalancer"


WORKLOADS = DrainKind("workload", "kueue.x-k8s.io", "Workload", "Kueue Workload")
LOAD_BALANCERS = DrainKind("loadbalancer", "", "Service", "Service type LoadBalancer", select=_load_balancer)
INGRESSES = DrainKind("ingress", "networking.k8s.io", "Ingress", "Ingress")
GATEWAYS = DrainKind("gateway", "gateway.networking.k8s.io", "Gateway", "Gateway")
PROFILES = DrainKind("profile", "kubeflow.org", "Profile", "Kubeflow Profile", namespaced=False)
CLAIMS = DrainKind("pvc", "", "PersistentVolumeClaim", "PersistentVolumeClaim")
NODECLAIMS = DrainKind("nodeclaim", "karpenter.sh", "NodeClaim", "Karpenter NodeClaim", namespaced=False)
# Phases, in the order above: each waits for the previous one's objects to be gone.
PHASES: tuple[tuple[DrainKind, ...], ...] = (
    (WORKLOADS,),
    (LOAD_BALANCERS, INGRESSES, GATEWAYS),
    (PROFILES,),
    (CLAIMS,),
    (NODECLAIMS,),
)
KINDS = tuple(k for phase in PHASES for k in phase)

# Who removes a finalizer, for those whose owner the name does not say. Sources: Kubernetes' own
# (kubernetes.io/pvc-protection, pv-protection: pkg/controller/volume/*protection; service.kubernetes.io/
# load-balancer-cleanup: staging/src/k8s.io/cloud-provider/controllers/service; foregroundDeletion/orphan:
# the garbage collector; batch.kubernetes.io/job-tracking: the Job controller), the CSI external-provisioner
# (external-provisioner.volume.kubernetes.io/finalizer), Karpenter (karpenter.sh/termination), the AWS Load
# Balancer Controller (service.k8s.aws/resources, ingress.k8s.aws/resources, elbv2.k8s.aws/resources),
# GKE's Ingress controller (networking.gke.io/ingress-finalizer-V2), Kueue (kueue.x-k8s.io/*) and
# Kubeflow's profile controller (profile-finalizer: components/profile-controller/controllers).
FINALIZER_CONTROLLERS: tuple[tuple[str, str], ...] = (
    ("kubernetes.io/pvc-protection", "kube-controller-manager (pvc-protection: a pod still mounts the claim)"),
    ("kubernetes.io/pv-protection", "kube-controller-manager (pv-protection: the volume is still bound)"),
    (
        "service.kubernetes.io/load-balancer-cleanup",
        "the cloud provider's service controller (cloud-controller-manager)",
    ),
    ("foregroundDeletion", "kube-controller-manager (garbage collector: dependents not yet deleted)"),
    ("orphan", "kube-controller-manager (garbage collector)"),
    ("batch.kubernetes.io/job-tracking", "kube-controller-manager (Job controller)"),
    ("external-provisioner.volume.kubernetes.io/", "the CSI driver's external-provisioner"),
    ("karpenter.sh/", "Karpenter"),
    ("service.k8s.aws/", "AWS Load Balancer Controller"),
    ("ingress.k8s.aws/", "AWS Load Balancer Controller"),
    ("elbv2.k8s.aws/", "AWS Load Balancer Controller"),
    ("networking.gke.io/", "GKE's Ingress controller"),
    ("kueue.x-k8s.io/", "Kueue"),
    ("profile-finalizer", "Kubeflow's profile controller"),
    ("kubernetes", "kube-controller-manager (namespace controller)"),
)
# A namespace's own conditions say why it stays Terminating (pkg/controller/namespace/deletion).
NAMESPACE_CONDITIONS = (
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
)
# The API server's words when a webhook refuses or cannot be reached (apiserver/pkg/admission/plugin/webhook).
_WEBHOOK_IN_MESSAGE = re.compile(r'(?:failed calling webhook|admission webhook) "([^"]+)"')


def meta(o: Obj) -> Mapping[str, Any]:
    return o.get("metadata") or {}


def where(o: Obj) -> str:
    """``kind namespace/name`` (``kind name`` for cluster-scoped objects)."""
    m = meta(o)
    ns = m.get("namespace")
    return f"{o.get('kind', '?')} {ns}/{m.get('name')}" if ns else f"{o.get('kind', '?')} {m.get('name')}"


def deleting(o: Obj) -> bool:
    return bool(meta(o).get("deletionTimestamp"))


# ------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Release:
    """A namespace to release from its Profile before the Profile goes (data_protection, claims inside)."""

    namespace: str
    profile: str


@dataclass
class DrainPlan:
    """What the drain deletes per phase, what it keeps (and why), what it first releases."""

    delete: list[list[Obj]] = field(default_factory=list)  # per phase, in PHASES order
    owners: list[dict[str, Any]] = field(default_factory=list)  # (apiVersion, kind, namespace, name) of jobs
    pods: list[Obj] = field(default_factory=list)  # pods mounting a claim that is deleted
    kept: list[tuple[Obj, str]] = field(default_factory=list)
    release: list[Release] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(self.delete) and not self.owners and not self.release


def _owner_jobs(workloads: Iterable[Obj]) -> list[dict[str, Any]]:
    """The objects that own Kueue Workloads (a Job, a TrainJob): deleting only the Workload makes Kueue
    create it again for its still-running owner."""
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for w in workloads:
        for ref in meta(w).get("ownerReferences") or []:
            key = (ref["apiVersion"], ref["kind"], meta(w).get("namespace", ""), ref["name"])
            found[key] = {"apiVersion": key[0], "kind": key[1], "namespace": key[2], "name": key[3]}
    return list(found.values())


def _mounts(pod: Obj) -> set[str]:
    vols = (pod.get("spec") or {}).get("volumes") or []
    return {v["persistentVolumeClaim"]["claimName"] for v in vols if v.get("persistentVolumeClaim")}


def _profile_owner(namespace: Obj) -> str | None:
    for ref in meta(namespace).get("ownerReferences") or []:
        if ref.get("kind") == "Profile" and str(ref.get("apiVersion", "")).startswith("kubeflow.org/"):
            return str(ref["name"])
    return None


def plan_drain(
    listing: Mapping[str, Sequence[Obj]],
    *,
    data_protection: bool,
    namespaces: Sequence[Obj] = (),
    pods: Sequence[Obj] = (),
) -> DrainPlan:
    """The drain for objects as listed (``listing``: DrainKind.key → objects of that kind).

    Objects already being deleted are waited on, not deleted again. Under ``data_protection`` claims are
    kept, and every namespace that holds one and belongs to a Profile is released from it first."""
    plan = DrainPlan()
    claims = [c for c in listing.get(CLAIMS.key, ()) if CLAIMS.select(c)]
    for phase in PHASES:
        chosen: list[Obj] = []
        for kind in phase:
            objs = [o for o in listing.get(kind.key, ()) if kind.select(o)]
            if kind is CLAIMS and data_protection:
                plan.kept += [(c, "data_protection: claims and their volumes are kept") for c in objs]
                continue
            chosen += objs
        plan.delete.append(chosen)
    plan.owners = _owner_jobs(listing.get(WORKLOADS.key, ()))
    if data_protection:
        holding = {meta(c).get("namespace") for c in claims}
        for ns in namespaces:
            owner = _profile_owner(ns)
            if owner is not None and meta(ns).get("name") in holding:
                plan.release.append(Release(str(meta(ns)["name"]), owner))
    else:
        wanted = {(meta(c).get("namespace"), meta(c).get("name")) for c in claims}
        plan.pods = [p for p in pods if any((meta(p).get("namespace"), n) in wanted for n in _mounts(p))]
    return plan


def volumes_of(claims: Iterable[Obj], volumes: Iterable[Obj]) -> list[Obj]:
    """The volumes bound to ``claims`` that go with them (reclaim policy Delete): the CSI driver deletes
    them after the claim, so the drain waits for those too."""
    bound = {(meta(c).get("namespace"), meta(c).get("name")) for c in claims}
    out: list[Obj] = []
    for v in volumes:
        ref = (v.get("spec") or {}).get("claimRef") or {}
        if (ref.get("namespace"), ref.get("name")) in bound and (v.get("spec") or {}).get(
            "persistentVolumeReclaimPolicy"
        ) == "Delete":
            out.append({**v, "kind": "PersistentVolume", "apiVersion": "v1"})
    return out


# Controllers that stop their pods when scaled to zero; any other owner (a Job, a DaemonSet, a custom kind) is
# deleted instead, and a pod without one is deleted itself.
SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})


def _controller(o: Obj) -> Mapping[str, Any] | None:
    return next((r for r in meta(o).get("ownerReferences") or [] if r.get("controller")), None)


def pod_controllers(pods: Iterable[Obj], replicasets: Iterable[Obj]) -> list[dict[str, Any]]:
    """What keeps each pod of ``pods`` running, to stop before its claim can go (pvc-protection holds a claim
    while a pod mounts it, and a controller makes a deleted pod again): a ReplicaSet's Deployment, else the
    pod's own controller, else the pod. (apiVersion, kind, namespace, name) each, once."""
    rs_owner = {(meta(r).get("namespace"), meta(r).get("name")): _controller(r) for r in replicasets}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pod in pods:
        ns = str(meta(pod).get("namespace", ""))
        ref = _controller(pod)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            ref = rs_owner.get((ns, ref.get("name"))) or ref
        if ref is None:
            ref = {"apiVersion": pod.get("apiVersion", "v1"), "kind": "Pod", "name": meta(pod).get("name")}
        key = (str(ref["kind"]), ns, str(ref["name"]))
        found[key] = {"apiVersion": ref.get("apiVersion", "v1"), "kind": key[0], "namespace": ns, "name": key[2]}
    return list(found.values())


def retained_volumes(volumes: Iterable[Obj]) -> list[tuple[Obj, str]]:
    """Volumes whose reclaim policy keeps them (and their disk) after their claim: made under data_protection."""
    out: list[tuple[Obj, str]] = []
    for v in volumes:
        if (v.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Retain":
            ref = (v.get("spec") or {}).get("claimRef") or {}
            claim = f"claim {ref.get('namespace')}/{ref.get('name')}" if ref else "no claim"
            why = f"reclaim policy Retain, {claim}: its data stays; to release it, delete the PV and its disk by hand"
            out.append(({**v, "kind": "PersistentVolume"}, why))
    return out


# ------------------------------------------------------------------ what is stuck, and whose it is


def finalizer_fields_manager(o: Obj, finalizer: str) -> str | None:
    """The field manager that set ``finalizer`` (managedFields: the entry whose fieldsV1 holds it)."""
    key = f'v:"{finalizer}"'
    for entry in meta(o).get("managedFields") or []:
        finalizers = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:finalizers") or {}
        if key in finalizers:
            return str(entry.get("manager", "?"))
    return None


def controller_of(o: Obj, finalizer: str) -> str:
    """Who should remove ``finalizer`` from ``o``: the known owner of that finalizer, else the field
    manager that added it, else the object's controlling owner; 'unknown' when nothing says."""
    for prefix, controller in FINALIZER_CONTROLLERS:
        if finalizer == prefix or (prefix.endswith("/") and finalizer.startswith(prefix)):
            return controller
    manager = finalizer_fields_manager(o, finalizer)
    if manager is not None:
        return f"{manager} (the field manager that added it)"
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"the controller of its owner {ref.get('kind')} {ref.get('name')}"
    return "unknown (no known controller, field manager or owner for this finalizer)"


@dataclass(frozen=True)
class Stuck:
    """One object that would not go, and why."""

    what: str  # kind namespace/name
    finalizers: tuple[str, ...]
    controllers: tuple[str, ...]
    detail: str = ""

    def line(self) -> str:
        held = ", ".join(f"{f} (owned by {c})" for f, c in zip(self.finalizers, self.controllers, strict=True))
        text = f"{self.what}: held by finalizer {held}" if held else f"{self.what}: {self.detail}"
        return text if not held or not self.detail else f"{text}; {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "object": self.what,
            "finalizers": [
                {"finalizer": f, "controller": c} for f, c in zip(self.finalizers, self.controllers, strict=True)
            ],
            "detail": self.detail,
        }


def stuck_objects(objs: Iterable[Obj]) -> list[Stuck]:
    """Objects that are being deleted but are still there: each finalizer with its controller."""
    out = []
    for o in objs:
        if not deleting(o):
            continue
        finalizers = tuple(str(f) for f in meta(o).get("finalizers") or [])
        out.append(
            Stuck(
                where(o),
                finalizers,
                tuple(controller_of(o, f) for f in finalizers),
                "" if finalizers else "being deleted, no finalizer left (the API server has not removed it yet)",
            )
        )
    return out


def terminating_namespaces(namespaces: Iterable[Obj]) -> list[Stuck]:
    """Namespaces stuck Terminating, with what their own conditions say (and the namespace finalizers)."""
    out = []
    for ns in namespaces:
        if (ns.get("status") or {}).get("phase") != "Terminating":
            continue
        said = [
            f"{c['type']}: {c.get('message', '')}"
            for c in (ns.get("status") or {}).get("conditions") or []
            if c.get("type") in NAMESPACE_CONDITIONS and c.get("status") == "True"
        ]
        finalizers = tuple(str(f) for f in (ns.get("spec") or {}).get("finalizers") or [])
        finalizers += tuple(str(f) for f in meta(ns).get("finalizers") or [])
        detail = "; ".join(said) or "Terminating"
        out.append(
            Stuck(
                f"Namespace {meta(ns).get('name')}", finalizers, tuple(controller_of(ns, f) for f in finalizers), detail
            )
        )
    return out


# ------------------------------------------------------------------ webhooks


@dataclass(frozen=True)
class Webhook:
    """An admission webhook that refuses deletions: its configuration, its name, why it fails."""

    configuration: str  # kind name
    name: str
    service: str
    reason: str

    def line(self) -> str:
        return (
            f"{self.configuration}, webhook {self.name} (failurePolicy Fail, service {self.service}): {self.reason}; "
            "it refuses every deletion it matches"
        )


def _matches_delete(hook: Obj) -> bool:
    for rule in hook.get("rules") or []:
        ops = rule.get("operations") or []
        if "*" in ops or "DELETE" in ops:
            return True
    return False


def failing_webhooks(
    configurations: Iterable[Obj], ready_services: set[tuple[str, str]], services: set[tuple[str, str]]
) -> list[Webhook]:
    """Webhooks that match DELETE with ``failurePolicy: Fail`` (v1's default) and a Service with no ready
    endpoint (``ready_services``) or no Service at all (``services``): each deletion they match fails."""
    out = []
    for conf in configurations:
        for hook in conf.get("webhooks") or []:
            svc = ((hook.get("clientConfig") or {}).get("service")) or None
            if svc is None or hook.get("failurePolicy", "Fail") != "Fail" or not _matches_delete(hook):
                continue
            key = (str(svc.get("namespace")), str(svc.get("name")))
            if key in ready_services:
                continue
            reason = "its Service has no ready endpoint" if key in services else "its Service does not exist"
            out.append(Webhook(where(conf), str(hook.get("name")), f"{key[0]}/{key[1]}", reason))
    return out


def webhooks_named(messages: Iterable[str]) -> list[str]:
    """Webhook names in the API server's refusals (a deletion or a namespace condition)."""
    found: list[str] = []
    for m in messages:
        for name in _WEBHOOK_IN_MESSAGE.findall(m):
            if name not in found:
                found.append(name)
    return found


__all__ = [
    "KINDS",
    "PHASES",
    "DrainKind",
    "DrainPlan",
    "Release",
    "Stuck",
    "Webhook",
    "controller_of",
    "failing_webhooks",
    "plan_drain",
    "pod_controllers",
    "retained_volumes",
    "stuck_objects",
    "terminating_namespaces",
    "volumes_of",
    "webhooks_named",
]
