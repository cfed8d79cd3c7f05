"""For a cluster that runs no containers (``cluster.simulated``: aistack's local KWOK cluster): a resource
transform that neutralises the upstream objects which need a pod to answer the API server.

In such a cluster a real kube-apiserver, controller-manager and scheduler run, but the nodes are fakes:
every pod is reported Running and Ready (with a fake IP), none ever listens. Three kinds of object make
the API server call a pod, so they can never work there, and most of them break the install itself:

- **admission webhooks served by a Service** (``clientConfig.service``): nothing listens behind the
  Service, so each call fails, often only after its timeout; with ``failurePolicy: Fail`` every write
  the webhook matches is rejected (aistack's own ClusterQueues and IPAddressPools, Kubeflow's
  ClusterTrainingRuntimes and Certificates, every pod in an Istio-injected namespace), with ``Ignore``
  every such write waits out the timeout first. They are kept as objects (a transform cannot drop a
  resource) with only the webhooks that call a URL, which is ``webhooks: []`` for every upstream here.
  An empty configuration is valid and matches nothing.
- **CRD conversion webhooks** (``spec.conversion.strategy: Webhook``): reading or writing a version other
  than the stored one fails. They become ``strategy: None`` (the API server rewrites ``apiVersion`` only):
  aistack writes each of these kinds at its storage version (Kueue's v1beta2), so no field is lost.
- **aggregated APIs** (an APIService with ``spec.service``): never Available, so discovery reports the
  group as failed, and the namespace controller then leaves every namespace it deletes in Terminating
  (``NamespaceDeletionDiscoveryFailure``), which hangs ``pulumi destroy``. They become *local* APIServices
  (no ``service``, ``caBundle`` or ``insecureSkipTLSVerify``, as the API server requires of local ones):
  always Available, and absent from aggregated discovery (kube-aggregator takes a local APIService's
  resources from the API server's own handlers, which do not serve the group), the discovery that
  the controller-manager, kubectl and client-go use by default. A legacy-discovery client still sees
  the group listed and gets 404 for it, and requests to the group get 404 instead of 503. (Checked on
  kube-apiserver 1.34: namespaces delete in seconds; with the remote APIService they stay Terminating.
  An APIService updated in place from remote to local keeps its stale discovery entry until the API
  server restarts or the object is recreated; a simulated stack creates it local from the start.)

Each neutralised object is annotated ``aistack.io/simulated`` with what was changed and why.
:data:`OMITTED` lists every such object of the upstreams aistack installs, with the reason per
upstream; tests/test_simulated.py renders every upstream and fails when the table and the rules
disagree (a new webhook upstream, or a row that no longer matches anything).

A real cluster gets every upstream unchanged: the transform is only installed when the stack says
the cluster is simulated (components/stack.py), and it touches nothing but the three cases above.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from .upstream_fixes import _SECRET_SIG, _SIG, is_secret  # noqa: F401 (the wire form, one place)

ANNOTATION = "aistack.io/simulated"

WEBHOOK_KINDS = frozenset({"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})
CRD = "CustomResourceDefinition"
API_SERVICE = "APIService"

# APIService fields the API server rejects on a local APIService (one without spec.service).
_REMOTE_ONLY = ("service", "caBundle", "insecureSkipTLSVerify")


@dataclass(frozen=True)
class Omitted:
    """One object neutralised on a simulated cluster.

    ``upstream``: the key in versions.UPSTREAMS, or ``kubeflow-manifests/<part>`` for a part of the
    Kubeflow plan (components/platform/kubeflow.py). ``name``: the object's name; ``*`` stands for the
    prefix a chart derives from the Helm release name (fnmatch).
    """

    upstream: str
    kind: str
    name: str
    reason: str

    def matches(self, upstream: str, kind: str, name: str) -> bool:
        return self.upstream == upstream and self.kind == kind and fnmatch.fnmatchcase(name, self.name)


_VWC, _MWC = "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"

_KUEUE_WEBHOOKS = (
    "Kueue's webhooks (served by kueue-controller-manager) default and validate ResourceFlavors, Cohorts, "
    "ClusterQueues and Workloads and every job kind it manages, failurePolicy Fail: aistack's own flavors "
    "and queues would be rejected. The local cluster's Kueue runs on the host, with no webhook configured."
)
_KUEUE_CONVERSION = (
    "v1beta1 <-> v1beta2 conversion served by the Kueue pod. None: aistack writes every Kueue object at "
    "v1beta2, the storage version, so nothing is converted."
)
_KUEUE_VISIBILITY = (
    "Kueue's visibility API (pending workloads) is an aggregated API served by the Kueue pod: never "
    "Available, it fails discovery and blocks namespace deletion. Local: out of discovery, 404 on use."
)
_METALLB = (
    "MetalLB's webhooks (served by the controller) validate its custom resources, failurePolicy Fail: "
    "aistack's IPAddressPool and L2Advertisement would be rejected."
)
_CERT_MANAGER = (
    "cert-manager's webhook, failurePolicy Fail on every cert-manager.io object: the Certificates and "
    "Issuers of admission-webhook, pipelines and pvcviewer, and the ClusterIssuer, would be rejected."
)
_ISTIO_INJECTOR = (
    "istiod's sidecar injector, failurePolicy Fail on pods of istio-injection=enabled namespaces "
    "(kubeflow, kubeflow-system): no Deployment there would get a pod, so their rollouts never finish."
)
_ISTIO_VALIDATOR = (
    "istiod's config validation, failurePolicy Ignore: each Istio object write would wait out the timeout."
)
_PODDEFAULTS = (
    "Kubeflow's PodDefault injector, failurePolicy Fail on pods in profile namespaces: every team pod "
    "(notebooks, pipeline steps) would be rejected."
)
_PVCVIEWER = "pvcviewer-controller's webhooks for PVCViewers, failurePolicy Fail."
_PVCVIEWER_CONVERSION = "Conversion webhook of a single-version CRD: never called; None so nothing points at a pod."
_KFP_CACHE = (
    "Pipelines' cache webhook on pipeline pods, failurePolicy Ignore: each pipeline pod creation would wait "
    "out the timeout."
)
_JOBSET = (
    "JobSet's webhooks (served by jobset-controller-manager) on JobSets and their pods, failurePolicy Fail: "
    "no TrainJob could start."
)
_JOBSET_CONVERSION = "Conversion webhook of a single-version CRD: never called; None so nothing points at a pod."
_TRAINER = (
    "Trainer's validation of TrainJobs and (Cluster)TrainingRuntimes, failurePolicy Fail: the "
    "ClusterTrainingRuntimes the manifests themselves ship would be rejected."
)

OMITTED: tuple[Omitted, ...] = (
    Omitted("kueue", _MWC, "*-mutating-webhook-configuration", _KUEUE_WEBHOOKS),
    Omitted("kueue", _VWC, "*-validating-webhook-configuration", _KUEUE_WEBHOOKS),
    *(
        Omitted("kueue", CRD, f"{plural}.kueue.x-k8s.io", _KUEUE_CONVERSION)
        for plural in ("clusterqueues", "cohorts", "localqueues", "multikueueclusters", "workloads")
    ),
    Omitted("kueue", API_SERVICE, "v1beta1.visibility.kueue.x-k8s.io", _KUEUE_VISIBILITY),
    Omitted("kueue", API_SERVICE, "v1beta2.visibility.kueue.x-k8s.io", _KUEUE_VISIBILITY),
    Omitted("metallb", _VWC, "metallb-webhook-configuration", _METALLB),
    Omitted(
        "metallb",
        CRD,
        "bgppeers.metallb.io",
        "v1beta1 <-> v1beta2 conversion served by the controller. None: aistack writes no BGPPeer.",
    ),
    Omitted("kubeflow-manifests/cert-manager", _MWC, "cert-manager-webhook", _CERT_MANAGER),
    Omitted("kubeflow-manifests/cert-manager", _VWC, "cert-manager-webhook", _CERT_MANAGER),
    Omitted("kubeflow-manifests/istio", _MWC, "istio-sidecar-injector", _ISTIO_INJECTOR),
    Omitted("kubeflow-manifests/istio", _VWC, "istio-validator-istio-system", _ISTIO_VALIDATOR),
    Omitted(
        "kubeflow-manifests/admission-webhook", _MWC, "admission-webhook-mutating-webhook-configuration", _PODDEFAULTS
    ),
    Omitted("kubeflow-manifests/pvcviewer", _MWC, "pvcviewer-mutating-webhook-configuration", _PVCVIEWER),
    Omitted("kubeflow-manifests/pvcviewer", _VWC, "pvcviewer-validating-webhook-configuration", _PVCVIEWER),
    Omitted("kubeflow-manifests/pvcviewer", CRD, "pvcviewers.kubeflow.org", _PVCVIEWER_CONVERSION),
    Omitted("kubeflow-manifests/pipelines", _MWC, "cache-webhook-kubeflow", _KFP_CACHE),
    Omitted("kubeflow-manifests/trainer", _MWC, "jobset-mutating-webhook-configuration", _JOBSET),
    Omitted("kubeflow-manifests/trainer", _VWC, "jobset-validating-webhook-configuration", _JOBSET),
    Omitted("kubeflow-manifests/trainer", CRD, "jobsets.jobset.x-k8s.io", _JOBSET_CONVERSION),
    Omitted("kubeflow-manifests/trainer", _VWC, "validator.trainer.kubeflow.org", _TRAINER),
)


def _annotated(obj: dict[str, Any], note: str) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), ANNOTATION: note}
    return {**obj, "metadata": metadata}


def _calls_service(webhook: Any) -> bool:
    return isinstance(webhook, Mapping) and (webhook.get("clientConfig") or {}).get("service") is not None


def neutralise(kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object as a cluster without containers should get it, or None when it needs no change.

    Pure: ``obj`` (a Kubernetes object as a dict, camelCase fields) is not modified.
    """
    if kind in WEBHOOK_KINDS:
        webhooks = obj.get("webhooks")
        if not isinstance(webhooks, list):
            return None
        dropped = [str(w.get("name")) for w in webhooks if _calls_service(w)]
        if not dropped:
            return None
        kept = [copy.deepcopy(w) for w in webhooks if not _calls_service(w)]
        note = f"webhooks served by a pod removed (no container runs): {', '.join(dropped)}"
        return _annotated({**obj, "webhooks": kept}, note)
    if kind == CRD:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return None
        conversion = spec.get("conversion")
        if not isinstance(conversion, Mapping) or conversion.get("strategy") != "Webhook":
            return None
        note = "conversion webhook served by a pod replaced by strategy None (no container runs)"
        return _annotated({**obj, "spec": {**spec, "conversion": {"strategy": "None"}}}, note)
    if kind == API_SERVICE:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping) or spec.get("service") is None:
            return None
        local = {k: copy.deepcopy(v) for k, v in spec.items() if k not in _REMOTE_ONLY}
        service = spec["service"]
        where = f"{service.get('namespace')}/{service.get('name')}" if isinstance(service, Mapping) else "a Service"
        note = f"aggregated API served by a pod ({where}) made local, out of discovery (no container runs)"
        return _annotated({**obj, "spec": local}, note)
    return None


def kind_of(type_: str) -> str:
    """The Kubernetes kind of a Pulumi resource type: ``kubernetes:<group>/<version>:<Kind>`` → Kind."""
    return type_.rsplit(":", 1)[-1] if type_.startswith("kubernetes:") else ""


def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Pulumi resource transform (``ResourceOptions(transforms=[transform])``): :func:`neutralise` applied to
    every Kubernetes object registered below, the children of Helm Charts and kustomize Directories included.

    Fields the provider passes as secrets are unwrapped for the check and stay secret in the result.
    """
    kind = kind_of(args.type_)
    if kind not in WEBHOOK_KINDS and kind not in (CRD, API_SERVICE):
        return None
    props: dict[str, Any] = dict(args.props or {})
    secret = {k for k, v in props.items() if is_secret(v)}
    plain = {k: (v["value"] if k in secret else v) for k, v in props.items()}
    changed = neutralise(kind, plain)
    if changed is None:
        return None
    out: dict[str, Any] = {k: (pulumi.Output.secret(v) if k in secret else v) for k, v in changed.items()}
    return pulumi.ResourceTransformResult(props=out, opts=args.opts)


def omitted_row(upstream: str, kind: str, name: str) -> Omitted | None:
    """The row of :data:`OMITTED` that names this object, if any."""
    return next((row for row in OMITTED if row.matches(upstream, kind, name)), None)


__all__ = ["ANNOTATION", "OMITTED", "Omitted", "kind_of", "neutralise", "omitted_row", "transform"]
