"""The typed model of one AI stack.

Shape only: types, ranges, formats and defaults. Rules that need the catalog or look at
several fields at once live in ``rules.py`` so that every one of them runs and reports,
instead of stopping at the first failed model validator.

Each field's description states its default and, where it matters, whether changing it on a
deployed stack replaces cloud resources ("replaces: ...").
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

Target = Literal["gcp", "aws", "onprem"]
ComplianceProfile = Literal["standard", "hipaa", "gdpr"]
KubeflowComponent = Literal[
    "pipelines",
    "notebooks",
    "trainer",
    "training-operator",
    "katib",
    "kserve",
    "dashboard",
    "profiles",
]

# RFC 1123 label: what Kubernetes namespaces, node pool and many cloud resource names accept.
DnsLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", min_length=1, max_length=40),
]
Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(h|d|w|y)$")]
TpuTopology = Annotated[str, StringConstraints(pattern=r"^[0-9]+x[0-9]+(x[0-9]+)?$")]
KubeVersion = Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")]


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(
            f"'{value}' is not a CIDR block ({exc}); write it like 203.0.113.0/24 with host bits zero"
        ) from None


Cidr = Annotated[str, AfterValidator(_cidr)]


class _Model(BaseModel):
    # extra="forbid": a typo in a key is an error with a suggestion, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AuthorizedNetwork(_Model):
    cidr: Cidr = Field(description="Network allowed to reach the control plane.")
    name: str = Field(default="", description="Label shown in the console. Default: empty.")


class ClusterSpec(_Model):
    release_channel: Literal["rapid", "regular", "stable", "extended"] = Field(
        default="regular",
        description="GKE release channel; on EKS it picks the newest version of that channel's minor. "
        "Default: regular.",
    )
    kubernetes_version: KubeVersion | None = Field(
        default=None,
        description="Pin a minor version such as '1.34'. Default: follow the release channel.",
    )
    private_endpoint: StrictBool = Field(
        default=False,
        description="Control plane reachable only from inside the network. Default: false "
        "(public endpoint limited to authorized_networks). Required by the hipaa profile. "
        "replaces: no (GKE/EKS update in place).",
    )
    authorized_networks: tuple[AuthorizedNetwork, ...] = Field(
        default=(), description="CIDRs allowed to reach a public endpoint. Default: none."
    )
    kubeconfig: str | None = Field(
        default=None,
        description="onprem only: path to a kubeconfig, or its content (store it as a Pulumi secret). "
        "Default: the ambient KUBECONFIG.",
    )
    context: str | None = Field(default=None, description="onprem only: kubeconfig context. Default: current.")
    simulated: StrictBool = Field(
        default=False,
        description="onprem only: the cluster runs no containers (aistack's local KWOK cluster). Webhooks, "
        "CRD conversion webhooks and aggregated APIs that a pod would serve are neutralised there, each "
        "listed with its reason in components/simulated.py; a real cluster gets every upstream unchanged. "
        "Default: false. replaces: no (those objects are updated in place).",
    )


class Sharing(_Model):
    mode: Literal["none", "time-slicing", "mig"] = Field(
        default="none", description="How one GPU is shared between pods. Default: none."
    )
    replicas: StrictInt | None = Field(
        default=None, ge=2, le=48, description="time-slicing: pods per GPU (2-48). Required for time-slicing."
    )
    profile: str | None = Field(
        default=None, description="mig: MIG profile such as '1g.10gb' (see the catalog). Required for mig."
    )


class Taint(_Model):
    key: Annotated[str, StringConstraints(min_length=1, max_length=317)]  # prefix (253) + "/" + name (63)
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


CapacityType = Literal["on-demand", "spot", "reservation", "capacity-block", "flex-start"]


class Capacity(_Model):
    """How a pool's machines are bought. Which types each target offers is checked in rules.py."""

    type: CapacityType = Field(
        default="on-demand",
        description="on-demand; spot (preemptible, clouds only); reservation (consume capacity reserved "
        "beforehand: a GCP reservation or an AWS On-Demand Capacity Reservation); capacity-block (aws only: "
        "an EC2 Capacity Block for ML bought for fixed dates); flex-start (gcp only: GKE Dynamic Workload "
        "Scheduler, nodes are queued until capacity is found, for at most 7 days). Default: on-demand. "
        "replaces: the node pool.",
    )
    reservation: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="reservation only: the GCP reservation name (projects/<project>/reservations/<name> for one "
        "shared from another project) or the AWS Capacity Reservation id cr-.... Required when affinity is "
        "specific. Default: unset. replaces: the node pool.",
    )
    affinity: Literal["specific", "any"] = Field(
        default="specific",
        description="reservation only: specific = consume only the named reservation; any = consume any "
        "matching open reservation, else run on-demand (GCP ANY_RESERVATION, AWS capacity reservation "
        "preference open). Default: specific. replaces: the node pool.",
    )
    block_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None,
        description="capacity-block only: the Capacity Block's reservation id, cr- and 8-17 hex digits. "
        "Required for capacity-block. Default: unset. replaces: the node group.",
    )


class AcceleratorPool(_Model):
    name: DnsLabel = Field(description="Pool name, unique in the stack. replaces: the node pool.")
    accelerator: str = Field(description="Catalog id, e.g. nvidia-h100-80gb or tpu-v5e. replaces: the node pool.")
    count: StrictInt = Field(
        default=1,
        ge=1,
        le=64,
        description="Accelerators (GPUs or TPU chips) per node. Default: 1. replaces: the node pool.",
    )
    machine_type: str | None = Field(
        default=None,
        description="GKE machine type / EC2 instance type. Default: derived from accelerator and count. "
        "replaces: the node pool.",
    )
    tpu_topology: TpuTopology | None = Field(
        default=None, description="TPU pools only: slice topology such as '2x4' or '4x4x4'. replaces: the node pool."
    )
    min_nodes: StrictInt = Field(
        default=0, ge=0, le=1000, description="Autoscaling floor; 0 = scale to zero. Default: 0."
    )
    max_nodes: StrictInt = Field(default=1, ge=1, le=1000, description="Autoscaling ceiling. Default: 1.")
    spot: StrictBool = Field(
        default=False,
        description="Spot/preemptible capacity (clouds only); the same as capacity: {type: spot}. Default: false. "
        "replaces: the node pool.",
    )
    capacity: Capacity = Field(
        default_factory=Capacity,
        description="How the pool's machines are bought: on-demand, spot, reservation, capacity-block or "
        "flex-start. Default: on-demand (spot when the older spot: true is set). replaces: the node pool.",
    )
    sharing: Sharing = Field(default_factory=Sharing, description="GPU sharing. Default: none.")
    allocation: Literal["device-plugin", "dra"] = Field(
        default="device-plugin",
        description="NVIDIA pools: how pods get GPUs. device-plugin = a count of nvidia.com/gpu; dra = Dynamic "
        "Resource Allocation (ResourceClaims against the pool's DeviceClass, by model or memory; NVIDIA's DRA "
        "driver, a technology preview upstream). See README 'GPUs with DRA'. Default: device-plugin. "
        "replaces: the node pool on gcp (driver install and labels change).",
    )
    efa: StrictBool = Field(
        default=False,
        description="aws only: attach every EFA interface of the instance (multi-node training). Default: false. "
        "replaces: the node group.",
    )
    taints: tuple[Taint, ...] = Field(
        default=(), description="Extra taints; the accelerator's NoSchedule taint is always added. Default: none."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels. Default: none.")
    nodes: tuple[str, ...] = Field(
        default=(), description="onprem only: names of the existing nodes that form this pool."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="onprem only: labels that select this pool's existing nodes."
    )

    @property
    def capacity_type(self) -> CapacityType:
        """The effective capacity type: the older ``spot: true`` means spot.

        ``spot: true`` together with another capacity.type is rejected in rules.py, so only one of
        the two ever says something.
        """
        return "spot" if self.spot else self.capacity.type


class SharedFilesystem(_Model):
    enabled: StrictBool = Field(default=False, description="Create a shared RWX filesystem. Default: false.")
    capacity_gb: StrictInt = Field(default=1024, ge=100, le=1_000_000, description="Size in GB. Default: 1024.")
    kind: Literal["auto", "filestore", "efs", "fsx-lustre", "nfs"] = Field(
        default="auto",
        description="auto = Filestore on gcp, EFS on aws, NFS on onprem. Default: auto. replaces: the filesystem.",
    )
    nfs_server: str | None = Field(default=None, description="onprem nfs: server address.")
    nfs_path: str = Field(default="/", description="onprem nfs: exported path. Default: /.")


BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=30)]


class StorageSpec(_Model):
    buckets: tuple[BucketName, ...] = Field(
        default=("datasets", "artifacts", "models"),
        description="Object-store buckets by purpose; the physical name gets the stack prefix. "
        "Default: datasets, artifacts, models. replaces: the bucket (protected unless data_protection is off).",
    )
    shared_filesystem: SharedFilesystem = Field(default_factory=SharedFilesystem)
    default_storage_class: str | None = Field(
        default=None, description="Name of the default StorageClass. Default: the target's (pd-balanced/gp3/...)."
    )


# Receivers whose endpoint is itself a credential (whoever has it can post or page): the value lives
# beside the spec, in the secret config key aistack:alert_credentials (receiver name → value), set with
# `pulumi config set --secret --path 'aistack:alert_credentials.<receiver>' <value>`; never in `target`.
ALERT_CREDENTIALS = "alert_credentials"
CREDENTIAL_RECEIVERS: dict[str, str] = {
    "slack": "Slack incoming-webhook URL",
    "pagerduty": "PagerDuty Events v2 routing key",
    "webhook": "webhook URL",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_CHANNEL = re.compile(r"^[#@]?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # #gpu-alerts, @user or an id like C0123ABCD
_SECRET_LOOKING = (
    re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE),  # any URL: Slack and webhook URLs carry their token
    re.compile(r"hooks\.slack\.com", re.IGNORECASE),
    re.compile(r"^xox[a-z]-", re.IGNORECASE),  # Slack API tokens
    re.compile(r"^[A-Za-z0-9+/=_-]{32,}$"),  # PagerDuty integration/routing keys are 32 characters
)


def looks_like_credential(value: str) -> bool:
    """A URL or a long key: what a Slack webhook, PagerDuty routing key or webhook URL looks like."""
    return any(p.search(value) for p in _SECRET_LOOKING)


class AlertReceiver(_Model):
    name: DnsLabel = Field(description="Receiver name, unique in the stack; keys its credential, if any.")
    type: Literal["email", "slack", "pagerduty", "webhook"] = Field(
        description="email, slack, pagerduty or webhook. slack, pagerduty and webhook need a credential in the "
        "secret config key aistack:alert_credentials."
    )
    # No length bound here: pydantic's length errors quote the value, and a target may hold a pasted credential.
    target: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        default=None,
        validate_default=True,
        description="email: the address (required). slack: the channel, e.g. '#gpu-alerts' (required). "
        "pagerduty, webhook: not set. Never a URL or key: those go in aistack:alert_credentials.",
    )

    @field_validator("target")
    @classmethod
    def _target_fits_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if kind is None:
            return value  # the type itself is wrong, and reported
        name = info.data.get("name") or "<receiver>"
        move = (
            f"a {CREDENTIAL_RECEIVERS.get(kind, 'credential')} is a credential and never goes in the spec; "
            f"remove target and run: pulumi config set --secret --path 'aistack:{ALERT_CREDENTIALS}.{name}' <value>"
        )
        if kind == "email":
            if value is None:
                raise ValueError("an email receiver needs target: the address to send to, e.g. oncall@example.com")
            if len(value) > 254 or not _EMAIL.match(value):
                raise ValueError("an email receiver's target must be an email address like oncall@example.com")
            return value
        if value is not None and looks_like_credential(value):
            wanted = "a Slack channel" if kind == "slack" else "a target"
            raise ValueError(f"looks like a credential, not {wanted}: {move}")
        if kind == "slack":
            if value is None:
                raise ValueError(
                    "a slack receiver needs target: the channel to post to, e.g. '#gpu-alerts' (its webhook URL "
                    f"goes in the secret config key aistack:{ALERT_CREDENTIALS}.{name})"
                )
            if not _SLACK_CHANNEL.match(value):  # also bounds the length (80)
                raise ValueError("a slack receiver's target must be a channel like '#gpu-alerts' or '@user'")
            return value
        if value is not None:
            raise ValueError(
                f"a {kind} receiver takes no target: its {CREDENTIAL_RECEIVERS[kind]} goes in the secret config key "
                f"aistack:{ALERT_CREDENTIALS}.{name}; remove target"
            )
        return value


class MonitoringSpec(_Model):
    enabled: StrictBool = Field(default=True, description="Install Prometheus, Grafana and GPU alerts. Default: true.")
    retention: Duration = Field(default="15d", description="Metrics retention, e.g. 15d. Default: 15d.")
    storage_gb: StrictInt = Field(default=50, ge=1, le=100_000, description="Prometheus volume in GB. Default: 50.")
    alert_receivers: tuple[AlertReceiver, ...] = Field(default=(), description="Where alerts go. Default: none.")
    idle_gpu_utilization_percent: StrictInt = Field(
        default=10, ge=1, le=100, description="Below this a GPU counts as idle. Default: 10."
    )
    idle_gpu_minutes: StrictInt = Field(default=30, ge=5, le=1440, description="Idle this long → alert. Default: 30.")


class TeamSpec(_Model):
    name: DnsLabel = Field(description="Team name; becomes its namespace. replaces: the namespace.")
    cohort: DnsLabel = Field(
        default="ai", description="Kueue cohort; teams in one cohort lend idle quota. Default: ai."
    )
    quotas: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(
        default_factory=dict, description="Pool name → accelerators guaranteed to the team. Default: none."
    )
    cpu: StrictInt | None = Field(
        default=None, ge=1, description="Guaranteed CPU cores. Default: sized from the quota."
    )
    memory_gb: StrictInt | None = Field(
        default=None, ge=1, description="Guaranteed memory in GB. Default: sized from the quota."
    )
    can_borrow: StrictBool = Field(default=True, description="May borrow idle quota from its cohort. Default: true.")
    admins: tuple[str, ...] = Field(default=(), description="Identity-provider groups with admin on the namespace.")
    editors: tuple[str, ...] = Field(default=(), description="Groups with edit on the namespace.")
    viewers: tuple[str, ...] = Field(default=(), description="Groups with view on the namespace.")
    owner: Annotated[str, StringConstraints(min_length=1, max_length=253)] | None = Field(
        default=None,
        description="Owner of the team's Kubeflow Profile: a user (e.g. alice@example.com). "
        "Default: the first admins group, else the group <team>-admins (kind Group).",
    )
    storage_gb: StrictInt = Field(
        default=100,
        ge=0,
        le=1_000_000,
        description="Size of the team's 'workspace' volume in GB (shared RWX class when the stack has one). "
        "0 = no workspace. Default: 100. The volume is protected and retained under data_protection.",
    )


class SchedulingSpec(_Model):
    allow_overcommit: StrictBool = Field(
        default=False,
        description="Allow team quotas to add up to more than the pools can hold. Default: false.",
    )


class KubeflowSpec(_Model):
    enabled: StrictBool = Field(default=True, description="Install Kubeflow. Default: true.")
    version: Literal["26.03"] = Field(default="26.03", description="kubeflow/manifests release. Default: 26.03.")
    components: tuple[KubeflowComponent, ...] = Field(
        default=("pipelines", "notebooks", "trainer", "dashboard", "profiles"),
        description="Components to install. Default: pipelines, notebooks, trainer, dashboard, profiles.",
    )


def _mirror(value: str) -> str:
    if value.startswith(("oci://", "http://", "https://", "/")):
        return value.rstrip("/")
    raise ValueError(
        f"'{value}' is neither oci://host/path, a Helm repository URL (http(s)://…) nor an absolute directory "
        "path; write it like oci://registry.example.com/aistack, https://charts.example.com/aistack or "
        "/srv/aistack-mirror/charts"
    )


_REGISTRY_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")
_REGISTRY_PATH = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")  # distribution/reference path component
_REGISTRY_EXAMPLE = "; write it like registry.corp.example:5000/mirror (host[:port][/path], no scheme)"


def _image_registry(value: str) -> str:
    """A registry path the rule prefixes to image references: host[:port] then lowercase path components."""
    if "://" in value:
        raise ValueError(f"'{value}' has a scheme; an image registry is named without one{_REGISTRY_EXAMPLE}")
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' is empty or holds spaces{_REGISTRY_EXAMPLE}")
    if value.endswith("/"):
        raise ValueError(f"'{value}' ends with '/'{_REGISTRY_EXAMPLE}")
    host, *path = value.split("/")
    if any(part in ("", ".", "..") for part in path):
        raise ValueError(f"'{value}' has an empty, '.' or '..' path element{_REGISTRY_EXAMPLE}")
    if host != host.lower():
        raise ValueError(f"'{value}': registry hosts are lowercase ('{host}'){_REGISTRY_EXAMPLE}")
    if not _REGISTRY_HOST.fullmatch(host) or ("." not in host and ":" not in host and host != "localhost"):
        raise ValueError(
            f"'{value}': '{host}' is not a registry host (a DNS name or IP with a dot, or localhost, and an "
            f"optional :port){_REGISTRY_EXAMPLE}"
        )
    bad = [part for part in path if not _REGISTRY_PATH.fullmatch(part)]
    if bad:
        raise ValueError(f"'{value}': '{bad[0]}' is not a repository path element (lowercase){_REGISTRY_EXAMPLE}")
    return value


def _pull_secret_shape(text: str) -> None:
    """USER:PASSWORD, or a .dockerconfigjson text ({"auths": {...}}); the offline planner's stand-in passes."""
    if text in ("[secret]", "[unknown]"):
        return
    if text.lstrip().startswith("{"):
        import json

        try:
            auths = json.loads(text).get("auths")
        except (ValueError, AttributeError):
            auths = None
        if isinstance(auths, dict) and auths:
            return
        raise ValueError(
            'is JSON but not a .dockerconfigjson (an object with a non-empty "auths"); write it like '
            "USER:PASSWORD, or the content of a .dockerconfigjson file"
        )
    if ":" not in text.strip() or text.strip().startswith(":"):
        raise ValueError("is neither USER:PASSWORD nor a .dockerconfigjson text; write it like USER:PASSWORD")


def _directory(value: str) -> str:
    if value.startswith("/"):
        return value.rstrip("/")
    raise ValueError(f"'{value}' is not an absolute directory path; write it like /srv/aistack-mirror/manifests")


def _versions(value: dict[str, str]) -> dict[str, str]:
    """Each key an upstream aistack pins, each version one aistack knows for it (components/versions.py)."""
    from ..versions import UPSTREAMS, known_versions

    for key, version in value.items():
        if key not in UPSTREAMS:
            raise ValueError(
                f"'{key}' is not an upstream aistack installs (keys: {', '.join(UPSTREAMS)}); "
                f"write it like {{kueue: {known_versions('kueue')[0]}}}"
            )
        if version not in known_versions(key):
            known = known_versions(key)
            raise ValueError(
                f"{key} {version} is not a version aistack knows (known: {', '.join(known)}; the default is "
                f"{UPSTREAMS[key].version}); write it like {{{key}: {known[0]}}}, or remove it for the default"
            )
    return value


class UpstreamSpec(_Model):
    versions: Annotated[dict[str, str], AfterValidator(_versions)] = Field(
        default_factory=dict,
        description="Pin an upstream to another version aistack knows, by the key `aistack upstreams` shows, e.g. "
        "{kueue: 0.18.6, gpu-operator: v26.3.3}. Default: every upstream at aistack's pinned version. Changing it "
        "upgrades (or downgrades) that component in place: run `aistack upgrade plan STACK` first.",
    )
    install: StrictBool = Field(
        default=True,
        description="Install the third-party components (GPU Operator, Kueue, kube-prometheus-stack, Kubeflow) "
        "from their pinned sources. false: they are installed already (GitOps, another team, the local test "
        "cluster); aistack creates only its own objects, whose CRDs must then exist. Default: true.",
    )
    charts_mirror: Annotated[str, AfterValidator(_mirror)] | None = Field(
        default=None,
        description="Air-gapped: take every chart from here instead of upstream: an OCI registry path "
        "(oci://registry.example.com/aistack, holding <chart>:<version>), a Helm chart repository "
        "(https://charts.example.com/aistack, serving index.yaml) or a directory of <chart>-<version>.tgz "
        "files. Default: the upstream repositories (see `aistack upstreams`). Changing it re-renders the "
        "charts; objects whose content is unchanged are not replaced.",
    )
    manifests_mirror: Annotated[str, AfterValidator(_directory)] | None = Field(
        default=None,
        description="Air-gapped: a directory holding a copy of each manifest tree as <tree>-<version>/ "
        "(e.g. kubeflow-manifests-26.03/). Default: the pinned upstream git commit.",
    )
    image_registry: Annotated[str, AfterValidator(_image_registry)] | None = Field(
        default=None,
        description="Air-gapped: pull every container image the platform runs from this registry path (host[:port]"
        "[/path], no scheme), e.g. registry.corp.example:5000/mirror. One rule maps each upstream image: "
        "nvcr.io/nvidia/gpu-operator:v26.7.0 -> registry.corp.example:5000/mirror/nvcr.io/nvidia/gpu-operator:v26.7.0 "
        "(the source registry kept as the first path element, short names such as busybox written out as "
        "docker.io/library/busybox, tags and digests kept). `aistack images STACK` lists what to copy. "
        "Default: each image from its upstream registry. Changing it rolls every component's pods.",
    )
    image_pull_secret: SecretStr | None = Field(
        default=None,
        description="Credentials for image_registry, as a Pulumi secret (`pulumi config set --secret --path "
        "'aistack:upstream.image_pull_secret' USER:PASSWORD`, or a whole .dockerconfigjson text). aistack "
        "creates a kubernetes.io/dockerconfigjson Secret from it in every namespace that pulls and attaches it "
        "to the pods' service accounts and the charts' imagePullSecrets. Requires image_registry. "
        "Default: none (the registry allows anonymous pulls).",
    )

    @field_validator("image_pull_secret")
    @classmethod
    def _pull_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        if info.data.get("image_registry") is None:
            raise ValueError(
                "is set but image_registry is not (the credentials are for the site registry); write it like "
                "{image_registry: registry.corp.example:5000/mirror, image_pull_secret: <a Pulumi secret>}, "
                "or remove image_pull_secret"
            )
        _pull_secret_shape(value.get_secret_value())  # never echoes the value
        return value


def _address_range(value: str) -> str:
    """MetalLB takes a CIDR or an inclusive range 'first-last' of one IP family."""
    if "-" not in value:
        return _cidr(value)
    first, _, last = (part.strip() for part in value.partition("-"))
    try:
        lo, hi = ipaddress.ip_address(first), ipaddress.ip_address(last)
    except ValueError as exc:
        raise ValueError(
            f"'{value}' is not an address range ({exc}); write it like 192.168.10.240-192.168.10.250"
        ) from None
    if lo.version != hi.version or int(lo) > int(hi):
        raise ValueError(
            f"'{value}' is not an ascending range of one IP family; write it like 192.168.10.240-192.168.10.250"
        )
    return f"{lo}-{hi}"


class ObjectStoreSpec(_Model):
    kind: Literal["none", "s3", "seaweedfs"] = Field(
        default="none",
        description="onprem object store for the stack's buckets: none; s3 = an existing S3-compatible endpoint "
        "(Ceph RGW, a storage appliance, ...); seaweedfs = deploy SeaweedFS in the cluster from its pinned chart, "
        "with persistent volumes. Credentials are the secret config keys aistack:object_store_access_key_id and "
        "aistack:object_store_secret_access_key (`pulumi config set --secret`). Default: none. "
        "replaces: the in-cluster store when switching to or from seaweedfs (its volumes are protected).",
    )
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+$")] | None = Field(
        default=None, description="s3 only: endpoint URL such as https://rgw.dc1.internal:7480. Required for s3."
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        default="us-east-1", description="Signing region the endpoint expects. Default: us-east-1."
    )
    capacity_gb: StrictInt = Field(
        default=500, ge=10, le=1_000_000, description="seaweedfs only: size of its data volume in GB. Default: 500."
    )


class MetalLBSpec(_Model):
    addresses: tuple[Annotated[str, AfterValidator(_address_range)], ...] = Field(
        default=(),
        description="Address pool for LoadBalancer services (CIDRs or first-last ranges) announced over L2. "
        "Default: none (MetalLB not installed).",
    )


class OnPremSpec(_Model):
    volumes: Literal["existing", "local-path"] = Field(
        default="existing",
        description="Where RWO volumes come from: existing = the class named in storage.default_storage_class "
        "(e.g. a Ceph RBD class); local-path = install the pinned local-path provisioner and use node-local "
        "disks (data stays on one node: scratch and single-node work only). Default: existing.",
    )
    object_store: ObjectStoreSpec = Field(default_factory=ObjectStoreSpec)
    metallb: MetalLBSpec = Field(default_factory=MetalLBSpec)


from .network import NetworkSpec  # noqa: E402 (its own module: the network section and its defaults)


class SecuritySpec(_Model):
    customer_managed_keys: StrictBool = Field(
        default=True, description="Encrypt secrets, disks and buckets with keys the stack owns. Default: true."
    )
    audit_logging: StrictBool = Field(
        default=True, description="Control-plane and data-access audit logs. Default: true."
    )


class StackSpec(_Model):
    """A whole AI stack: where it runs, what accelerators it has and who uses them."""

    target: Target = Field(description="gcp, aws or onprem. Required. replaces: everything.")
    region: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="Cloud region, or on onprem a site name. Required. replaces: everything."
    )
    name: DnsLabel = Field(default="aistack", description="Prefix of physical resource names. Default: aistack.")
    zones: tuple[str, ...] = Field(default=(), description="Zones for accelerator pools. Default: the region's.")
    project: str | None = Field(default=None, description="gcp: project id. Default: the gcp:project config.")
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="onprem: ISO 3166 country of the site (GDPR residency). Default: unset."
    )
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    accelerator_pools: tuple[AcceleratorPool, ...] = Field(default=(), description="Accelerator node pools.")
    storage: StorageSpec = Field(default_factory=StorageSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    teams: tuple[TeamSpec, ...] = Field(default=(), description="Teams sharing the accelerators.")
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    kubeflow: KubeflowSpec = Field(default_factory=KubeflowSpec)
    upstream: UpstreamSpec = Field(default_factory=UpstreamSpec)
    onprem: OnPremSpec = Field(
        default_factory=OnPremSpec, description="onprem only: volumes, object store and load balancer addresses."
    )
    compliance: ComplianceProfile = Field(default="standard", description="standard, hipaa or gdpr. Default: standard.")
    security: SecuritySpec = Field(default_factory=SecuritySpec)
    network: NetworkSpec = Field(
        default_factory=NetworkSpec,
        description="The network the stack lands in: one aistack creates (with its address plan) or an existing "
        "one (AWS vpc_id and subnets; GCP network, subnetwork and secondary ranges, optionally a Shared VPC). "
        "Default: aistack creates one with the default ranges.",
    )
    data_protection: StrictBool = Field(
        default=True,
        description="Protect buckets, filesystems, keys and volumes from deletion (Pulumi protect + retain). "
        "Default: true.",
    )
    preflight: StrictBool = Field(
        default=True,
        description="Before `pulumi up`, check the accelerator quota and capacity the pools need, when cloud "
        "credentials are present (read-only calls; nothing is created). Default: true.",
    )

    def pool(self, name: str) -> AcceleratorPool | None:
        return next((p for p in self.accelerator_pools if p.name == name), None)


# Field names by model, for "did you mean" on unknown keys.
MODELS_BY_NAME: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        StackSpec,
        ClusterSpec,
        AuthorizedNetwork,
        AcceleratorPool,
        Capacity,
        Sharing,
        Taint,
        StorageSpec,
        SharedFilesystem,
        MonitoringSpec,
        AlertReceiver,
        TeamSpec,
        SchedulingSpec,
        KubeflowSpec,
        UpstreamSpec,
        OnPremSpec,
        ObjectStoreSpec,
        MetalLBSpec,
        SecuritySpec,
        NetworkSpec,
    )
}
