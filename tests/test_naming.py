"""Every generated cloud and Kubernetes name fits its provider's documented limit.

The limits below are written out again from the providers' documentation (see components/naming.py
for the sources), independently of naming.py, and checked against what the program really
registers: the offline plan of the longest inputs the spec accepts. Configs that break a rule must
fail validation with an issue naming the field to change.
"""

from __future__ import annotations

import copy
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistack.offline import PlannedResource, plan
from components import naming
from components.spec import LoadedStack, SpecError, StackSpec, load_stack, parse_spec, rules
from components.spec.model import BucketName, DnsLabel, Taint
from tests.conftest import CREDENTIALS, EXAMPLE_STACKS

# ----------------------------------------------------------------------------------- documented limits
# (min length, max length, pattern the whole name matches), by the name naming.py gives each kind.

RFC1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN = rf"{DNS_LABEL}(\.{DNS_LABEL})*"
QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

DOCUMENTED: dict[str, tuple[int, int, str]] = {
    "GKE cluster name": (1, 40, RFC1035),
    "GKE node pool name": (1, 40, RFC1035),
    "GCP service account id": (6, 30, r"[a-z]([-a-z0-9]*[a-z0-9])"),
    "GCP service account display name": (1, 100, r".+"),
    "Cloud Storage bucket name": (3, 63, r"(?!goog)(?!.*google)(?!.*g00gle)[a-z0-9][-a-z0-9_.]*[a-z0-9]"),
    "Cloud KMS key ring name": (1, 63, r"[a-zA-Z0-9_-]+"),
    "Cloud KMS key name": (1, 63, r"[a-zA-Z0-9_-]+"),
    "Compute Engine resource name": (1, 63, RFC1035),
    "Filestore instance id": (1, 63, RFC1035),
    "Google Cloud label value": (0, 63, r"[a-z0-9_-]*"),
    "EKS cluster name": (1, 100, r"[0-9A-Za-z][A-Za-z0-9_-]*"),
    "EKS node group name": (1, 63, r"[0-9A-Za-z][A-Za-z0-9_-]*"),
    "S3 bucket name prefix": (1, 37, r"(?!xn--|sthree-|amzn-s3-demo-)[a-z0-9][-a-z0-9.]*"),
    "IAM role name": (1, 64, r"[\w+=,.@-]+"),
    "EC2 launch template name": (3, 128, r"[a-zA-Z0-9().\-/_]+"),
    "IAM instance profile name": (1, 128, r"[\w+=,.@-]+"),
    "SQS queue name": (1, 80, r"[A-Za-z0-9_-]+"),
    "EventBridge rule name": (1, 64, r"[.\-_A-Za-z0-9]+"),
    "S3 bucket name": (3, 63, r"[a-z0-9][-a-z0-9.]*[a-z0-9]"),
    "Kubernetes namespace": (1, 63, DNS_LABEL),
    "Kubernetes object name": (1, 253, SUBDOMAIN),
    "Kubernetes label value": (0, 63, rf"({QUALIFIED})?"),
    "Helm release name": (1, 53, SUBDOMAIN),
}
PULUMI_SUFFIX = len("-1234567")  # Pulumi auto-naming: '-' and 7 random characters

# Where each kind of name sits in a planned resource: type -> (input, kind). Auto-named types have no input.
NAMED: dict[str, list[tuple[str, str]]] = {
    "gcp:container/cluster:Cluster": [("name", "GKE cluster name")],
    "gcp:container/nodePool:NodePool": [("name", "GKE node pool name")],
    "gcp:serviceaccount/account:Account": [
        ("accountId", "GCP service account id"),
        ("displayName", "GCP service account display name"),
    ],
    "gcp:storage/bucket:Bucket": [("name", "Cloud Storage bucket name")],
    "gcp:kms/keyRing:KeyRing": [("name", "Cloud KMS key ring name")],
    "gcp:kms/cryptoKey:CryptoKey": [("name", "Cloud KMS key name")],
    "gcp:compute/network:Network": [("name", "Compute Engine resource name")],
    "gcp:compute/subnetwork:Subnetwork": [("name", "Compute Engine resource name")],
    "gcp:compute/router:Router": [("name", "Compute Engine resource name")],
    "gcp:compute/routerNat:RouterNat": [("name", "Compute Engine resource name")],
    "gcp:compute/firewall:Firewall": [("name", "Compute Engine resource name")],
    "gcp:filestore/instance:Instance": [("name", "Filestore instance id")],
    "aws:eks/cluster:Cluster": [("name", "EKS cluster name")],
    "aws:eks/nodeGroup:NodeGroup": [("nodeGroupName", "EKS node group name")],
    "aws:s3/bucket:Bucket": [("bucketPrefix", "S3 bucket name prefix")],
    "aws:sqs/queue:Queue": [("name", "SQS queue name")],
    "aws:cloudwatch/eventRule:EventRule": [("name", "EventBridge rule name")],
}
AUTONAMED = {
    "aws:iam/role:Role": "IAM role name",
    "aws:ec2/launchTemplate:LaunchTemplate": "EC2 launch template name",
    "aws:iam/instanceProfile:InstanceProfile": "IAM instance profile name",
}
# AWS resources without a physical name (ids, tags). A new AWS type must be classified here or above.
UNNAMED_AWS = {
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip",
    "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:eks/addon:Addon",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation", "aws:kms/key:Key", "aws:efs/fileSystem:FileSystem",
    "aws:efs/mountTarget:MountTarget", "aws:fsx/lustreFileSystem:LustreFileSystem",
    "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:sqs/queuePolicy:QueuePolicy", "aws:cloudwatch/eventTarget:EventTarget", "aws:eks/accessEntry:AccessEntry",
    "aws:ec2/tag:Tag",
}  # fmt: skip
NAME_INPUTS = ("name", "accountId", "bucket", "bucketPrefix", "nodeGroupName", "namePrefix")


def fits(kind: str, value: str, extra: int = 0) -> str | None:
    low, high, pattern = DOCUMENTED[kind]
    if not low <= len(value) + extra <= high:
        return f"{kind} {value!r}: {len(value) + extra} characters, documented {low}-{high}"
    if not re.fullmatch(pattern, value):
        return f"{kind} {value!r}: characters outside {pattern}"
    return None


def label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not (len(prefix) <= 253 and re.fullmatch(SUBDOMAIN, prefix)):
        return False
    return len(name) <= 63 and re.fullmatch(QUALIFIED, name) is not None


def label_violations(where: str, labels: Any, eks: bool = False) -> list[str]:
    out = []
    for key, value in (labels or {}).items():
        if not label_key_ok(key) or (eks and len(key) > 63):
            out.append(f"{where}: label key {key!r}")
        if fits("Kubernetes label value", value) or (eks and not value):
            out.append(f"{where}: label value {value!r}")
    return out


def taint_violations(where: str, taints: Any, eks: bool = False) -> list[str]:
    return [
        f"{where}: taint {t['key']!r}={t.get('value', '')!r}"
        for t in taints or []
        if not label_key_ok(t["key"])
        or (eks and len(t["key"]) > 63)
        or fits("Kubernetes label value", t.get("value", ""))
    ]


def plan_violations(resources: list[PlannedResource]) -> list[str]:
    """Every physical name in a plan that its provider would refuse, and every named type not classified."""
    out: list[str] = []
    for r in resources:
        if not r.custom and r.type != "kubernetes:helm.sh/v4:Chart":
            continue
        inputs = r.inputs
        if r.type in NAMED:
            for field, kind in NAMED[r.type]:
                out += [p for p in [fits(kind, str(inputs[field]))] if p]
        elif r.type in AUTONAMED:
            assert "name" not in inputs and "namePrefix" not in inputs, r.urn
            out += [p for p in [fits(AUTONAMED[r.type], r.name, PULUMI_SUFFIX)] if p]
        elif r.type == "kubernetes:helm.sh/v4:Chart":
            out += [p for p in [fits("Helm release name", inputs.get("name") or r.name)] if p]
            created = ((inputs.get("values") or {}).get("s3") or {}).get("createBuckets") or []  # SeaweedFS
            out += [p for b in created if (p := fits("S3 bucket name", b["name"]))]
        elif r.type.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict):
            meta = inputs["metadata"]
            kind = "Kubernetes namespace" if r.type == "kubernetes:core/v1:Namespace" else "Kubernetes object name"
            out += [p for p in [fits(kind, meta["name"])] if p]
            out += label_violations(r.name, meta.get("labels"))
        elif r.type.startswith("aws:") and r.type not in UNNAMED_AWS:
            out.append(f"{r.type} is not classified: add its physical-name limit to this test")
        elif r.type.startswith("gcp:") and any(k in inputs for k in ("name", "accountId")):
            out.append(f"{r.type} has a name not checked here: add its limit to this test")
        if r.type == "gcp:container/nodePool:NodePool":
            out += label_violations(r.name, inputs["nodeConfig"].get("labels"))
            out += taint_violations(r.name, inputs["nodeConfig"].get("taints"))
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            out += label_violations(r.name, inputs.get("labels"), eks=True)
            out += taint_violations(r.name, inputs.get("taints"), eks=True)
        for labels in ("resourceLabels", "labels"):
            if r.type.startswith("gcp:") and isinstance(inputs.get(labels), dict):
                out += [p for v in inputs[labels].values() if (p := fits("Google Cloud label value", v))]
    return out


# ----------------------------------------------------------------------------------- the longest inputs


def max_length(annotated: Any) -> int:
    return next(m.max_length for m in typing.get_args(annotated)[1:] if getattr(m, "max_length", None))


NAME_MAX = max_length(DnsLabel)  # stack, pool and team names
BUCKET_MAX = max_length(BucketName)
PROJECT = "p" * 30  # the longest GCP project id
LONG_SUBDOMAIN = ".".join(["n" * 63] * 3) + "." + "n" * 61  # 253 characters
LONG_KEY = f"{LONG_SUBDOMAIN}/{'k' * 63}"  # the longest label key Kubernetes takes
EKS_KEY = f"example.com/{'k' * 51}"  # EKS: 63 with the prefix
TAINT_KEY_MAX = next(m.max_length for m in Taint.model_fields["key"].metadata if getattr(m, "max_length", None))
TAINT_KEY = LONG_KEY[len(LONG_KEY) - TAINT_KEY_MAX :] if len(LONG_KEY) > TAINT_KEY_MAX else LONG_KEY
LONG_VALUE = "v" * 63


def config(target: str, stack: str, pool: str, team: str, bucket: str) -> dict[str, Any]:
    """A stack that creates every kind of name its target can, with the given name parts."""
    key = EKS_KEY if target == "aws" else LONG_KEY
    gpu: dict[str, Any] = {
        "name": pool,
        "accelerator": "nvidia-h100-80gb" if target == "aws" else "nvidia-l4",
        "count": 8 if target == "aws" else 1,
        "max_nodes": 2,
        "labels": {key: LONG_VALUE, "example.com/empty": "x" if target == "aws" else ""},
        "taints": [{"key": EKS_KEY if target == "aws" else TAINT_KEY, "value": LONG_VALUE}],
    }
    values: dict[str, Any] = {
        "target": target,
        "name": stack,
        "accelerator_pools": [gpu],
        "storage": {"buckets": ["datasets", "artifacts", "models", bucket], "shared_filesystem": {"enabled": True}},
        "teams": [{"name": team, "quotas": {pool: 1}}],
        "kubeflow": {"components": ["pipelines", "notebooks", "trainer", "dashboard", "profiles"]},
    }
    if target == "gcp":
        values.update(region="europe-west4", zones=["europe-west4-a"], project=PROJECT)
    elif target == "aws":
        values.update(region="us-east-1")
        gpu["efa"] = True
    else:
        values.update(region="site-1")
        gpu["nodes"] = [LONG_SUBDOMAIN, "gpu-1"]
        gpu["node_selector"] = {LONG_KEY: LONG_VALUE}
        values["storage"]["default_storage_class"] = LONG_SUBDOMAIN
        values["storage"]["shared_filesystem"].update(nfs_server="nfs.site-1.internal")
        values["onprem"] = {"object_store": {"kind": "seaweedfs"}}  # creates the stack's buckets
    return values


PARTS = ("stack", "pool", "team", "bucket")
FIELDS = {"stack": "name", "pool": "accelerator_pools[0].name", "team": "teams[0].name", "bucket": "storage.buckets[3]"}
LIMITS = {"stack": NAME_MAX, "pool": NAME_MAX, "team": NAME_MAX, "bucket": BUCKET_MAX}
SHORT = {"stack": "s", "pool": "p", "team": "t", "bucket": "b"}


def parts_config(target: str, lengths: dict[str, int]) -> dict[str, Any]:
    return config(target, **{part: SHORT[part] * lengths.get(part, 1) for part in PARTS})


def valid(values: dict[str, Any]) -> bool:
    try:
        parse_spec(values)
    except SpecError:
        return False
    return True


def longest(target: str, grow: tuple[str, ...]) -> dict[str, int]:
    """The longest valid lengths when the parts in ``grow`` all take the same length (others stay 1)."""
    for n in range(max(LIMITS[p] for p in grow), 0, -1):
        lengths = {p: min(n, LIMITS[p]) for p in grow}
        if valid(parts_config(target, lengths)):
            return lengths
    raise AssertionError(f"no valid {target} config at all for {grow}")


def planned(values: dict[str, Any]) -> list[PlannedResource]:
    spec = parse_spec(values)
    config_ = {f"aistack:{k}": v for k, v in {**values, **CREDENTIALS}.items()}
    secrets = tuple(f"aistack:{k}" for k in CREDENTIALS)
    return plan(LoadedStack("naming", Path("x"), spec, config_, secrets)).resources


CASES = [(t, grow) for t in ("gcp", "aws", "onprem") for grow in (PARTS, *((p,) for p in PARTS))]


@pytest.mark.parametrize(("target", "grow"), CASES, ids=[f"{t}-{'+'.join(g)}" for t, g in CASES])
def test_the_longest_valid_inputs_make_names_their_providers_accept(target: str, grow: tuple[str, ...]) -> None:
    lengths = longest(target, grow)
    resources = planned(parts_config(target, lengths))
    assert plan_violations(resources) == []
    # One character more (each grown part that can still grow) is refused, on a field that was grown.
    longer = {p: min(n + 1, LIMITS[p]) for p, n in lengths.items()}
    if longer != lengths:
        with pytest.raises(SpecError) as caught:
            parse_spec(parts_config(target, longer))
        fields = {FIELDS[p] for p in grow} | {f"storage.buckets[{i}]" for i in range(4)}
        assert all(i.path in fields for i in caught.value.issues), str(caught.value)


@pytest.mark.parametrize("target", ["gcp", "aws", "onprem"])
def test_naming_enumerates_the_names_the_program_creates(target: str) -> None:
    """naming.generated_names is what the targets build: each name it lists is in the plan."""
    values = parts_config(target, longest(target, PARTS))
    seen: set[str] = set()
    for r in planned(values):
        seen.add(r.name + "-xxxxxxx")  # as naming shows auto-named resources
        if r.type == "kubernetes:helm.sh/v4:Chart":
            seen.add(r.inputs.get("name") or r.name)
        seen.update(strings(r.inputs))
    cloud = {k for k in DOCUMENTED if not k.startswith(("Kubernetes", "Google Cloud label"))}
    missing = [
        n.shown for n in naming.generated_names(parse_spec(values)) if n.limit.what in cloud and n.shown not in seen
    ]
    assert missing == []


def strings(value: Any) -> set[str]:
    """Every string in a planned resource's inputs (chart values included)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value))
    return set()


def test_helm_release_names_never_exceed_helm_limit() -> None:
    values = parts_config("aws", {"stack": 20})  # 20 + '-platform-monitoring-kube-prometheus-stack' > 53
    charts = {r.name: r.inputs.get("name") for r in planned(values) if r.type == "kubernetes:helm.sh/v4:Chart"}
    assert charts  # kueue, kube-prometheus-stack, gpu-operator
    for resource, release in charts.items():
        assert len(naming.effective_release(resource, release)) <= 53
        if resource.endswith("-kueue"):
            assert release == "kueue"  # fixed: the chart's derived Service names would pass 63 characters
            continue
        assert (release is None) == (len(resource) <= 53)  # short names keep their release unchanged


# ----------------------------------------------------------------------------------- every rule names its field

BASES = {t: parts_config(t, {}) for t in ("gcp", "aws", "onprem")}


def change(target: str, path: tuple[str | int, ...], value: Any, **top: Any) -> dict[str, Any]:
    """The target's base config with one value changed (and top-level keys such as name set)."""
    values = copy.deepcopy(BASES[target])
    values.update(top)
    node: Any = values
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return values


POOL0 = ("accelerator_pools", 0)
BUCKET3 = ("storage", "buckets", 3)
BROKEN: list[tuple[str, dict[str, Any], str, str]] = [
    # (case id, config, expected issue path, text expected in reason or fix)
    ("gke node sa id", change("gcp", ("name",), "s" * 40), "name", "at most 24 characters"),
    ("gcs bucket", change("gcp", BUCKET3, "b" * 30, name="s" * 10), "storage.buckets[3]", "Cloud Storage bucket"),
    ("gcs google", change("gcp", ("name",), "google-ml"), "storage.buckets[0]", "contains 'google'"),
    ("project with spaces", change("gcp", ("project",), "acme ml prod"), "project", "not a GCP project id"),
    ("project too short", change("gcp", ("project",), "acme"), "project", "6-30"),
    ("project trailing hyphen", change("gcp", ("project",), "acme-ml-"), "project", "does not end with '-'"),
    ("project upper case", change("gcp", ("project",), "Acme-ml"), "project", "lowercase letter"),
    ("iam cluster role", change("aws", ("name",), "s" * 40), "name", "IAM role name"),
    ("iam team role", change("aws", ("teams", 0, "name"), "t" * 40, name="s" * 10), "teams[0].name", "together"),
    ("s3 bucket prefix", change("aws", BUCKET3, "b" * 30, name="s" * 10), "storage.buckets[3]", "limit 37"),
    ("s3 reserved prefix", change("aws", ("name",), "xn--ml"), "storage.buckets[0]", "reserved prefix 'xn--'"),
    ("s3 sthree prefix", change("aws", ("name",), "sthree-ml"), "storage.buckets[0]", "reserved prefix"),
    ("onprem bucket", change("onprem", BUCKET3, "b" * 30, name="s" * 40), "storage.buckets[3]", "S3 bucket name"),
    ("label key", change("gcp", (*POOL0, "labels"), {"bad key!": "v"}), "accelerator_pools[0].labels.bad key!", "key"),
    ("label prefix", change("gcp", (*POOL0, "labels"), {"Example.com/x": "v"}), "labels.Example.com/x", "prefix"),
    ("label value", change("gcp", (*POOL0, "labels"), {"a": "-v"}), "accelerator_pools[0].labels.a", "label value"),
    ("label value long", change("onprem", (*POOL0, "labels"), {"a": "v" * 64}), "accelerator_pools[0].labels.a", "64"),
    ("kubelet label gke", change("gcp", (*POOL0, "labels"), {"kubernetes.io/role": "gpu"}), "labels", "kubelet"),
    ("kubelet label eks", change("aws", (*POOL0, "labels"), {"node-restriction.kubernetes.io/x": "y"}), "labels", "kubelet"),  # noqa: E501
    ("eks label key length", change("aws", (*POOL0, "labels"), {LONG_KEY: "v"}), "labels", "EKS node groups"),
    ("eks empty label value", change("aws", (*POOL0, "labels"), {"a": ""}), "accelerator_pools[0].labels.a", "empty"),
    ("taint key", change("gcp", (*POOL0, "taints"), [{"key": "a/b/c"}]), "accelerator_pools[0].taints[0].key", "'/'"),
    ("taint value", change("gcp", (*POOL0, "taints"), [{"key": "a", "value": "x y"}]), "taints[0].value", "taint"),
    ("eks taint key", change("aws", (*POOL0, "taints"), [{"key": EKS_KEY + "k"}]), "taints[0].key", "at most 63"),
    ("node name flag", change("onprem", (*POOL0, "nodes"), ["-oProxyCommand=x"]), "pools[0].nodes[0]", "node"),
    ("node name path", change("onprem", (*POOL0, "nodes"), ["x/../../y"]), "accelerator_pools[0].nodes[0]", "node"),
    ("node name long", change("onprem", (*POOL0, "nodes"), ["n" * 254]), "accelerator_pools[0].nodes[0]", "254"),
    ("node selector", change("onprem", (*POOL0, "node_selector"), {"a b": "c"}), "node_selector", "label key"),
    ("storage class", change("onprem", ("storage", "default_storage_class"), "Ceph RBD"), "storage_class", "class"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "path", "text"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_a_name_its_provider_refuses_fails_validation_on_its_field(
    values: dict[str, Any], path: str, text: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(values)
    matching = [i for i in caught.value.issues if path in i.path]
    assert matching, f"no issue on {path}: {caught.value}"
    assert any(text in f"{i.reason} To fix: {i.fix}" for i in matching), str(caught.value)
    assert all(i.fix for i in matching)


def test_the_reported_40_character_stack_name() -> None:
    """The issue's report: a 40-character aistack:name on GKE."""
    with pytest.raises(SpecError) as caught:
        parse_spec(change("gcp", ("name",), "x" * 40))
    text = str(caught.value)
    assert f"'{'x' * 40}-nodes' of 46 characters (limit 30)" in text
    assert "shorten name to at most 24 characters" in text


def test_kubelet_labels_stay_allowed_where_they_are_allowed() -> None:
    for key in ("node.kubernetes.io/role", "topology.kubernetes.io/zone", "kubelet.kubernetes.io/x", "example.com/x"):
        assert valid(change("gcp", (*POOL0, "labels"), {key: "v"})), key
    # On-prem nodes are labelled through the API, not by their kubelets.
    assert valid(change("onprem", (*POOL0, "labels"), {"node-role.kubernetes.io/gpu": ""}))


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_example_stacks_still_validate(stack: str) -> None:
    load_stack(stack)


# ----------------------------------------------------------------------------------- properties

dns_labels = st.from_regex(r"\A[a-z]([-a-z0-9]{0,38}[a-z0-9])?\Z")
bucket_names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?\Z")
projects = st.from_regex(r"\A[a-z][-a-z0-9]{4,28}[a-z0-9]\Z")


def shape_only(values: dict[str, Any]) -> StackSpec:
    return StackSpec.model_validate(values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(["gcp", "aws", "onprem"]),
    stack=dns_labels,
    pool=dns_labels,
    team=dns_labels,
    bucket=bucket_names,
    project=projects,
)
def test_validation_refuses_exactly_the_names_that_do_not_fit(
    target: str, stack: str, pool: str, team: str, bucket: str, project: str
) -> None:
    values = config(target, stack, pool, team, bucket)
    if target == "gcp":
        values["project"] = project
    spec = shape_only(values)
    names = naming.generated_names(spec)
    wrong = [p for n in names if (p := fits(n.limit.what, n.value, PULUMI_SUFFIX if n.autonamed else 0))]
    issues = list(rules.generated_names(spec))
    assert bool(wrong) == bool(issues), (wrong, issues)
    fields = {FIELDS[p] for p in PARTS} | {f"storage.buckets[{i}]" for i in range(4)}
    for issue in issues:  # every issue names a field the name is built from
        assert issue.path in fields, issue


label_text = st.text(alphabet="abcXYZ019-_./ ", max_size=80)


@given(key=st.one_of(label_text, st.builds(lambda p, n: f"{p}/{n}", label_text, label_text)))
def test_label_keys_are_checked_as_kubernetes_does(key: str) -> None:
    assert (naming.label_key_problem(key) is None) == label_key_ok(key)


@given(value=label_text)
def test_label_values_are_checked_as_kubernetes_does(value: str) -> None:
    assert (naming.label_value_problem(value) is None) == (fits("Kubernetes label value", value) is None)


@given(name=st.one_of(label_text, st.from_regex(rf"\A{SUBDOMAIN}\Z")))
def test_node_and_class_names_are_checked_as_kubernetes_does(name: str) -> None:
    assert (naming.subdomain_problem(name) is None) == (fits("Kubernetes object name", name) is None)


@given(project=st.one_of(projects, st.text(alphabet="abz09-_ A", min_size=0, max_size=34)))
def test_project_ids_are_checked_as_gcp_documents(project: str) -> None:
    assert (naming.project_id_problem(project) is None) == bool(re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", project))
