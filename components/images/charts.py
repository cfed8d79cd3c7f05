"""The site-registry rule applied to chart values: where each pinned chart takes its images' registry.

Charts build an image from parts: a full ``repository`` (``quay.io/metallb/controller``), a
``registry`` beside a repository path (``quay.io`` + ``prometheus/prometheus``), a repository *prefix*
joined with an image name (the GPU Operator's ``nvcr.io/nvidia`` + ``gpu-operator``) or a base
(csi-driver-nfs's ``baseRepo`` + ``/sig-storage/...``). Each gets the prefix that makes the rendered
reference exactly ``mirrored(upstream reference, registry)``; tests/test_images.py renders every chart
with and without a registry and checks that. The parts and their defaults are the charts' own
``values.yaml`` at the pinned versions (../shared/mirror README names each source).

A chart-wide ``global.imageRegistry`` is not used: it would drop each image's source host, which the
rule keeps.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from .refs import DOCKER_HUB

Layout = Literal["repository", "registry", "prefix", "library"]
PULL_SECRET = "aistack-image-pull"  # the kubernetes.io/dockerconfigjson Secret's name in each namespace

# chart key -> (values path, layout, the chart's default there). "repository": a full image name;
# "registry": a registry host beside a repository path; "prefix": a registry/path the chart joins with a name;
# "library": a Docker Hub official image's repository beside its registry, written out as library/NAME.
_NVIDIA = "nvcr.io/nvidia"
_NVIDIA_CN = "nvcr.io/nvidia/cloud-native"
IMAGE_VALUES: dict[str, tuple[tuple[str, Layout, str], ...]] = {
    # NVIDIA/gpu-operator deployments/gpu-operator/values.yaml (v26.7.0) and its node-feature-discovery 0.19.0.
    "gpu-operator": (
        ("operator.repository", "prefix", _NVIDIA),
        ("validator.repository", "prefix", _NVIDIA),
        ("driver.repository", "prefix", _NVIDIA),
        ("driver.manager.repository", "prefix", _NVIDIA_CN),
        ("toolkit.repository", "prefix", "nvcr.io/nvidia/k8s"),
        ("devicePlugin.repository", "prefix", _NVIDIA),
        ("dcgm.repository", "prefix", _NVIDIA_CN),
        ("dcgmExporter.repository", "prefix", "nvcr.io/nvidia/k8s"),
        ("gfd.repository", "prefix", _NVIDIA),
        ("migManager.repository", "prefix", _NVIDIA_CN),
        ("nodeStatusExporter.repository", "prefix", _NVIDIA),
        ("gds.repository", "prefix", _NVIDIA_CN),
        ("gdrcopy.repository", "prefix", _NVIDIA_CN),
        ("vgpuManager.driverManager.repository", "prefix", _NVIDIA_CN),
        ("vgpuDeviceManager.repository", "prefix", _NVIDIA_CN),
        ("vfioManager.repository", "prefix", _NVIDIA_CN),
        ("vfioManager.driverManager.repository", "prefix", _NVIDIA_CN),
        ("sandboxDevicePlugin.repository", "prefix", _NVIDIA),
        ("kataSandboxDevicePlugin.repository", "prefix", _NVIDIA_CN),
        ("ccManager.repository", "prefix", _NVIDIA_CN),
        ("draDriver.repository", "prefix", _NVIDIA),
        ("node-feature-discovery.image.repository", "repository", "registry.k8s.io/nfd/node-feature-discovery"),
    ),
    # kubernetes-sigs/kueue charts/kueue/values.yaml (v0.19.2); aistack sets the manager's itself.
    "kueue": (
        ("controllerManager.manager.image.repository", "repository", "registry.k8s.io/kueue/kueue"),
        ("kueueViz.backend.image.repository", "repository", "registry.k8s.io/kueue/kueueviz-backend"),
        ("kueueViz.frontend.image.repository", "repository", "registry.k8s.io/kueue/kueueviz-frontend"),
    ),
    # prometheus-community/helm-charts kube-prometheus-stack 88.5.3 and the subcharts inside it.
    "kube-prometheus-stack": (
        ("alertmanager.alertmanagerSpec.image.registry", "registry", "quay.io"),
        ("prometheusOperator.image.registry", "registry", "quay.io"),
        ("prometheusOperator.admissionWebhooks.deployment.image.registry", "registry", "quay.io"),
        ("prometheusOperator.admissionWebhooks.patch.image.registry", "registry", "ghcr.io"),
        ("prometheusOperator.prometheusConfigReloader.image.registry", "registry", "quay.io"),
        ("prometheusOperator.thanosImage.registry", "registry", "quay.io"),
        ("prometheus.prometheusSpec.image.registry", "registry", "quay.io"),
        ("thanosRuler.thanosRulerSpec.image.registry", "registry", "quay.io"),
        ("crds.upgradeJob.image.busybox.registry", "registry", DOCKER_HUB),
        ("crds.upgradeJob.image.busybox.repository", "library", "busybox"),  # docker.io/library/busybox
        ("crds.upgradeJob.image.kubectl.registry", "registry", "registry.k8s.io"),
        ("grafana.image.registry", "registry", DOCKER_HUB),
        ("grafana.sidecar.image.registry", "registry", "quay.io"),
        ("grafana.downloadDashboardsImage.registry", "registry", DOCKER_HUB),
        ("grafana.initChownData.image.registry", "registry", DOCKER_HUB),
        ("grafana.imageRenderer.image.registry", "registry", DOCKER_HUB),
        ("grafana.testFramework.image.registry", "registry", DOCKER_HUB),
        ("kube-state-metrics.image.registry", "registry", "registry.k8s.io"),
        ("kube-state-metrics.kubeRBACProxy.image.registry", "registry", "quay.io"),
        ("prometheus-node-exporter.image.registry", "registry", "quay.io"),
        ("prometheus-node-exporter.kubeRBACProxy.image.registry", "registry", "quay.io"),
        ("prometheus-node-exporter.permissionInitContainer.image.registry", "registry", "quay.io"),
        ("prometheus-windows-exporter.image.registry", "registry", "ghcr.io"),
    ),
    # kubernetes-sigs/dra-driver-nvidia-gpu deployments/helm/nvidia-dra-driver-gpu/values.yaml (v25.12.0).
    "nvidia-dra-driver-gpu": (("image.repository", "repository", "nvcr.io/nvidia/k8s-dra-driver-gpu"),),
    # metallb/metallb charts/metallb (v0.16.1) and its frr-k8s 0.0.25 subchart.
    "metallb": (
        ("controller.image.repository", "repository", "quay.io/metallb/controller"),
        ("speaker.image.repository", "repository", "quay.io/metallb/speaker"),
        ("speaker.frr.image.repository", "repository", "quay.io/frrouting/frr"),
        ("frr-k8s.frrk8s.image.repository", "repository", "quay.io/metallb/frr-k8s"),
        ("frr-k8s.frrk8s.frr.image.repository", "repository", "quay.io/frrouting/frr"),
    ),
    # kubernetes-csi/csi-driver-nfs charts/v4.13.4: image.baseRepo + "/sig-storage/..." for the sidecars.
    "csi-driver-nfs": (
        ("image.baseRepo", "prefix", "registry.k8s.io"),
        ("image.nfs.repository", "repository", "registry.k8s.io/sig-storage/nfsplugin"),
    ),
    # seaweedfs/seaweedfs k8s/charts/seaweedfs (4.22): image.registry + global.seaweedfs.image.name.
    "seaweedfs": (("image.registry", "prefix", DOCKER_HUB),),
    # aws/karpenter-provider-aws charts/karpenter (1.14.1).
    "karpenter": (("controller.image.repository", "repository", "public.ecr.aws/karpenter/controller"),),
}

# Where each chart takes image pull secrets (lists of {name}); the charts' values.yaml as above.
_OPERANDS: tuple[str, ...] = (
    *("operator", "validator", "driver", "toolkit", "devicePlugin", "gfd", "migManager", "nodeStatusExporter"),
    *("gds", "gdrcopy", "vgpuManager", "vgpuDeviceManager", "vfioManager", "kataManager", "ccManager"),
    *("sandboxDevicePlugin", "kataSandboxDevicePlugin", "draDriver", "dcgm", "dcgmExporter"),
)
PULL_SECRET_VALUES: dict[str, tuple[tuple[str, Literal["names", "objects"]], ...]] = {
    # GPU Operator: the ClusterPolicy's operands take names (strings); the subchart takes objects.
    "gpu-operator": (
        *((f"{o}.imagePullSecrets", "names") for o in _OPERANDS),
        ("node-feature-discovery.imagePullSecrets", "objects"),
    ),
    "kueue": (("controllerManager.imagePullSecrets", "objects"),),
    "kube-prometheus-stack": (("global.imagePullSecrets", "objects"),),
    "nvidia-dra-driver-gpu": (("imagePullSecrets", "objects"),),
    "metallb": (("imagePullSecrets", "objects"), ("frr-k8s.imagePullSecrets", "objects")),
    "csi-driver-nfs": (("imagePullSecrets", "objects"),),
    "seaweedfs": (("global.imagePullSecrets", "names"),),
    "karpenter": (("imagePullSecrets", "objects"),),
}


def _get(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = values
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _rewritten(layout: Layout, source: str, registry: str) -> str:
    from .refs import mirrored_prefix, parse_image

    if layout == "repository":
        return f"{registry}/{parse_image(source).name}"
    if layout == "registry":
        return f"{registry}/{source}"
    if layout == "library":
        return source if "/" in source else f"library/{source}"
    return mirrored_prefix(source, registry)


def chart_values(
    key: str, values: Mapping[str, Any], registry: str | None, pull_secret: bool = False
) -> dict[str, Any]:
    """``values`` with the chart's image parts under ``registry`` (and the pull Secret named where the chart
    takes one). ``registry`` None: the values, unchanged (the default install is untouched)."""
    if registry is None:
        return dict(values)
    out = copy.deepcopy(dict(values))
    for path, layout, default in IMAGE_VALUES.get(key, ()):
        given = _get(values, path)
        _set(out, path, _rewritten(layout, given if isinstance(given, str) and given else default, registry))
    if pull_secret:
        for path, shape in PULL_SECRET_VALUES.get(key, ()):
            _set(out, path, [PULL_SECRET] if shape == "names" else [{"name": PULL_SECRET}])
    return out
