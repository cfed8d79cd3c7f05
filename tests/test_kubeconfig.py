"""Kubeconfigs of created clusters: valid YAML, exec-plugin auth, no static credentials."""

from __future__ import annotations

import yaml

from components.targets.kubeconfig import exec_kubeconfig


def test_exec_kubeconfig_is_a_complete_one_cluster_config() -> None:
    text = exec_kubeconfig("ai", "https://10.0.0.1", "Q0E=", {"command": "aws", "args": ["eks", "get-token"]})
    doc = yaml.safe_load(text)
    assert doc["current-context"] == "ai"
    assert doc["clusters"] == [
        {"name": "ai", "cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Q0E="}}
    ]
    assert doc["contexts"] == [{"name": "ai", "context": {"cluster": "ai", "user": "ai"}}]
    (user,) = doc["users"]
    assert user["user"] == {
        "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token"]}
    }
    assert "token" not in user["user"] and "client-key-data" not in user["user"]
