"""components/simulated.py: on a cluster that runs no containers, nothing the upstreams install may make the
API server call a pod (a Service-backed webhook, a CRD conversion webhook, an aggregated API), and the
OMITTED table names exactly the objects the rules change.

Every upstream of the local stack (which selects them all) is rendered from the air-gapped mirror with the
values aistack passes: the Helm charts with `helm template` (tests/test_chart_render.py), the Kubeflow
kustomizations with `kubectl kustomize` (the directories the plan hands the provider, remote references
resolved to the mirror by components/kustomize_mirror.py) and the single manifests as they are.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml

from components import simulated
from components.platform import kubeflow
from components.versions import UPSTREAMS
from tests.conftest import need, plan_values, stack_values
from tests.test_chart_render import TOOLS, _crd_schemas, _file_crds, helm_or_fail, render, validate
from tests.test_chart_values import CHART, MIRROR

STACK = "local"  # selects every upstream the platform installs
DIRECTORY = "kubernetes:kustomize/v2:Directory"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"


# ------------------------------------------------------------------ rendering every upstream


@dataclass(frozen=True)
class Rendered:
    """One upstream install of the plan, rendered: ``upstream`` as simulated.Omitted names it."""

    upstream: str
    resource: str  # the Pulumi resource name
    namespace: str | None  # where namespaced objects without one land (the chart's namespace)
    docs: tuple[dict[str, Any], ...]

    def objects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(namespace or None, object) for every object."""
        for doc in self.docs:
            yield doc.get("metadata", {}).get("namespace") or self.namespace, doc


def _kubectl() -> str | None:
    built = sorted(TOOLS.glob("*/bin/kubectl"))
    return str(built[-1]) if built else shutil.which("kubectl")


def _kubeflow_part(directory: str) -> str:
    paths = [*kubeflow._common("oauth2-proxy"), *kubeflow._common("gke")]
    paths += [p for parts in kubeflow.COMPONENT_PATHS.values() for p in parts]
    found = {part for part, path in paths if directory.rstrip("/").endswith("/" + path)}
    assert len(found) == 1, f"{directory}: not one Kubeflow part of components/platform/kubeflow.py ({found})"
    return f"kubeflow-manifests/{found.pop()}"


def _key_of(filename: str) -> str:
    (key,) = [u.key for u in UPSTREAMS.values() if u.mirror_name == filename]
    return key


def _kustomize(directory: str) -> list[dict[str, Any]]:
    kubectl = _kubectl()
    if kubectl is None:
        need("kubectl", f"no kubectl under {TOOLS} or on PATH to render the Kubeflow kustomizations")
    out = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"kubectl kustomize {directory}: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if isinstance(d, dict) and d]


def local_values() -> dict[str, Any]:
    """The local stack's values with upstream installs taken from the mirror.

    ``cluster.simulated`` is left out of the plan: under the offline planner's mocks there is no callback
    server for transforms, and the values the upstreams get do not depend on it.
    """
    values = stack_values(STACK)
    values["cluster"] = {k: v for k, v in (values.get("cluster") or {}).items() if k != "simulated"}
    values["upstream"] = {
        **(values.get("upstream") or {}),
        "install": True,
        "charts_mirror": str(MIRROR),
        "manifests_mirror": str(MIRROR),
    }
    return values


@cache
def rendered_upstreams() -> tuple[Rendered, ...]:
    """Every chart, kustomization and manifest the local stack installs, rendered offline."""
    helm_or_fail()
    out = []
    with tempfile.TemporaryDirectory(prefix="aistack-render-") as tmp:
        for r in plan_values(local_values(), stack=STACK):
            if r.type == CHART:
                chart = Path(r.inputs["chart"])
                namespace = r.inputs.get("namespace") or "default"
                docs = render(chart, r.inputs.get("name") or r.name, namespace, r.inputs.get("values") or {}, Path(tmp))
                out.append(Rendered(_key_of(chart.name), r.name, namespace, tuple(docs)))
            elif r.type == DIRECTORY:
                directory = r.inputs["directory"]
                out.append(Rendered(_kubeflow_part(directory), r.name, None, tuple(_kustomize(directory))))
            elif r.type == CONFIG_FILE:
                file = Path(r.inputs["file"])
                docs = [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict) and d]
                out.append(Rendered(_key_of(file.name), r.name, None, tuple(docs)))
    return tuple(out)


needs_mirror = pytest.mark.need("mirror", f"no {MIRROR} (the pinned upstreams) here", have=MIRROR.is_dir())


# ------------------------------------------------------------------ the rules, object by object


def _webhook(name: str, client: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": client,
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
    }


SERVICE = {"service": {"name": "hook", "namespace": "ns", "path": "/mutate"}, "caBundle": "Y2E="}


def _config(kind: str, *webhooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "x", "annotations": {"upstream": "kept"}},
        "webhooks": list(webhooks),
    }


@pytest.mark.parametrize("kind", sorted(simulated.WEBHOOK_KINDS))
def test_service_webhooks_are_removed_url_webhooks_kept(kind: str) -> None:
    url = _webhook("b.example.com", {"url": "https://hooks.example.com/b"})
    obj = _config(kind, _webhook("a.example.com", SERVICE), url)
    before = copy.deepcopy(obj)
    out = simulated.neutralise(kind, obj)
    assert out is not None
    assert out["webhooks"] == [url]
    assert obj == before, "neutralise must not modify its argument"
    assert out["metadata"]["annotations"]["upstream"] == "kept"
    assert "a.example.com" in out["metadata"]["annotations"][simulated.ANNOTATION]
    only_service = simulated.neutralise(kind, _config(kind, _webhook("a.example.com", SERVICE)))
    assert only_service is not None and only_service["webhooks"] == []
    kubernetes_validate.validate(only_service, "1.34", strict=True)


@pytest.mark.parametrize("kind", sorted(simulated.WEBHOOK_KINDS))
def test_webhooks_without_a_service_are_left_alone(kind: str) -> None:
    assert (
        simulated.neutralise(kind, _config(kind, _webhook("b.example.com", {"url": "https://h.example.com"}))) is None
    )
    assert simulated.neutralise(kind, _config(kind)) is None
    assert simulated.neutralise(kind, {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind}) is None


def _crd(conversion: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "example.com",
        "names": {"kind": "Thing", "plural": "things", "singular": "thing", "listKind": "ThingList"},
        "scope": "Namespaced",
        "versions": [
            {"name": v, "served": True, "storage": v == "v2", "schema": {"openAPIV3Schema": {"type": "object"}}}
            for v in ("v1", "v2")
        ],
    }
    if conversion is not None:
        spec["conversion"] = conversion
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": spec,
    }


def test_conversion_webhooks_become_none() -> None:
    webhook = {"clientConfig": {"service": {"name": "hook", "namespace": "ns", "path": "/convert"}}}
    obj = _crd({"strategy": "Webhook", "webhook": {**webhook, "conversionReviewVersions": ["v1"]}})
    before = copy.deepcopy(obj)
    out = simulated.neutralise("CustomResourceDefinition", obj)
    assert out is not None and obj == before
    assert out["spec"]["conversion"] == {"strategy": "None"}
    assert out["spec"]["versions"] == obj["spec"]["versions"]
    kubernetes_validate.validate(out, "1.34", strict=True)
    assert simulated.neutralise("CustomResourceDefinition", _crd({"strategy": "None"})) is None
    assert simulated.neutralise("CustomResourceDefinition", _crd(None)) is None


def _api_service(service: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "metrics.example.com",
        "version": "v1",
        "groupPriorityMinimum": 100,
        "versionPriority": 100,
    }
    if service is not None:
        spec |= {"service": service, "caBundle": "Y2E=", "insecureSkipTLSVerify": False}
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1.metrics.example.com"},
        "spec": spec,
    }


def test_aggregated_apis_become_local() -> None:
    obj = _api_service({"name": "api", "namespace": "ns", "port": 443})
    out = simulated.neutralise("APIService", obj)
    assert out is not None
    assert out["spec"] == {
        "group": "metrics.example.com",
        "version": "v1",
        "groupPriorityMinimum": 100,
        "versionPriority": 100,
    }
    assert "ns/api" in out["metadata"]["annotations"][simulated.ANNOTATION]
    assert obj["spec"]["service"] == {"name": "api", "namespace": "ns", "port": 443}, "argument unchanged"
    kubernetes_validate.validate(out, "1.34", strict=True)
    assert simulated.neutralise("APIService", _api_service(None)) is None


def test_other_kinds_are_never_touched() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": 1}}
    assert simulated.neutralise("Deployment", deployment) is None
    assert simulated.neutralise("Service", {"kind": "Service", "spec": {"type": "LoadBalancer"}}) is None


# ------------------------------------------------------------------ the Pulumi transform


def _args(type_: str, props: dict[str, Any]) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(
        custom=True, type_=type_, name="child", props=props, opts=pulumi.ResourceOptions()
    )


def test_transform_rewrites_chart_children_by_type() -> None:
    kind = "MutatingWebhookConfiguration"
    props = _config(kind, _webhook("a.example.com", SERVICE))
    result = simulated.transform(_args(f"kubernetes:admissionregistration.k8s.io/v1:{kind}", props))
    assert result is not None
    assert result.props["webhooks"] == []
    assert result.props["kind"] == kind
    crd = simulated.transform(
        _args(
            "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
            _crd({"strategy": "Webhook", "webhook": {"clientConfig": SERVICE, "conversionReviewVersions": ["v1"]}}),
        )
    )
    assert crd is not None and crd.props["spec"]["conversion"] == {"strategy": "None"}
    api = simulated.transform(
        _args("kubernetes:apiregistration.k8s.io/v1:APIService", _api_service({"name": "a", "namespace": "b"}))
    )
    assert api is not None and "service" not in api.props["spec"]


def test_transform_leaves_everything_else_alone() -> None:
    assert simulated.transform(_args("kubernetes:helm.sh/v4:Chart", {"chart": "x"})) is None
    assert simulated.transform(_args("kubernetes:apps/v1:Deployment", {"kind": "Deployment"})) is None
    assert simulated.transform(_args("aistack:index:Platform", {})) is None
    url_only = _config("ValidatingWebhookConfiguration", _webhook("b.example.com", {"url": "https://h.example.com"}))
    assert (
        simulated.transform(
            _args("kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration", url_only)
        )
        is None
    )


def test_transform_keeps_secret_fields_secret() -> None:
    kind = "ValidatingWebhookConfiguration"
    obj = _config(kind, _webhook("a.example.com", SERVICE))
    # A field the provider marked secret reaches a transform in Pulumi's wire format.
    props = {**obj, "webhooks": {simulated._SIG: simulated._SECRET_SIG, "value": obj["webhooks"]}}

    async def run() -> tuple[Any, bool, Any]:  # Outputs belong to the running event loop
        result = simulated.transform(_args(f"kubernetes:admissionregistration.k8s.io/v1:{kind}", props))
        assert result is not None
        webhooks = result.props["webhooks"]
        assert isinstance(webhooks, pulumi.Output)
        return result.props["kind"], await webhooks.is_secret(), await webhooks.future()

    loop = asyncio.new_event_loop()  # not asyncio.run: that unsets the thread's loop, which later plans use
    try:
        assert loop.run_until_complete(run()) == (kind, True, [])
    finally:
        loop.close()


# ------------------------------------------------------------------ every upstream, rendered


@needs_mirror
def test_every_upstream_of_the_local_stack_renders() -> None:
    upstreams = {r.upstream for r in rendered_upstreams()}
    charts = {"gpu-operator", "kueue", "kube-prometheus-stack", "metallb", "seaweedfs", "csi-driver-nfs"}
    assert (
        charts | {"local-path-provisioner", "kubeflow-manifests/trainer", "kubeflow-manifests/pipelines"} <= upstreams
    )
    assert all(r.docs for r in rendered_upstreams())


def _calls_a_pod(kind: str, obj: dict[str, Any]) -> str | None:
    if kind in simulated.WEBHOOK_KINDS:
        served = [w["name"] for w in obj.get("webhooks") or [] if "service" in (w.get("clientConfig") or {})]
        return f"webhooks {served} call a Service" if served else None
    if kind == "CustomResourceDefinition":
        strategy = (obj["spec"].get("conversion") or {}).get("strategy")
        return "conversion strategy Webhook" if strategy == "Webhook" else None
    if kind == "APIService":
        return "spec.service: an aggregated API" if obj["spec"].get("service") else None
    return None


def _neutralised() -> list[tuple[Rendered, dict[str, Any], dict[str, Any]]]:
    """(upstream, object as rendered, object as a simulated cluster gets it) for every changed object."""
    out = []
    for r in rendered_upstreams():
        for doc in r.docs:
            changed = simulated.neutralise(doc["kind"], doc)
            if changed is not None:
                out.append((r, doc, changed))
    return out


@needs_mirror
def test_nothing_calls_a_pod_after_neutralise() -> None:
    problems = []
    for r in rendered_upstreams():
        for doc in r.docs:
            obj = simulated.neutralise(doc["kind"], doc) or doc
            why = _calls_a_pod(doc["kind"], obj)
            if why:
                problems.append(f"{r.upstream}: {doc['kind']} {doc['metadata']['name']}: {why}")
    assert not problems, "\n".join(problems)
    assert _neutralised(), "the upstreams have webhooks: the rules found none"


@needs_mirror
def test_the_omitted_table_names_every_neutralised_object() -> None:
    missing = [
        f"{r.upstream}: {doc['kind']} {doc['metadata']['name']}"
        for r, doc, _ in _neutralised()
        if simulated.omitted_row(r.upstream, doc["kind"], doc["metadata"]["name"]) is None
    ]
    assert not missing, "neutralised but not in simulated.OMITTED (add a row with the reason):\n" + "\n".join(missing)


@needs_mirror
def test_the_omitted_table_is_not_stale() -> None:
    hit = {
        row
        for r, doc, _ in _neutralised()
        for row in simulated.OMITTED
        if row.matches(r.upstream, doc["kind"], doc["metadata"]["name"])
    }
    stale = [f"{row.upstream}: {row.kind} {row.name}" for row in simulated.OMITTED if row not in hit]
    assert not stale, "rows of simulated.OMITTED that match no neutralised object:\n" + "\n".join(stale)
    assert len(set(simulated.OMITTED)) == len(simulated.OMITTED), "duplicate rows"


@needs_mirror
def test_neutralised_objects_still_validate_strictly() -> None:
    every = [doc for r in rendered_upstreams() for doc in r.docs]
    custom = {**_file_crds(), **_crd_schemas(every)}
    problems = []
    for r, _, changed in _neutralised():
        try:
            validate(changed, custom)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            problems.append(
                f"{r.upstream}: {changed['kind']} {changed['metadata']['name']}: {str(exc).splitlines()[0]}"
            )
    assert not problems, "\n".join(problems)


@needs_mirror
def test_only_the_three_kinds_change() -> None:
    kinds = {changed["kind"] for _, _, changed in _neutralised()}
    assert kinds <= {*simulated.WEBHOOK_KINDS, "CustomResourceDefinition", "APIService"}
    for _, doc, changed in _neutralised():
        rest = {k: v for k, v in changed.items() if k not in ("metadata", "webhooks", "spec")}
        assert rest == {k: v for k, v in doc.items() if k not in ("metadata", "webhooks", "spec")}
        assert changed["metadata"]["name"] == doc["metadata"]["name"]


def test_omitted_rows_name_known_upstreams() -> None:
    parts = {
        part
        for part, _ in [*kubeflow._common("oauth2-proxy"), *(p for ps in kubeflow.COMPONENT_PATHS.values() for p in ps)]
    }
    known = set(UPSTREAMS) | {f"kubeflow-manifests/{p}" for p in parts}
    assert {row.upstream for row in simulated.OMITTED} <= known
    assert all(row.reason.strip() for row in simulated.OMITTED)
