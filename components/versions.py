"""Pinned versions: the one place to bump.

Kubernetes: the minor every emitted object is validated against (strict schema) and that the
local test cluster runs. 1.34 is the floor of kubeflow/manifests 26.03 and inside the support
window of GKE and EKS.
"""

KUBERNETES_MINOR = "1.34"
