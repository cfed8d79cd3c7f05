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

from dataclasses import dataclass
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
    )
}

# Driver the GPU Operator installs where the target does not (the chart's default for v26.7.0).
NVIDIA_DRIVER_VERSION = "595.91.07"
