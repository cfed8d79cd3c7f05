"""Physical names: every cloud and Kubernetes name aistack builds from spec values, and its limits.

The targets build these names only through the functions here, and the spec rules check exactly
what these functions return (``generated_names``) against the provider's documented limit, so a
stack that validates does not fail at ``pulumi up`` for a naming reason. Each limit cites where
it is documented.

Pulumi auto-names a resource that is given no explicit physical name: ``<logical name>-<7 random
characters>``, and the provider refuses (``name '...' plus 7 random chars is longer than maximum
length``) a logical name that leaves no room for the suffix. Such names count 8 characters more
than the logical name (``autonamed``).

Pure: no Pulumi import, and nothing from the spec package at import time (the spec rules import
this module).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec.model import StackSpec

# Pulumi auto-naming: '<logical name>' + '-' + 7 random characters. Separator and Randlen in
# pulumi-terraform-bridge AutoName (https://github.com/pulumi/pulumi-terraform-bridge/blob/master/pkg/tfbridge/info/autonaming.go);
# the length check is resource.NewUniqueName (https://github.com/pulumi/pulumi/blob/master/sdk/go/common/resource/properties.go).
AUTONAME_SUFFIX = 8
AUTONAME_SHOWN = "-xxxxxxx"

# ----------------------------------------------------------------------------------- character sets

# RFC 1123 label / subdomain as Kubernetes validates them (IsDNS1123Label / IsDNS1123Subdomain):
# https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_DNS_LABEL)
DNS1123_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
# Label keys are '[prefix/]name'; the name part and label values share this charset (IsQualifiedName,
# IsValidLabelValue): https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
# RFC 1035 label: what most Google Cloud resource names must be (https://google.aip.dev/122,
# https://cloud.google.com/compute/docs/naming-resources#resource-name-format).
RFC1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# GCP project ids: https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin
GCP_PROJECT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")

_LOWER_DNS = "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
_K8S_SUBDOMAIN = "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
_QUALIFIED = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


@dataclass(frozen=True)
class Limit:
    """What a provider accepts for one kind of name."""

    what: str  # "GKE node service account id"
    max_len: int
    pattern: re.Pattern[str]  # the whole name must match
    rule: str  # the character set in words
    source: str  # where the limit is documented
    min_len: int = 1
    reserved: Callable[[str], str | None] | None = None  # further provider rules (reserved prefixes, ...)


def _gcs_reserved(name: str) -> str | None:
    if name.startswith("goog"):
        return "begins with 'goog'"
    if "google" in name or "g00gle" in name:
        return "contains 'google'"
    return None


# Amazon S3 reserves these prefixes (its reserved suffixes cannot occur: bucket_prefix names end in
# the provider's unique id): https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def _s3_prefix_reserved(name: str) -> str | None:
    found = next((p for p in _S3_RESERVED_PREFIXES if name.startswith(p)), None)
    return f"begins with the reserved prefix '{found}'" if found else None


def _consecutive_dots(name: str) -> str | None:
    return "contains '..'" if ".." in name else None


# --- Google Cloud
GKE_CLUSTER = Limit(
    "GKE cluster name", 40, RFC1035_LABEL, _LOWER_DNS,
    "https://cloud.google.com/sdk/gcloud/reference/container/clusters/create",
)  # fmt: skip
GKE_NODE_POOL = Limit(
    "GKE node pool name", 40, RFC1035_LABEL, _LOWER_DNS,
    "https://cloud.google.com/sdk/gcloud/reference/container/node-pools/create",
)  # fmt: skip
GCP_SERVICE_ACCOUNT_ID = Limit(
    "GCP service account id", 30, re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])"), _LOWER_DNS,
    "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create",
    min_len=6,
)  # fmt: skip
GCP_SERVICE_ACCOUNT_DISPLAY_NAME = Limit(
    "GCP service account display name", 100, re.compile(r".+"), "any characters",
    "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts#ServiceAccount",
)  # fmt: skip
GCS_BUCKET = Limit(
    "Cloud Storage bucket name", 63, re.compile(r"[a-z0-9][-a-z0-9_.]*[a-z0-9]"),
    "lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    "https://cloud.google.com/storage/docs/buckets#naming", min_len=3, reserved=_gcs_reserved,
)  # fmt: skip
KMS_KEY_RING = Limit(
    "Cloud KMS key ring name", 63, re.compile(r"[a-zA-Z0-9_-]+"), "letters, digits, '_' and '-'",
    "https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings/create",
)  # fmt: skip
GCE_RESOURCE = Limit(
    "Compute Engine resource name", 63, RFC1035_LABEL, _LOWER_DNS,
    "https://cloud.google.com/compute/docs/naming-resources#resource-name-format",
)  # fmt: skip
FILESTORE_INSTANCE = Limit(
    "Filestore instance id", 63, RFC1035_LABEL, _LOWER_DNS,
    "https://cloud.google.com/filestore/docs/reference/rest/v1/projects.locations.instances/create",
)  # fmt: skip
GCP_LABEL_VALUE = Limit(
    "Google Cloud label value", 63, re.compile(r"[a-z0-9_-]*"), "lowercase letters, digits, '_' and '-'",
    "https://cloud.google.com/resource-manager/docs/labels-overview#requirements", min_len=0,
)  # fmt: skip

# --- AWS
EKS_CLUSTER = Limit(
    "EKS cluster name", 100, re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]*"), "letters, digits, '-' and '_'",
    "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html",
)  # fmt: skip
EKS_NODE_GROUP = Limit(
    "EKS node group name", 63, re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]*"), "letters, digits, '-' and '_'",
    "https://docs.aws.amazon.com/eks/latest/userguide/create-managed-node-group.html",
)  # fmt: skip
# bucket_prefix leaves 26 characters of the 63 for the provider's unique suffix.
S3_BUCKET_PREFIX = Limit(
    "S3 bucket name prefix", 37, re.compile(r"[a-z0-9][-a-z0-9.]*"), "lowercase letters, digits, '-' and '.'",
    "https://www.pulumi.com/registry/packages/aws/api-docs/s3/bucket/#bucketprefix_python "
    "(rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)",
    reserved=lambda n: _s3_prefix_reserved(n) or _consecutive_dots(n),
)  # fmt: skip
IAM_ROLE = Limit(
    "IAM role name", 64, re.compile(r"[\w+=,.@-]+"), "letters, digits and + = , . @ _ -",
    "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html "
    "(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)",
)  # fmt: skip
SQS_QUEUE = Limit(
    "SQS queue name", 80, re.compile(r"[A-Za-z0-9_-]+"), "letters, digits, '-' and '_'",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
)  # fmt: skip
EVENTBRIDGE_RULE = Limit(
    "EventBridge rule name", 64, re.compile(r"[.\-_A-Za-z0-9]+"), "letters, digits and . - _",
    "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
)  # fmt: skip
LAUNCH_TEMPLATE = Limit(
    "EC2 launch template name", 128, re.compile(r"[a-zA-Z0-9().\-/_]+"), "letters, digits and ( ) . - / _",
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html", min_len=3,
)  # fmt: skip

# --- S3-compatible stores (on-prem): the S3 bucket rules every such store follows (Ceph RGW, SeaweedFS).
S3_BUCKET = Limit(
    "S3 bucket name", 63, re.compile(r"[a-z0-9][-a-z0-9.]*[a-z0-9]"),
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html", min_len=3,
    reserved=_consecutive_dots,
)  # fmt: skip

# --- Kubernetes and Helm
K8S_NAMESPACE = Limit(
    "Kubernetes namespace", DNS1123_LABEL_MAX, DNS1123_LABEL,
    "lowercase letters, digits and '-', starting and ending with a letter or digit",
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names",
)  # fmt: skip
K8S_OBJECT = Limit(
    "Kubernetes object name", DNS1123_SUBDOMAIN_MAX, DNS1123_SUBDOMAIN, _K8S_SUBDOMAIN,
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names",
)  # fmt: skip
K8S_LABEL_VALUE = Limit(
    "Kubernetes label value", LABEL_VALUE_MAX, re.compile(rf"({QUALIFIED_NAME.pattern})?"), _QUALIFIED,
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set", min_len=0,
)  # fmt: skip
# Helm refuses longer release names (chartutil.ValidateReleaseName, maxReleaseNameLen = 53):
# https://github.com/helm/helm/blob/main/pkg/chartutil/validate_name.go
HELM_RELEASE = Limit(
    "Helm release name", 53, DNS1123_SUBDOMAIN, _K8S_SUBDOMAIN,
    "https://github.com/helm/helm/blob/main/pkg/chartutil/validate_name.go",
)  # fmt: skip

# EKS managed node groups take at most 63 characters for a label or taint key (prefix included) and
# 1-63 for a label value: https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Taint.html
EKS_LABEL_KEY_MAX = 63
EKS_TAINT_KEY_MAX = 63

# Node labels a kubelet may set itself (GKE node pools and EKS node groups label their nodes through
# the kubelet's --node-labels): no 'node-restriction.kubernetes.io' keys, and in the kubernetes.io /
# k8s.io namespaces only these keys and namespaces. k8s.io/kubelet/pkg/apis/well_known_labels.go
# (https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go),
# https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"


# ----------------------------------------------------------------------------------- checks of given values


def _in_namespace(prefix: str, namespace: str) -> bool:
    return prefix == namespace or prefix.endswith("." + namespace)


def dns_label_problem(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 label (namespaces), or None."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"is {len(value)} characters (at most {DNS1123_LABEL_MAX})"
    if not DNS1123_LABEL.fullmatch(value):
        return "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 subdomain (node, StorageClass and most object names), or None."""
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"is {len(value)} characters (at most {DNS1123_SUBDOMAIN_MAX})"
    if not DNS1123_SUBDOMAIN.fullmatch(value):
        return f"must be {_K8S_SUBDOMAIN}"
    return None


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes label (or taint) key, ``[prefix/]name``, or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return "has more than one '/' (a key is [prefix/]name)"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "has an empty prefix before '/'"
        problem = subdomain_problem(prefix)
        if problem is not None:
            return f"has the prefix '{prefix}', which {problem}"
    if not name:
        return "has an empty name"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"has a name part of {len(name)} characters (at most {QUALIFIED_NAME_MAX})"
    if not QUALIFIED_NAME.fullmatch(name):
        return f"has the name part '{name}', which must be {_QUALIFIED}"
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a Kubernetes label value (also taint values), or None. Empty is allowed."""
    if len(value) > LABEL_VALUE_MAX:
        return f"is {len(value)} characters (at most {LABEL_VALUE_MAX})"
    if value and not QUALIFIED_NAME.fullmatch(value):
        return f"must be empty or {_QUALIFIED}"
    return None


def kubelet_label_problem(key: str) -> str | None:
    """Why a kubelet may not set the node label ``key`` (--node-labels), or None."""
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if _in_namespace(prefix, NODE_RESTRICTION_NAMESPACE):
        return f"is in the {NODE_RESTRICTION_NAMESPACE} namespace, which kubelets may not set"
    kubernetes = _in_namespace(prefix, "kubernetes.io") or _in_namespace(prefix, "k8s.io")
    if kubernetes and key not in KUBELET_LABELS and not any(_in_namespace(prefix, n) for n in KUBELET_LABEL_NAMESPACES):
        return (
            "is in the kubernetes.io / k8s.io namespaces, where kubelets may set only "
            f"{', '.join(KUBELET_LABEL_NAMESPACES)} keys and a few well-known labels"
        )
    return None


def project_id_problem(project: str) -> str | None:
    """Why ``project`` is not a GCP project id, or None."""
    if not 6 <= len(project) <= 30:
        return f"a project id is 6-30 characters, this is {len(project)}"
    if not "a" <= project[0] <= "z":
        return "a project id starts with a lowercase letter"
    if not re.fullmatch(r"[-a-z0-9]+", project):
        return "a project id has only lowercase letters, digits and '-'"
    if project.endswith("-"):
        return "a project id does not end with '-'"
    return None


# ----------------------------------------------------------------------------------- the stack identity
# One identity per deployed stack: the Pulumi project and the Pulumi stack. It is what tells two stacks
# in one cloud account or project apart: in the physical names that must be unique there (through
# ``physical_prefix``) and in the tags / labels on everything the stack and its controllers create.

PULUMI_PROJECT = "aistack"  # Pulumi.yaml's name: the project of every stack of this repository
DEFAULT_NAME = "aistack"  # aistack:name when a stack does not set it (spec/model.py)
PROJECT_TAG = "aistack.io/project"  # AWS tags, Kubernetes labels
STACK_TAG = "aistack.io/stack"
GCP_PROJECT_LABEL = "aistack-project"  # Google Cloud label keys take no '.' or '/'
GCP_STACK_LABEL = "aistack-stack"
# The longest prefix derived from the identity: an aistack:name of this length makes every physical
# name fit (the GKE node service account, '<prefix>-nodes', is the tightest: 30 characters).
DERIVED_PREFIX_MAX = 24


def digest(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def fit(prefix: str, suffix: str, max_len: int) -> str:
    """'<prefix>-<suffix>' when it fits ``max_len``; else the prefix is cut and a hash of the whole name
    kept before the suffix, so that two prefixes that differ only past the cut still differ."""
    full = f"{prefix}-{suffix}" if suffix else prefix
    if len(full) <= max_len:
        return full
    tail = f"-{digest(full)}" + (f"-{suffix}" if suffix else "")
    room = max_len - len(tail)
    if room >= 1:
        return prefix[:room].rstrip("-_.") + tail
    return f"{full[: max_len - 7].rstrip('-_.')}-{digest(full)}"


def _sanitized(value: str, pattern: str, max_len: int) -> str:
    """``value`` with every run of characters outside ``pattern`` turned into '-', cut to ``max_len``
    with a hash when that changed or shortened it (so distinct values stay distinct)."""
    clean = re.sub(pattern, "-", value).strip("-_.")
    if clean == value and len(clean) <= max_len:
        return clean
    return fit(clean or "x", digest(value, 4), max_len)


@dataclass(frozen=True)
class StackIdentity:
    """The Pulumi project and stack a deployment belongs to (pulumi.get_project(), pulumi.get_stack())."""

    project: str
    stack: str

    @property
    def key(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def slug(self) -> str:
        """The identity as a name part: the stack (with the project when it is not this repository's),
        lowercase letters, digits and '-', with a hash where that lost anything."""
        raw = self.stack if self.project == PULUMI_PROJECT else f"{self.project}-{self.stack}"
        clean = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-") or "x"
        return clean if clean == raw else f"{clean}-{digest(self.key, 4)}"

    def tags(self) -> dict[str, str]:
        """AWS tags (values take letters, digits, spaces and + - = . _ : / @, up to 256 characters)."""
        return {PROJECT_TAG: self.project, STACK_TAG: self.stack}

    def kubernetes_labels(self) -> dict[str, str]:
        return {
            PROJECT_TAG: _sanitized(self.project, r"[^A-Za-z0-9_.-]+", LABEL_VALUE_MAX),
            STACK_TAG: _sanitized(self.stack, r"[^A-Za-z0-9_.-]+", LABEL_VALUE_MAX),
        }

    def gcp_labels(self) -> dict[str, str]:
        """Google Cloud labels: lowercase letters, digits, '_' and '-', at most 63 characters."""
        return {
            GCP_PROJECT_LABEL: _sanitized(self.project.lower(), r"[^a-z0-9_-]+", 63),
            GCP_STACK_LABEL: _sanitized(self.stack.lower(), r"[^a-z0-9_-]+", 63),
        }


def current_identity() -> StackIdentity:
    """The identity of the stack the Pulumi program runs for (the only function here that asks Pulumi)."""
    import pulumi

    return StackIdentity(pulumi.get_project(), pulumi.get_stack())


def derived_prefix(identity: StackIdentity) -> str:
    """The physical-name prefix of a stack that does not set aistack:name: 'aistack-<stack>'."""
    return fit(DEFAULT_NAME, identity.slug, DERIVED_PREFIX_MAX)


def name_is_set(spec: StackSpec) -> bool:
    return "name" in spec.model_fields_set


def physical_prefix(spec: StackSpec, identity: StackIdentity | None) -> str:
    """The prefix of the physical names that must be unique in a cloud account or project.

    A stack that sets aistack:name chose its prefix and keeps it (and so every name it has). Without it,
    every stack would share the prefix 'aistack' (the default) and collide with every other: the prefix
    then carries the stack identity. ``identity`` None (validation without one): a placeholder of the
    longest derived length, so that what is checked is never shorter than what is created."""
    if name_is_set(spec):
        return spec.name
    if identity is None:
        return fit(DEFAULT_NAME, "x" * DERIVED_PREFIX_MAX, DERIVED_PREFIX_MAX)
    return derived_prefix(identity)


# ----------------------------------------------------------------------------------- component (logical) names
# AiStack is registered under the stack's name (program.main); its children's names feed auto-named
# physical names (IAM roles) and default Helm release names.


def target_resource_name(stack: str) -> str:
    return f"{stack}-target"


def platform_resource_name(stack: str) -> str:
    return f"{stack}-platform"


def platform_part_resource_name(platform: str, part: str) -> str:
    """The platform's concern components (platform/__init__.py): '<platform>-<part>'."""
    return f"{platform}-{part}"


def chart_resource_name(parent: str, chart: str) -> str:
    return f"{parent}-{chart}"


def helm_release(resource_name: str, chart: str) -> str | None:
    """The release name to give a chart: None (Pulumi then takes the resource name) when the resource
    name is a valid release name, else the chart's own name. Stacks whose resource names fit keep
    their releases; a long stack name no longer breaks `helm template`."""
    fits = len(resource_name) <= HELM_RELEASE.max_len and HELM_RELEASE.pattern.fullmatch(resource_name)
    return None if fits else chart


def effective_release(resource_name: str, release: str | None) -> str:
    return release if release is not None else resource_name


# ----------------------------------------------------------------------------------- GKE


def gke_cluster_name(stack: str) -> str:
    return stack


def gke_node_pool_name(pool: str) -> str:
    return pool


def gke_node_service_account_id(stack: str) -> str:
    return f"{stack}-nodes"


def gke_node_service_account_display_name(stack: str) -> str:
    return f"{stack} GKE nodes"


def gke_workload_service_account_id(stack: str, component: str) -> str:
    """A valid Google service-account id (6-30 chars), unique per (stack prefix, component).

    Prefixes of at most 8 characters keep the ids they always had. Longer ones used to be cut to 8
    characters, so 'aistack-prod' and 'aistack-dev' both made 'aistack--pipelines'; they now keep the
    whole prefix, and a hash of it and the component where the id must be shortened."""
    if len(stack) <= 8:
        base = f"{stack}-{component}"
        if len(base) <= GCP_SERVICE_ACCOUNT_ID.max_len:
            return base
        return f"{base[:23].rstrip('-')}-{hashlib.sha1(component.encode()).hexdigest()[:6]}"
    return fit(stack, component, GCP_SERVICE_ACCOUNT_ID.max_len)


def gke_workload_service_account_display_name(stack: str, component: str) -> str:
    return f"{stack} {component}"


def gcs_bucket_name(project: str, stack: str, purpose: str) -> str:
    """Bucket names are global: the project makes them unique."""
    return f"{project}-{stack}-{purpose}"


def kms_key_ring_name(stack: str) -> str:
    return f"{stack}-keys"


def gcp_network_name(stack: str) -> str:
    return f"{stack}-vpc"


def gcp_subnet_name(stack: str) -> str:
    return f"{stack}-nodes"


def gcp_router_name(stack: str) -> str:
    return f"{stack}-router"


def gcp_nat_name(stack: str) -> str:
    return f"{stack}-nat"


def gcp_webhook_firewall_name(stack: str) -> str:
    return f"{stack}-master-webhooks"


def filestore_instance_name(stack: str) -> str:
    return f"{stack}-shared"


# ----------------------------------------------------------------------------------- EKS


def eks_cluster_name(stack: str) -> str:
    return stack


# The EventBridge rules that feed Karpenter's interruption queue, by suffix (targets/eks/karpenter.py
# INTERRUPTION_EVENTS has one event per suffix, in this order).
KARPENTER_RULE_SUFFIXES = (
    "spot-interruption",
    "rebalance",
    "instance-state",
    "scheduled-change",
    "reservation-warning",
)


def karpenter_queue_name(stack: str) -> str:
    """The interruption queue: named after the cluster, as Karpenter's docs do."""
    return f"{eks_cluster_name(stack)}-karpenter"


def karpenter_rule_name(stack: str, suffix: str) -> str:
    return f"{eks_cluster_name(stack)}-kp-{suffix}"


def eks_node_group_name(pool: str) -> str:
    return pool


def s3_bucket_prefix(stack: str, purpose: str) -> str:
    return f"{stack}-{purpose}-"


def eks_cluster_role_resource(target: str) -> str:
    """Logical name of the cluster's IAM role; the role itself is auto-named from it."""
    return f"{target}-cluster-role"


def eks_node_role_resource(target: str) -> str:
    return f"{target}-node-role"


def eks_workload_role_resource(target: str, component: str) -> str:
    return f"{target}-{component}"


def efa_launch_template_resource(target: str, pool: str) -> str:
    return f"{target}-{pool}-efa"


def floor_launch_template_resource(target: str, pool: str) -> str:
    """The launch template of a pool floor's node group that targets a reservation or Capacity Block."""
    return f"{target}-{pool}-floor"


def karpenter_controller_role_resource(target: str) -> str:
    return f"{target}-karpenter"


def karpenter_node_role_resource(target: str) -> str:
    """Karpenter nodes' role and instance profile (auto-named from this)."""
    return f"{target}-kp-nodes"


# ----------------------------------------------------------------------------------- on-prem


def object_store_bucket_name(stack: str, purpose: str) -> str:
    """Purpose → physical bucket name in the on-prem store, with the stack prefix (as on the clouds)."""
    return f"{stack}-{purpose}"


# ----------------------------------------------------------------------------------- the names of one spec


@dataclass(frozen=True)
class Source:
    """A spec value a generated name is built from."""

    path: str  # field path as written in the stack file: "name", "teams[0].name"
    value: str
    fixed: bool = False  # given from outside (the GCP project): not something to shorten


@dataclass(frozen=True)
class GeneratedName:
    """One physical name the stack creates, what it is built from and the limit it must meet."""

    limit: Limit
    value: str  # as sent to the provider; for auto-named resources the logical name
    sources: tuple[Source, ...]
    autonamed: bool = False  # Pulumi appends '-' and 7 random characters

    @property
    def length(self) -> int:
        return len(self.value) + (AUTONAME_SUFFIX if self.autonamed else 0)

    @property
    def shown(self) -> str:
        return self.value + (AUTONAME_SHOWN if self.autonamed else "")

    @property
    def shortenable(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if not s.fixed) or self.sources

    def room(self) -> int:
        """Characters the shortenable sources may take together for the name to fit."""
        return self.limit.max_len - (self.length - sum(len(s.value) for s in self.shortenable))

    def too_long(self) -> bool:
        return self.length > self.limit.max_len

    def too_short(self) -> bool:
        return self.length < self.limit.min_len

    def charset_problem(self) -> str | None:
        """Why the characters are not accepted (the random suffix is '-' and hex, accepted everywhere)."""
        if self.value and not self.limit.pattern.fullmatch(self.value):
            return f"must be {self.limit.rule}"
        if self.limit.reserved is not None:
            return self.limit.reserved(self.value)
        return None

    def ok(self) -> bool:
        return not self.too_long() and not self.too_short() and self.charset_problem() is None


def _one(limit: Limit, value: str, *sources: Source, autonamed: bool = False) -> GeneratedName:
    return GeneratedName(limit, value, tuple(sources), autonamed)


def _kubernetes_names(spec: StackSpec) -> list[GeneratedName]:
    from .identities import team_component

    stack = Source("name", spec.name)
    names = [_one(K8S_LABEL_VALUE, spec.name, stack)]  # aistack.io/stack
    for i, pool in enumerate(spec.accelerator_pools):
        src = Source(f"accelerator_pools[{i}].name", pool.name)
        names.append(_one(K8S_OBJECT, pool.name, src))  # Kueue ResourceFlavor, NVIDIADriver
        names.append(_one(K8S_LABEL_VALUE, pool.name, src))  # aistack.io/pool, device-plugin config
    for i, team in enumerate(spec.teams):
        src = Source(f"teams[{i}].name", team.name)
        names.append(_one(K8S_NAMESPACE, team.name, src))
        names.append(_one(K8S_OBJECT, team.name, src))  # ClusterQueue, Kubeflow Profile
        names.append(_one(K8S_LABEL_VALUE, team.name, src))  # aistack.io/team
        names.append(_one(K8S_LABEL_VALUE, team_component(team.name), src))  # aistack.io/workload-identity
    if spec.upstream.install:
        platform = platform_resource_name(spec.name)
        # The Kueue chart's release is always "kueue" (components/platform: its derived Service names
        # overflowed 63 characters), so it grows with no stack name and is not listed here.
        charts: list[tuple[str, str]] = []
        if spec.monitoring.enabled:
            charts.append(("monitoring", "kube-prometheus-stack"))
        if spec.target != "gcp" and any(p.accelerator.startswith("nvidia-") for p in spec.accelerator_pools):
            charts.append(("accelerators", "gpu-operator"))
        for part, chart in charts:
            resource = chart_resource_name(platform_part_resource_name(platform, part), chart)
            names.append(_one(HELM_RELEASE, effective_release(resource, helm_release(resource, chart)), stack))
    return names


def _gke_names(
    spec: StackSpec, prefix: str, wi_id: Callable[[str, str], str] = gke_workload_service_account_id
) -> list[GeneratedName]:
    from .identities import workload_identities

    stack = Source("name", prefix)
    names = [
        _one(GKE_CLUSTER, gke_cluster_name(prefix), stack),
        _one(GCP_SERVICE_ACCOUNT_ID, gke_node_service_account_id(prefix), stack),
        _one(GCP_SERVICE_ACCOUNT_DISPLAY_NAME, gke_node_service_account_display_name(prefix), stack),
        _one(GCP_LABEL_VALUE, spec.name, Source("name", spec.name)),  # resource label stack=<name>
    ]
    network = spec.network
    if network.network is None:  # aistack creates the network (an existing one keeps its own names)
        names += [
            _one(GCE_RESOURCE, gcp_network_name(prefix), stack),
            _one(GCE_RESOURCE, gcp_subnet_name(prefix), stack),
            _one(GCE_RESOURCE, gcp_router_name(prefix), stack),
            _one(GCE_RESOURCE, gcp_nat_name(prefix), stack),
        ]
    names.append(_one(GCE_RESOURCE, gcp_webhook_firewall_name(prefix), stack))
    if spec.security.customer_managed_keys:
        names.append(_one(KMS_KEY_RING, kms_key_ring_name(prefix), stack))
    if spec.storage.shared_filesystem.enabled:
        names.append(_one(FILESTORE_INSTANCE, filestore_instance_name(prefix), stack))
    for i, pool in enumerate(spec.accelerator_pools):
        names.append(
            _one(GKE_NODE_POOL, gke_node_pool_name(pool.name), Source(f"accelerator_pools[{i}].name", pool.name))
        )
    team_index = {t.name: i for i, t in enumerate(spec.teams)}
    for wi in workload_identities(spec):
        sources = [stack]
        if wi.namespace in team_index:
            sources.append(Source(f"teams[{team_index[wi.namespace]}].name", wi.namespace))
        names.append(_one(GCP_SERVICE_ACCOUNT_ID, wi_id(prefix, wi.component), *sources))
        display = gke_workload_service_account_display_name(prefix, wi.component)
        names.append(_one(GCP_SERVICE_ACCOUNT_DISPLAY_NAME, display, *sources))
    if spec.project is not None:
        project = Source("project", spec.project, fixed=True)
        for i, purpose in enumerate(spec.storage.buckets):
            bucket = Source(f"storage.buckets[{i}]", purpose)
            names.append(_one(GCS_BUCKET, gcs_bucket_name(spec.project, prefix, purpose), project, stack, bucket))
            names.append(_one(GCP_LABEL_VALUE, purpose, bucket))  # resource label purpose=<purpose>
    return names


def _eks_names(spec: StackSpec, prefix: str) -> list[GeneratedName]:
    from .identities import workload_identities

    stack = Source("name", spec.name)
    target = target_resource_name(spec.name)
    names = [
        _one(EKS_CLUSTER, eks_cluster_name(prefix), Source("name", prefix)),
        _one(SQS_QUEUE, karpenter_queue_name(prefix), Source("name", prefix)),
        *(
            _one(EVENTBRIDGE_RULE, karpenter_rule_name(prefix, s), Source("name", prefix))
            for s in KARPENTER_RULE_SUFFIXES
        ),
        _one(IAM_ROLE, eks_cluster_role_resource(target), stack, autonamed=True),
        _one(IAM_ROLE, eks_node_role_resource(target), stack, autonamed=True),
        _one(IAM_ROLE, karpenter_controller_role_resource(target), stack, autonamed=True),
        _one(IAM_ROLE, karpenter_node_role_resource(target), stack, autonamed=True),
    ]
    for i, pool in enumerate(spec.accelerator_pools):
        src = Source(f"accelerator_pools[{i}].name", pool.name)
        if pool.min_nodes == 0:
            continue  # no node group: Karpenter launches every node (NodePool names are Kubernetes names)
        names.append(_one(EKS_NODE_GROUP, eks_node_group_name(pool.name), src))
        if pool.efa:
            names.append(
                _one(LAUNCH_TEMPLATE, efa_launch_template_resource(target, pool.name), stack, src, autonamed=True)
            )
        elif pool.capacity_type in ("reservation", "capacity-block"):
            names.append(
                _one(LAUNCH_TEMPLATE, floor_launch_template_resource(target, pool.name), stack, src, autonamed=True)
            )
    for i, purpose in enumerate(spec.storage.buckets):
        names.append(
            _one(
                S3_BUCKET_PREFIX, s3_bucket_prefix(spec.name, purpose), stack, Source(f"storage.buckets[{i}]", purpose)
            )
        )
    team_index = {t.name: i for i, t in enumerate(spec.teams)}
    for wi in workload_identities(spec):
        sources = [stack]
        if wi.namespace in team_index:
            sources.append(Source(f"teams[{team_index[wi.namespace]}].name", wi.namespace))
        names.append(_one(IAM_ROLE, eks_workload_role_resource(target, wi.component), *sources, autonamed=True))
    return names


def _onprem_names(spec: StackSpec, prefix: str) -> list[GeneratedName]:
    if spec.onprem.object_store.kind == "none":
        return []
    stack = Source("name", spec.name)
    return [
        _one(S3_BUCKET, object_store_bucket_name(spec.name, purpose), stack, Source(f"storage.buckets[{i}]", purpose))
        for i, purpose in enumerate(spec.storage.buckets)
    ]


def generated_names(spec: StackSpec, identity: StackIdentity | None = None) -> list[GeneratedName]:
    """Every physical name the stack's target and platform create from spec values (``identity``: the
    stack's, when known; see physical_prefix)."""
    by_target = {"gcp": _gke_names, "aws": _eks_names, "onprem": _onprem_names}
    return [*by_target[spec.target](spec, physical_prefix(spec, identity)), *_kubernetes_names(spec)]


@dataclass(frozen=True)
class Renamed:
    what: str
    old: str
    new: str


def _legacy_workload_service_account_id(stack: str, component: str) -> str:
    """What versions before the stack identity made: the prefix cut to 8 characters."""
    base = f"{stack[:8]}-{component}"
    if len(base) <= GCP_SERVICE_ACCOUNT_ID.max_len:
        return base
    return f"{base[:23].rstrip('-')}-{hashlib.sha1(component.encode()).hexdigest()[:6]}"


def renamed(spec: StackSpec, identity: StackIdentity) -> list[Renamed]:
    """Physical names this version gives the stack that versions before it did not: they built every name
    from aistack:name alone (stacks that did not set it all shared the names of 'aistack') and cut GKE
    workload service accounts' prefix to 8 characters. A deployed stack's `pulumi up` replaces these."""
    prefix = physical_prefix(spec, identity)
    if spec.target == "gcp":
        old = _gke_names(spec, spec.name, _legacy_workload_service_account_id)
        new = _gke_names(spec, prefix)
    elif spec.target == "aws":
        old, new = _eks_names(spec, spec.name), _eks_names(spec, prefix)
    else:
        return []
    return [Renamed(b.limit.what, a.value, b.value) for a, b in zip(old, new, strict=True) if a.value != b.value]
