"""Fixes aistack applies to upstream objects on every cluster, where an upstream manifest cannot be
applied twice as written. Pure functions over one object, and a Pulumi transform running them.

* Aggregated ClusterRoles (``aggregationRule`` set, e.g. Kubeflow's ``kubeflow-view``) ship
  ``rules: []``, but their rules belong to the API server's clusterrole-aggregation-controller, which
  fills them in. Applied again, the empty list is a Server-Side Apply conflict with that controller
  (a second `pulumi up` fails), and forcing it would wipe the aggregated rules until the controller
  puts them back. aistack applies such a role without ``rules``: the controller's stay its own.
* Secrets an upstream ships empty for its controller to fill (Kubeflow Trainer's
  ``kubeflow-trainer-webhook-cert``, a secretGenerator with no data, where the controller's cert
  rotation writes its certificates): aistack creates them and then leaves their content alone
  (``ignore_changes``), or every `pulumi up` would replace the Secret and wipe the certificates.
"""

from __future__ import annotations

from typing import Any

import pulumi

CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
SECRET = "kubernetes:core/v1:Secret"
FILLED_BY_CONTROLLER = ["data", "stringData"]


def fix(type_: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object as aistack applies it, or None when it is applied as the upstream wrote it."""
    if type_ == CLUSTER_ROLE and obj.get("aggregationRule") is not None and "rules" in obj:
        return {k: v for k, v in obj.items() if k != "rules"}
    return None


# How a transform sees a secret value (the provider marks a Secret's data secret): the SDK's wire form.
_SIG, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _plain(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) and value.get(_SIG) == _SECRET_SIG else value


def filled_by_controller(type_: str, obj: dict[str, Any]) -> bool:
    """An upstream Secret with no content at all: a placeholder a controller fills in."""
    return type_ == SECRET and not _plain(obj.get("data")) and not _plain(obj.get("stringData"))


def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Pulumi resource transform: :func:`fix` on every Kubernetes object registered below, and
    ``ignore_changes`` on the content of placeholder Secrets."""
    props = dict(args.props or {})
    if filled_by_controller(args.type_, props):
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=FILLED_BY_CONTROLLER))
        return pulumi.ResourceTransformResult(props=props, opts=opts)
    changed = fix(args.type_, props)
    if changed is None:
        return None
    # The controller rewrites the rules after every apply: their difference from the state is never drift.
    opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=["rules"]))
    return pulumi.ResourceTransformResult(props=changed, opts=opts)
