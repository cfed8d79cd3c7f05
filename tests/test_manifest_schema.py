"""Every Kubernetes object aistack emits validates strictly: built-in kinds against the cluster
version's official schema, custom resources against the upstream CRDs in ../shared/crds.

Strict means an unknown field is an error, as the API server would prune or reject it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from aistack.offline import plan
from components.spec import load_stack
from components.versions import KUBERNETES_MINOR
from tests.conftest import EXAMPLE_STACKS, ROOT, need

CRDS = ROOT / "components" / "crds"  # copies of the upstream CRDs (the local cluster installs them too)
SHARED_CRDS = ROOT.parent / "shared" / "crds"
# The only metadata fields the platform sets on custom resources.
METADATA_FIELDS = {"name", "namespace", "labels", "annotations"}
# CRDs fetched from the Go module proxy rather than ../shared/crds (see components/crds/README.md).
NOT_IN_SHARED = {"metallb"}


class _CrdLoader(yaml.SafeLoader):
    """A few upstream CRDs use a bare '=' enum value, which YAML reads as its 'value' tag."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields forbidden wherever it lists the known ones."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern:
            # Go allows inline flags mid-pattern; Python wants them first.
            out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema, from every CRD under ../shared/crds."""
    out = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                out[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return out


def validate_custom(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    schemas = crd_schemas()
    assert key in schemas, f"{key} has no upstream CRD in {CRDS}; every custom kind aistack emits must have one"
    jsonschema.validate(obj, schemas[key])
    extra = set(obj["metadata"]) - METADATA_FIELDS
    assert not extra, f"unexpected metadata fields {extra}"


BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "resource.k8s.io",  # Dynamic Resource Allocation (DeviceClass, ResourceClaimTemplate): GA in 1.34
}


def is_builtin(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].rpartition("/")[0] in BUILTIN_GROUPS


@cache
def emitted(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(plan(load_stack(name)).kubernetes_objects())


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_builtin_objects_validate_strictly(name: str) -> None:
    builtins = [o for o in emitted(name) if is_builtin(o)]
    assert builtins
    for obj in builtins:
        kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_custom_resources_validate_against_upstream_crds(name: str) -> None:
    custom = [o for o in emitted(name) if not is_builtin(o)]
    kinds = {o["kind"] for o in custom}
    assert {"ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass", "PrometheusRule"} <= kinds
    for obj in custom:
        validate_custom(obj)


def test_every_upstream_kind_we_emit_is_covered() -> None:
    kinds = {(o["apiVersion"], o["kind"]) for name in EXAMPLE_STACKS for o in emitted(name) if not is_builtin(o)}
    assert kinds <= set(crd_schemas())
    assert ("nvidia.com/v1alpha1", "NVIDIADriver") in kinds
    assert ("kubeflow.org/v1", "Profile") in kinds
    assert ("monitoring.coreos.com/v1", "PodMonitor") in kinds


def test_strict_validation_catches_unknown_fields() -> None:
    obj = next(o for o in emitted("local") if o["kind"] == "Namespace")
    bad = {**obj, "metadata": {**obj["metadata"], "lables": {"x": "y"}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_MINOR, strict=True)


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("ClusterQueue", lambda o: o["spec"].update(cohort="v1beta1-spelling")),
        ("ResourceFlavor", lambda o: o["spec"].update(nodeLabel={"typo": "x"})),
        ("LocalQueue", lambda o: o["spec"].update(clusterQueue=7)),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(expression="up")),
        ("Profile", lambda o: o["spec"].update(quota={})),
    ],
)
def test_crd_validation_catches_mistakes(kind: str, mutate: Any) -> None:
    obj = copy.deepcopy(next(o for o in emitted("local") if o["kind"] == kind))
    validate_custom(obj)
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(obj)


def test_copied_crds_match_the_shared_originals() -> None:
    if not SHARED_CRDS.is_dir():
        need("shared-crds", f"no {SHARED_CRDS} in this workspace; the pins are checked below")
    for path in CRDS.rglob("*.yaml"):
        if path.parent.name in NOT_IN_SHARED:
            continue
        original = SHARED_CRDS / path.relative_to(CRDS)
        assert original.read_bytes() == path.read_bytes(), f"{path} differs from {original}"


def test_shared_crds_are_the_pinned_versions() -> None:
    """The CRDs the tests validate against are the versions the platform installs."""
    from components.versions import UPSTREAMS

    sources = (CRDS / "SOURCES.txt").read_text()
    assert f"kueue v{UPSTREAMS['kueue'].version}" in sources
    assert f"nvidia-gpu-operator {UPSTREAMS['gpu-operator'].version}" in sources
    assert (
        f"kubeflow-manifests {UPSTREAMS['kubeflow-manifests'].version} {UPSTREAMS['kubeflow-manifests'].ref}" in sources
    )
    assert f"metallb v{UPSTREAMS['metallb'].version}" in sources
