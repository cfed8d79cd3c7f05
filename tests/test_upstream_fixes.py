"""What aistack changes in upstream objects on every cluster, and only that."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest

from components import upstream_fixes as fixes


def test_an_aggregated_cluster_role_is_applied_without_the_rules_its_controller_owns() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "kubeflow-view"},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchLabels": {"rbac.authorization.kubeflow.org/aggregate-to-kubeflow-view": "true"}}
            ]
        },
        "rules": [],
    }
    fixed = fixes.fix(fixes.CLUSTER_ROLE, role)
    assert fixed is not None and "rules" not in fixed and fixed["aggregationRule"] == role["aggregationRule"]
    assert role["rules"] == [], "the input is not modified"


def test_a_plain_cluster_role_keeps_its_rules() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": [{"verbs": ["get"]}]}
    assert fixes.fix(fixes.CLUSTER_ROLE, role) is None


def test_empty_fields_the_api_server_drops_are_not_sent() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "kubeflow-notebook-ui-admin"}, "rules": []}
    assert fixes.fix(fixes.CLUSTER_ROLE, role) == {"kind": "ClusterRole", "metadata": role["metadata"]}
    secret = {"kind": "Secret", "metadata": {"name": "kubeflow-trainer-webhook-cert"}, "type": "Opaque", "data": {}}
    assert fixes.fix(fixes.SECRET, secret) == {k: v for k, v in secret.items() if k != "data"}
    wrapped = {**secret, "data": {fixes._SIG: fixes._SECRET_SIG, "value": {}}}
    assert fixes.fix(fixes.SECRET, wrapped) == {k: v for k, v in secret.items() if k != "data"}
    full = {**secret, "data": {"tls.crt": "Y2VydA=="}}
    assert fixes.fix(fixes.SECRET, full) is None


def _transformed(type_: str, props: dict[str, Any]) -> pulumi.ResourceTransformResult | None:
    args = pulumi.ResourceTransformArgs(custom=True, type_=type_, name="n", props=props, opts=pulumi.ResourceOptions())
    return asyncio.run(fixes.transform(args))  # type: ignore[arg-type]


def _output(value: Any, known: bool = True) -> pulumi.Output[Any]:
    from pulumi.output import _OutputData

    data: asyncio.Future[_OutputData[Any]] = asyncio.get_event_loop().create_future()
    data.set_result(_OutputData(resources=set(), value=value, is_known=known, is_secret=True))
    return pulumi.Output._from_data(data)


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kubeflow-trainer-webhook-cert"}, "type": "Opaque"}


def test_the_transform_sees_through_the_output_values_kustomize_hands_over() -> None:
    """Kustomize Directory v2 passes a Secret's data to transforms as a secret Output value (seen in a real
    deploy: the Trainer cert Secret, unmatched, was replaced on every `up`). An empty one is dropped, a
    full or not-yet-known one is kept, and the props handed back are the very objects given."""

    async def run() -> None:
        loop_args = {"custom": True, "name": "n", "opts": pulumi.ResourceOptions()}
        empty = {**SECRET, "data": _output({})}
        done = await fixes.transform(pulumi.ResourceTransformArgs(type_=fixes.SECRET, props=empty, **loop_args))
        assert done is not None and done.props == SECRET and done.opts is loop_args["opts"]
        for kept in (_output({"tls.crt": "Y2VydA=="}), _output(None, known=False)):
            full = {**SECRET, "data": kept}
            assert (
                await fixes.transform(pulumi.ResourceTransformArgs(type_=fixes.SECRET, props=full, **loop_args)) is None
            )

    asyncio.run(run())


def test_the_transform_ignores_only_the_rules_of_an_aggregated_role() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "kubeflow-view"}, "aggregationRule": {}, "rules": []}
    done = _transformed(fixes.CLUSTER_ROLE, role)
    assert done is not None and "rules" not in done.props
    assert done.opts is not None and done.opts.ignore_changes == ["rules"]
    plain = _transformed(fixes.CLUSTER_ROLE, {"kind": "ClusterRole", "metadata": {"name": "x"}, "rules": []})
    assert plain is not None and plain.props == {"kind": "ClusterRole", "metadata": {"name": "x"}}
    assert not plain.opts or not plain.opts.ignore_changes
    assert _transformed(fixes.SECRET, {**SECRET, "data": {"k": "dg=="}}) is None
    assert _transformed("kubernetes:core/v1:ConfigMap", {"kind": "ConfigMap", "data": {}}) is None


@pytest.mark.parametrize("field", ["data", "stringData"])
def test_a_placeholder_secret_gets_no_ignore_changes(field: str) -> None:
    """What the controller writes is never a diff (the provider prunes the live object to the fields sent),
    so the Secret needs no ignore_changes, which would keep an old state's `data: {}` input for ever."""
    done = _transformed(fixes.SECRET, {**SECRET, field: {fixes._SIG: fixes._SECRET_SIG, "value": {}}})
    assert done is not None and done.props == SECRET and not (done.opts and done.opts.ignore_changes)
