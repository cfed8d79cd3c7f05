"""The real Pulumi program under the SDK's mocks: every example registers cleanly and coherently."""

from __future__ import annotations

import pulumi
import pytest

from aistack.offline import plan
from components.spec import load_stack
from components.spec.dra import TECH_PREVIEW_NOTE
from tests.conftest import EXAMPLE_STACKS

# The target component each spec.target registers (components/targets), and the target each example
# stack is written for (its aistack:target, read by eye from stacks/Pulumi.*.yaml).
TARGET_COMPONENT = {
    "gcp": "aistack:index:GkeTarget",
    "aws": "aistack:index:EksTarget",
    "onprem": "aistack:index:OnPremTarget",
}
EXAMPLE_TARGETS = {"aws-gpu": "aws", "gcp-tpu": "gcp", "local": "onprem", "onprem-gpu": "onprem"}


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_example_registers_without_error(name: str) -> None:
    loaded = load_stack(name)
    p = plan(loaded)
    types = [r.type for r in p.resources]
    assert types.count("aistack:index:AiStack") == 1
    if name in EXAMPLE_TARGETS:
        assert loaded.spec.target == EXAMPLE_TARGETS[name]
    # exactly one target component, the one spec.target names, and none of the others
    registered = [t for t in types if t in TARGET_COMPONENT.values()]
    assert registered == [TARGET_COMPONENT[loaded.spec.target]]


def test_every_target_has_an_example() -> None:
    assert set(EXAMPLE_TARGETS) <= set(EXAMPLE_STACKS)
    assert set(EXAMPLE_TARGETS.values()) == set(TARGET_COMPONENT)


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_tree_is_well_formed(name: str) -> None:
    p = plan(load_stack(name))
    by_urn = {r.urn: r for r in p.resources}
    for r in p.resources:
        if r.type == "aistack:index:AiStack":
            assert r.parent.endswith(f"pulumi:pulumi:Stack::aistack-{name}")
            continue
        parent = by_urn.get(r.parent)
        assert parent is not None, f"{r.urn} is not parented inside the stack"
        assert not parent.custom, "only components parent other resources"
        assert r.name.startswith(f"{parent.name}-"), f"child {r.name} is not named {parent.name}-<role>"
        if not r.custom:
            # Our components, or the upstream installers (Helm v4 charts, kustomizations) they wrap.
            upstream = r.type in (
                "kubernetes:helm.sh/v4:Chart",
                "kubernetes:kustomize/v2:Directory",
                "kubernetes:yaml/v2:ConfigFile",
            )
            assert r.type.startswith("aistack:index:") or upstream, r.type


def test_onprem_platform_uses_the_target_provider() -> None:
    p = plan(load_stack("local"))
    providers = [r for r in p.resources if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 1
    assert providers[0].inputs["kubeconfig"].endswith(".cache/aistack/local/kubeconfig")
    namespaces = {r.inputs["metadata"]["name"] for r in p.resources if r.type == "kubernetes:core/v1:Namespace"}
    assert namespaces == {
        "alpha",
        "beta",
        "gpu-operator",
        "nvidia-dra-driver-gpu",  # the local stack's h100-dra pool (allocation: dra)
        "kueue-system",
        "monitoring",
        "metallb-system",
        "object-store",
    }


def test_team_namespaces_are_retained_under_data_protection() -> None:
    protected = plan(load_stack("onprem-gpu"))  # data_protection defaults to on
    local = plan(load_stack("local"))  # turns it off
    ns = [
        r
        for r in protected.resources
        if r.type == "kubernetes:core/v1:Namespace" and "aistack.io/team" in r.inputs["metadata"]["labels"]
    ]
    assert ns and all(r.retain_on_delete for r in ns)
    assert not any(r.retain_on_delete for r in local.resources if r.type == "kubernetes:core/v1:Namespace")


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_every_target_hands_the_platform_one_provider(name: str) -> None:
    p = plan(load_stack(name))
    (provider,) = [r for r in p.resources if r.type == "pulumi:providers:kubernetes"]
    assert "Target::" in provider.parent
    assert p.kubernetes_objects(), "the platform layer is built on every target"
    # The only warnings an example may give: selector-picked on-prem nodes are resolved at deploy time, and the
    # technology-preview note of a stack with dra pools, once.
    assert all("found at deploy time" in w or w == TECH_PREVIEW_NOTE for w in p.warnings), p.warnings
    assert p.warnings.count(TECH_PREVIEW_NOTE) == (1 if name == "local" else 0)


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_plan_json_is_stable(name: str) -> None:
    loaded = load_stack(name)
    first = plan(loaded).dumps()
    plan(load_stack("local"))  # another stack in between must not leak into the next plan
    assert plan(loaded).dumps() == first


def test_program_rejects_invalid_config_before_registering_anything() -> None:
    from pulumi.runtime import mocks
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from aistack.offline import EchoMocks, RecordingMonitor
    from components.program import main

    mock = EchoMocks()
    monitor = RecordingMonitor(mock)
    mocks.set_mocks(mock, project="aistack", stack="broken", preview=True, monitor=monitor)
    set_all_config({"aistack:target": "gcp", "aistack:region": "us-centrall", "aistack:teams": '[{"name": "A"}]'})
    try:
        with pytest.raises(pulumi.RunError) as info:
            _sync_await(run_pulumi_func(main))
    finally:
        set_all_config({})
    assert "teams[0].name" in str(info.value)
    assert monitor.planned == []
