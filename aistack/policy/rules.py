"""The compliance rules of the standard, hipaa and gdpr profiles, as pure functions over resources.

One rule set, two runners: the CrossGuard pack in ``policies/`` (``pulumi preview --policy-pack
policies``, on the engine's real inputs, rendered chart objects included) and ``aistack check``
(offline, on the plan). Properties are the engine's camelCase inputs, which both runners see.

Each policy lists the profiles it applies to and whether it is mandatory (blocks) or advisory
(reports) there; a profile not listed does not run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from foundation import catalog

Level = Literal["mandatory", "advisory"]
Profile = Literal["standard", "hipaa", "gdpr"]
PROFILES: tuple[Profile, ...] = ("standard", "hipaa", "gdpr")

ACCELERATOR_TAINT_KEYS = ("nvidia.com/gpu", "google.com/tpu", "aws.amazon.com/neuron")
# System namespaces whose components must run privileged (drivers, CNI/mesh, load balancer
# speakers, host-path provisioners); everything else must not.
PRIVILEGED_NAMESPACES = frozenset(
    {"kube-system", "gpu-operator", "metallb-system", "istio-system", "local-path-storage", "monitoring"}
)
TEAM_LABEL = "aistack.io/team"
WORKLOAD_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})


@dataclass(frozen=True)
class Resource:
    """What a rule sees of one resource: its Pulumi type, URN, logical name and input properties."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]

    @property
    def kind(self) -> str | None:
        return self.props.get("kind") if self.type.startswith("kubernetes:") else None


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: Resource | None
    message: str
    fix: str
    level: Level


ResourceCheck = Callable[[Resource], str | None]
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[Resource | None, str]]]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    fix: str
    levels: Mapping[Profile, Level]
    resource: ResourceCheck | None = None
    stack: StackCheck | None = None

    def level(self, profile: str) -> Level | None:
        return self.levels.get(profile)  # type: ignore[call-overload, no-any-return]


def _get(props: Mapping[str, Any], *path: str) -> Any:
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _set(value: Any) -> bool:
    """A property that is given: secrets and values unknown until deploy count as given."""
    return value not in (None, "", [], {})


# ------------------------------------------------------------------ encryption


def cmek_buckets(r: Resource) -> str | None:
    if r.type == "gcp:storage/bucket:Bucket" and not _set(_get(r.props, "encryption", "defaultKmsKeyName")):
        return "bucket is encrypted with a Google-managed key, not the stack's KMS key"
    if r.type == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        for rule in r.props.get("rules") or []:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            if default.get("sseAlgorithm") != "aws:kms" or not _set(default.get("kmsMasterKeyId")):
                return "bucket default encryption is not SSE-KMS with the stack's key"
    return None


def every_s3_bucket_has(kind: str, what: str) -> StackCheck:
    """AWS keeps bucket settings in sibling resources: one of ``kind`` per bucket."""

    def check(resources: Sequence[Resource]) -> Iterable[tuple[Resource | None, str]]:
        buckets = [r for r in resources if r.type == "aws:s3/bucket:Bucket"]
        siblings = [r for r in resources if r.type == kind]
        if len(siblings) < len(buckets):
            yield None, f"{len(buckets)} S3 bucket(s) but {len(siblings)} {what}"

    return check


def cmek_disks(r: Resource) -> str | None:
    if r.type == "gcp:container/nodePool:NodePool" and not _set(_get(r.props, "nodeConfig", "bootDiskKmsKey")):
        return "node boot disks are not encrypted with the stack's KMS key"
    if r.type == "gcp:filestore/instance:Instance" and not _set(r.props.get("kmsKeyName")):
        return "Filestore is not encrypted with the stack's KMS key"
    if r.type == "aws:fsx/lustreFileSystem:LustreFileSystem" and not _set(r.props.get("kmsKeyId")):
        return "FSx for Lustre is not encrypted with the stack's KMS key"
    if r.kind == "StorageClass" and r.props.get("provisioner") == "ebs.csi.aws.com":
        params = r.props.get("parameters") or {}
        if params.get("encrypted") != "true" or not _set(params.get("kmsKeyId")):
            return "EBS volumes of this class are not encrypted with the stack's KMS key"
    return None


def cmek_secrets(r: Resource) -> str | None:
    if r.type == "gcp:container/cluster:Cluster":
        enc = r.props.get("databaseEncryption") or {}
        if enc.get("state") != "ENCRYPTED" or not _set(enc.get("keyName")):
            return "Kubernetes secrets are not envelope-encrypted with the stack's KMS key"
    if r.type == "aws:eks/cluster:Cluster":
        enc = r.props.get("encryptionConfig") or {}
        if "secrets" not in (enc.get("resources") or []) or not _set(_get(enc, "provider", "keyArn")):
            return "Kubernetes secrets are not envelope-encrypted with the stack's KMS key"
    return None


# ------------------------------------------------------------------ exposure and audit


def no_public_buckets(r: Resource) -> str | None:
    if r.type == "gcp:storage/bucket:Bucket":
        if r.props.get("publicAccessPrevention") != "enforced":
            return "public access prevention is not enforced"
        if not _get(r.props, "uniformBucketLevelAccess"):
            return "object ACLs are allowed (uniform bucket-level access is off)"
    if r.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        off = [
            k
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            if r.props.get(k) is not True
        ]
        if off:
            return f"public access block has {', '.join(off)} off"
    return None


def private_endpoint(r: Resource) -> str | None:
    if r.type == "gcp:container/cluster:Cluster" and not _get(r.props, "privateClusterConfig", "enablePrivateEndpoint"):
        return "the control plane has a public endpoint"
    if r.type == "aws:eks/cluster:Cluster" and _get(r.props, "vpcConfig", "endpointPublicAccess") is not False:
        return "the control plane has a public endpoint"
    return None


def audit_logging(r: Resource) -> str | None:
    if r.type == "gcp:container/cluster:Cluster":
        components = _get(r.props, "loggingConfig", "enableComponents") or []
        if "APISERVER" not in components:
            return "API server logs (audit) are not exported to Cloud Logging"
    if r.type == "aws:eks/cluster:Cluster" and "audit" not in (r.props.get("enabledClusterLogTypes") or []):
        return "the control plane's audit log is off"
    return None


# ------------------------------------------------------------------ residency

# Location-bearing inputs of regional resources, by type.
_LOCATION_FIELDS = {
    "gcp:container/cluster:Cluster": "location",
    "gcp:container/nodePool:NodePool": "location",
    "gcp:storage/bucket:Bucket": "location",
    "gcp:kms/keyRing:KeyRing": "location",
    "gcp:compute/subnetwork:Subnetwork": "region",
    "gcp:compute/router:Router": "region",
    "gcp:compute/routerNat:RouterNat": "region",
    "gcp:filestore/instance:Instance": "location",
    "aws:ec2/subnet:Subnet": "availabilityZone",
}


def _region_of(target: str, location: str) -> str:
    """europe-west4-a → europe-west4; eu-west-1a → eu-west-1; bucket locations are upper case."""
    loc = location.lower()
    regions = catalog.regions().for_target(target)
    if loc in regions:
        return loc
    for cut in (loc.rsplit("-", 1)[0], loc[:-1]):
        if cut in regions:
            return cut
    return loc


def eu_residency(r: Resource) -> str | None:
    field = _LOCATION_FIELDS.get(r.type)
    value = r.props.get(field) if field else None
    if not isinstance(value, str) or not value or value.startswith("["):
        return None
    target = "gcp" if r.type.startswith("gcp:") else "aws"
    region = catalog.regions().for_target(target).get(_region_of(target, value))
    if region is None:
        return f"{field} '{value}' is not a known {target} region, so its residency cannot be shown"
    if not region.eu:
        return f"{field} '{value}' ({region.location}) is outside the EU/EEA"
    return None


# ------------------------------------------------------------------ the cluster's own objects


def _taint_keys(taints: Any) -> set[str]:
    return {
        str(t.get("key"))
        for t in (taints or [])
        if isinstance(t, Mapping) and t.get("effect") in ("NO_SCHEDULE", "NoSchedule", "NO_EXECUTE", "NoExecute")
    }


def gpu_pools_tainted(r: Resource) -> str | None:
    if r.type == "gcp:container/nodePool:NodePool":
        config = r.props.get("nodeConfig") or {}
        accelerated = bool(config.get("guestAccelerators")) or str(config.get("machineType", "")).startswith("ct")
        if accelerated and not _taint_keys(config.get("taints")) & set(ACCELERATOR_TAINT_KEYS):
            return "accelerator node pool has no NoSchedule accelerator taint: any pod could land on it"
    if r.type == "aws:eks/nodeGroup:NodeGroup":
        accelerated = any(x in str(r.props.get("amiType", "")) for x in ("NVIDIA", "NEURON", "GPU"))
        if accelerated and not _taint_keys(r.props.get("taints")) & set(ACCELERATOR_TAINT_KEYS):
            return "accelerator node group has no NoSchedule accelerator taint: any pod could land on it"
    # EKS: Karpenter launches accelerator nodes from NodePools, tainted as their template says.
    pool_taints = _taint_keys(_get(r.props, "spec", "template", "spec", "taints")) & set(ACCELERATOR_TAINT_KEYS)
    if r.type == "kubernetes:karpenter.sh/v1:NodePool" and not pool_taints:
        return "accelerator NodePool has no NoSchedule accelerator taint: any pod could land on its nodes"
    tainted = _taint_keys(_get(r.props, "spec", "taints")) & set(ACCELERATOR_TAINT_KEYS)
    if r.type == "kubernetes:core/v1:NodePatch" and "spec" in r.props and not tainted:
        return "accelerator node has no NoSchedule accelerator taint: any pod could land on it"
    return None


def namespace_pod_security(r: Resource) -> str | None:
    if r.kind != "Namespace":
        return None
    labels = _get(r.props, "metadata", "labels") or {}
    if TEAM_LABEL not in labels:
        return None
    if labels.get("pod-security.kubernetes.io/enforce") not in ("restricted", "baseline"):
        return "team namespace does not enforce the restricted or baseline Pod Security level"
    return None


def default_deny(resources: Sequence[Resource]) -> Iterable[tuple[Resource | None, str]]:
    denied = set()
    for r in resources:
        if r.kind != "NetworkPolicy":
            continue
        spec = r.props.get("spec") or {}
        if (
            spec.get("podSelector") == {}
            and set(spec.get("policyTypes") or []) >= {"Ingress", "Egress"}
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            denied.add(_get(r.props, "metadata", "namespace"))
    for r in resources:
        if r.kind == "Namespace" and TEAM_LABEL in (_get(r.props, "metadata", "labels") or {}):
            name = _get(r.props, "metadata", "name")
            if name not in denied:
                yield r, f"team namespace {name} has no default-deny NetworkPolicy (ingress and egress)"


def _pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = props.get("kind")
    if kind == "Pod":
        return props.get("spec") or {}
    if kind == "CronJob":
        return _get(props, "spec", "jobTemplate", "spec", "template", "spec") or {}
    return _get(props, "spec", "template", "spec") or {}


def no_privileged(r: Resource) -> str | None:
    if r.kind not in WORKLOAD_KINDS:
        return None
    namespace = _get(r.props, "metadata", "namespace") or "default"
    if namespace in PRIVILEGED_NAMESPACES:
        return None
    pod = _pod_spec(r.props)
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    privileged = [c.get("name", "?") for c in containers if _get(c, "securityContext", "privileged") is True]
    if privileged:
        return f"container(s) {', '.join(privileged)} run privileged in namespace {namespace}"
    return None


M: Level = "mandatory"
A: Level = "advisory"

POLICIES: tuple[Policy, ...] = (
    Policy(
        "cmek-buckets",
        "Buckets are encrypted with the stack's customer-managed key.",
        "set security.customer_managed_keys: true (the target then creates and uses the key)",
        {"standard": A, "hipaa": M, "gdpr": M},
        resource=cmek_buckets,
    ),
    Policy(
        "cmek-buckets-aws",
        "Every S3 bucket has a default-encryption configuration.",
        "set security.customer_managed_keys: true",
        {"standard": A, "hipaa": M, "gdpr": M},
        stack=every_s3_bucket_has(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "default-encryption configurations",
        ),
    ),
    Policy(
        "cmek-disks",
        "Disks and filesystems are encrypted with the stack's customer-managed key.",
        "set security.customer_managed_keys: true",
        {"standard": A, "hipaa": M, "gdpr": M},
        resource=cmek_disks,
    ),
    Policy(
        "cmek-secrets",
        "Kubernetes secrets are envelope-encrypted with the stack's customer-managed key.",
        "set security.customer_managed_keys: true",
        {"standard": A, "hipaa": M, "gdpr": M},
        resource=cmek_secrets,
    ),
    Policy(
        "no-public-buckets",
        "No bucket can be made public.",
        "keep the target's bucket defaults (public access prevention / public access block); do not override them",
        {"standard": M, "hipaa": M, "gdpr": M},
        resource=no_public_buckets,
    ),
    Policy(
        "no-public-buckets-aws",
        "Every S3 bucket has a public access block.",
        "keep the target's bucket defaults",
        {"standard": M, "hipaa": M, "gdpr": M},
        stack=every_s3_bucket_has("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "public access blocks"),
    ),
    Policy(
        "private-endpoint",
        "The cluster's control plane is reachable only privately.",
        "set cluster.private_endpoint: true and reach the API through the VPC (VPN, bastion, CI runner inside)",
        {"standard": A, "hipaa": M, "gdpr": A},
        resource=private_endpoint,
    ),
    Policy(
        "audit-logging",
        "Control-plane audit logs are on.",
        "set security.audit_logging: true",
        {"standard": A, "hipaa": M, "gdpr": M},
        resource=audit_logging,
    ),
    Policy(
        "eu-residency",
        "Every regional resource is in the EU/EEA.",
        "use an EU region (region, zones) for the stack",
        {"gdpr": M},
        resource=eu_residency,
    ),
    Policy(
        "gpu-pools-tainted",
        "Accelerator nodes carry a NoSchedule accelerator taint.",
        "keep the accelerator taint aistack adds to every pool (do not override the pool's taints)",
        {"standard": M, "hipaa": M, "gdpr": M},
        resource=gpu_pools_tainted,
    ),
    Policy(
        "namespace-pod-security",
        "Team namespaces enforce a Pod Security level.",
        "keep the pod-security.kubernetes.io/enforce label aistack sets on team namespaces",
        {"standard": M, "hipaa": M, "gdpr": M},
        resource=namespace_pod_security,
    ),
    Policy(
        "default-deny",
        "Team namespaces deny all traffic by default.",
        "keep aistack's default-deny NetworkPolicy in every team namespace",
        {"standard": M, "hipaa": M, "gdpr": M},
        stack=default_deny,
    ),
    Policy(
        "no-privileged",
        "No container runs privileged outside the allow-listed system namespaces.",
        "drop securityContext.privileged, or run the component in a system namespace that needs it "
        f"({', '.join(sorted(PRIVILEGED_NAMESPACES))})",
        {"standard": A, "hipaa": M, "gdpr": M},
        resource=no_privileged,
    ),
)


def evaluate(resources: Sequence[Resource], profile: str, policies: Sequence[Policy] = POLICIES) -> list[Violation]:
    """Every violation of the profile's policies (mandatory and advisory)."""
    out: list[Violation] = []
    for policy in policies:
        level = policy.level(profile)
        if level is None:
            continue
        if policy.resource is not None:
            for r in resources:
                message = policy.resource(r)
                if message is not None:
                    out.append(Violation(policy.name, r, message, policy.fix, level))
        if policy.stack is not None:
            for found, message in policy.stack(resources):
                out.append(Violation(policy.name, found, message, policy.fix, level))
    return out
