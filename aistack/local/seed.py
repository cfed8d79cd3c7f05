"""What the local cluster holds before aistack deploys: fake nodes shaped like the `local` stack's
machines, and the upstream CRDs the platform's custom resources need.

Fake nodes look like freshly registered machines: hostname, OS and arch labels and capacity
(GPUs included, as a device plugin would advertise them), but none of aistack's pool labels or
taints. Applying those is the on-prem target's job, which the end-to-end test checks.

A pool with ``allocation: dra`` advertises no extended resource: its nodes' GPUs are published as
ResourceSlices in the format of NVIDIA's DRA driver (what its kubelet plugin would publish, which no
pod runs here to do), so kube-scheduler's DRA plugin allocates them for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from components.handle import DRA_DRIVER, accelerator_inventory
from components.platform.dra import PRODUCT_NAMES
from components.spec import StackSpec
from foundation import catalog

from .cluster import FAKE_NODE_ANNOTATION

CRDS = Path(__file__).resolve().parents[2] / "components" / "crds"
# Simulated hardware: an 8-GPU HGX/DGX-class server (2 sockets × 56 cores, 2 TiB) per GPU node name.
GPU_NODE = {"cpu": "112", "memory": "2Ti", "pods": "110", "ephemeral-storage": "3Ti"}
# The system pool: everything that is not a GPU workload (the GPU nodes carry the pool's NoSchedule taint).
# Sized from what the `local` stack installs, rendered offline from ../shared/mirror (`helm template` of the
# pinned charts with the values aistack passes, `kubectl kustomize` of the Kubeflow paths it applies):
# 54 pods of Deployments, StatefulSets and Jobs (6 of them Helm hook Jobs) requesting 2.8 CPU and 6.8 GiB,
# plus 6 DaemonSet pods on every node (0.14 CPU, 0.22 GiB). 35 of the 54 and 3 of the 6 request nothing
# (most of Kubeflow, cert-manager, MetalLB, SeaweedFS, the Prometheus operator, Grafana), and operators
# add pods no render shows (Prometheus, Alertmanager, the Pipelines pods in each team's profile, ~6).
# Counting 0.1 CPU / 256 MiB for every pod without requests and 1 CPU / 3 GiB for the operators' pods,
# the platform takes ~7 CPU, ~18 GiB and ~60 pods, plus ~0.45 CPU, ~1 GiB and 6 pods per node.
# On one 16 CPU / 64 GiB / 110-pod node that is ~60% of its pods and ~50% of its CPU, with no room for
# CPU-only team work (notebooks, pipeline steps, which run beside the platform). Three nodes of that
# common shape (kubelet's default of 110 pods each) give 48 CPU, 192 GiB and 330 pods, of which the
# platform uses ~18% of the CPU, ~11% of the memory and ~24% of the pods (its 18 DaemonSet pods
# included); three also let spread and anti-affinity rules behave as on a real HA system pool.
SYSTEM_NODE = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
SYSTEM_NODE_COUNT = 3
SYSTEM_NODE_NAME = "system-node-0"  # the first; the others are system-node-1, system-node-2


def node(name: str, capacity: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **(labels or {}),
            },
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity, "nodeInfo": {"kubeletVersion": "fake"}},
    }


def fake_nodes(spec: StackSpec) -> list[dict[str, Any]]:
    """The system nodes, and every named node of the stack's pools with its accelerators as capacity."""
    nodes = [node(f"system-node-{i}", SYSTEM_NODE) for i in range(SYSTEM_NODE_COUNT)]
    for pool_spec, pool in zip(spec.accelerator_pools, accelerator_inventory(spec), strict=True):
        for name in pool_spec.nodes:
            gpus = {} if pool.allocation == "dra" else {pool.resource_name: str(pool.units_per_node)}
            nodes.append(node(name, {**GPU_NODE, **gpus}))
    return nodes


# What NVML reports on the simulated machines, beyond the catalog: (architecture, CUDA compute capability,
# memory as the driver publishes it: NVML's total, in MiB). H100 SXM5 80GB: 81559 MiB.
FAKE_GPU: dict[str, tuple[str, str, str]] = {
    "nvidia-h100-80gb": ("Hopper", "9.0.0", "81559Mi"),
    "nvidia-h200-141gb": ("Hopper", "9.0.0", "143771Mi"),
    "nvidia-a100-80gb": ("Ampere", "8.0.0", "81920Mi"),
    "nvidia-b200": ("Blackwell", "10.0.0", "183359Mi"),
}
FAKE_DRIVER = ("580.95.5", "13.0.0")  # driverVersion, cudaDriverVersion (semver, as the plugin publishes them)


def gpu_device(accelerator: str, index: int, node_name: str) -> dict[str, Any]:
    """One GPU as NVIDIA's kubelet plugin publishes it (cmd/gpu-kubelet-plugin/partitions.go PartDevAttributes
    and deviceinfo.go GetDevice, v25.12.0): named gpu-<minor>, attributes in the driver's domain."""
    arch, cc, memory = FAKE_GPU.get(accelerator, ("Hopper", "9.0.0", "81559Mi"))
    acc = catalog.accelerators().get(accelerator)
    product = PRODUCT_NAMES.get(accelerator, (acc.name if acc else accelerator,))[0]
    serial = sum(node_name.encode()) * 100 + index
    return {
        "name": f"gpu-{index}",
        "attributes": {
            "type": {"string": "gpu"},
            "uuid": {"string": f"GPU-{serial:08x}-0000-4000-8000-{index:012x}"},
            "productName": {"string": product},
            "brand": {"string": "Nvidia"},
            "architecture": {"string": arch},
            "cudaComputeCapability": {"version": cc},
            "driverVersion": {"version": FAKE_DRIVER[0]},
            "cudaDriverVersion": {"version": FAKE_DRIVER[1]},
            "resource.kubernetes.io/pciBusID": {"string": f"0000:{0x18 + 0x10 * index:02x}:00.0"},
        },
        "capacity": {"memory": {"value": memory}},
    }


def resource_slices(spec: StackSpec) -> list[dict[str, Any]]:
    """One ResourceSlice per node of a dra pool, its pool named after the node (as the driver's are)."""
    slices = []
    for pool_spec, pool in zip(spec.accelerator_pools, accelerator_inventory(spec), strict=True):
        if pool.allocation != "dra":
            continue
        for name in pool_spec.nodes:
            slices.append(
                {
                    "apiVersion": "resource.k8s.io/v1",
                    "kind": "ResourceSlice",
                    "metadata": {"name": f"{name}-{DRA_DRIVER}", "annotations": {FAKE_NODE_ANNOTATION: "fake"}},
                    "spec": {
                        "driver": DRA_DRIVER,
                        "nodeName": name,
                        "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
                        "devices": [gpu_device(pool.accelerator, i, name) for i in range(pool.per_node)],
                    },
                }
            )
    return slices


def crd_documents(root: Path = CRDS) -> Iterator[dict[str, Any]]:
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                yield doc


def apply(kubeconfig: Path, objects: list[dict[str, Any]]) -> int:
    """Server-side apply each object (idempotent), as field manager aistack-local."""
    from kubernetes import client, config, dynamic

    api = dynamic.DynamicClient(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]
    count = 0
    for obj in objects:
        resource = api.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.server_side_apply(
            body=obj, name=obj["metadata"]["name"], field_manager="aistack-local", force_conflicts=True
        )
        if obj["kind"] == "Node" and "status" in obj:
            # Node status is a subresource: capacity reaches it only through /status.
            status = client.CoreV1Api(api.client)
            status.patch_node_status(obj["metadata"]["name"], {"status": obj["status"]})
        count += 1
    return count
