"""Kubeflow: the chosen components from the pinned kubeflow/manifests tree, a Profile per team whose
quota matches its Kueue quota, and Pipelines' artifact store wired to the target's object store
through workload identity (no static keys on clouds).

Component paths follow the release's example/kustomization.yaml, in its order.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pulumi
import yaml

from ..handle import ObjectStore, TargetHandle
from ..spec import StackSpec, TeamSpec
from .tenancy import (
    ACCESS_KEY_ID,
    OBJECT_STORE_SECRET,
    SECRET_ACCESS_KEY,
    TEAM_LABEL,
    profile_owner,
    quota_hard,
)

MANIFESTS = "kubeflow-manifests"
NAMESPACE = "kubeflow"


# Shared parts every multi-user component needs: cert-manager with Kubeflow's self-signed issuer, Istio
# with oauth2-proxy and Dex, the kubeflow namespace (its network policies included since 26.03), roles
# and Istio resources. Paths as example/kustomization.yaml of the pinned tree lists them.
def _common(istio_overlay: str) -> list[tuple[str, str]]:
    return [
        ("cert-manager", "common/cert-manager/overlays/kubeflow"),
        # Before Istio, unlike example/kustomization.yaml (applied whole, in a retry loop): Istio's install
        # puts Sidecar objects into the kubeflow namespace, which the API server refuses until it exists.
        ("kubeflow-namespace", "common/kubeflow-namespace/base"),
        ("istio-crds", "common/istio/istio-crds/base"),
        ("istio-namespace", "common/istio/istio-namespace/base"),
        ("istio", f"common/istio/istio-install/overlays/{istio_overlay}"),
        ("oauth2-proxy", "common/oauth2-proxy/overlays/m2m-dex-only"),
        ("dex", "common/dex/overlays/oauth2-proxy"),
        ("kubeflow-roles", "common/kubeflow-roles/base"),
        ("kubeflow-istio-resources", "common/istio/kubeflow-istio-resources/base"),
    ]


COMPONENT_PATHS: dict[str, list[tuple[str, str]]] = {
    "profiles": [("profiles", "applications/profiles/pss")],
    "pipelines": [("pipelines", "applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user")],
    "katib": [("katib", "applications/katib/upstream/installs/katib-with-kubeflow")],
    "dashboard": [("dashboard", "applications/centraldashboard/overlays/oauth2-proxy")],
    "notebooks": [
        ("admission-webhook", "applications/admission-webhook/upstream/overlays/cert-manager"),
        ("jupyter-web-app", "applications/jupyter/jupyter-web-app/upstream/overlays/istio"),
        ("notebook-controller", "applications/jupyter/notebook-controller/upstream/overlays/kubeflow"),
        ("pvcviewer", "applications/pvcviewer-controller/upstream/base"),
        ("volumes-web-app", "applications/volumes-web-app/upstream/overlays/istio"),
        ("tensorboard-controller", "applications/tensorboard/tensorboard-controller/upstream/overlays/kubeflow"),
        ("tensorboards-web-app", "applications/tensorboard/tensorboards-web-app/upstream/overlays/istio"),
    ],
    "training-operator": [("training-operator", "applications/training-operator/upstream/overlays/kubeflow")],
    "trainer": [("trainer", "applications/trainer/overlays")],
    "kserve": [
        ("knative-serving", "common/knative/knative-serving/overlays/gateways"),
        ("cluster-local-gateway", "common/istio/cluster-local-gateway/base"),
        ("kserve", "applications/kserve/kserve"),
        ("models-web-app", "applications/kserve/models-web-app/overlays/kubeflow"),
    ],
}
# Training APIs run standalone; everything else runs behind Istio in multi-user mode.
STANDALONE = {"trainer", "training-operator"}
ORDER = ["profiles", "pipelines", "katib", "dashboard", "notebooks", "training-operator", "trainer", "kserve"]


def install_plan(spec: StackSpec, cni_bin_dir: str) -> list[tuple[str, str]]:
    """(name, path in the manifests tree) to apply, in order; empty when Kubeflow is off."""
    if not spec.kubeflow.enabled:
        return []
    chosen = [c for c in ORDER if c in spec.kubeflow.components]
    plan: list[tuple[str, str]] = []
    if any(c not in STANDALONE for c in chosen):
        # Istio CNI cannot write to a read-only /opt/cni/bin; the gke overlay writes to the node's real dir.
        plan += _common("gke" if cni_bin_dir == "/home/kubernetes/bin" else "oauth2-proxy")
    for c in chosen:
        plan += COMPONENT_PATHS[c]
    return plan


def profile(team: TeamSpec, handle: TargetHandle) -> dict[str, Any]:
    """The team's Profile: same owner as its namespace, and the same accelerator ceiling as its quota."""
    hard = quota_hard(team, handle.inventory)
    body: dict[str, Any] = {"owner": profile_owner(team)}
    if hard:
        body["resourceQuotaSpec"] = {"hard": hard}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Profile",
        "metadata": {"name": team.name, "labels": {TEAM_LABEL: team.name}},
        "spec": body,
    }


def launcher_providers(store: ObjectStore) -> dict[str, Any]:
    """KFP launcher's object-store settings (kubeflow/pipelines#10625): credentials from the pod's
    environment where pods have a cloud identity, else from the team's credentials Secret, with the
    store's own endpoint (host:port, TLS or not)."""
    config: dict[str, Any] = {"credentials": {"fromEnv": True}}
    if store.kind == "s3":
        config.update({"region": store.region, "disableSSL": False})
    if store.credentials is not None:
        url = urlsplit(str(store.endpoint))
        config.update(
            {
                "endpoint": url.netloc,
                "disableSSL": url.scheme == "http",
                "credentials": {
                    "fromEnv": False,
                    "secretRef": {
                        "secretName": OBJECT_STORE_SECRET,
                        "accessKeyKey": ACCESS_KEY_ID,
                        "secretKeyKey": SECRET_ACCESS_KEY,
                    },
                },
            }
        )
    return {store.kind: {"default": config}}


def pipeline_root(team: TeamSpec, store: ObjectStore | None) -> dict[str, Any] | None:
    """The kfp-launcher ConfigMap of a team: its runs' artifacts under <artifacts bucket>/pipelines/<team>."""
    if store is None or "artifacts" not in store.buckets:
        return None
    # The bucket URL is an Output on clouds (the name is generated); concat takes it or a plain string.
    root = pulumi.Output.concat(store.buckets["artifacts"], f"/pipelines/{team.name}")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kfp-launcher", "namespace": team.name},
        "data": {"defaultPipelineRoot": root, "providers": yaml.safe_dump(launcher_providers(store), sort_keys=True)},
    }


def team_objects(spec: StackSpec, team: TeamSpec, handle: TargetHandle) -> list[dict[str, Any]]:
    if not spec.kubeflow.enabled:
        return []
    objs: list[dict[str, Any]] = []
    if "profiles" in spec.kubeflow.components:
        objs.append(profile(team, handle))
    if "pipelines" in spec.kubeflow.components:
        launcher = pipeline_root(team, handle.object_store)
        if launcher is not None:
            objs.append(launcher)
    return objs
