"""Which Services keep the Kubernetes provider's own wait (components/awaits.py), and the one stack-wide
transform that runs aistack's object rules (components/transforms.py).

The oracle for the upstreams is their render (tests/test_simulated.py: `helm template` with aistack's values,
`kubectl kustomize` of the pinned trees): a Service some webhook configuration, CRD conversion or APIService
of any upstream points at, and a Service with a selector that no Deployment, StatefulSet or DaemonSet of its
own install matches, must keep the provider's wait; the rest may skip its fixed settle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
import pytest

from components import awaits, transforms
from tests.test_simulated import needs_mirror, rendered_upstreams

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def service(name: str = "web", ns: str = "apps", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"app": name})
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


# ------------------------------------------------------------------ hand-worked cases


def test_a_service_in_front_of_a_workload_skips_the_settle() -> None:
    assert not awaits.keeps_await(service())
    out = awaits.skip_await(service())
    assert out["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert out["spec"] == service()["spec"] and out["metadata"]["name"] == "web"


def test_a_service_without_a_namespace_is_one_in_default() -> None:
    obj = {"metadata": {"name": "istiod"}, "spec": {"selector": {"a": "b"}, "type": "ClusterIP"}}
    assert not awaits.keeps_await(obj)  # istio-system/istiod is a webhook's, default/istiod is not


def test_the_input_is_not_modified() -> None:
    obj = service()
    obj["metadata"]["annotations"] = {"team": "a"}
    out = awaits.skip_await(obj)
    assert obj["metadata"]["annotations"] == {"team": "a"}
    assert out["metadata"]["annotations"] == {"team": "a", "pulumi.com/skipAwait": "true"}


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        (service(type="LoadBalancer"), "users wait for the address"),
        (service(clusterIP="None"), "headless: no endpoint wait anyway"),
        (service(type="ExternalName", externalName="x.example"), "no pods"),
        (service(selector={}), "selector-less: no endpoint wait anyway"),
        (
            service("prometheus", "monitoring", selector={"operator.prometheus.io/name": "p", "x": "y"}),
            "an operator's pods",
        ),
        (service("alertmanager", "monitoring", selector={"alertmanager": "a"}), "an operator's pods"),
        (service("istiod", "istio-system"), "the API server calls it (webhook)"),
        (service("cert-manager-webhook", "cert-manager"), "the API server calls it (webhook)"),
    ],
)
def test_services_that_keep_the_provider_s_wait(obj: dict[str, Any], why: str) -> None:
    assert awaits.keeps_await(obj), why


def test_a_service_that_already_says_what_to_wait_for_is_left_alone() -> None:
    for note in ({"pulumi.com/skipAwait": "false"}, {"pulumi.com/waitFor": "jsonpath={.spec.clusterIP}"}):
        obj = service()
        obj["metadata"]["annotations"] = note
        assert awaits.keeps_await(obj)


def test_webhook_services_skip_too_where_no_webhook_is_called() -> None:
    # a simulated cluster: components/simulated.py neutralises every webhook that calls a Service
    assert not awaits.keeps_await(service("istiod", "istio-system"), webhooks_served=False)
    assert awaits.keeps_await(service("prometheus", "m", selector={"alertmanager": "a"}), webhooks_served=False)


def test_fields_not_known_yet_keep_the_wait() -> None:
    pending = {"metadata": object(), "spec": {"selector": {"a": "b"}}}
    assert awaits.keeps_await(pending)


def _args(type_: str, props: dict[str, Any]) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(True, type_, "child", props, pulumi.ResourceOptions(protect=True))


def test_the_transform_touches_services_only() -> None:
    t = awaits.transform(webhooks_served=True)
    result = t(_args(awaits.SERVICE, service()))
    assert result is not None and isinstance(result.props, dict)
    assert result.props["metadata"]["annotations"] == {awaits.SKIP_AWAIT: "true"}
    assert result.opts is not None and result.opts.protect
    assert t(_args("kubernetes:apps/v1:Deployment", service())) is None
    assert t(_args(awaits.SERVICE, service("istiod", "istio-system"))) is None


# ------------------------------------------------------------------ against every rendered upstream


def _called_by_the_api_server() -> set[tuple[str, str]]:
    found = set()
    for r in rendered_upstreams():
        for _, obj in r.objects():
            kind, spec = obj.get("kind"), obj.get("spec") or {}
            targets = []
            if kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
                targets = [(w.get("clientConfig") or {}).get("service") for w in obj.get("webhooks") or []]
            elif kind == "APIService":
                targets = [spec.get("service")]
            elif kind == "CustomResourceDefinition":
                targets = [((spec.get("conversion") or {}).get("webhook") or {}).get("clientConfig", {}).get("service")]
            found |= {(t["namespace"], t["name"]) for t in targets if isinstance(t, Mapping)}
    return found


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _rendered_services() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(upstream, Service with its namespace filled in, whether a workload of the same install backs it)."""
    for r in rendered_upstreams():
        objects = list(r.objects())
        pods = [
            (ns, ((o.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
            for ns, o in objects
            if o.get("kind") in WORKLOADS
        ]
        for ns, obj in objects:
            if obj.get("kind") != "Service":
                continue
            placed = {**obj, "metadata": {**obj["metadata"], "namespace": ns or "default"}}
            selector = (obj.get("spec") or {}).get("selector") or {}
            backed = bool(selector) and any(
                pns == placed["metadata"]["namespace"] and _selects(selector, lab) for pns, lab in pods
            )
            yield r.upstream, placed, backed


@needs_mirror
def test_no_service_the_api_server_calls_or_no_workload_backs_loses_its_wait() -> None:
    called = _called_by_the_api_server()
    skipped, wrong = [], []
    for upstream, obj, backed in _rendered_services():
        where = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        spec = obj.get("spec") or {}
        waits_for_endpoints = bool(spec.get("selector")) and spec.get("clusterIP") != "None"
        must_wait = waits_for_endpoints and (where in called or not backed)
        if must_wait and not awaits.keeps_await(obj):
            wrong.append(f"{upstream}: {where} ({'called by the API server' if where in called else 'no workload'})")
        if not awaits.keeps_await(obj):
            skipped.append(where)
    assert not wrong, wrong
    # The rule does something: most of the platform's Services are fronts of awaited workloads.
    assert len(skipped) >= 20, skipped


@needs_mirror
def test_every_api_server_row_names_a_rendered_service() -> None:
    called = _called_by_the_api_server()
    assert called == awaits.API_SERVER_CALLS, (
        f"stale rows: {sorted(awaits.API_SERVER_CALLS - called)}; missing: {sorted(called - awaits.API_SERVER_CALLS)}"
    )


# ------------------------------------------------------------------ one transform for all the rules


def _mark(key: str) -> pulumi.ResourceTransform:
    def step(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != "t:x":
            return None
        return pulumi.ResourceTransformResult(props={**args.props, key: len(args.props)}, opts=args.opts)

    return step


async def _async_mark(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    return pulumi.ResourceTransformResult(props={**args.props, "async": True}, opts=args.opts)


def _run(t: pulumi.ResourceTransform, args: pulumi.ResourceTransformArgs) -> Any:
    out = t(args)
    if not asyncio.iscoroutine(out):
        return out
    loop = asyncio.new_event_loop()  # not asyncio.run: that leaves the thread without a loop for later tests
    try:
        return loop.run_until_complete(out)
    finally:
        loop.close()


def test_the_chain_runs_each_rule_on_what_the_one_before_returned() -> None:
    chained = transforms.chain([_mark("first"), _mark("second"), _async_mark])
    result = _run(chained, pulumi.ResourceTransformArgs(True, "t:x", "n", {"a": 1}, pulumi.ResourceOptions()))
    assert result.props == {"a": 1, "first": 1, "second": 2, "async": True}


def test_the_chain_changes_nothing_when_no_rule_does() -> None:
    chained = transforms.chain([_mark("first"), _mark("second")])
    assert _run(chained, pulumi.ResourceTransformArgs(True, "t:other", "n", {"a": 1}, pulumi.ResourceOptions())) is None


def test_the_chain_keeps_the_options_a_rule_returns() -> None:
    def protect(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
        return pulumi.ResourceTransformResult(props=args.props, opts=pulumi.ResourceOptions(protect=True))

    chained = transforms.chain([protect, _mark("after")])
    result = _run(chained, pulumi.ResourceTransformArgs(True, "t:x", "n", {}, pulumi.ResourceOptions()))
    assert result.opts.protect and result.props == {"after": 0}
