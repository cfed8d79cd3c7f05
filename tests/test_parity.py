"""Parity: one spec rendered for gcp, aws and onprem yields the same platform layer.

The platform reads only the target's handle, so the only differences allowed are the handle's
facts, listed once in ALLOWED below (and in docs/parity.md). Anything else that differs is a
platform branch on the cloud, and the test prints it.
"""

from __future__ import annotations

import copy
import difflib
import json
from typing import Any

import pytest

from aistack.offline import PlannedResource
from tests.conftest import plan_values

POOLS = [
    {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
    {
        "name": "l4",
        "accelerator": "nvidia-l4",
        "count": 1,
        "max_nodes": 4,
        "sharing": {"mode": "time-slicing", "replicas": 4},
    },
]
COMMON: dict[str, Any] = {
    "accelerator_pools": POOLS,
    "storage": {"shared_filesystem": {"enabled": True}},
    "kubeflow": {"components": ["profiles", "pipelines", "notebooks", "trainer", "dashboard"]},
    "teams": [
        {"name": "research", "quotas": {"h100": 8, "l4": 8}, "admins": ["research-leads"]},
        {"name": "product", "quotas": {"h100": 8, "l4": 8}, "can_borrow": False, "viewers": ["pm"]},
    ],
    "monitoring": {"retention": "30d", "storage_gb": 200},
}
TARGETS: dict[str, dict[str, Any]] = {
    "gcp": {"target": "gcp", "region": "europe-west4", "project": "acme-ml"},
    "aws": {"target": "aws", "region": "eu-west-1"},
    "onprem": {"target": "onprem", "region": "dc1", "country": "DE"},
}

# The handle's facts, which may differ between targets. Each entry: what, and why it is a fact.
ALLOWED = {
    "storage-classes": "StorageClass objects: provisioner and parameters are the target's (pd.csi, ebs.csi, ...).",
    "class-names": "storageClassName of volumes: the names of the target's default and shared classes.",
    "identity-annotations": "ServiceAccount annotations binding workloads to cloud identity (GKE only).",
    "identity-endpoints": "NetworkPolicy allow-workload-identity: the node-local identity endpoint, if any.",
    "gpu-operator": "GPU Operator and its objects: only the parts of the GPU stack the target lacks.",
    "dcgm-endpoint": "DCGM PodMonitor selector: where the target's or the operator's exporter runs.",
    "istio-overlay": "Kubeflow's Istio overlay: gke where the CNI directory is /home/kubernetes/bin.",
    "object-store": "kfp-launcher ConfigMaps: the object store's scheme, region and endpoint, and its "
    "credentials (pod identity on clouds, a Secret on-prem).",
    "object-store-credentials": "Secret object-store per team: static credentials where pods have no cloud identity.",
    "object-store-egress": "NetworkPolicy allow-object-store: the store's port when HTTPS egress does not cover it.",
}


def spec_for(target: str) -> dict[str, Any]:
    values = copy.deepcopy({**COMMON, **TARGETS[target]})
    if target == "onprem":
        for i, pool in enumerate(values["accelerator_pools"]):
            pool["nodes"] = [f"{pool['name']}-{n}" for n in range(pool["max_nodes"])]
            values["accelerator_pools"][i] = pool
        values["storage"]["shared_filesystem"].update(nfs_server="10.0.0.5", nfs_path="/export/ml")
        values["onprem"] = {"volumes": "local-path", "object_store": {"kind": "seaweedfs"}}
    return values


def platform_resources(target: str) -> list[PlannedResource]:
    return [r for r in plan_values(spec_for(target), stack="parity") if r.name.startswith("aistack-platform-")]


def normalize(r: PlannedResource) -> tuple[str, Any] | None:
    """(key, comparable inputs) with the allowed facts blanked, or None when the whole object is a fact."""
    inputs = copy.deepcopy(r.inputs)
    kind = inputs.get("kind")
    if "aistack:index:AcceleratorEnablement" in r.urn or kind == "StorageClass":
        return None  # gpu-operator, storage-classes
    meta = inputs.get("metadata", {})
    if kind == "ServiceAccount":
        meta.pop("annotations", None)  # identity-annotations
    if kind == "NetworkPolicy" and meta.get("name") == "allow-workload-identity":
        return None  # identity-endpoints
    if kind == "NetworkPolicy" and meta.get("name") == "allow-object-store":
        return None  # object-store-egress
    if kind == "Secret" and meta.get("name") == "object-store":
        return None  # object-store-credentials
    if kind == "ConfigMap" and meta.get("name") == "kfp-launcher":
        return None  # object-store
    if kind == "PersistentVolumeClaim":
        inputs["spec"]["storageClassName"] = "<class>"  # class-names
    if kind == "PodMonitor":
        inputs["spec"]["namespaceSelector"] = inputs["spec"]["selector"] = "<exporter>"  # dcgm-endpoint
    if r.type == "kubernetes:helm.sh/v4:Chart" and "kube-prometheus-stack" in r.name:
        template = inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
        template["spec"]["storageClassName"] = "<class>"  # class-names
    if r.type == "kubernetes:kustomize/v2:Directory":
        inputs["directory"] = inputs["directory"].replace("overlays/gke", "overlays/oauth2-proxy")  # istio-overlay
    return r.urn, inputs


def comparable(target: str) -> dict[str, Any]:
    out = {}
    for r in platform_resources(target):
        item = normalize(r)
        if item is not None:
            out[item[0]] = item[1]
    return out


def diff(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    left = json.dumps(a, indent=1, sort_keys=True).splitlines()
    right = json.dumps(b, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(left, right, *names, lineterm="", n=2))


@pytest.mark.parametrize("other", ["aws", "onprem"])
def test_platform_is_identical_modulo_handle_facts(other: str) -> None:
    gcp, them = comparable("gcp"), comparable(other)
    assert len(gcp) > 40, "the comparison must cover the platform, not an empty set"
    report = diff(gcp, them, ("gcp", other))
    assert gcp == them, f"platform differs between gcp and {other} beyond ALLOWED:\n{report}"


def test_allowed_differences_are_real_and_documented() -> None:
    """Targets really differ (so the allow-list is needed) and every entry is written down for users."""
    from tests.conftest import ROOT

    raw = {t: {r.urn: r.inputs for r in platform_resources(t)} for t in TARGETS}
    assert raw["gcp"] != raw["aws"] != raw["onprem"], "without differences the allow-list would be dead weight"
    gpu_operator = [urn for urn in raw["onprem"] if "AcceleratorEnablement$kubernetes:" in urn]
    assert gpu_operator and not [u for u in raw["gcp"] if "AcceleratorEnablement$kubernetes:" in u]
    doc = (ROOT / "docs" / "parity.md").read_text()
    for key in ALLOWED:
        assert f"`{key}`" in doc, f"allow-list entry {key} is not documented in docs/parity.md"


def test_parity_catches_a_cloud_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is sharp: a platform that branches on the cloud in one field of one object fails it.

    The branch is put into the platform code itself (Kueue's queue objects read spec.target), so the
    difference travels through the real plan and through normalize() like any other.
    """
    from components.platform import scheduling

    real = scheduling.queue_objects

    def branching(spec: Any, inventory: Any) -> list[dict[str, Any]]:
        objects = real(spec, inventory)
        if spec.target == "aws":
            for obj in objects:
                if obj["kind"] == "ClusterQueue":
                    obj["spec"]["queueingStrategy"] = "StrictFIFO"
        return objects

    monkeypatch.setattr(scheduling, "queue_objects", branching)
    gcp, aws, onprem = comparable("gcp"), comparable("aws"), comparable("onprem")
    assert gcp == onprem  # the branch is aws-only: the other pair still matches
    assert gcp != aws
    changed = sorted(k for k in gcp if gcp[k] != aws.get(k))
    assert len(changed) == len(COMMON["teams"])  # one ClusterQueue per team, nothing else
    assert all(gcp[k]["kind"] == "ClusterQueue" for k in changed)
    report = diff(gcp, aws, ("gcp", "aws"))
    assert '-   "queueingStrategy": "BestEffortFIFO"' in report and '+   "queueingStrategy": "StrictFIFO"' in report


def _resource(kind: str, name: str, spec: Any = None, *, urn_type: str = "kubernetes:core/v1", **meta: Any) -> Any:
    inputs: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, **meta}}
    if spec is not None:
        inputs["spec"] = spec
    urn = f"urn:pulumi:parity::aistack::aistack:index:Platform${urn_type}:{kind}::aistack-platform-{name}"
    return PlannedResource(urn, f"{urn_type}:{kind}", f"aistack-platform-{name}", "", True, inputs, False, False)


def _pvc(size: str, storage_class: str) -> Any:
    spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}}
    return _resource("PersistentVolumeClaim", "shared", {**spec, "storageClassName": storage_class})


def test_normalize_blanks_the_handle_facts_and_nothing_else() -> None:
    """Hand-made objects as each target renders them: what ALLOWED names is blanked, the rest is kept."""
    # class-names: the gcp and aws classes of the same claim compare equal; its size does not
    assert normalize(_pvc("100Gi", "standard-rwx")) == normalize(_pvc("100Gi", "efs-sc"))
    assert normalize(_pvc("100Gi", "standard-rwx")) != normalize(_pvc("200Gi", "standard-rwx"))
    # identity-annotations: GKE's workload-identity annotation goes, the account's name stays
    gke_sa = _resource("ServiceAccount", "runner", annotations={"iam.gke.io/gcp-service-account": "r@p.iam"})
    assert normalize(gke_sa) == normalize(_resource("ServiceAccount", "runner"))
    assert normalize(gke_sa) != normalize(_resource("ServiceAccount", "other"))
    # whole objects that are facts: no entry at all
    assert normalize(_resource("StorageClass", "shared", urn_type="kubernetes:storage.k8s.io/v1")) is None
    assert normalize(_resource("NetworkPolicy", "allow-workload-identity", {})) is None
    assert normalize(_resource("Secret", "object-store")) is None
    assert normalize(_resource("ConfigMap", "kfp-launcher")) is None
    # another NetworkPolicy or ConfigMap is compared in full
    kept = normalize(_resource("NetworkPolicy", "default-deny", {"podSelector": {}}))
    assert kept is not None and kept[1]["spec"] == {"podSelector": {}}
    assert normalize(_resource("ConfigMap", "other")) is not None
    # the input is not modified
    pvc = _pvc("100Gi", "standard-rwx")
    normalize(pvc)
    assert pvc.inputs["spec"]["storageClassName"] == "standard-rwx"


def test_the_real_target_differences_are_only_handle_facts() -> None:
    """Raw, the gcp and aws plans differ (storage classes, claims' classes, identity, the GPU Operator
    on aws); every object that differs is one normalize() blanks, and every object only one target has
    is one normalize() drops."""
    raw = {t: {r.urn: r for r in platform_resources(t)} for t in ("gcp", "aws")}
    common = raw["gcp"].keys() & raw["aws"].keys()
    differing = [u for u in common if raw["gcp"][u].inputs != raw["aws"][u].inputs]
    one_sided = [raw[t][u] for t in raw for u in raw[t].keys() - common]
    # hand-checked against the two plans: the facts ALLOWED describes show up as these kinds
    kinds = {raw["gcp"][u].inputs.get("kind") for u in differing}
    assert {"PersistentVolumeClaim", "ServiceAccount", "PodMonitor"} <= kinds
    assert {"StorageClass"} <= {r.inputs.get("kind") for r in one_sided}
    for urn in differing:
        assert normalize(raw["gcp"][urn]) == normalize(raw["aws"][urn]), f"{urn} differs after normalize()"
    for r in one_sided:
        assert normalize(r) is None, f"{r.urn} is on one target only, and not a handle fact"
