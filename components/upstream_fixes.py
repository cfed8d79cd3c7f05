"""Fixes aistack applies to upstream objects on every cluster, where an upstream manifest cannot be
applied twice as written. Pure functions over one object, and a Pulumi transform running them.

* Aggregated ClusterRoles (``aggregationRule`` set, e.g. Kubeflow's ``kubeflow-view``) ship
  ``rules: []``, but their rules belong to the API server's clusterrole-aggregation-controller, which
  fills them in. Applied again, the empty list is a Server-Side Apply conflict with that controller
  (a second `pulumi up` fails), and forcing it would wipe the aggregated rules until the controller
  puts them back. aistack applies such a role without ``rules``: the controller's stay its own.
* Secrets an upstream ships empty for its controller to fill (Kubeflow Trainer's
  ``kubeflow-trainer-webhook-cert``, a secretGenerator with no literals, which kustomize writes as
  ``data: {}``; the controller's cert rotation writes its certificates there). The API server stores the
  empty map as absent, so as written every `pulumi up` saw ``+data`` and replaced the Secret (wiping the
  certificates on a real cluster) and every refresh saw ``-data``. aistack applies it without the empty
  field. No ``ignore_changes`` is needed: the provider compares the live object pruned to the fields
  aistack sent, so the certificates the controller adds are never a diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
DEVICE_CLASS = "kubernetes:resource.k8s.io/v1:DeviceClass"
SECRET = "kubernetes:core/v1:Secret"
FILLED_BY_CONTROLLER = ["data", "stringData"]


# Pulumi's wire format for a secret value inside resource properties (pulumi/runtime/rpc.py): a transform
# sees a field the provider marked secret (a Secret's data) as {SIG: SECRET_SIG, "value": ...}.
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_SIG) == _SECRET_SIG


def _plain(value: Any) -> Any:
    return value.get("value") if is_secret(value) else value


def fix(type_: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object as aistack applies it, or None when it is applied as the upstream wrote it.

    Also: an empty ``rules: []`` (Kubeflow's ``*-ui-admin`` roles) and an empty Secret ``data: {}`` are
    stored by the API server as absent, so as written they differ from the live object on every
    preview (the Secret is even replaced); applied without the empty field, they match."""
    if type_ == CLUSTER_ROLE and "rules" in obj and (obj.get("aggregationRule") is not None or not obj["rules"]):
        return {k: v for k, v in obj.items() if k != "rules"}
    if type_ == DEVICE_CLASS and "extendedResourceName" in (obj.get("spec") or {}):
        spec = {k: v for k, v in obj["spec"].items() if k != "extendedResourceName"}
        return {**obj, "spec": spec}
    if type_ == SECRET and any(k in obj and not _plain(obj[k]) for k in FILLED_BY_CONTROLLER):
        return {k: v for k, v in obj.items() if not (k in FILLED_BY_CONTROLLER and not _plain(v))}
    return None


class _Unknown:
    """A value not known yet (a preview's computed output): never taken for empty."""

    def __bool__(self) -> bool:
        return True


async def _known(value: Any) -> Any:
    """The plain value behind an Output. Kustomize Directory v2 hands its children's secret fields over as
    Output values (a Secret's ``data``), charts as the secret wire form: both are looked through."""
    if isinstance(value, pulumi.Output):
        return await value.future() if await value.is_known() else _Unknown()
    return value


async def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Pulumi resource transform: :func:`fix` on every Kubernetes object registered below, decided on the
    fields' plain values; the props handed back are the ones it was given, less what :func:`fix` drops."""
    props = dict(args.props or {})
    view = {k: (await _known(v) if k in FILLED_BY_CONTROLLER else v) for k, v in props.items()}
    changed = fix(args.type_, view)
    if changed is None:
        return None
    opts = args.opts
    if args.type_ == CLUSTER_ROLE and props.get("aggregationRule") is not None:
        # the aggregation controller rewrites them after every apply
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=["rules"]))
    if args.type_ == DEVICE_CLASS:  # a field inside spec goes: the spec as fix() wrote it
        return pulumi.ResourceTransformResult(props={**props, "spec": changed["spec"]}, opts=opts)
    return pulumi.ResourceTransformResult(props={k: props[k] for k in changed}, opts=opts)
