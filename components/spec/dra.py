"""Rules for ``allocation: dra`` pools (GPUs through Dynamic Resource Allocation), and the stack's notes.

Registered into ``rules.RULES`` when ``rules`` is imported (its last line imports this module). Each
limit is the upstream's, with its source:

* Partitionable devices (MIG through DRA) are the ``DRAPartitionableDevices`` feature gate, alpha and
  off in Kubernetes 1.34 (kubernetes.io/docs/reference/command-line-tools-reference/feature-gates/).
* Time-slicing is a setting of NVIDIA's device plugin (its config replicates ``nvidia.com/gpu``); a DRA
  GPU is allocated to one claim, and pods share it by sharing that claim.
* GKE: DRA from 1.34, with the pool's automatic driver install disabled and the node label
  ``gke-no-default-nvidia-gpu-device-plugin=true``; time-sharing, MIG and MPS are not supported on such
  pools (GKE "Prepare GKE infrastructure for DRA workloads"). aistack sets the two node-pool settings
  itself (targets/gke/nodepools.py); a pool label contradicting them is refused here.
* EKS: Karpenter cannot launch a node for a pod whose GPU comes only from a ResourceClaim
  (aws/karpenter-provider-aws#9519, kubernetes-sigs/karpenter#3228), so a ``dra`` pool must be a fixed
  managed node group (min_nodes = max_nodes).
* Kueue 0.19 accepts at most 16 ``deviceClassMappings`` (pkg/config/validation.go), one per dra pool.
* NVIDIA's DRA driver: GPU allocation is a technology preview (its chart refuses it without
  ``gpuResourcesEnabledOverride``): said once per stack by :func:`notes`.
"""

from __future__ import annotations

from collections.abc import Iterator

from foundation.errors import SpecIssue, join_path

from .model import StackSpec
from .rules import accelerator_of, rule

DRA_MIN_GKE_MINOR = (1, 34)
GKE_DRA_LABEL = "gke-no-default-nvidia-gpu-device-plugin"
KARPENTER_DRA_ISSUE = "https://github.com/aws/karpenter-provider-aws/issues/9519"
KUEUE_MAX_MAPPINGS = 16
TECH_PREVIEW_NOTE = (
    "allocation: dra: GPU allocation by NVIDIA's DRA driver (nvidia-dra-driver-gpu 25.12) is a technology "
    "preview upstream; aistack enables it on the dra pools only (gpuResourcesEnabledOverride), the device "
    "plugin keeps serving every other pool."
)


def _path(i: int, *fields: str) -> str:
    return join_path("accelerator_pools", i, *fields)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


@rule
def dra_pools(spec: StackSpec) -> Iterator[SpecIssue]:
    dra = [(i, p) for i, p in enumerate(spec.accelerator_pools) if p.allocation == "dra"]
    for i, pool in dra:
        acc = accelerator_of(pool)
        if acc is not None and (acc.kind != "gpu" or acc.vendor != "nvidia"):
            yield SpecIssue(
                _path(i, "allocation"),
                f"allocation dra is for NVIDIA GPUs (NVIDIA's DRA driver); '{acc.id}' is a {acc.vendor} {acc.kind}.",
                "remove allocation (device-plugin is the only mode for this accelerator).",
            )
            continue
        if pool.sharing.mode == "mig":
            yield SpecIssue(
                _path(i, "sharing", "mode"),
                "MIG on a dra pool needs partitionable devices (the DRAPartitionableDevices feature gate), alpha "
                "and off in Kubernetes 1.34.",
                "set sharing.mode: none on this pool, or allocation: device-plugin to use MIG through the device "
                "plugin.",
            )
        if pool.sharing.mode == "time-slicing":
            yield SpecIssue(
                _path(i, "sharing", "mode"),
                "time-slicing is a setting of NVIDIA's device plugin (it replicates nvidia.com/gpu); a dra pool's "
                "GPU is allocated to one ResourceClaim, and pods share a GPU only by sharing that claim.",
                "set sharing.mode: none (let the pods that should share one GPU reference one ResourceClaim), or "
                "allocation: device-plugin to keep time-slicing.",
            )
        if spec.target == "gcp":
            yield from _gke(spec, i)
        if spec.target == "aws" and pool.min_nodes != pool.max_nodes:
            yield SpecIssue(
                _path(i, "allocation"),
                f"pool '{pool.name}' scales between {pool.min_nodes} and {pool.max_nodes} nodes, and the nodes above "
                "min_nodes come from Karpenter, which cannot launch a node for a pod whose GPU comes only from a "
                f"ResourceClaim ({KARPENTER_DRA_ISSUE}).",
                f"make it a fixed-size pool (min_nodes: {pool.max_nodes}, max_nodes: {pool.max_nodes}), or use "
                "allocation: device-plugin for a pool that scales from zero.",
            )
    if len(dra) > KUEUE_MAX_MAPPINGS:
        i, _ = dra[KUEUE_MAX_MAPPINGS]
        yield SpecIssue(
            _path(i, "allocation"),
            f"{len(dra)} pools use allocation dra; Kueue 0.19 accounts at most {KUEUE_MAX_MAPPINGS} device classes "
            "(one per dra pool) in quota.",
            f"use allocation: dra on at most {KUEUE_MAX_MAPPINGS} pools.",
        )


def _gke(spec: StackSpec, i: int) -> Iterator[SpecIssue]:
    pool = spec.accelerator_pools[i]
    version = spec.cluster.kubernetes_version
    want = ".".join(map(str, DRA_MIN_GKE_MINOR))
    if version is None:
        yield SpecIssue(
            "cluster.kubernetes_version",
            f"pool '{pool.name}' uses allocation dra, which GKE supports from {want}; the release channel "
            f"'{spec.cluster.release_channel}' alone does not guarantee that version.",
            f"pin cluster.kubernetes_version: '{want}' (or newer).",
        )
    elif _minor(version) < DRA_MIN_GKE_MINOR:
        yield SpecIssue(
            "cluster.kubernetes_version",
            f"pool '{pool.name}' uses allocation dra, which GKE supports from {want}; the cluster is {version}.",
            f"set cluster.kubernetes_version: '{want}' (or newer), or allocation: device-plugin.",
        )
    label = pool.labels.get(GKE_DRA_LABEL)
    if label is not None and label != "true":
        yield SpecIssue(
            _path(i, "labels", GKE_DRA_LABEL),
            f"a dra pool on GKE needs {GKE_DRA_LABEL}=true (GKE's own device plugin must stay off its GPUs); "
            f"the pool sets '{label}'.",
            f"remove the label: aistack sets {GKE_DRA_LABEL}=true on dra pools.",
        )


def notes(spec: StackSpec) -> list[str]:
    """What a valid stack's owner should know, once per stack (not errors)."""
    if any(p.allocation == "dra" for p in spec.accelerator_pools):
        return [TECH_PREVIEW_NOTE]
    return []
