"""With upstream.image_pull_secret, every namespace whose pods pull from the site registry gets the Secret.

The oracle is a hand-written list: the namespaces the local stack's installs run pods in, read from the pinned
charts' and trees' docs (GPU Operator, NVIDIA's DRA driver, Kueue, kube-prometheus-stack under aistack's
namespace names; Kubeflow's cert-manager, dex (auth), oauth2-proxy, istio-system, kubeflow and kubeflow-system;
on-prem's local-path-storage, object-store, metallb-system and kube-system (NFS CSI)) plus the teams'."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.conftest import CREDENTIALS, ROOT, plan_values

EXPECTED = {
    "gpu-operator", "nvidia-dra-driver-gpu", "kueue-system", "monitoring",
    "cert-manager", "auth", "oauth2-proxy", "istio-system", "kubeflow", "kubeflow-system",
    "local-path-storage", "object-store", "metallb-system", "kube-system",
    "alpha", "beta",
}  # fmt: skip


def local_values(**upstream: object) -> dict[str, object]:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    values = {k.removeprefix("aistack:"): v for k, v in config.items() if k.startswith("aistack:")}
    values = {k: v for k, v in values.items() if not k.startswith("object_store_")}  # secrets: plan_values adds them
    values["upstream"] = {**values.get("upstream", {}), **upstream}
    return values


def pull_secrets(resources: list[Any]) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["metadata"]["namespace"]: r.inputs
        for r in resources
        if r.type == "kubernetes:core/v1:Secret" and r.inputs.get("metadata", {}).get("name") == "aistack-image-pull"
    }


def test_every_namespace_that_pulls_gets_the_site_registrys_pull_secret() -> None:
    values = local_values(image_registry="registry.corp.example:5000/mirror", image_pull_secret="u:p")
    # The upstream section as a Pulumi secret, as `pulumi config set --secret --path` makes it.
    plan = plan_values(values, "local", secrets={**CREDENTIALS, "upstream": json.dumps(values["upstream"])})
    found = pull_secrets(plan)
    assert set(found) == EXPECTED
    assert {s["type"] for s in found.values()} == {"kubernetes.io/dockerconfigjson"}


def test_without_a_pull_secret_there_is_none() -> None:
    plan = plan_values(local_values(image_registry="registry.corp.example:5000/mirror"), "local")
    assert pull_secrets(plan) == {}
