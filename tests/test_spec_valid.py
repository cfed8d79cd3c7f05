"""Valid stacks load, with the defaults the README promises."""

from __future__ import annotations

import pytest

from components.spec import load_stack, parse_spec, pool_capacity
from tests.conftest import EXAMPLE_STACKS


def test_examples_exist() -> None:
    assert set(EXAMPLE_STACKS) >= {"gcp-tpu", "aws-gpu", "onprem-gpu", "local"}


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_example_stack_is_valid(name: str) -> None:
    loaded = load_stack(name)
    assert loaded.name == name
    assert loaded.spec.accelerator_pools, "every example exercises accelerator pools"
    assert loaded.spec.teams, "every example exercises teams"


def test_only_target_and_region_are_required() -> None:
    # (gcp also needs its project, which normally comes from the gcp:project provider config)
    spec = parse_spec({"target": "aws", "region": "us-east-1"})
    assert spec.data_protection is True
    assert spec.compliance == "standard"
    assert spec.security.customer_managed_keys is True
    assert spec.cluster.release_channel == "regular"
    assert spec.storage.buckets == ("datasets", "artifacts", "models")
    assert spec.kubeflow.version == "26.03"
    assert spec.monitoring.retention == "15d"


def test_gcp_project_falls_back_to_provider_config() -> None:
    loaded = load_stack("gcp-tpu")
    assert loaded.spec.project == "acme-ml-prod"


@pytest.mark.parametrize(
    ("sharing", "count", "max_nodes", "expected"),
    [
        ({}, 8, 2, 16),
        ({"mode": "time-slicing", "replicas": 4}, 2, 3, 24),
        ({"mode": "mig", "profile": "1g.10gb"}, 8, 1, 56),  # 7 x 1g.10gb per H100
        ({"mode": "mig", "profile": "3g.40gb"}, 8, 1, 16),  # 2 x 3g.40gb per H100
        ({"mode": "mig", "profile": "7g.80gb"}, 4, 2, 8),
    ],
)
def test_pool_capacity(sharing: dict[str, object], count: int, max_nodes: int, expected: int) -> None:
    spec = parse_spec(
        {
            "target": "onprem",
            "region": "dc1",
            "onprem": {"volumes": "local-path"},
            "accelerator_pools": [
                {
                    "name": "p",
                    "accelerator": "nvidia-h100-80gb",
                    "count": count,
                    "max_nodes": max_nodes,
                    "sharing": sharing,
                    "nodes": ["n1"],
                }
            ],
        }
    )
    assert pool_capacity(spec.accelerator_pools[0]) == expected


def test_overcommit_is_allowed_on_purpose() -> None:
    values = {
        "target": "aws",
        "region": "us-east-1",
        "accelerator_pools": [{"name": "p", "accelerator": "nvidia-l4", "max_nodes": 1}],
        "teams": [{"name": "a", "quotas": {"p": 4}}],
        "scheduling": {"allow_overcommit": True},
    }
    assert parse_spec(values).teams[0].quotas == {"p": 4}
