"""What is deployed, read from the cluster (and the stack's state), as plain data for the rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.versions import UPSTREAMS

# GPU Feature Discovery's node labels (NVIDIA/k8s-device-plugin, docs/gpu-feature-discovery): the driver
# version in full where the release writes it, else from its major/minor/rev parts.
DRIVER_LABEL = "nvidia.com/cuda.driver-version.full"
_DRIVER_PARTS = ("nvidia.com/cuda.driver.major", "nvidia.com/cuda.driver.minor", "nvidia.com/cuda.driver.rev")
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
_CHART_LABEL = re.compile(r"^(?P<name>.+)-(?P<version>v?\d+\.\d+\.\d+.*)$")


class DeploymentUnreadableError(Exception):
    """Neither the cluster nor the stack's state could be read: the plan cannot say anything."""


@dataclass(frozen=True)
class Deployed:
    """A deployment as the rules see it. Empty fields mean "not known", never "none deployed"."""

    kubernetes: str | None = None  # the API server's minor, e.g. "1.34"
    charts: Mapping[str, str] = field(default_factory=dict)  # upstream key -> deployed chart version
    stored_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # CRD name -> storedVersions
    gpu_nodes: Mapping[str, str | None] = field(default_factory=dict)  # node -> driver version (None: unknown)
    source: str = ""  # where it was read, for the report


def chart_versions(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Chart versions from the `helm.sh/chart: <name>-<version>` label Helm charts put on what they render.

    Only charts aistack pins are kept (by chart name); a chart seen at two versions (a half-done upgrade)
    keeps the lowest, since that is what the upgrade path starts from."""
    by_name = {u.name: key for key, u in UPSTREAMS.items() if u.kind == "chart"}
    found: dict[str, set[str]] = {}
    for obj in objects:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        # Helm's recommended label, or `chart`, which kube-prometheus-stack puts on its own objects instead
        # (its templates/_helpers.tpl): without it the 87 → 88 major would never be seen deployed.
        label = labels.get("helm.sh/chart") or labels.get("chart")
        match = _CHART_LABEL.match(label or "")
        if match and match["name"] in by_name:
            found.setdefault(by_name[match["name"]], set()).add(match["version"])
    return {key: min(versions, key=_version_key) for key, versions in found.items()}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def node_driver(labels: Mapping[str, str]) -> str | None:
    if DRIVER_LABEL in labels:
        return labels[DRIVER_LABEL]
    parts = [labels.get(key) for key in _DRIVER_PARTS]
    return ".".join(p for p in parts if p) if all(parts[:2]) else None


def gpu_nodes(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """Nodes that carry NVIDIA GPUs (the GFD label, or nvidia.com/gpu capacity), with their driver version."""
    out: dict[str, str | None] = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        capacity = ((node.get("status") or {}).get("capacity") or {}).get("nvidia.com/gpu", "0")
        if labels.get(GPU_PRESENT_LABEL) == "true" or str(capacity) not in ("", "0"):
            out[meta.get("name", "?")] = node_driver(labels)
    return out


def from_objects(
    version: Mapping[str, Any],
    crds: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    workloads: Iterable[Mapping[str, Any]],
    source: str,
) -> Deployed:
    """A Deployed from the API's own JSON: /version, CRDs, Nodes and the workloads charts rendered."""
    minor = f"{version.get('major', '')}.{re.sub(r'[^0-9]', '', str(version.get('minor', '')))}"
    stored = {c["metadata"]["name"]: tuple((c.get("status") or {}).get("storedVersions") or ()) for c in crds}
    return Deployed(minor if minor != "." else None, chart_versions(workloads), stored, gpu_nodes(nodes), source)


def from_state(export: Mapping[str, Any]) -> Deployed:
    """Chart versions from `pulumi stack export` (the rendered objects' inputs carry the chart label)."""
    resources = (export.get("deployment") or {}).get("resources") or []
    objects = [r.get("inputs") or {} for r in resources if str(r.get("type", "")).startswith("kubernetes:")]
    if not resources:
        raise DeploymentUnreadableError("the stack's state holds no resources: nothing is deployed yet")
    return Deployed(charts=chart_versions(objects), source="the stack's state")


def from_cluster(kubeconfig: str) -> Deployed:
    """Read the live cluster through ``kubeconfig`` (read-only: GET and LIST only)."""
    from kubernetes import client, config

    try:
        api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        raw = _Raw(api)
        version = raw.get("/version")
        crds = raw.items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        nodes = raw.items("/api/v1/nodes")
        workloads = [
            *raw.items("/apis/apps/v1/deployments"),
            *raw.items("/apis/apps/v1/daemonsets"),
            *raw.items("/apis/apps/v1/statefulsets"),
        ]
    except (OSError, client.ApiException, config.ConfigException) as exc:
        raise DeploymentUnreadableError(f"the cluster could not be read through {kubeconfig}: {exc}") from None
    return from_objects(version, crds, nodes, workloads, f"the cluster ({kubeconfig})")


class _Raw:
    """Plain JSON GETs through the client's connection (no typed models: the rules take dicts)."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def get(self, path: str) -> dict[str, Any]:
        # The kubernetes client's (37.x) two-step raw call: serialize the request, then send it.
        method, url, headers, body, post = self.api.param_serialize("GET", path, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=body, post_params=post)
        response.read()
        result: dict[str, Any] = json.loads(response.data)
        return result

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.get(path).get("items") or [])


def merged(cluster: Deployed | None, state: Deployed | None) -> Deployed:
    """The cluster's reading, with chart versions from the state where the cluster named none."""
    if cluster is None and state is None:
        raise DeploymentUnreadableError("neither the cluster nor the stack's state could be read")
    if cluster is None:
        assert state is not None
        return state
    if state is None:
        return cluster
    charts = {**state.charts, **cluster.charts}
    return Deployed(
        cluster.kubernetes, charts, cluster.stored_versions, cluster.gpu_nodes, cluster.source + " and state"
    )
