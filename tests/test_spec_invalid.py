"""Invalid configs: each yields the expected field path, a reason and a fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.spec import SpecError, parse_spec

BASE: dict[str, Any] = {
    "target": "aws",
    "region": "us-east-1",
    "accelerator_pools": [
        {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
        {"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4},
    ],
    "teams": [{"name": "research", "quotas": {"h100": 8, "l4": 2}}],
}


def with_(**changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(BASE)
    values.update(changes)
    return values


def pool(i: int, **changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(BASE)
    values["accelerator_pools"][i].update(changes)
    return values


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (case id, config, expected path, text expected in reason or fix)
    ("missing target", {"region": "us-east-1"}, "target", "required"),
    ("missing region", {"target": "gcp"}, "region", "required"),
    ("bad target", with_(target="azure"), "target", "'azure' is not allowed"),
    ("target typo", with_(target="onprm"), "target", "did you mean 'onprem'"),
    ("unknown top key", with_(acelerator_pools=[]), "acelerator_pools", "did you mean 'accelerator_pools'"),
    ("unknown pool key", pool(0, acelerator="x"), "accelerator_pools[0].acelerator", "did you mean 'accelerator'"),
    (
        "unknown capacity key",
        pool(0, capacity={"typ": "spot"}),
        "accelerator_pools[0].capacity.typ",
        "did you mean 'type'",
    ),
    (
        "unknown accelerator",
        pool(1, accelerator="h100"),
        "accelerator_pools[1].accelerator",
        "did you mean 'nvidia-h100-80gb'",
    ),
    (
        "accelerator typo",
        pool(1, accelerator="nvidia-l4x"),
        "accelerator_pools[1].accelerator",
        "did you mean 'nvidia-l4'",
    ),
    ("unknown region", with_(region="us-east-7"), "region", "did you mean"),
    ("gcp region on aws", with_(region="europe-west4"), "region", "unknown aws region"),
    (
        "tpu on aws",
        pool(1, accelerator="tpu-v5e", tpu_topology="2x4"),
        "accelerator_pools[1].accelerator",
        "set target to gcp",
    ),
    (
        "trainium on gcp",
        {
            "target": "gcp",
            "region": "us-central1",
            "accelerator_pools": [{"name": "t", "accelerator": "aws-trainium2"}],
        },
        "accelerator_pools[0].accelerator",
        "not offered on target gcp",
    ),
    (
        "tpu without topology",
        {
            "target": "gcp",
            "region": "us-central1",
            "accelerator_pools": [{"name": "t", "accelerator": "tpu-v6e", "count": 4}],
        },
        "accelerator_pools[0].tpu_topology",
        "needs a slice topology",
    ),
    ("topology on gpu", pool(0, tpu_topology="2x2"), "accelerator_pools[0].tpu_topology", "remove tpu_topology"),
    ("bad topology text", pool(0, tpu_topology="big"), "accelerator_pools[0].tpu_topology", "topology like 2x4"),
    (
        "mig without mig gpu",
        pool(1, sharing={"mode": "mig", "profile": "1g.5gb"}),
        "accelerator_pools[1].sharing.mode",
        "no MIG support",
    ),
    (
        "unknown mig profile",
        pool(0, sharing={"mode": "mig", "profile": "1g.5gb"}),
        "accelerator_pools[0].sharing.profile",
        "did you mean",
    ),
    ("mig without profile", pool(0, sharing={"mode": "mig"}), "accelerator_pools[0].sharing.profile", "1g.10gb"),
    (
        "time-slicing without replicas",
        pool(1, sharing={"mode": "time-slicing"}),
        "accelerator_pools[1].sharing.replicas",
        "set replicas",
    ),
    (
        "too many replicas",
        pool(1, sharing={"mode": "time-slicing", "replicas": 1000}),
        "accelerator_pools[1].sharing.replicas",
        "at most 48",
    ),
    ("min above max", pool(1, min_nodes=5, max_nodes=2), "accelerator_pools[1].min_nodes", "above max_nodes"),
    ("negative count", pool(1, count=-1), "accelerator_pools[1].count", "at least 1"),
    ("bad pool name", pool(1, name="L4_Pool"), "accelerator_pools[1].name", "DNS label"),
    ("duplicate pool", pool(1, name="h100"), "accelerator_pools[1].name", "used twice"),
    (
        "bad taint effect",
        pool(1, taints=[{"key": "k", "effect": "NoScheduleX"}]),
        "accelerator_pools[1].taints[0].effect",
        "did you mean 'NoSchedule'",
    ),
    (
        "quota names missing pool",
        with_(teams=[{"name": "a", "quotas": {"h10": 1}}]),
        "teams[0].quotas.h10",
        "did you mean 'h100'",
    ),
    (
        "quotas exceed capacity",
        with_(teams=[{"name": "a", "quotas": {"h100": 12}}, {"name": "b", "quotas": {"h100": 8}}]),
        "accelerator_pools[0].max_nodes",
        "allow_overcommit",
    ),
    ("duplicate team", with_(teams=[{"name": "a"}, {"name": "a"}]), "teams[1].name", "listed twice"),
    ("system namespace team", with_(teams=[{"name": "kube-system"}]), "teams[0].name", "system namespace"),
    ("gdpr outside eu", with_(compliance="gdpr"), "region", "eu-central-1"),
    (
        "gdpr on a non-EU european region",
        {"target": "gcp", "region": "europe-west2", "compliance": "gdpr"},
        "region",
        "outside",
    ),
    (
        "gdpr onprem without country",
        {"target": "onprem", "region": "dc1", "compliance": "gdpr", "onprem": {"volumes": "local-path"}},
        "country",
        "EU/EEA",
    ),
    ("hipaa public endpoint", with_(compliance="hipaa"), "cluster.private_endpoint", "private_endpoint: true"),
    (
        "hipaa without cmek",
        with_(compliance="hipaa", cluster={"private_endpoint": True}, security={"customer_managed_keys": False}),
        "security.customer_managed_keys",
        "true",
    ),
    (
        "hipaa without data protection",
        with_(compliance="hipaa", cluster={"private_endpoint": True}, data_protection=False),
        "data_protection",
        "true",
    ),
    (
        "bad cidr",
        with_(cluster={"authorized_networks": [{"cidr": "10.0.0.1/8"}]}),
        "cluster.authorized_networks[0].cidr",
        "host bits",
    ),
    ("bad retention", with_(monitoring={"retention": "15 days"}), "monitoring.retention", "duration like"),
    (
        "kubeflow component typo",
        with_(kubeflow={"components": ["pipeline"]}),
        "kubeflow.components[0]",
        "did you mean 'pipelines'",
    ),
    (
        "spot on prem",
        {
            "target": "onprem",
            "region": "dc1",
            "onprem": {"volumes": "local-path"},
            "accelerator_pools": [{"name": "p", "accelerator": "nvidia-l4", "spot": True, "nodes": ["n1"]}],
        },
        "accelerator_pools[0].spot",
        "only on clouds",
    ),
    (
        "onprem pool without nodes",
        {
            "target": "onprem",
            "region": "dc1",
            "onprem": {"volumes": "local-path"},
            "accelerator_pools": [{"name": "p", "accelerator": "nvidia-l4"}],
        },
        "accelerator_pools[0].nodes",
        "node_selector",
    ),
    ("nodes on a cloud pool", pool(1, nodes=["n1"]), "accelerator_pools[1].nodes", "remove nodes"),
    ("kubeconfig on a cloud", with_(cluster={"kubeconfig": "/tmp/k"}), "cluster.kubeconfig", "target: onprem"),
    ("zone outside region", with_(zones=["us-west-2a"]), "zones[0]", "us-east-1a"),
    ("wrong type", with_(data_protection="maybe"), "data_protection", "true or false"),
    ("pools not a list", with_(accelerator_pools={"name": "x"}), "accelerator_pools", "must be a list"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_names_field_reason_and_fix(config: dict[str, Any], path: str, text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(config)
    issues = {i.path: i for i in info.value.issues}
    assert path in issues, f"expected an issue at {path}, got {list(issues)}"
    issue = issues[path]
    assert text in f"{issue.reason} {issue.fix}"
    assert issue.fix, "every issue says how to fix it"
    assert "To fix:" in str(issue)


def test_several_errors_are_reported_at_once() -> None:
    config = pool(0, accelerator="h100")
    config["teams"] = [{"name": "a", "quotas": {"nope": 1}}]
    config["compliance"] = "gdpr"
    with pytest.raises(SpecError) as info:
        parse_spec(config)
    paths = {i.path for i in info.value.issues}
    assert {"accelerator_pools[0].accelerator", "teams[0].quotas.nope", "region"} <= paths


def test_shape_errors_are_all_reported() -> None:
    config = with_(target="azure", data_protection="maybe", monitoring={"retention": "soon"})
    with pytest.raises(SpecError) as info:
        parse_spec(config)
    assert {"target", "data_protection", "monitoring.retention"} <= {i.path for i in info.value.issues}


def test_error_text_lists_every_issue() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"target": "gcp"}, source="stacks/Pulumi.x.yaml")
    assert "stacks/Pulumi.x.yaml" in str(info.value)
    assert "region" in str(info.value)


# ------------------------------------------------------------------------------- capacity options

GCP: dict[str, Any] = {
    "target": "gcp",
    "region": "us-central1",
    "project": "acme-ml-prod",
    "zones": ["us-central1-a"],
    "accelerator_pools": [{"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2}],
}
ONPREM: dict[str, Any] = {
    "target": "onprem",
    "region": "dc1",
    "onprem": {"volumes": "local-path"},
    "accelerator_pools": [{"name": "p", "accelerator": "nvidia-l4", "nodes": ["n1"]}],
}


def gcp_pool(**changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(GCP)
    values["accelerator_pools"][0].update(changes)
    return values


def onprem_pool(**changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(ONPREM)
    values["accelerator_pools"][0].update(changes)
    return values


BLOCK = "cr-0123456789abcdef0"
CAPACITY_CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (case id, config, expected path, text in the reason, text in the fix)
    (
        "spot with a reservation",
        pool(0, spot=True, capacity={"type": "reservation", "reservation": "cr-0123abcd"}),
        "accelerator_pools[0].spot",
        "capacity.type is 'reservation'",
        "remove spot",
    ),
    (
        "spot with an explicit on-demand",
        pool(0, spot=True, capacity={"type": "on-demand"}),
        "accelerator_pools[0].spot",
        "'on-demand'",
        "capacity.type: spot",
    ),
    (
        "specific reservation without a name",
        gcp_pool(capacity={"type": "reservation"}),
        "accelerator_pools[0].capacity.reservation",
        "none is named",
        "affinity: any",
    ),
    (
        "any reservation with a name",
        gcp_pool(capacity={"type": "reservation", "affinity": "any", "reservation": "res-h100"}),
        "accelerator_pools[0].capacity.reservation",
        "would be ignored",
        "affinity: specific",
    ),
    (
        "reservation on on-demand",
        pool(0, capacity={"reservation": "cr-0123abcd"}),
        "accelerator_pools[0].capacity.reservation",
        "type is on-demand",
        "capacity.type: reservation",
    ),
    (
        "affinity on spot",
        gcp_pool(capacity={"type": "spot", "affinity": "any"}),
        "accelerator_pools[0].capacity.affinity",
        "type is spot",
        "remove affinity",
    ),
    (
        "aws reservation that is not a cr- id",
        pool(0, capacity={"type": "reservation", "reservation": "res-h100"}),
        "accelerator_pools[0].capacity.reservation",
        "not an EC2 Capacity Reservation id",
        "cr-0123456789abcdef0",
    ),
    (
        "gcp reservation with capitals",
        gcp_pool(capacity={"type": "reservation", "reservation": "Res_H100"}),
        "accelerator_pools[0].capacity.reservation",
        "not a Compute Engine reservation name",
        "projects/<owner-project>/reservations/<name>",
    ),
    (
        "capacity block on gcp",
        gcp_pool(capacity={"type": "capacity-block", "block_id": BLOCK}),
        "accelerator_pools[0].capacity.type",
        "AWS (EC2 Capacity Blocks for ML) only; target is gcp",
        "flex-start",
    ),
    (
        "capacity block without a block",
        pool(0, capacity={"type": "capacity-block"}),
        "accelerator_pools[0].capacity.block_id",
        "none is named",
        "set block_id",
    ),
    (
        "capacity block with an offering id",
        pool(0, capacity={"type": "capacity-block", "block_id": "cb-0123456789abcdef0"}),
        "accelerator_pools[0].capacity.block_id",
        "not a Capacity Block reservation id",
        "cb- id of the offering is not it",
    ),
    (
        "capacity block on an instance type AWS does not sell so",
        pool(1, capacity={"type": "capacity-block", "block_id": BLOCK}),
        "accelerator_pools[1].accelerator",
        "g6.xlarge is not sold as an EC2 Capacity Block",
        "p5.48xlarge",
    ),
    (
        "capacity block named on an on-demand pool",
        pool(0, capacity={"block_id": BLOCK}),
        "accelerator_pools[0].capacity.block_id",
        "type is on-demand",
        "capacity.type: capacity-block",
    ),
    (
        "flex-start on aws",
        pool(0, capacity={"type": "flex-start"}),
        "accelerator_pools[0].capacity.type",
        "GKE (DWS flex-start) only; target is aws",
        "capacity-block",
    ),
    (
        "flex-start with standing nodes",
        gcp_pool(capacity={"type": "flex-start"}, min_nodes=1),
        "accelerator_pools[0].min_nodes",
        "no standing nodes",
        "min_nodes: 0",
    ),
    (
        "flex-start with spot",
        gcp_pool(capacity={"type": "flex-start"}, spot=True),
        "accelerator_pools[0].spot",
        "capacity.type is 'flex-start'",
        "remove spot",
    ),
    (
        "reservation on prem",
        onprem_pool(capacity={"type": "reservation", "reservation": "r1"}),
        "accelerator_pools[0].capacity.type",
        "on-prem capacity is your own nodes",
        "remove capacity",
    ),
    (
        "capacity spot on prem",
        onprem_pool(capacity={"type": "spot"}),
        "accelerator_pools[0].capacity.type",
        "only on clouds",
        "remove capacity",
    ),
    (
        "capacity type typo",
        gcp_pool(capacity={"type": "flexstart"}),
        "accelerator_pools[0].capacity.type",
        "'flexstart' is not allowed",
        "did you mean 'flex-start'",
    ),
]


@pytest.mark.parametrize(
    ("config", "path", "reason", "fix"), [c[1:] for c in CAPACITY_CASES], ids=[c[0] for c in CAPACITY_CASES]
)
def test_capacity_issue_names_field_reason_and_fix(config: dict[str, Any], path: str, reason: str, fix: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(config)
    issues = {i.path: i for i in info.value.issues}
    assert path in issues, f"expected an issue at {path}, got {list(issues)}"
    issue = issues[path]
    assert reason in issue.reason, issue
    assert fix in issue.fix, issue
    assert "To fix:" in str(issue)


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        (gcp_pool(capacity={"type": "flex-start"}), "flex-start"),
        (gcp_pool(capacity={"type": "reservation", "reservation": "res-h100"}), "reservation"),
        (
            gcp_pool(capacity={"type": "reservation", "reservation": "projects/acme-shared/reservations/h100"}),
            "reservation",
        ),
        (gcp_pool(capacity={"type": "reservation", "affinity": "any"}), "reservation"),
        (pool(0, capacity={"type": "capacity-block", "block_id": BLOCK}), "capacity-block"),
        (pool(0, capacity={"type": "reservation", "reservation": "cr-0123abcd"}), "reservation"),
        (pool(0, spot=True), "spot"),
        (pool(0, spot=True, capacity={"type": "spot"}), "spot"),
        (BASE, "on-demand"),
    ],
)
def test_valid_capacity_options_parse(config: dict[str, Any], kind: str) -> None:
    """The same checks pass what each target really sells, so the cases above fail for their reason."""
    assert parse_spec(config).accelerator_pools[0].capacity_type == kind


def test_flex_start_multi_host_tpu_slice_is_valid() -> None:
    """GKE queued provisioning allocates a whole multi-host TPU slice at once."""
    values = gcp_pool()
    values["accelerator_pools"] = [
        {
            "name": "v5e",
            "accelerator": "tpu-v5e",
            "count": 4,
            "tpu_topology": "4x4",
            "max_nodes": 4,
            "capacity": {"type": "flex-start"},
        }
    ]
    assert parse_spec(values).accelerator_pools[0].capacity_type == "flex-start"
