"""What the local cluster holds before aistack deploys: fake nodes shaped like the `local` stack's
machines, and the upstream CRDs the platform's custom resources need.

Fake nodes look like freshly registered machines: hostname, OS and arch labels and capacity
(GPUs included, as a device plugin would advertise them), but none of aistack's pool labels or
taints. Applying those is the on-prem target's job, which the end-to-end test checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from components.handle import accelerator_inventory
from components.spec import StackSpec

from .cluster import FAKE_NODE_ANNOTATION

CRDS = Path(__file__).resolve().parents[2] / "components" / "crds"
# Simulated hardware: an 8-GPU HGX/DGX-class server (2 sockets × 56 cores, 2 TiB) and a small system node.
GPU_NODE = {"cpu": "112", "memory": "2Ti", "pods": "110", "ephemeral-storage": "3Ti"}
SYSTEM_NODE = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
SYSTEM_NODE_NAME = "system-node-0"


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
    """A system node, and every named node of the stack's pools with its accelerators as capacity."""
    nodes = [node(SYSTEM_NODE_NAME, SYSTEM_NODE)]
    for pool_spec, pool in zip(spec.accelerator_pools, accelerator_inventory(spec), strict=True):
        for name in pool_spec.nodes:
            nodes.append(node(name, {**GPU_NODE, pool.resource_name: str(pool.units_per_node)}))
    return nodes


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
