"""GPUs through Dynamic Resource Allocation: NVIDIA's DRA driver, one DeviceClass per ``dra`` pool, the
ResourceClaimTemplates teams ask with, and what Kueue needs to count claimed GPUs in quota.

Decided from the pools' allocation mode and the handle's ``NvidiaStack`` facts, never from the cloud:

* The driver chart (nvidia-dra-driver-gpu 25.12.0) with GPU allocation switched on
  (``gpuResourcesEnabledOverride``: the chart refuses it otherwise, a technology preview), its
  ``resourceApiVersion`` pinned to resource.k8s.io/v1 (else the chart asks the cluster, and an offline
  render and the live API server could disagree), its kubelet plugin on the dra pools' nodes only and its
  ComputeDomain controller (when a pool has multi-node NVLink) on the system nodes, not on the
  ``node-role.kubernetes.io/control-plane`` node its defaults ask for, which GKE, EKS and the local
  cluster do not have.
* ComputeDomain CRDs: the GPU Operator 26.7 chart ships identical ones, so exactly one chart installs
  them: the operator where it is installed (it must keep its own crds/: ClusterPolicy, NVIDIADriver), the
  DRA driver otherwise (:func:`driver_owns_crds`).
* The GPU Operator's device plugin stays off the dra pools' nodes through the node label
  ``nvidia.com/gpu.deploy.device-plugin=false`` (handle.accelerator_inventory), so no GPU is advertised
  twice.
* One DeviceClass per dra pool selecting by the attributes the driver's kubelet plugin publishes
  (cmd/gpu-kubelet-plugin/deviceinfo.go and partitions.go at v25.12.0: ``type``, ``uuid``,
  ``productName``, ``brand``, ``architecture``, ``cudaComputeCapability``, ``driverVersion``,
  ``cudaDriverVersion``, ``resource.kubernetes.io/pciBusID``, capacity ``memory``), in the driver's
  attribute domain ``gpu.nvidia.com``; no ``extendedResourceName`` (alpha DRAExtendedResource gate, off
  in 1.34: the API server drops it, a permanent diff). The chart's own ``gpu.nvidia.com`` class sets it
  when rendered for resource.k8s.io/v1: upstream_fixes drops it there.
* Per team: a ResourceClaimTemplate for one GPU and one for every GPU of a node, both as an exact count
  (Kueue 0.19 rejects ``allocationMode: All``, pkg/dra/claims.go).
* Kueue's ``deviceClassMappings`` (config, beta and on by default in 0.19): each dra pool's class counts
  as the pool's resource (handle.dra_resource), which the team's ClusterQueue gives a quota on the pool's
  flavor exactly as it does ``nvidia.com/gpu`` on a device-plugin pool.
"""

from __future__ import annotations

from typing import Any

from ..handle import DRA_DRIVER, POOL_LABEL, NvidiaStack, PoolInventory
from ..spec import TeamSpec
from .tenancy import TEAM_LABEL

NAMESPACE = "nvidia-dra-driver-gpu"
CHART_KEY = "nvidia-dra-driver-gpu"
RESOURCE_API = "resource.k8s.io/v1"
# Where the GPU Operator's driver container puts the driver on the host (its hostPaths.driverInstallDir).
OPERATOR_DRIVER_ROOT = "/run/nvidia/driver"
DEVICE_REQUEST = "gpu"  # the request name inside the claim templates (what a container's claims[].request names)
ONE_GPU = "gpu"  # <pool>-gpu: one GPU of the pool
WHOLE_NODE = "node"  # <pool>-node: every GPU of one node, as an exact count

# NVML's product name (nvidia-smi --query-gpu=name), which the kubelet plugin publishes as productName, per
# catalog GPU. A DeviceClass selects its pool's model by it.
PRODUCT_NAMES: dict[str, tuple[str, ...]] = {
    "nvidia-t4": ("Tesla T4",),
    "nvidia-l4": ("NVIDIA L4",),
    "nvidia-a10g": ("NVIDIA A10G",),
    "nvidia-l40s": ("NVIDIA L40S",),
    "nvidia-a100-40gb": ("NVIDIA A100-SXM4-40GB",),
    "nvidia-a100-80gb": ("NVIDIA A100-SXM4-80GB",),
    "nvidia-h100-80gb": ("NVIDIA H100 80GB HBM3",),
    "nvidia-h100-mega-80gb": ("NVIDIA H100 80GB HBM3",),
    "nvidia-h100-pcie-80gb": ("NVIDIA H100 PCIe",),
    "nvidia-h200-141gb": ("NVIDIA H200",),
    "nvidia-b200": ("NVIDIA B200",),
}
# Machines whose GPUs share one NVLink fabric across nodes (GB200/GB300 NVL72 racks): jobs spanning nodes
# there need a ComputeDomain (IMEX channels), which the driver's ComputeDomain controller provides.
MULTI_NODE_NVLINK: frozenset[str] = frozenset({"nvidia-gb200", "nvidia-gb300"})


def dra_pools(inventory: tuple[PoolInventory, ...]) -> list[PoolInventory]:
    return [p for p in inventory if p.allocation == "dra"]


def compute_domains(inventory: tuple[PoolInventory, ...]) -> bool:
    """Whether any dra pool's machines have multi-node NVLink (ComputeDomains)."""
    return any(p.accelerator in MULTI_NODE_NVLINK for p in dra_pools(inventory))


def driver_owns_crds(operator_installed: bool) -> bool:
    """Exactly one owner of the ComputeDomain CRDs: the GPU Operator's chart where it is installed (its crds/
    also hold ClusterPolicy and NVIDIADriver, so it cannot skip them), else the DRA driver's chart."""
    return not operator_installed


def driver_root(nvidia: NvidiaStack) -> str:
    """Where the NVIDIA driver is on a dra node's host: the target's, else where the GPU Operator installs it."""
    return nvidia.driver_root if nvidia.driver else OPERATOR_DRIVER_ROOT


def _node_affinity(operator: str, pools: list[str]) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": POOL_LABEL, "operator": operator, "values": sorted(pools)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def _tolerations(pools: list[PoolInventory]) -> list[dict[str, str]]:
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for p in pools:
        for t in (*p.taints, *p.autoscaler_taints):
            seen.setdefault((t.key, t.effect), {"key": t.key, "operator": "Exists", "effect": t.effect})
    return [seen[k] for k in sorted(seen)]


def driver_values(inventory: tuple[PoolInventory, ...], nvidia: NvidiaStack) -> dict[str, Any]:
    """Helm values for the nvidia-dra-driver-gpu chart (keys checked against its values.yaml by the tests)."""
    dra = dra_pools(inventory)
    return {
        "gpuResourcesEnabledOverride": True,
        "resourceApiVersion": RESOURCE_API,
        "nvidiaDriverRoot": driver_root(nvidia),
        "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": compute_domains(inventory)}},
        # The ComputeDomain controller: on the system nodes (no accelerator pool), not the control plane.
        "controller": {"tolerations": [], "affinity": _node_affinity("NotIn", [p.pool for p in inventory])},
        # The kubelet plugin publishes the GPUs of the dra pools' nodes, and of no other node.
        "kubeletPlugin": {"tolerations": _tolerations(dra), "affinity": _node_affinity("In", [p.pool for p in dra])},
    }


def selector(pool: PoolInventory) -> str:
    """The DeviceClass's CEL: the driver's whole GPUs (not MIG or VFIO devices) of the pool's model."""
    attrs = f"device.attributes['{DRA_DRIVER}']"
    expr = f"device.driver == '{DRA_DRIVER}' && {attrs}.type == 'gpu'"
    names = PRODUCT_NAMES.get(pool.accelerator)
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        expr += f" && {attrs}.productName in [{listed}]"
    return expr


def device_class(pool: PoolInventory) -> dict[str, Any]:
    assert pool.device_class is not None
    return {
        "apiVersion": RESOURCE_API,
        "kind": "DeviceClass",
        "metadata": {"name": pool.device_class, "labels": {POOL_LABEL: pool.pool}},
        "spec": {"selectors": [{"cel": {"expression": selector(pool)}}]},
    }


def device_classes(inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    return [device_class(p) for p in dra_pools(inventory)]


def claim_template_name(pool: str, shape: str) -> str:
    return f"{pool}-{shape}"


def _claim_template(team: TeamSpec, pool: PoolInventory, shape: str, count: int) -> dict[str, Any]:
    return {
        "apiVersion": RESOURCE_API,
        "kind": "ResourceClaimTemplate",
        "metadata": {
            "name": claim_template_name(pool.pool, shape),
            "namespace": team.name,
            "labels": {TEAM_LABEL: team.name, POOL_LABEL: pool.pool},
        },
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": DEVICE_REQUEST,
                            "exactly": {
                                "deviceClassName": pool.device_class,
                                "allocationMode": "ExactCount",
                                "count": count,
                            },
                        }
                    ]
                }
            }
        },
    }


def claim_templates(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    """The team's claim templates on every dra pool (a team may borrow on pools it has no quota on)."""
    out = []
    for p in dra_pools(inventory):
        out.append(_claim_template(team, p, ONE_GPU, 1))
        out.append(_claim_template(team, p, WHOLE_NODE, p.per_node))
    return out


def device_class_mappings(inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    """Kueue Configuration ``resources.deviceClassMappings``: each pool's class counted as its resource."""
    return [{"name": p.resource_name, "deviceClassNames": [p.device_class]} for p in dra_pools(inventory)]


def compute_domain_role() -> dict[str, Any]:
    """Team editors may create ComputeDomains (aggregated into the built-in edit role) where pools have them."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": "aistack-computedomains-edit",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        },
        "rules": [
            {
                "apiGroups": ["resource.nvidia.com"],
                "resources": ["computedomains"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            }
        ],
    }


def cluster_objects(inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    """Cluster-scoped DRA objects aistack creates: the pools' DeviceClasses (and the ComputeDomain role)."""
    out = device_classes(inventory)
    if compute_domains(inventory):
        out.append(compute_domain_role())
    return out
