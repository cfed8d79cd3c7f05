"""What the Kubernetes provider waits for before a Service counts as created: decided per Service.

The provider (pkg/await/service.go at the pinned commit) waits for a Service with a selector until its
Endpoints list a ready address, and then for a fixed 10 s with no further Endpoints event ("settled"),
and everything that depends on the Service, or on the install it belongs to, waits for that too. On the
full local platform that was 10 s twice on the longest chain (Istio, then the Kubeflow parts after it),
with nothing learned: the Deployment, StatefulSet or DaemonSet whose pods such a Service selects is
itself awaited until its rollout is Ready, and an `up` still fails when it is not.

So aistack annotates ``pulumi.com/skipAwait: "true"`` on every Service with a selector, except:

* a Service the API server itself calls (:data:`API_SERVER_CALLS`: admission webhooks, CRD conversion,
  aggregated APIs). The next write the webhook admits may come right after its install, and a write
  refused because no endpoint answers yet fails the `up` (the provider retries a create only on
  NotFound and no-match errors). On a simulated cluster those webhooks are neutralised
  (components/simulated.py), so nothing calls them there and they are annotated like the rest;
* a Service whose pods an operator creates (:data:`OPERATOR_POD_LABELS` in its selector: Prometheus'
  and Alertmanager's StatefulSets come from the Prometheus Operator, not from the chart): its
  endpoints are the only proof that those pods run;
* a LoadBalancer Service: the address it waits for is what users came for;
* a Service that already says what to wait for (``pulumi.com/skipAwait`` or ``pulumi.com/waitFor``);
* headless, ExternalName and selector-less Services: the provider waits for no endpoint there anyway.

tests/test_awaits.py renders every upstream of the local stack and fails when a Service the API server
calls, or one no workload of its own install backs, would lose its wait, or when a row here names
nothing. A delete is awaited either way (the provider skips a delete's wait only for workload kinds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

SERVICE = "kubernetes:core/v1:Service"
SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"

# (namespace, name) of every Service that a webhook configuration, a CRD's conversion or an APIService
# of the pinned upstreams points the API server at (rendered by tests/test_awaits.py).
API_SERVER_CALLS: frozenset[tuple[str, str]] = frozenset(
    {
        ("cert-manager", "cert-manager-webhook"),
        ("istio-system", "istiod"),
        ("kubeflow", "admission-webhook-service"),
        ("kubeflow", "cache-server"),
        ("kubeflow", "pvcviewer-webhook-service"),
        ("kubeflow-system", "jobset-webhook-service"),
        ("kubeflow-system", "kubeflow-trainer-controller-manager"),
        ("kueue-system", "kueue-visibility-server"),
        ("kueue-system", "kueue-webhook-service"),
        ("metallb-system", "metallb-webhook-service"),
    }
)
# Labels only an operator puts on the pods it creates (the Prometheus Operator's Prometheus and
# Alertmanager pods): a Service selecting on one is backed by no workload of its install.
OPERATOR_POD_LABELS = frozenset({"operator.prometheus.io/name", "alertmanager"})


def keeps_await(obj: Mapping[str, Any], *, webhooks_served: bool = True) -> bool:
    """Whether the provider's own wait for this Service (a dict, camelCase) is kept as it is.

    ``webhooks_served``: False on a simulated cluster, where no webhook is called (components/simulated.py)."""
    spec = obj.get("spec")
    metadata = obj.get("metadata")
    if not isinstance(spec, Mapping) or not isinstance(metadata, Mapping):
        return True  # not plain data yet (an Output): nothing to decide on
    annotations = metadata.get("annotations") or {}
    selector = spec.get("selector")
    if not isinstance(annotations, Mapping) or not isinstance(selector, Mapping) or not selector:
        return True
    if SKIP_AWAIT in annotations or WAIT_FOR in annotations:
        return True
    if spec.get("type") in ("LoadBalancer", "ExternalName") or spec.get("clusterIP") == "None":
        return True
    if OPERATOR_POD_LABELS & set(selector):
        return True
    where = (str(metadata.get("namespace") or "default"), str(metadata.get("name")))
    return webhooks_served and where in API_SERVER_CALLS


def skip_await(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Service with ``pulumi.com/skipAwait: "true"`` added (``obj`` is not modified)."""
    metadata = dict(obj["metadata"])
    metadata["annotations"] = {**(metadata.get("annotations") or {}), SKIP_AWAIT: "true"}
    return {**obj, "metadata": metadata}


def transform(
    *, webhooks_served: bool
) -> Callable[[pulumi.ResourceTransformArgs], pulumi.ResourceTransformResult | None]:
    """A Pulumi resource transform applying :func:`keeps_await` to every Service registered below (the
    upstream charts' and manifests' children included)."""

    def service_awaits(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != SERVICE:
            return None
        props = dict(args.props or {})
        if keeps_await(props, webhooks_served=webhooks_served):
            return None
        return pulumi.ResourceTransformResult(props=skip_await(props), opts=args.opts)

    return service_awaits


__all__ = [
    "API_SERVER_CALLS",
    "OPERATOR_POD_LABELS",
    "SKIP_AWAIT",
    "WAIT_FOR",
    "keeps_await",
    "skip_await",
    "transform",
]
