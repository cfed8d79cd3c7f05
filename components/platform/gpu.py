"""Accelerator enablement: what the NVIDIA GPU Operator must add to what the target provides.

Decided from the handle's ``NvidiaStack`` (facts such as "the driver is preinstalled"), never from
the cloud's name: a target that provides everything (GKE's managed GPU stack) gets no operator,
one with drivers in the image (EKS AL2023 NVIDIA AMIs) gets the operator without driver and
toolkit, and bare hosts (on-prem) get all of it. TPUs and Neuron need nothing here beyond the
queues' flavors.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..handle import DEFAULT_DEVICE_PLUGIN_CONFIG, POOL_LABEL, NvidiaStack, PodEndpoint, PoolInventory
from ..images.charts import PULL_SECRET
from ..images.refs import mirrored_prefix
from ..spec import StackSpec
from ..versions import Release, pinned, release

NAMESPACE = "gpu-operator"
DEVICE_PLUGIN_CONFIGMAP = "aistack-device-plugin"
DRIVER_REPOSITORY = "nvcr.io/nvidia"  # the driver image's registry path (gpu-operator values.yaml driver.repository)
# The operator's DCGM exporter pods (assets/state-dcgm-exporter/0800_daemonset.yaml in NVIDIA/gpu-operator).
OPERATOR_DCGM = PodEndpoint(NAMESPACE, {"app": "nvidia-dcgm-exporter"}, "metrics")


def nvidia_pools(inventory: tuple[PoolInventory, ...]) -> list[PoolInventory]:
    return [p for p in inventory if p.kind == "gpu"]


def operator_needed(inventory: tuple[PoolInventory, ...], nvidia: NvidiaStack) -> bool:
    return bool(nvidia_pools(inventory)) and not nvidia.complete


def dcgm_endpoint(inventory: tuple[PoolInventory, ...], nvidia: NvidiaStack) -> PodEndpoint | None:
    """Where GPU metrics are scraped: the target's exporter, else the operator's; None without NVIDIA pools."""
    if not nvidia_pools(inventory):
        return None
    return nvidia.dcgm_exporter or OPERATOR_DCGM


def device_plugin_configs(spec: StackSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, str]:
    """Device-plugin configs by name: 'default' (whole GPUs, or uniform MIG) and one per time-sliced pool.

    Nodes pick theirs by the nvidia.com/device-plugin.config label the inventory puts on them.
    """
    configs = {DEFAULT_DEVICE_PLUGIN_CONFIG: {"version": "v1", "flags": {"migStrategy": "single"}}}
    for p in nvidia_pools(inventory):
        pool = spec.pool(p.pool)
        if pool is None or pool.sharing.mode != "time-slicing":
            continue
        configs[p.pool] = {
            "version": "v1",
            "flags": {"migStrategy": "none"},
            "sharing": {
                "timeSlicing": {
                    # Keep the resource name nvidia.com/gpu so queues and quotas stay the same.
                    "renameByDefault": False,
                    "resources": [{"name": p.resource_name, "replicas": pool.sharing.replicas}],
                }
            },
        }
    return {name: yaml.safe_dump(cfg, sort_keys=True) for name, cfg in sorted(configs.items())}


def operator_tolerations(inventory: tuple[PoolInventory, ...]) -> list[dict[str, str]]:
    """The operator's daemonsets must run on every NVIDIA pool, whatever extra taints a pool has."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for p in nvidia_pools(inventory):
        for t in p.taints:
            seen.setdefault((t.key, t.effect), {"key": t.key, "operator": "Exists", "effect": t.effect})
    return [seen[k] for k in sorted(seen)]


# The driver's rolling upgrade (the operator's upgrade controller): one node at a time, at most a quarter of
# the GPU nodes unavailable; Kueue-admitted pods (label kueue.x-k8s.io/queue-name) run to completion first, with
# no timeout, since evicting a training job loses its progress; then the node is drained (10 min bound). Without
# it a driver change (v26.3.3 → v26.7.0 moves 580.126.20 → 595.91.07) swaps the driver under running jobs.
# Fields: the NVIDIADriver CRD's spec.upgradePolicy (gpu-operator v26.7.0 config/crd/bases).
DRIVER_UPGRADE_POLICY: dict[str, Any] = {
    "autoUpgrade": True,
    "maxParallelUpgrades": 1,
    "maxUnavailable": "25%",
    "waitForCompletion": {"podSelector": "kueue.x-k8s.io/queue-name", "timeoutSeconds": 0},
    "drain": {"enable": True, "force": False, "deleteEmptyDir": False, "timeoutSeconds": 600},
}
# Pods using a GPU that no job selector covers are deleted after this long (the CRD's own default).
_POD_DELETION = {"force": False, "deleteEmptyDir": False, "timeoutSeconds": 300}


def operator_release(spec: StackSpec) -> Release:
    """The stack's GPU Operator release record (components/versions.py RELEASES)."""
    version = pinned("gpu-operator", spec.upstream.versions).version
    record = release("gpu-operator", version)
    assert record is not None and record.driver is not None  # every known gpu-operator release names its driver
    return record


def driver_version(spec: StackSpec) -> str:
    """The NVIDIA driver the stack's GPU Operator release installs by default."""
    return str(operator_release(spec).driver)


def operator_values(spec: StackSpec, inventory: tuple[PoolInventory, ...], nvidia: NvidiaStack) -> dict[str, Any]:
    """Helm values for the gpu-operator chart: only the parts the target does not provide."""
    pools = [spec.pool(p.pool) for p in nvidia_pools(inventory)]
    uses_mig = any(p is not None and p.sharing.mode == "mig" for p in pools)
    operator_driver = not nvidia.driver
    return {
        "nfd": {"enabled": True},
        "driver": {
            "enabled": operator_driver,
            # One NVIDIADriver object per pool (below) instead of the chart's single default.
            "nvidiaDriverCRD": {"enabled": operator_driver, "deployDefaultCR": False},
            "upgradePolicy": {**DRIVER_UPGRADE_POLICY, "gpuPodDeletion": _POD_DELETION},
        },
        "toolkit": {"enabled": not nvidia.toolkit},
        "devicePlugin": {
            "enabled": not nvidia.device_plugin,
            "config": {"name": DEVICE_PLUGIN_CONFIGMAP, "default": DEFAULT_DEVICE_PLUGIN_CONFIG},
        },
        "mig": {"strategy": "single"},
        "migManager": {"enabled": uses_mig and not nvidia.device_plugin},
        # aistack scrapes the exporter with its own PodMonitor, so the chart's ServiceMonitor stays off.
        "dcgmExporter": {"enabled": nvidia.dcgm_exporter is None, "serviceMonitor": {"enabled": False}},
        "daemonsets": {"tolerations": operator_tolerations(inventory)},
    }


def device_plugin_configmap(spec: StackSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": DEVICE_PLUGIN_CONFIGMAP, "namespace": NAMESPACE},
        "data": device_plugin_configs(spec, inventory),
    }


def driver_objects(
    inventory: tuple[PoolInventory, ...],
    nvidia: NvidiaStack,
    operator: Release,
    registry: str | None = None,
    pull_secret: bool = False,
) -> list[dict[str, Any]]:
    """One NVIDIADriver per NVIDIA pool when the operator manages drivers, so pools upgrade independently.

    ``operator``: the GPU Operator release: its driver version, and which fields its NVIDIADriver CRD declares
    (v26.3.3's has no ``default`` and no ``upgradePolicy``: there the ClusterPolicy's driver.upgradePolicy,
    operator_values, is the drain plan). ``registry``: the site registry (upstream.image_registry): the operator
    joins ``repository`` with the image and the per-OS tag, so the prefix under it gives the rule's reference.
    ``pull_secret``: name the Secret of images.charts.PULL_SECRET for the driver pods.
    """
    if nvidia.driver:
        return []
    driver = str(operator.driver)
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "nvidia.com/v1alpha1",
            "kind": "NVIDIADriver",
            "metadata": {"name": p.pool},
            "spec": {
                "default": False,
                "driverType": "gpu",
                "repository": DRIVER_REPOSITORY if registry is None else mirrored_prefix(DRIVER_REPOSITORY, registry),
                "image": "driver",
                "version": driver,
                "kernelModuleType": "auto",
                "upgradePolicy": {**DRIVER_UPGRADE_POLICY, "podDeletion": _POD_DELETION},
                "nodeSelector": {POOL_LABEL: p.pool},
                "tolerations": [{"key": t.key, "operator": "Exists", "effect": t.effect} for t in p.taints],
            },
        }
        for p in nvidia_pools(inventory)
    ]
    for obj in objects:
        for field in ("default", "upgradePolicy"):
            if field not in operator.driver_fields:
                del obj["spec"][field]
    if pull_secret:
        for obj in objects:
            obj["spec"]["imagePullSecrets"] = [PULL_SECRET]  # the NVIDIADriver CRD takes secret names
    return objects
