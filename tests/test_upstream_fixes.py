"""What aistack changes in upstream objects on every cluster, and only that."""

from __future__ import annotations

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


def test_only_an_empty_secret_is_left_to_its_controller() -> None:
    assert fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "kubeflow-trainer-webhook-cert"}})
    assert fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "c"}, "data": {}})
    assert not fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "c"}, "data": {"k": "dg=="}})
    assert not fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "c"}, "stringData": {"k": "v"}})
    assert not fixes.filled_by_controller("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "c"}})


def test_a_secret_the_provider_passes_as_secret_is_seen_through() -> None:
    wrapped = {fixes._SIG: fixes._SECRET_SIG, "value": {}}
    assert fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "c"}, "data": wrapped})
    full = {fixes._SIG: fixes._SECRET_SIG, "value": {"tls.crt": "Y2VydA=="}}
    assert not fixes.filled_by_controller(fixes.SECRET, {"metadata": {"name": "c"}, "data": full})


def test_empty_fields_the_api_server_drops_are_not_sent() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "kubeflow-notebook-ui-admin"}, "rules": []}
    assert fixes.fix(fixes.CLUSTER_ROLE, role) == {"kind": "ClusterRole", "metadata": role["metadata"]}
    secret = {"kind": "Secret", "metadata": {"name": "kubeflow-trainer-webhook-cert"}, "type": "Opaque", "data": {}}
    assert fixes.fix(fixes.SECRET, secret) == {k: v for k, v in secret.items() if k != "data"}
    wrapped = {**secret, "data": {fixes._SIG: fixes._SECRET_SIG, "value": {}}}
    assert fixes.fix(fixes.SECRET, wrapped) == {k: v for k, v in secret.items() if k != "data"}
    full = {**secret, "data": {"tls.crt": "Y2VydA=="}}
    assert fixes.fix(fixes.SECRET, full) is None
