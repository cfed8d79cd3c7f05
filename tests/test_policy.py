"""Compliance policies: every rule passes on the real plan of an example stack and fails when one
property of that plan is flipped. The same rules back `aistack check` and the CrossGuard pack."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from aistack.offline import plan
from aistack.policy import Resource, evaluate, plan_resources
from aistack.policy.rules import POLICIES, PROFILES, Policy
from components.spec import load_stack
from tests.conftest import EXAMPLE_STACKS, ROOT, need

BY_NAME = {p.name: p for p in POLICIES}


@cache
def resources(stack: str) -> tuple[Resource, ...]:
    return tuple(plan_resources(plan(load_stack(stack))))


def violations(policy: Policy, res: list[Resource] | tuple[Resource, ...]) -> list[str]:
    profile = next(p for p in ("gdpr", "hipaa", "standard") if policy.level(p))
    return [v.message for v in evaluate(list(res), profile, [policy])]


def flipped(
    stack: str, match: Callable[[Resource], bool], mutate: Callable[[dict[str, Any]], object], *, drop: bool = False
) -> list[Resource]:
    """The stack's plan with one property changed (or the matching resources removed)."""
    out = []
    hit = False
    for r in resources(stack):
        if match(r):
            hit = True
            if drop:
                continue
            props = copy.deepcopy(dict(r.props))
            mutate(props)
            r = Resource(r.type, r.urn, r.name, props)
        out.append(r)
    assert hit, "the flip must touch a real resource of the plan"
    return out


def of(type_: str, name_part: str = "") -> Callable[[Resource], bool]:
    return lambda r: r.type == type_ and name_part in r.name


def kind(k: str, name: str | None = None) -> Callable[[Resource], bool]:
    return lambda r: r.kind == k and (name is None or r.props["metadata"]["name"] == name)


GCP_BUCKET = of("gcp:storage/bucket:Bucket")
GCP_CLUSTER = of("gcp:container/cluster:Cluster")
GCP_POOL = of("gcp:container/nodePool:NodePool", "v5e")
AWS_CLUSTER = of("aws:eks/cluster:Cluster")
AWS_SSE = of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
AWS_PAB = of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")


def _sse_aes(p: dict[str, Any]) -> None:
    p["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(p: dict[str, Any]) -> None:
        target = p
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


CASES: list[tuple[str, str, Callable[[Resource], bool], Callable[[dict[str, Any]], object], bool]] = [
    ("cmek-buckets", "gcp-tpu", GCP_BUCKET, _set(("encryption",), {}), False),
    ("cmek-buckets", "aws-gpu", AWS_SSE, _sse_aes, False),
    ("cmek-buckets-aws", "aws-gpu", AWS_SSE, lambda p: None, True),
    ("cmek-disks", "gcp-tpu", GCP_POOL, _set(("nodeConfig", "bootDiskKmsKey"), None), False),
    ("cmek-disks", "aws-gpu", of("aws:fsx/lustreFileSystem:LustreFileSystem"), _set(("kmsKeyId",), None), False),
    ("cmek-disks", "aws-gpu", kind("StorageClass", "gp3"), _set(("parameters", "encrypted"), "false"), False),
    ("cmek-secrets", "gcp-tpu", GCP_CLUSTER, _set(("databaseEncryption", "state"), "DECRYPTED"), False),
    ("cmek-secrets", "aws-gpu", AWS_CLUSTER, _set(("encryptionConfig",), {}), False),
    ("no-public-buckets", "gcp-tpu", GCP_BUCKET, _set(("publicAccessPrevention",), "inherited"), False),
    ("no-public-buckets", "aws-gpu", AWS_PAB, _set(("blockPublicPolicy",), False), False),
    ("no-public-buckets-aws", "aws-gpu", AWS_PAB, lambda p: None, True),
    ("private-endpoint", "aws-gpu", AWS_CLUSTER, _set(("vpcConfig", "endpointPublicAccess"), True), False),
    ("audit-logging", "aws-gpu", AWS_CLUSTER, _set(("enabledClusterLogTypes",), ["api"]), False),
    (
        "audit-logging",
        "gcp-tpu",
        GCP_CLUSTER,
        _set(("loggingConfig", "enableComponents"), ["SYSTEM_COMPONENTS"]),
        False,
    ),
    ("eu-residency", "gcp-tpu", GCP_BUCKET, _set(("location",), "US"), False),
    ("eu-residency", "gcp-tpu", GCP_CLUSTER, _set(("location",), "us-central1"), False),
    ("gpu-pools-tainted", "gcp-tpu", GCP_POOL, _set(("nodeConfig", "taints"), []), False),
    ("gpu-pools-tainted", "aws-gpu", kind("NodePool", "h100"), _set(("spec", "template", "spec", "taints"), []), False),
    (
        "gpu-pools-tainted",
        "onprem-gpu",
        lambda r: r.type == "kubernetes:core/v1:NodePatch" and "spec" in r.props,
        _set(("spec", "taints"), [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
        False,
    ),
    (
        "namespace-pod-security",
        "local",
        kind("Namespace", "alpha"),
        lambda p: p["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"),
        False,
    ),
    (
        "default-deny",
        "local",
        lambda r: r.kind == "NetworkPolicy" and r.name.endswith("alpha-default-deny"),
        lambda p: None,
        True,
    ),
]


@pytest.mark.parametrize(("policy", "stack", "match", "mutate", "drop"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_passes_on_the_real_plan_and_fails_on_the_flip(
    policy: str, stack: str, match: Callable[[Resource], bool], mutate: Any, drop: bool
) -> None:
    p = BY_NAME[policy]
    assert violations(p, resources(stack)) == [], "the example stack complies"
    found = violations(p, flipped(stack, match, mutate, drop=drop))
    assert found, f"{policy} must catch the flipped property"


def test_every_policy_has_a_case() -> None:
    covered = {c[0] for c in CASES} | {"no-privileged"}
    assert covered == set(BY_NAME)


def deployment(namespace: str, privileged: bool) -> Resource:
    container = {"name": "app", "image": "x", "securityContext": {"privileged": privileged}}
    props = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
    return Resource("kubernetes:apps/v1:Deployment", f"urn:{namespace}", "d", props)


def test_no_privileged_outside_system_namespaces() -> None:
    """Workloads come from charts, which only the engine renders: this rule gets synthetic inputs."""
    p = BY_NAME["no-privileged"]
    assert violations(p, [deployment("alpha", privileged=False)]) == []
    assert violations(p, [deployment("gpu-operator", privileged=True)]) == []
    assert violations(p, [deployment("alpha", privileged=True)]) == [
        "container(s) app run privileged in namespace alpha"
    ]


def test_eu_residency_reads_zones_of_aws_subnets() -> None:
    p = BY_NAME["eu-residency"]
    subnets = [r for r in resources("aws-gpu") if r.type == "aws:ec2/subnet:Subnet"]
    # Offline the zones are unknown (the engine knows them at preview); the spec rules cover the region.
    assert violations(p, subnets) == []

    def moved(zone: str) -> list[Resource]:
        return [Resource(r.type, r.urn, r.name, {**r.props, "availabilityZone": zone}) for r in subnets]

    assert violations(p, moved("us-east-1a")), "us-east-1 is outside the EU"
    assert violations(p, moved("eu-west-1a")) == []


# Each profile's policies and their enforcement, written out by hand (not read from POLICIES). Why:
# - hipaa: the HIPAA Security Rule, 45 CFR 164.312: encryption at rest (a)(2)(iv) -> cmek-*, access
#   control (a)(1) -> no-public-buckets*, private-endpoint, no-privileged, namespace-pod-security,
#   default-deny, gpu-pools-tainted; audit controls (b) -> audit-logging. Every one blocks. No residency rule.
# - gdpr: Art. 32 (security of processing: encryption, access control, logging) -> the same, mandatory,
#   except private-endpoint (advisory: Art. 32 asks for measures "appropriate to the risk", and a
#   public endpoint behind IAM can be); Chapter V (Art. 44-49, transfers) -> eu-residency, mandatory.
# - standard: what protects any stack blocks (no public buckets, tainted accelerator pools, Pod
#   Security and default-deny in team namespaces); key management, audit logs, private endpoints and
#   privileged containers are advised. No residency rule.
M, A = "mandatory", "advisory"
EXPECTED_LEVELS: dict[str, dict[str, str]] = {
    "standard": {
        "cmek-buckets": A,
        "cmek-buckets-aws": A,
        "cmek-disks": A,
        "cmek-secrets": A,
        "no-public-buckets": M,
        "no-public-buckets-aws": M,
        "private-endpoint": A,
        "audit-logging": A,
        "gpu-pools-tainted": M,
        "namespace-pod-security": M,
        "default-deny": M,
        "no-privileged": A,
    },
    "hipaa": {
        "cmek-buckets": M,
        "cmek-buckets-aws": M,
        "cmek-disks": M,
        "cmek-secrets": M,
        "no-public-buckets": M,
        "no-public-buckets-aws": M,
        "private-endpoint": M,
        "audit-logging": M,
        "gpu-pools-tainted": M,
        "namespace-pod-security": M,
        "default-deny": M,
        "no-privileged": M,
    },
    "gdpr": {
        "cmek-buckets": M,
        "cmek-buckets-aws": M,
        "cmek-disks": M,
        "cmek-secrets": M,
        "no-public-buckets": M,
        "no-public-buckets-aws": M,
        "private-endpoint": A,
        "audit-logging": M,
        "eu-residency": M,
        "gpu-pools-tainted": M,
        "namespace-pod-security": M,
        "default-deny": M,
        "no-privileged": M,
    },
}


@pytest.mark.parametrize("profile", ["standard", "hipaa", "gdpr"])
def test_levels_follow_the_profile(profile: str) -> None:
    assert set(PROFILES) == set(EXPECTED_LEVELS)
    got = {p.name: p.level(profile) for p in POLICIES if p.level(profile)}  # type: ignore[arg-type]
    assert got == EXPECTED_LEVELS[profile]


def aistack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aistack", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_check_passes_every_example_stack(stack: str) -> None:
    result = aistack("check", stack, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert all(v["level"] == "advisory" for v in doc["violations"])


def test_check_fails_a_regulated_stack_with_a_mandatory_violation(tmp_path: Any) -> None:
    import yaml

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-tpu.yaml").read_text())
    doc["config"]["aistack:security"] = {"customer_managed_keys": False}
    doc["config"]["aistack:compliance"] = "standard"
    path = tmp_path / "Pulumi.weak.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert aistack("check", str(path)).returncode == 0, "standard: CMEK is advisory"
    doc["config"]["aistack:compliance"] = "gdpr"
    path.write_text(yaml.safe_dump(doc))
    result = aistack("check", str(path), "--json")
    # The spec rules allow gdpr without CMEK; the policy pack does not.
    assert result.returncode == 1, result.stderr
    names = {v["policy"] for v in json.loads(result.stdout)["violations"] if v["level"] == "mandatory"}
    assert {"cmek-buckets", "cmek-secrets"} <= names


def test_crossguard_pack_is_built_from_the_same_rules() -> None:
    """The pack's builder with a stand-in for pulumi_policy (its venv is separate; see policies/)."""
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        import pack
    finally:
        sys.path.pop(0)

    class FakePP:
        class EnforcementLevel:
            MANDATORY = "mandatory"
            ADVISORY = "advisory"

        @staticmethod
        def ResourceValidationPolicy(**kw: Any) -> dict[str, Any]:  # noqa: N802
            return {"kind": "resource", **kw}

        @staticmethod
        def StackValidationPolicy(**kw: Any) -> dict[str, Any]:  # noqa: N802
            return {"kind": "stack", **kw}

    for profile, expected in EXPECTED_LEVELS.items():
        got = {b["name"]: b["enforcement_level"] for b in pack.build(FakePP, profile)}
        assert got == expected, profile
    built = pack.build(FakePP, "hipaa")
    reports: list[str] = []
    (bucket_policy,) = [b for b in built if b["name"] == "no-public-buckets"]

    class Args:
        def __init__(self) -> None:
            self.resource_type = "gcp:storage/bucket:Bucket"
            self.urn, self.name = "urn:x", "b"
            self.props = {"publicAccessPrevention": "inherited", "uniformBucketLevelAccess": True}

    bucket_policy["validate"](Args(), reports.append)
    assert reports and "To fix" in reports[0]


def test_pack_builds_with_the_real_pulumi_policy() -> None:
    """In the pack's own venv (pulumi-policy pins protobuf 5, the program's SDK needs 6)."""
    python = ROOT / "policies" / "venv" / "bin" / "python"
    if not python.exists():
        need("policies-venv", "policies/venv not created here (make test creates it)")
    code = (
        "import pulumi_policy, pack\n"
        "for profile in ('standard', 'hipaa', 'gdpr'):\n"
        "    for p in pack.build(pulumi_policy, profile):\n"
        "        print(profile, p.name, p.enforcement_level.value, type(p).__name__)\n"
    )
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=ROOT / "policies")
    assert result.returncode == 0, result.stderr
    got: dict[str, dict[str, str]] = {}
    kinds: set[str] = set()
    for line in result.stdout.splitlines():
        profile, name, level, kind_ = line.split()
        got.setdefault(profile, {})[name] = level
        kinds.add(kind_)
    assert got == EXPECTED_LEVELS
    assert kinds == {"ResourceValidationPolicy", "StackValidationPolicy"}
