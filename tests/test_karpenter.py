"""Karpenter on EKS under Pulumi's mocks: a pending accelerator pod has something that launches a node.

What is checked: the chart (pinned, mirrorable, only keys its values.yaml has), the controller's IAM
(scoped as Karpenter's v1.14 CloudFormation scopes it), the interruption queue and its EventBridge
rules, discovery tags, and one NodePool + EC2NodeClass per autoscaled pool carrying exactly the
pool's labels, taints, capacity type and limits, strictly valid against Karpenter's CRDs.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aistack.offline import Plan, PlannedResource, plan
from components import naming
from components.handle import accelerator_inventory
from components.spec import load_stack
from components.targets.eks import karpenter, karpenter_iam
from components.versions import UPSTREAMS
from tests.chart_values import load_chart, schema_errors, unknown_keys
from tests.conftest import ROOT, need, of_type, one, plan_of, stack_values
from tests.test_manifest_schema import validate_custom

CHART = "kubernetes:helm.sh/v4:Chart"
MIRROR = ROOT.parent / "shared" / "mirror" / f"karpenter-{UPSTREAMS['karpenter'].version}.tgz"
BLOCK_ID = "cr-0fedcba9876543210"
RESERVATION_ID = "cr-0123456789abcdef0"
# Every capacity type and shape the EKS target supports, beside the example stack's three pools.
EXTRA_POOLS: list[dict[str, Any]] = [
    {
        "name": "h100-res",
        "accelerator": "nvidia-h100-80gb",
        "count": 8,
        "max_nodes": 2,
        "capacity": {"type": "reservation", "reservation": RESERVATION_ID},
    },
    {
        "name": "a100-open",
        "accelerator": "nvidia-a100-80gb",
        "count": 8,
        "max_nodes": 1,
        "capacity": {"type": "reservation", "affinity": "any"},
    },
    {
        "name": "h200-block",
        "accelerator": "nvidia-h200-141gb",
        "count": 8,
        "min_nodes": 1,
        "max_nodes": 2,
        "capacity": {"type": "capacity-block", "block_id": BLOCK_ID},
    },
    {"name": "h100-efa", "accelerator": "nvidia-h100-80gb", "count": 8, "min_nodes": 1, "max_nodes": 3, "efa": True},
    {"name": "l4-fixed", "accelerator": "nvidia-l4", "count": 1, "min_nodes": 2, "max_nodes": 2},
]


def values_with(**changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(stack_values("aws-gpu"))
    values.update(changes)
    return values


STACK = "karpenter-test"  # the Pulumi stack the plans run as (names derive from it)


@cache
def wide() -> Plan:
    """The example stack with every capacity type, an EFA pool and fixed-size pools added."""
    return plan_of(values_with(accelerator_pools=[*stack_values("aws-gpu")["accelerator_pools"], *EXTRA_POOLS]), STACK)


@pytest.fixture(scope="module")
def example() -> Plan:
    return plan(load_stack("aws-gpu"))


def karpenter_objects(p: Plan, kind: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in p.kubernetes_objects()
        if o["kind"] == kind and o["apiVersion"].startswith("karpenter")
    }


def requirement(pool: dict[str, Any], key: str) -> list[str]:
    (found,) = [r["values"] for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    return list(found)


# ----------------------------------------------------------------------------------- NodePools / EC2NodeClasses


def test_one_nodepool_and_nodeclass_per_autoscaled_pool(example: Plan) -> None:
    assert set(karpenter_objects(example, "NodePool")) == {"h100", "l40s-spot", "trn2"}
    assert set(karpenter_objects(example, "EC2NodeClass")) == {"h100", "l40s-spot", "trn2"}
    # A pool whose floor is its ceiling has nothing to autoscale: a managed group only.
    assert "l4-fixed" not in karpenter_objects(wide(), "NodePool")
    for name, pool in karpenter_objects(wide(), "NodePool").items():
        assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws",
            "kind": "EC2NodeClass",
            "name": name,
        }


def test_nodepools_carry_the_pools_labels_and_taints_exactly() -> None:
    """The platform's inventory is unchanged: every node of a pool is labelled and tainted as before."""
    spec = wide().spec
    pools = karpenter_objects(wide(), "NodePool")
    for inv in accelerator_inventory(spec):
        if inv.pool not in pools:
            continue
        template = pools[inv.pool]["spec"]["template"]
        assert template["metadata"]["labels"] == dict(inv.node_labels)
        assert template["spec"]["taints"] == [{"key": t.key, "value": t.value, "effect": t.effect} for t in inv.taints]
    assert pools["l40s-spot"]["spec"]["template"]["metadata"]["labels"]["aistack.io/capacity"] == "spot"


def test_floor_group_and_nodepool_label_and_taint_alike() -> None:
    groups = {r.inputs["nodeGroupName"]: r.inputs for r in of_type(wide().resources, "aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"system", "h200-block", "h100-efa", "l4-fixed"}
    pool = karpenter_objects(wide(), "NodePool")["h100-efa"]["spec"]["template"]
    assert groups["h100-efa"]["labels"] == pool["metadata"]["labels"]
    assert [(t["key"], t["value"]) for t in groups["h100-efa"]["taints"]] == [
        (t["key"], t["value"]) for t in pool["spec"]["taints"]
    ]
    assert groups["h100-efa"]["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 1}
    assert groups["l4-fixed"]["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 2}


@pytest.mark.parametrize(
    ("pool", "types"),
    [
        ("h100", ["on-demand"]),
        ("l40s-spot", ["spot"]),
        ("h100-res", ["reserved"]),
        ("a100-open", ["reserved", "on-demand"]),
        ("h200-block", ["reserved"]),
    ],
)
def test_capacity_type_follows_the_pool(pool: str, types: list[str]) -> None:
    assert requirement(karpenter_objects(wide(), "NodePool")[pool], "karpenter.sh/capacity-type") == types


def test_reservations_and_capacity_blocks_are_selected_by_the_node_class() -> None:
    classes = karpenter_objects(wide(), "EC2NodeClass")
    assert classes["h100-res"]["spec"]["capacityReservationSelectorTerms"] == [{"id": RESERVATION_ID}]
    # Karpenter uses no open reservation a term does not select (tasks/odcrs.md): affinity any selects them all.
    assert classes["a100-open"]["spec"]["capacityReservationSelectorTerms"] == [{"instanceMatchCriteria": "open"}]
    assert classes["h200-block"]["spec"]["capacityReservationSelectorTerms"] == [{"id": BLOCK_ID}]
    assert "capacityReservationSelectorTerms" not in classes["h100"]["spec"]
    block = karpenter_objects(wide(), "NodePool")["h200-block"]
    assert requirement(block, "karpenter.k8s.aws/capacity-reservation-type") == ["capacity-block"]


def test_limits_are_the_autoscaled_nodes_resources() -> None:
    pools = karpenter_objects(wide(), "NodePool")
    assert pools["h100"]["spec"]["limits"] == {"nvidia.com/gpu": "16", "cpu": "384", "memory": "4096Gi"}
    assert pools["trn2"]["spec"]["limits"] == {"aws.amazon.com/neuron": "16", "cpu": "192", "memory": "2048Gi"}
    assert pools["l40s-spot"]["spec"]["limits"] == {"nvidia.com/gpu": "6", "cpu": "24", "memory": "192Gi"}
    # Above a floor of 1 of 3: two more nodes.
    assert pools["h100-efa"]["spec"]["limits"]["nvidia.com/gpu"] == "16"
    for pool in pools.values():
        assert requirement(pool, "node.kubernetes.io/instance-type")


def test_every_efa_interface_row_is_an_efa_type() -> None:
    from foundation import catalog

    assert set(karpenter.EFA_INTERFACES) <= set(catalog.eks().efa_instance_types)


def test_time_sliced_pools_limit_physical_gpus() -> None:
    """Karpenter counts GPUs as EC2 reports them; time-slicing multiplies only what the device plugin shows."""
    pools = [
        {
            "name": "l4",
            "accelerator": "nvidia-l4",
            "count": 1,
            "max_nodes": 4,
            "sharing": {"mode": "time-slicing", "replicas": 4},
        }
    ]
    values = values_with(accelerator_pools=pools, teams=[{"name": "t", "quotas": {"l4": 8}}])
    (pool,) = karpenter_objects(plan_of(values, STACK), "NodePool").values()
    assert pool["spec"]["limits"]["nvidia.com/gpu"] == "4"
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/device-plugin.config"] == "l4"


def test_disruption_never_moves_a_running_pod() -> None:
    for pool in karpenter_objects(wide(), "NodePool").values():
        d = pool["spec"]["disruption"]
        assert d["consolidationPolicy"] == "WhenEmpty"
        assert re.fullmatch(r"[1-9][0-9]*m", d["consolidateAfter"])
        blocked = [b for b in d["budgets"] if b["nodes"] == "0"]
        assert blocked and {"Underutilized", "Drifted"} <= set(blocked[0]["reasons"])
        assert all("Empty" not in b["reasons"] for b in blocked)
        # Expiry is forceful (it ignores budgets): never.
        assert pool["spec"]["template"]["spec"]["expireAfter"] == "Never"
        assert "terminationGracePeriod" not in pool["spec"]["template"]["spec"]


def test_node_classes_use_accelerated_al2023_encrypted_disks_and_discovery() -> None:
    for cls in karpenter_objects(wide(), "EC2NodeClass").values():
        spec = cls["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
        (disk,) = spec["blockDeviceMappings"]
        assert disk["rootVolume"] is True and disk["ebs"]["encrypted"] is True
        assert disk["ebs"]["kmsKeyID"] == "[unknown]"  # the stack's key (hipaa: customer-managed)
        assert int(disk["ebs"]["volumeSize"].removesuffix("Gi")) >= 200 and disk["ebs"]["volumeType"] == "gp3"
        # the cluster of a stack without aistack:name is 'aistack-<stack>' (#26: names unique per stack)
        discovery = {"karpenter.sh/discovery": "aistack-karpenter-test"}
        assert spec["securityGroupSelectorTerms"] == [{"tags": discovery}]
        assert spec["subnetSelectorTerms"][0]["tags"]["karpenter.sh/discovery"] == "aistack-karpenter-test"
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["instanceProfile"] == "[unknown]" and "role" not in spec


def test_without_customer_managed_keys_the_disk_uses_the_default_key() -> None:
    values = values_with(compliance="standard", security={"customer_managed_keys": False})
    for cls in karpenter_objects(plan_of(values, STACK), "EC2NodeClass").values():
        ebs = cls["spec"]["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] is True and "kmsKeyID" not in ebs


def test_efa_pools_get_every_efa_interface_in_one_zone() -> None:
    efa = karpenter_objects(wide(), "EC2NodeClass")["h100-efa"]["spec"]
    nics = efa["networkInterfaces"]
    assert nics[0] == {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"}
    assert sum(n["interfaceType"] == "efa-only" for n in nics) == 32  # p5.48xlarge: 32 EFA interfaces
    assert sorted({n["networkCardIndex"] for n in nics}) == list(range(32))
    assert efa["subnetSelectorTerms"] == [
        {"tags": {"karpenter.sh/discovery": "aistack-karpenter-test", "aistack.io/zone-index": "0"}}
    ]
    assert "networkInterfaces" not in karpenter_objects(wide(), "EC2NodeClass")["h100"]["spec"]
    # An EFA type without a known card count gets one EFA interface, never more than it may have.
    assert sum(n["interfaceType"] == "efa-only" for n in karpenter.network_interfaces("g5.48xlarge")) == 1


# ----------------------------------------------------------------------------------- against the CRDs


def cel_problems(obj: dict[str, Any]) -> list[str]:
    """The CRDs' x-kubernetes-validations (CEL) rules that apply to what aistack writes, by hand:
    jsonschema does not evaluate CEL, the API server does."""
    spec = obj["spec"]
    out = []
    if obj["kind"] == "EC2NodeClass":
        if ("role" in spec) == ("instanceProfile" in spec):
            out.append("exactly one of role, instanceProfile")
        terms = spec["amiSelectorTerms"]
        if any("alias" in t for t in terms) and (len(terms) != 1 or len(terms[0]) != 1):
            out.append("alias is mutually exclusive")
        for t in spec.get("capacityReservationSelectorTerms", []):
            if "id" in t and len(t) != 1:
                out.append("capacity reservation id is mutually exclusive")
        nics = spec.get("networkInterfaces", [])
        if nics and not any(
            n["deviceIndex"] == 0 and n["networkCardIndex"] == 0 and n["interfaceType"] == "interface" for n in nics
        ):
            out.append("networkInterfaces need a primary interface")
        pairs = [(n["networkCardIndex"], n["deviceIndex"]) for n in nics]
        if len(pairs) != len(set(pairs)):
            out.append("duplicate networkCardIndex/deviceIndex")
        restricted = (
            "eks:eks-cluster-name",
            "karpenter.sh/nodepool",
            "karpenter.sh/nodeclaim",
            "karpenter.k8s.aws/ec2nodeclass",
        )
        if any(k in restricted or k.startswith("kubernetes.io/cluster") for k in spec.get("tags", {})):
            out.append("restricted tag")
        efa_cards = [n["networkCardIndex"] for n in nics if n["interfaceType"] == "efa-only"]
        if len(efa_cards) != len(set(efa_cards)):
            out.append("more than one efa-only interface on a card")
    if obj["kind"] == "NodePool":
        labels = spec["template"]["metadata"]["labels"]
        for key in labels:
            domain = key.split("/")[0] if "/" in key else ""
            if (
                domain.endswith("karpenter.sh")
                or domain.endswith("karpenter.k8s.aws")
                or key == "kubernetes.io/hostname"
            ):
                out.append(f"restricted label {key}")
        if "replicas" in spec and set(spec.get("limits", {})) - {"nodes"}:
            out.append("static NodePools take only limits.nodes")
        if "consolidateAfter" not in spec["disruption"]:
            out.append("disruption.consolidateAfter is required")
        for r in spec["template"]["spec"]["requirements"]:
            if r["operator"] == "In" and not r["values"]:
                out.append(f"requirement {r['key']} In without values")
    return out


def test_every_karpenter_object_validates_strictly_against_the_crds() -> None:
    objects = [o for o in wide().kubernetes_objects() if o["apiVersion"].startswith("karpenter")]
    assert len(objects) == 2 * 7  # every pool but l4-fixed (floor = ceiling)
    for obj in objects:
        validate_custom(obj)
        assert cel_problems(obj) == [], obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("NodePool", lambda o: o["spec"]["disruption"].update(consolidationPolicy="WhenIdle")),
        ("NodePool", lambda o: o["spec"]["disruption"]["budgets"][0].update(reasons=["Expired"])),
        ("NodePool", lambda o: o["spec"]["template"]["spec"].update(expireAfter="forever")),
        ("NodePool", lambda o: o["spec"]["limits"].update(cpu="lots")),
        ("EC2NodeClass", lambda o: o["spec"].update(amiFamily="AL2024")),
        ("EC2NodeClass", lambda o: o["spec"]["blockDeviceMappings"][0]["ebs"].update(volumeSize="200GB")),
        ("EC2NodeClass", lambda o: o["spec"].update(capacityReservationSelectorTerms=[{"id": "res-1"}])),
        ("EC2NodeClass", lambda o: o["spec"].update(subnetSelector={"x": "y"})),
    ],
)
def test_crd_validation_catches_mistakes(kind: str, mutate: Any) -> None:
    obj = copy.deepcopy(karpenter_objects(wide(), kind)["h100"])
    validate_custom(obj)
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(obj)


def test_cel_checks_can_fail() -> None:
    cls = copy.deepcopy(karpenter_objects(wide(), "EC2NodeClass")["h100-efa"])
    cls["spec"]["networkInterfaces"][0]["interfaceType"] = "efa-only"
    cls["spec"]["capacityReservationSelectorTerms"] = [{"id": RESERVATION_ID, "instanceMatchCriteria": "open"}]
    cls["spec"]["role"] = "KarpenterNodeRole"
    cls["spec"]["tags"]["kubernetes.io/cluster/aistack"] = "owned"
    assert len(cel_problems(cls)) == 5


def test_custom_resources_wait_for_the_chart_and_the_access_entry(example: Plan) -> None:
    chart = next(r for r in of_type(example.resources, CHART) if r.name.endswith("-karpenter"))
    entry = one(example.resources, "aws:eks/accessEntry:AccessEntry")
    for r in example.resources:
        if r.type.startswith("kubernetes:karpenter"):
            assert chart.urn in r.dependencies and entry.urn in r.dependencies, r.name


# ----------------------------------------------------------------------------------- the chart


def karpenter_chart(resources: list[PlannedResource]) -> PlannedResource:
    (chart,) = [r for r in of_type(resources, CHART) if "karpenter" in str(r.inputs.get("chart"))]
    return chart


def test_chart_is_the_pin_with_our_values(example: Plan) -> None:
    chart = karpenter_chart(example.resources)
    assert chart.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert chart.inputs["version"] == "1.14.1" and chart.inputs["namespace"] == "kube-system"
    assert "name" not in chart.inputs  # the release is the resource name, as for every chart (naming.helm_release)
    values = chart.inputs["values"]
    assert values["settings"] == {
        "clusterName": "aistack-aws-gpu",  # stack aws-gpu sets no aistack:name (#26)
        "interruptionQueue": "aistack-aws-gpu-karpenter",
        "featureGates": {"reservedCapacity": True},
    }
    assert values["serviceAccount"] == {"create": True, "name": "karpenter"}
    assert values["nodeSelector"]["aistack.io/pool"] == "system"
    assert values["controller"]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert values["replicas"] == 2


@pytest.mark.parametrize(
    ("mirror", "chart"),
    [
        ("/srv/charts", "/srv/charts/karpenter-1.14.1.tgz"),
        ("oci://registry.corp/ai", "oci://registry.corp/ai/karpenter"),
    ],
)
def test_air_gapped_mirror_serves_the_chart(mirror: str, chart: str) -> None:
    values = values_with(upstream={"charts_mirror": mirror, "manifests_mirror": "/srv/trees"})
    assert karpenter_chart(plan_of(values, STACK).resources).inputs["chart"] == chart


def test_without_upstream_installs_the_pools_remain() -> None:
    p = plan_of(values_with(upstream={"install": False}), STACK)
    assert not [r for r in of_type(p.resources, CHART) if "karpenter" in r.name]
    assert set(karpenter_objects(p, "NodePool")) == {"h100", "l40s-spot", "trn2"}


def _chart_files() -> dict[str, str]:
    if not MIRROR.is_file():
        need("mirror", f"no {MIRROR} in this workspace")
    with tarfile.open(MIRROR) as tar:
        return {
            m.name: io.TextIOWrapper(f, encoding="utf-8").read()
            for m in tar.getmembers()
            if m.isfile() and (f := tar.extractfile(m)) is not None
        }


def test_every_value_we_set_is_a_key_of_the_chart(example: Plan) -> None:
    """tests/chart_values.py's check (test_chart_values.py runs it over every chart of the example stacks
    taken from the mirror), here on the default upstream's plan, and shown to fail on a misspelt key."""
    if not MIRROR.is_file():
        need("mirror", f"no {MIRROR} in this workspace")
    chart = load_chart(MIRROR)
    values = karpenter_chart(example.resources).inputs["values"]
    assert list(unknown_keys(chart, values)) == []
    assert schema_errors(chart, values) == []
    assert list(unknown_keys(chart, {"settings": {"clustername": "x"}})) == ["settings.clustername"]


def test_the_charts_crds_are_the_ones_the_schema_tests_use() -> None:
    files = _chart_files()
    for name in ("karpenter.sh_nodepools.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml"):
        copy_ = (ROOT / "components" / "crds" / "karpenter" / name).read_text()
        assert files[f"karpenter/crds/{name}"] == copy_, name


def test_the_service_account_matches_the_pod_identity_association(example: Plan) -> None:
    assoc = [
        r.inputs
        for r in of_type(example.resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if r.inputs["namespace"] == "kube-system"
    ]
    assert assoc == [{**assoc[0], "serviceAccount": "karpenter", "namespace": "kube-system"}]
    values = karpenter_chart(example.resources).inputs["values"]
    assert values["serviceAccount"]["name"] == assoc[0]["serviceAccount"]


# ----------------------------------------------------------------------------------- IAM


def policies(key_arn: str | None = "arn:aws:kms:us-east-1:111122223333:key/k") -> dict[str, dict[str, Any]]:
    return karpenter_iam.controller_policies(
        cluster="c1",
        region="us-east-1",
        account="111122223333",
        queue_arn="arn:aws:sqs:us-east-1:111122223333:c1-karpenter",
        node_role_arn="arn:aws:iam::111122223333:role/nodes",
        instance_profile_arn="arn:aws:iam::111122223333:instance-profile/nodes",
        key_arn=key_arn,
    )


def statements(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for d in docs.values() for s in d["Statement"]}


# The only statements Karpenter's docs leave on "*": calls that take no resource ARN.
UNSCOPED = {"AllowRegionalReadActions", "AllowPricingReadActions", "AllowUnscopedInstanceProfileListAction"}


def test_controller_policy_has_no_wildcard_resource_where_the_docs_scope_it() -> None:
    stmts = statements(policies())
    for sid, s in stmts.items():
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert ("*" in resources) == (sid in UNSCOPED), sid
    assert stmts["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert all(a.startswith(("ec2:Describe",)) for a in stmts["AllowRegionalReadActions"]["Action"])


def test_controller_may_only_touch_what_it_tagged_for_this_cluster() -> None:
    stmts = statements(policies())
    owned = {"aws:ResourceTag/kubernetes.io/cluster/c1": "owned"}
    assert stmts["AllowScopedDeletion"]["Condition"]["StringEquals"] == owned
    assert set(stmts["AllowScopedDeletion"]["Action"]) == {"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"}
    create = stmts["AllowScopedEC2InstanceActionsWithTags"]["Condition"]["StringEquals"]
    assert create == {"aws:RequestTag/kubernetes.io/cluster/c1": "owned", "aws:RequestTag/eks:eks-cluster-name": "c1"}
    assert stmts["AllowPassingInstanceRole"]["Resource"] == "arn:aws:iam::111122223333:role/nodes"
    assert stmts["AllowInstanceProfileReadActions"]["Resource"] == "arn:aws:iam::111122223333:instance-profile/nodes"
    assert stmts["AllowAPIServerEndpointDiscovery"]["Resource"] == "arn:aws:eks:us-east-1:111122223333:cluster/c1"
    assert stmts["AllowInterruptionQueueActions"]["Resource"] == "arn:aws:sqs:us-east-1:111122223333:c1-karpenter"
    # Nodes use a pre-made instance profile: the controller cannot create, change or delete any.
    actions = {a for s in stmts.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {a for a in actions if a.startswith("iam:") and a.endswith("InstanceProfile")} - {
        "iam:GetInstanceProfile"
    }
    assert "ec2:CapacityReservation" not in json.dumps(stmts)
    assert any("capacity-reservation/*" in r for r in stmts["AllowScopedEC2InstanceAccessActions"]["Resource"])


def test_kms_access_only_for_the_stacks_key_through_ec2() -> None:
    kms = statements(policies())["AllowRootVolumeEncryptionWithStackKey"]
    assert kms["Resource"] == "arn:aws:kms:us-east-1:111122223333:key/k"
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}
    assert "AllowRootVolumeEncryptionWithStackKey" not in statements(policies(key_arn=None))


def test_partition_follows_the_region() -> None:
    assert karpenter_iam.partition("cn-north-1") == "aws-cn"
    assert karpenter_iam.partition("us-gov-west-1") == "aws-us-gov"
    assert karpenter_iam.partition("eu-west-1") == "aws"


def test_controller_and_node_roles(example: Plan) -> None:
    roles = {r.name: r.inputs for r in of_type(example.resources, "aws:iam/role:Role")}
    controller = roles["aistack-target-karpenter"]
    trust = json.loads(controller["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    nodes = roles["aistack-target-kp-nodes"]
    assert json.loads(nodes["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert {a.rsplit("/", 1)[1] for a in nodes["managedPolicyArns"]} == set(karpenter.NODE_POLICIES)
    entry = one(example.resources, "aws:eks/accessEntry:AccessEntry").inputs
    assert entry["type"] == "EC2_LINUX" and "kubernetesGroups" not in entry
    assert one(example.resources, "aws:iam/instanceProfile:InstanceProfile").inputs["role"] == "[unknown]"


# ----------------------------------------------------------------------------------- interruption queue


def test_interruption_queue_and_rules(example: Plan) -> None:
    queue = one(example.resources, "aws:sqs/queue:Queue").inputs
    assert queue["messageRetentionSeconds"] == 300 and queue["sqsManagedSseEnabled"] is True
    rules = {r.name: r.inputs for r in of_type(example.resources, "aws:cloudwatch/eventRule:EventRule")}
    patterns = {(p["source"][0], p["detail-type"][0]) for p in (json.loads(r["eventPattern"]) for r in rules.values())}
    assert patterns == {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
        ("aws.health", "AWS Health Event"),
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
    }
    targets = of_type(example.resources, "aws:cloudwatch/eventTarget:EventTarget")
    assert sorted(t.inputs["rule"] for t in targets) == sorted(r["name"] for r in rules.values())
    queue_urn = one(example.resources, "aws:sqs/queue:Queue").urn
    assert all(queue_urn in t.dependencies for t in targets)


def test_queue_policy_lets_only_eventbridge_send_and_only_over_tls() -> None:
    doc = karpenter_iam.queue_policy("arn:aws:sqs:us-east-1:1:q")
    allow, deny = doc["Statement"]
    assert allow["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert allow["Action"] == "sqs:SendMessage" and allow["Resource"] == "arn:aws:sqs:us-east-1:1:q"
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_rule_suffixes_naming_checks_are_the_events_karpenter_gets() -> None:
    assert tuple(s for s, _, _ in karpenter.INTERRUPTION_EVENTS) == naming.KARPENTER_RULE_SUFFIXES


def test_names_fit_for_the_longest_stack_name() -> None:
    stack = "s" * 40
    assert len(karpenter.queue_name(stack)) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", karpenter.queue_name(stack))
    for suffix, _, _ in karpenter.INTERRUPTION_EVENTS:
        assert re.fullmatch(r"[.\-_A-Za-z0-9]{1,64}", karpenter.rule_name(stack, suffix)), suffix


# ----------------------------------------------------------------------------------- discovery


def test_private_subnets_and_the_cluster_security_group_are_tagged_for_discovery(example: Plan) -> None:
    subnets = of_type(example.resources, "aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    assert len(private) == 3
    assert all(s.inputs["tags"]["karpenter.sh/discovery"] == "aistack-aws-gpu" for s in private)
    assert sorted(s.inputs["tags"]["aistack.io/zone-index"] for s in private) == ["0", "1", "2"]
    assert not [s for s in subnets if s not in private and "karpenter.sh/discovery" in s.inputs["tags"]]
    tag = one(example.resources, "aws:ec2/tag:Tag").inputs
    assert (tag["key"], tag["value"]) == ("karpenter.sh/discovery", "aistack-aws-gpu")


def test_the_target_names_karpenter_as_an_upstream_to_mirror(example: Plan) -> None:
    from components.targets import eks

    assert eks.upstream_keys(example.spec) == ["karpenter"]
    assert eks.upstream_keys(load_stack("local").spec) == []


def test_the_chart_renders_with_our_values(example: Plan, tmp_path: Path) -> None:
    """`helm template` of the mirrored chart with the plan's values (skipped where scripts/tools.sh has not
    built helm): the controller really gets them."""
    from tests.test_chart_render import render

    if not MIRROR.is_file():
        need("mirror", f"no {MIRROR} in this workspace")
    chart = karpenter_chart(example.resources)
    docs = render(MIRROR, chart.name, "kube-system", chart.inputs["values"], tmp_path)
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == "karpenter"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "aistack.io/pool": "system"}
    (controller,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in controller["env"]}
    # the example stack aws-gpu sets no aistack:name: its names carry the stack (#26)
    assert env["CLUSTER_NAME"] == "aistack-aws-gpu" and env["INTERRUPTION_QUEUE"] == "aistack-aws-gpu-karpenter"
    assert "ReservedCapacity=true" in env["FEATURE_GATES"]
    assert controller["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert (sa["metadata"]["name"], sa["metadata"]["namespace"]) == ("karpenter", "kube-system")
