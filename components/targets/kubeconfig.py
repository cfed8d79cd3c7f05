"""Kubeconfigs for clusters a target creates: built as data, authenticated by an exec plugin, so
no static credential ever lands in Pulumi state."""

from __future__ import annotations

from typing import Any

import pulumi
import yaml


def exec_kubeconfig(name: str, server: str, ca_data: str, exec_user: dict[str, Any]) -> str:
    """Pure: a one-cluster kubeconfig whose user runs ``exec_user`` (client.authentication v1beta1)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [
            {"name": name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", **exec_user}}}
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def secret_kubeconfig(
    name: pulumi.Input[str],
    server: pulumi.Input[str],
    ca_data: pulumi.Input[str],
    exec_user: pulumi.Input[dict[str, Any]],
) -> pulumi.Output[str]:
    """The same, from outputs, marked secret."""
    return pulumi.Output.secret(
        pulumi.Output.all(name, server, ca_data, exec_user).apply(lambda a: exec_kubeconfig(a[0], a[1], a[2], a[3]))
    )
