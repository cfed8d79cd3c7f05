"""Kueue: one flavor per accelerator pool, a ClusterQueue per team in a cohort, a LocalQueue per namespace.

Quota arithmetic lives here as pure functions so it can be checked on its own: a team's nominal
quota on a pool is exactly what the spec promises it (in schedulable units after time-slicing or
MIG), the spec rules keep the sum within the pool's capacity unless over-commit is asked for,
and idle quota is lent inside the cohort (borrowing) and reclaimed by preemption.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ..handle import POOL_LABEL, PoolInventory
from ..spec import StackSpec, TeamSpec
from ..versions import pinned
from . import dra
from .tenancy import TEAM_LABEL

GROUP = "kueue.x-k8s.io"
API = f"{GROUP}/v1beta2"  # the storage version of every Kueue CRD at the pinned release
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"  # Kueue's built-in ProvisioningRequest check
NAMESPACE = "kueue-system"
CPU_FLAVOR = "default"  # cpu and memory on any node: no node labels
LOCAL_QUEUE = "default"  # Kueue sends jobs without a queue-name label in a namespace to the queue named 'default'

# Per physical accelerator a team is promised, when its cpu / memory are not given. Conservative
# against common shapes (a3-highgpu-8g: 26 vCPU and 234 GB per GPU; g2-standard-24: 12 and 48).
CPU_PER_ACCELERATOR = 8
MEMORY_GB_PER_ACCELERATOR = 64
MIN_CPU = 8
MIN_MEMORY_GB = 32


@dataclass(frozen=True)
class Priority:
    name: str
    value: int
    description: str


PRIORITIES = (
    Priority("production", 1000, "Deadline-bound training and serving; preempts lower priorities."),
    Priority("batch", 100, "Ordinary experiments and pipelines."),
    Priority("opportunistic", 10, "Runs on idle quota; first to be preempted when its owners reclaim it."),
)
# A team borrowing idle quota may preempt borrowed work at or below this priority, never production.
BORROW_PREEMPT_THRESHOLD = 100


def team_accelerator_quota(team: TeamSpec, inventory: Iterable[PoolInventory]) -> dict[str, int]:
    """Pool → nominal quota in schedulable units (0 for pools the team has no guarantee on)."""
    return {p.pool: team.quotas.get(p.pool, 0) for p in inventory}


def physical_accelerators(team: TeamSpec, inventory: Iterable[PoolInventory]) -> int:
    """Whole accelerators behind a team's quota (a time-sliced or MIG unit is a fraction of one)."""
    total = 0
    for p in inventory:
        units = team.quotas.get(p.pool, 0)
        if units:
            total += math.ceil(units * p.per_node / p.units_per_node)
    return total


def team_cpu_memory(team: TeamSpec, inventory: Iterable[PoolInventory]) -> tuple[int, int]:
    """Guaranteed (cores, GB): the spec's, else sized from the accelerators the team is promised."""
    phys = physical_accelerators(team, list(inventory))
    cpu = team.cpu if team.cpu is not None else max(MIN_CPU, CPU_PER_ACCELERATOR * phys)
    mem = team.memory_gb if team.memory_gb is not None else max(MIN_MEMORY_GB, MEMORY_GB_PER_ACCELERATOR * phys)
    return cpu, mem


def pool_commitments(spec: StackSpec, inventory: Iterable[PoolInventory]) -> dict[str, tuple[int, int]]:
    """Pool → (units promised to teams, capacity). Promised ≤ capacity unless the spec over-commits."""
    return {p.pool: (sum(t.quotas.get(p.pool, 0) for t in spec.teams), p.capacity) for p in inventory}


def resource_flavors(inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    flavors: list[dict[str, Any]] = [
        {"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": CPU_FLAVOR}, "spec": {}}
    ]
    for p in inventory:
        flavors.append(
            {
                "apiVersion": API,
                "kind": "ResourceFlavor",
                "metadata": {"name": p.pool, "labels": {POOL_LABEL: p.pool}},
                # Admitted pods get the pool's node label and tolerations, so they land on its nodes only.
                "spec": {"nodeLabels": {POOL_LABEL: p.pool}, "tolerations": p.tolerations},
            }
        )
    return flavors


@dataclass(frozen=True)
class ProvisioningCheck:
    """One Kueue ProvisioningRequest admission check: workloads admitted onto ``flavors`` wait until the
    target's autoscaler has provisioned all their nodes of ``provisioning_class`` at once."""

    name: str
    provisioning_class: str
    resources: tuple[str, ...]  # the accelerator resource names those pools advertise
    flavors: tuple[str, ...]  # the ResourceFlavors (one per pool) the check gates


def provisioning_checks(inventory: Iterable[PoolInventory]) -> list[ProvisioningCheck]:
    """Pure: one check per distinct provisioning class among the pools, named after the class."""
    by_class: dict[str, list[PoolInventory]] = {}
    for p in inventory:
        if p.provisioning_class is not None:
            by_class.setdefault(p.provisioning_class, []).append(p)
    return [
        ProvisioningCheck(
            name=re.sub(r"[^a-z0-9-]+", "-", cls.lower()).strip("-"),
            provisioning_class=cls,
            resources=tuple(sorted({p.resource_name for p in pools})),
            flavors=tuple(p.pool for p in pools),
        )
        for cls, pools in sorted(by_class.items())
    ]


def provisioning_objects(inventory: Iterable[PoolInventory]) -> list[dict[str, Any]]:
    """Per check: a ProvisioningRequestConfig (the class, and which resources it provisions) and the
    AdmissionCheck that Kueue's built-in provisioning controller (GA since Kueue 0.14) runs with it.
    Source: https://kueue.sigs.k8s.io/docs/concepts/admission_check/provisioning_request/ (read 2026-12-01)."""
    out: list[dict[str, Any]] = []
    for check in provisioning_checks(inventory):
        out.append(
            {
                "apiVersion": API,
                "kind": "ProvisioningRequestConfig",
                "metadata": {"name": check.name},
                "spec": {
                    "provisioningClassName": check.provisioning_class,
                    # Only pod sets asking for these get provisioned: a job's CPU-only launcher is not queued.
                    "managedResources": list(check.resources),
                    # Identical workers (a PyTorchJob's, a JobSet's) become one pod template of the request.
                    "podSetMergePolicy": "IdenticalWorkloadSchedulingRequirements",
                },
            }
        )
        out.append(
            {
                "apiVersion": API,
                "kind": "AdmissionCheck",
                "metadata": {"name": check.name},
                "spec": {
                    "controllerName": PROVISIONING_CONTROLLER,
                    "parameters": {"apiGroup": GROUP, "kind": "ProvisioningRequestConfig", "name": check.name},
                },
            }
        )
    return out


def _quota(name: str, nominal: int | str, borrow: bool) -> dict[str, Any]:
    q: dict[str, Any] = {"name": name, "nominalQuota": str(nominal)}
    if not borrow:
        q["borrowingLimit"] = "0"
    return q


def cluster_queue(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, Any]:
    """The team's queue: cpu/memory on any node, then one resource group per accelerator resource name.

    Every pool appears, with nominal 0 where the team has no guarantee, so it can still borrow
    there. Separate groups let a GPU job take cpu from the default flavor and GPUs from a pool.
    """
    cpu, mem = team_cpu_memory(team, inventory)
    groups: list[dict[str, Any]] = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [
                {
                    "name": CPU_FLAVOR,
                    "resources": [
                        _quota("cpu", cpu, team.can_borrow),
                        _quota("memory", f"{mem}Gi", team.can_borrow),
                    ],
                }
            ],
        }
    ]
    quota = team_accelerator_quota(team, inventory)
    for resource in sorted({p.resource_name for p in inventory}):
        groups.append(
            {
                "coveredResources": [resource],
                "flavors": [
                    {"name": p.pool, "resources": [_quota(resource, quota[p.pool], team.can_borrow)]}
                    for p in inventory
                    if p.resource_name == resource
                ],
            }
        )
    queue: dict[str, Any] = {
        "apiVersion": API,
        "kind": "ClusterQueue",
        "metadata": {"name": team.name, "labels": {TEAM_LABEL: team.name}},
        "spec": {
            "cohortName": team.cohort,
            "namespaceSelector": {"matchLabels": {TEAM_LABEL: team.name}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": groups,
            "preemption": {
                # Lent quota comes back: the owner's pending work evicts borrowers.
                "reclaimWithinCohort": "Any",
                "borrowWithinCohort": {
                    "policy": "LowerPriority",
                    "maxPriorityThreshold": BORROW_PREEMPT_THRESHOLD,
                },
                "withinClusterQueue": "LowerPriority",
            },
        },
    }
    checks = provisioning_checks(inventory)
    if checks:
        # Per flavor: work admitted onto a queued pool waits for its nodes; work on other pools does not.
        queue["spec"]["admissionChecksStrategy"] = {
            "admissionChecks": [{"name": c.name, "onFlavors": list(c.flavors)} for c in checks]
        }
    return queue


def local_queue(team: TeamSpec) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": {"name": LOCAL_QUEUE, "namespace": team.name, "labels": {TEAM_LABEL: team.name}},
        "spec": {"clusterQueue": team.name},
    }


def priority_classes() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API,
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": p.name},
            "value": p.value,
            "description": p.description,
        }
        for p in PRIORITIES
    ]


def queue_objects(spec: StackSpec, inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    """Cluster-scoped Kueue objects: flavors, priorities, provisioning checks and one ClusterQueue per team."""
    return [
        *resource_flavors(inventory),
        *priority_classes(),
        *provisioning_objects(inventory),
        *(cluster_queue(team, inventory) for team in spec.teams),
    ]


def kueue_frameworks(spec: StackSpec) -> list[str]:
    """Job kinds Kueue manages: batch Jobs and JobSets always, Kubeflow's training APIs when installed."""
    frameworks = ["batch/job", "jobset.x-k8s.io/jobset"]
    chosen = spec.kubeflow.components if spec.kubeflow.enabled else ()
    if "trainer" in chosen:
        frameworks.append("trainer.kubeflow.org/trainjob")
    if "training-operator" in chosen:
        frameworks.append("kubeflow.org/pytorchjob")
    return frameworks


def kueue_config(spec: StackSpec, inventory: tuple[PoolInventory, ...] = ()) -> dict[str, Any]:
    """Kueue's manager Configuration: metrics, the frameworks above and, with dra pools, the
    ``deviceClassMappings`` that count each pool's claimed GPUs as its quota resource (dra.py). The local
    cluster's host-process Kueue runs this same configuration (aistack/local/cluster.kueue_config)."""
    config: dict[str, Any] = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443", "enableClusterQueueResources": True},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "clientConnection": {"qps": 50, "burst": 100},
        "integrations": {"frameworks": kueue_frameworks(spec)},
    }
    mappings = dra.device_class_mappings(inventory)
    if mappings:
        config["resources"] = {"deviceClassMappings": mappings}
    return config


def kueue_values(spec: StackSpec, inventory: tuple[PoolInventory, ...] = ()) -> dict[str, Any]:
    """Helm values for the kueue chart: pinned image, metrics, and the configuration above."""
    version = pinned("kueue", spec.upstream.versions).version
    config = kueue_config(spec, inventory)
    return {
        "enablePrometheus": spec.monitoring.enabled,
        "controllerManager": {
            "manager": {
                "image": {
                    "repository": "registry.k8s.io/kueue/kueue",
                    "tag": f"v{version}",
                    "pullPolicy": "IfNotPresent",
                }
            }
        },
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(config, sort_keys=False)},
    }
