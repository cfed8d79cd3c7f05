"""Pinned versions: the one place to bump.

Kubernetes: the minor every emitted object is validated against (strict schema) and that the
local test cluster runs. 1.34 is the floor of kubeflow/manifests 26.03 and inside the support
window of GKE and EKS.

Upstreams: every third-party chart or manifest tree the platform layer installs, with the exact
version and where it comes from. An air-gapped install mirrors exactly these (``aistack
upstreams`` prints the list, and the mirror layout each entry is expected at). When a version
here moves, the matching CRDs used by the tests (``../shared/crds``) must move with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

KUBERNETES_MINOR = "1.34"


@dataclass(frozen=True)
class Upstream:
    """One pinned third-party source.

    kind ``chart``: a Helm chart, from ``repo`` (an https index or an ``oci://`` registry path).
    kind ``manifests``: a git tree of kustomizations, ``repo`` at ``ref`` (a commit, so it cannot move).
    kind ``file``: one YAML manifest, ``repo`` is its URL at the pinned tag.
    """

    key: str
    kind: Literal["chart", "manifests", "file"]
    name: str  # chart name, or the tree's directory name in a mirror
    version: str
    repo: str
    source: str  # where the version and values were read
    licence: str = "Apache-2.0"
    ref: str | None = None  # manifests: the commit the version tag points at

    @property
    def mirror_name(self) -> str:
        """Name in a directory mirror: ``<name>-<version>.tgz`` for charts, ``<name>-<version>/`` for trees,
        ``<name>-<version>.yaml`` for single manifests."""
        suffix = {"chart": ".tgz", "manifests": "", "file": ".yaml"}[self.kind]
        return f"{self.name}-{self.version}{suffix}"


UPSTREAMS: dict[str, Upstream] = {
    u.key: u
    for u in (
        Upstream(
            key="gpu-operator",
            kind="chart",
            name="gpu-operator",
            version="v26.7.0",
            repo="https://helm.ngc.nvidia.com/nvidia",
            source="https://github.com/NVIDIA/gpu-operator/releases/tag/v26.7.0 (deployments/gpu-operator/values.yaml)",
        ),
        Upstream(
            key="kueue",
            kind="chart",
            name="kueue",
            version="0.19.2",
            repo="oci://registry.k8s.io/kueue/charts",
            source="https://github.com/kubernetes-sigs/kueue/releases/tag/v0.19.2 (charts/kueue/values.yaml)",
        ),
        Upstream(
            key="kube-prometheus-stack",
            kind="chart",
            name="kube-prometheus-stack",
            version="88.5.3",
            repo="oci://ghcr.io/prometheus-community/charts",
            source="https://github.com/prometheus-community/helm-charts/tree/main/charts/kube-prometheus-stack",
        ),
        Upstream(
            key="kubeflow-manifests",
            kind="manifests",
            name="kubeflow-manifests",
            version="26.03",
            repo="https://github.com/kubeflow/manifests",
            ref="d68ebc7fab366ab40ddd1541d2ec22febb31bc83",
            source="https://github.com/kubeflow/manifests (example/kustomization.yaml lists the component paths)",
        ),
        # On-prem target layer: installed only when the stack asks for them (onprem section of the spec).
        Upstream(
            key="local-path-provisioner",
            kind="file",
            name="local-path-storage",
            version="v0.0.37",
            repo="https://raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.37/deploy/local-path-storage.yaml",
            source="https://github.com/rancher/local-path-provisioner (README: kubectl apply of "
            "deploy/local-path-storage.yaml; read from the v0.0.37 module on the Go module proxy)",
        ),
        Upstream(
            key="csi-driver-nfs",
            kind="chart",
            name="csi-driver-nfs",
            # The chart's own version has no 'v' (Chart.yaml: 4.13.4), though the repository's folder for it
            # is charts/v4.13.4/: Helm resolves and `helm pull` names the package by the chart version.
            version="4.13.4",
            repo="https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts",
            source="https://github.com/kubernetes-csi/csi-driver-nfs/blob/master/charts/README.md",
        ),
        Upstream(
            key="seaweedfs",
            kind="chart",
            name="seaweedfs",
            # The repository has re-published a chart version in place before: mirror it and pin by digest
            # in air-gapped installs (upstream.charts_mirror) so the bytes cannot change under a stack.
            version="4.22.0",
            repo="https://seaweedfs.github.io/seaweedfs/helm",
            source="https://github.com/seaweedfs/seaweedfs/tree/master/k8s/charts/seaweedfs (values.yaml: "
            "master.data, volume.dataDirs, filer.data, s3.enableAuth, s3.existingConfigSecret, s3.createBuckets)",
        ),
        Upstream(
            key="metallb",
            kind="chart",
            name="metallb",
            version="0.16.1",
            repo="https://metallb.github.io/metallb",
            source="https://metallb.universe.tf/installation/ (Helm) and metallb/metallb configsamples/",
        ),
        # EKS target layer: node autoscaling (targets/eks/karpenter.py). Its CRDs come with the chart.
        Upstream(
            key="karpenter",
            kind="chart",
            name="karpenter",
            version="1.14.1",
            repo="oci://public.ecr.aws/karpenter",
            source="https://github.com/aws/karpenter-provider-aws/tree/release-v1.14.1/charts/karpenter (values.yaml: "
            "settings.clusterName, settings.interruptionQueue, settings.featureGates, serviceAccount, replicas, "
            "controller.resources, nodeSelector, tolerations)",
        ),
        # Platform layer, stacks with allocation: dra pools (components/platform/dra.py). The GPU Operator's
        # chart ships identical ComputeDomain CRDs: exactly one of the two installs them (dra.py).
        Upstream(
            key="nvidia-dra-driver-gpu",
            kind="chart",
            name="nvidia-dra-driver-gpu",
            # Chart.yaml: strict semver, no 'v'.
            version="25.12.0",
            repo="https://helm.ngc.nvidia.com/nvidia",
            source="https://github.com/kubernetes-sigs/dra-driver-nvidia-gpu/tree/v25.12.0/deployments/helm/"
            "nvidia-dra-driver-gpu (values.yaml: gpuResourcesEnabledOverride, resourceApiVersion, nvidiaDriverRoot, "
            "resources.gpus/computeDomains, controller.affinity, kubeletPlugin.affinity/tolerations)",
        ),
    )
}

# Driver the GPU Operator installs where the target does not (the chart's default for v26.7.0).
NVIDIA_DRIVER_VERSION = "595.91.07"


# ------------------------------------------------------------------------------------------------ releases
# The versions a stack may pin per upstream (`aistack:upstream: {versions: {kueue: 0.18.6}}`), each with its
# sourced compatibility. The pinned version above is the default and the newest; the others are the
# previous releases aistack has tested an upgrade from. `aistack upgrade plan` checks a move between
# two of them against what is deployed.


@dataclass(frozen=True)
class CrdApi:
    """The API versions a release's CRD serves, and the one it stores objects in."""

    served: tuple[str, ...]
    storage: str


# How an upstream may be upgraded:
#   "major-or-next": within a major or to the next one, never skipping a major (majors listed in MAJORS);
#   "stored-served": from any version whose CRDs' stored versions the new release still serves;
#   "next-major":    chart majors one at a time (each major's UPGRADE.md step applies in order).
UpgradeRule = Literal["major-or-next", "stored-served", "next-major"]


@dataclass(frozen=True)
class Release:
    version: str
    kubernetes: tuple[str, str | None]  # oldest and newest Kubernetes minor supported (None: no stated ceiling)
    crds: dict[str, CrdApi]
    source: str
    driver: str | None = None  # the NVIDIA driver this release installs by default
    # NVIDIADriver spec fields aistack sets that this release's CRD declares beyond the v26.3 schema (the API
    # server refuses an undeclared field): v26.3.3's crds/nvidia.com_nvidiadrivers.yaml has neither.
    driver_fields: frozenset[str] = frozenset()


def _crds(names: tuple[str, ...], served: tuple[str, ...], storage: str) -> dict[str, CrdApi]:
    return {name: CrdApi(served, storage) for name in names}


_KUEUE_CRDS = tuple(
    f"{plural}.kueue.x-k8s.io"
    for plural in (
        "admissionchecks",
        "clusterqueues",
        "cohorts",
        "localqueues",
        "multikueueclusters",
        "multikueueconfigs",
        "provisioningrequestconfigs",
        "resourceflavors",
        "topologies",
        "workloadpriorityclasses",
        "workloads",
    )
)
# Kueue serves v1beta1 and v1beta2 and stores v1beta2 in both releases (charts/kueue/templates/crd at each
# tag); it stops serving v1beta1 in 0.20 (kubernetes-sigs/kueue #14558). Kubernetes: the minors Kueue's e2e
# suite runs against in this period (Makefile / hack/make/test.mk E2E_K8S_VERSIONS: 1.34, 1.35, 1.36); older
# minors are untested upstream, so the plan blocks them rather than guess.
_KUEUE_API = _crds(_KUEUE_CRDS, ("v1beta1", "v1beta2"), "v1beta2")

_GPU_OPERATOR_CRDS = {
    "clusterpolicies.nvidia.com": CrdApi(("v1",), "v1"),
    "nvidiadrivers.nvidia.com": CrdApi(("v1alpha1",), "v1alpha1"),
    "nodefeatures.nfd.k8s-sigs.io": CrdApi(("v1alpha1",), "v1alpha1"),
    "nodefeaturerules.nfd.k8s-sigs.io": CrdApi(("v1alpha1",), "v1alpha1"),
    "nodefeaturegroups.nfd.k8s-sigs.io": CrdApi(("v1alpha1",), "v1alpha1"),
}
_PROMETHEUS_CRDS = {
    **_crds(
        tuple(
            f"{plural}.monitoring.coreos.com"
            for plural in (
                "alertmanagers",
                "podmonitors",
                "probes",
                "prometheuses",
                "prometheusrules",
                "servicemonitors",
                "thanosrulers",
            )
        ),
        ("v1",),
        "v1",
    ),
    **_crds(
        ("prometheusagents.monitoring.coreos.com", "scrapeconfigs.monitoring.coreos.com"), ("v1alpha1",), "v1alpha1"
    ),
}

UPGRADE_RULES: dict[str, UpgradeRule] = {
    # https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/platform-support.html: "Upgrades are
    # only supported within a major release or to the next major release" (major = YY.MM).
    "gpu-operator": "major-or-next",
    "kueue": "stored-served",
    # charts/kube-prometheus-stack/UPGRADE.md: one section per major ("From 87.x to 88.x": CRDs first).
    "kube-prometheus-stack": "next-major",
}
# GPU Operator majors in release order (the platform-support page's life-cycle table: 26.7 supported,
# 26.3 deprecated, 25.10 and older end of support).
MAJORS: dict[str, tuple[str, ...]] = {"gpu-operator": ("25.3", "25.10", "26.3", "26.7")}

RELEASES: dict[str, tuple[Release, ...]] = {
    "kueue": (
        Release(
            "0.18.6", ("1.34", "1.36"), _KUEUE_API, "https://github.com/kubernetes-sigs/kueue/releases/tag/v0.18.6"
        ),
        Release(
            "0.19.2", ("1.34", "1.36"), _KUEUE_API, "https://github.com/kubernetes-sigs/kueue/releases/tag/v0.19.2"
        ),
    ),
    # Chart kubeVersion ">= 1.16.0-0"; the platform-support page lists the tested minors (1.30 and newer for 26.x).
    "gpu-operator": (
        Release(
            "v26.3.3",
            ("1.30", None),
            _GPU_OPERATOR_CRDS,
            "https://github.com/NVIDIA/gpu-operator/releases/tag/v26.3.3 (values.yaml driver.version)",
            driver="580.126.20",
        ),
        Release(
            "v26.7.0",
            ("1.30", None),
            {
                **_GPU_OPERATOR_CRDS,
                "gpuclusters.nvidia.com": CrdApi(("v1alpha1",), "v1alpha1"),
                "computedomains.resource.nvidia.com": CrdApi(("v1beta1",), "v1beta1"),
                "computedomaincliques.resource.nvidia.com": CrdApi(("v1beta1",), "v1beta1"),
            },
            "https://github.com/NVIDIA/gpu-operator/releases/tag/v26.7.0 (values.yaml driver.version)",
            driver=NVIDIA_DRIVER_VERSION,
            driver_fields=frozenset({"default", "upgradePolicy"}),
        ),
    ),
    # Chart kubeVersion ">=1.25.0-0" in both; prometheus-operator v0.92.1 → v0.93.x CRDs (same API versions).
    "kube-prometheus-stack": (
        Release("87.21.0", ("1.25", None), _PROMETHEUS_CRDS, "charts/kube-prometheus-stack 87.21.0 Chart.yaml"),
        Release("88.5.3", ("1.25", None), _PROMETHEUS_CRDS, "charts/kube-prometheus-stack 88.5.3 Chart.yaml"),
    ),
}


def known_versions(key: str) -> tuple[str, ...]:
    """Every version of an upstream a stack may pin, oldest first (the pinned default is the last)."""
    releases = RELEASES.get(key)
    return tuple(r.version for r in releases) if releases else (UPSTREAMS[key].version,)


def release(key: str, version: str) -> Release | None:
    """The compatibility record of one version (None: an upstream aistack keeps no release history for)."""
    return next((r for r in RELEASES.get(key, ()) if r.version == version), None)


def pinned(key: str, versions: dict[str, str] | None = None) -> Upstream:
    """The upstream under ``key`` at the stack's version (``versions``: the spec's upstream.versions)."""
    u = UPSTREAMS[key]
    chosen = (versions or {}).get(key)
    return u if chosen is None or chosen == u.version else replace(u, version=chosen)
