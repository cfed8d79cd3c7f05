"""A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, CEL; GA in Kubernetes 1.30) that refuses or
warns about any image not under a site registry.

It covers Pods, the pod templates of Deployments, DaemonSets, StatefulSets, ReplicaSets, Jobs and CronJobs,
and the GPU Operator's ClusterPolicy and NVIDIADriver, whose operands become pods only once the operator
runs (the operand fields are those of the v26.7.0 CRDs, ``repository`` joined with ``image`` as the
operator does). Kubernetes docs: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
(validationActions Deny/Warn/Audit, variables, messageExpression; CEL optionals ``?.``/``orValue`` and the
strings library's ``split``/``join`` are part of Kubernetes' CEL environment).

Pure: returns the two objects as dicts; the caller applies them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

NAME = "aistack-image-registry"
Action = Literal["Deny", "Warn", "Audit"]
_WRITES = ["CREATE", "UPDATE"]
WORKLOADS = ("deployments", "daemonsets", "statefulsets", "replicasets")
# ClusterPolicy operands with repository/image (nvidia.com_clusterpolicies.yaml, v26.7.0), and nested managers.
CLUSTER_POLICY_OPERANDS = (
    *("ccManager", "dcgm", "dcgmExporter", "devicePlugin", "driver", "gdrcopy", "gds", "gfd", "kataManager"),
    *("kataSandboxDevicePlugin", "migManager", "nodeStatusExporter", "sandboxDevicePlugin", "toolkit"),
    *("validator", "vfioManager", "vgpuDeviceManager", "vgpuManager"),
    *("driver.manager", "vfioManager.driverManager", "vgpuManager.driverManager"),
)
NVIDIA_DRIVER_OPERANDS = ("", "gdrcopy", "gds", "manager")  # "": spec itself (nvidia.com_nvidiadrivers.yaml)

_POD_SPEC = (
    "object.kind == 'Pod' ? [object.spec] : "
    "object.kind == 'CronJob' ? [object.spec.jobTemplate.spec.template.spec] : "
    "object.kind in ['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'] ? [object.spec.template.spec] : []"
)
_CONTAINER_IMAGES = (
    "variables.podSpecs.size() == 0 ? [] : "
    "variables.podSpecs[0].?containers.orValue([]).map(c, c.image) + "
    "variables.podSpecs[0].?initContainers.orValue([]).map(c, c.image) + "
    "variables.podSpecs[0].?ephemeralContainers.orValue([]).map(c, c.image)"
)
# A reference's registry as the runtimes read it (distribution/reference normalize.go): the first element when
# it has a '.' or ':' or is localhost and more follow; else Docker Hub.
_REGISTRY_OF = (
    "i.split('/').size() > 1 && (i.split('/')[0].contains('.') || i.split('/')[0].contains(':') "
    "|| i.split('/')[0] == 'localhost') ? i.split('/')[0] : 'docker.io'"
)


def _operand(base: str, path: str) -> str:
    """CEL for one operand's image: repository/image, or image alone when repository is empty ('' when off)."""
    node = base + "".join(f".?{part}" for part in path.split(".") if part)
    repo, image = f"{node}.?repository.orValue('')", f"{node}.?image.orValue('')"
    # A disabled operand starts no pod (the operator skips it), whatever its fields say.
    return f"({node}.?enabled.orValue(true) == false ? '' : {repo} == '' ? {image} : {repo} + '/' + {image})"


def _operator_images() -> str:
    policy = ", ".join(_operand("object.spec", p) for p in CLUSTER_POLICY_OPERANDS)
    driver = ", ".join(_operand("object.spec", p) for p in NVIDIA_DRIVER_OPERANDS)
    return (f"object.kind == 'ClusterPolicy' ? [{policy}] : object.kind == 'NVIDIADriver' ? [{driver}] : []").replace(
        "object.spec.?", "object.?spec.?"
    )


def policy(registry: str, action: Action = "Deny", exclude_namespaces: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The policy and its binding: images (and operator image fields) must start with ``registry/``.

    ``action``: Deny refuses the object; Warn admits it and returns a warning naming each image outside the
    registry and its source registry (what `kubectl apply` prints). ``exclude_namespaces``: namespaces left
    alone (a real cluster's own kube-system pods, for one).
    """
    prefix = json.dumps(registry.rstrip("/") + "/")  # a CEL string literal (the registry is validated: no quotes)
    variables = [
        {"name": "podSpecs", "expression": f"has(object.spec) ? ({_POD_SPEC}) : []"},
        {"name": "containerImages", "expression": _CONTAINER_IMAGES},
        {"name": "operatorImages", "expression": _operator_images()},
        {
            "name": "outside",
            "expression": f"(variables.containerImages + variables.operatorImages.filter(i, i != ''))"
            f".filter(i, !i.startsWith({prefix}))",
        },
        {"name": "registries", "expression": f"variables.outside.map(i, {_REGISTRY_OF})"},
    ]
    # Registries first: the API server shortens long warnings, and they are what a site must mirror from.
    message = (
        "'images from registries: ' + variables.registries.join(', ') + ' are not under ' + "
        f"{prefix} + ' (' + variables.outside.join(', ') + '). To fix: set aistack:upstream.image_registry and "
        "copy the images there (aistack images STACK)'"
    )
    resources = [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]},
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": _WRITES, "resources": list(WORKLOADS)},
        {
            "apiGroups": ["batch"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["jobs", "cronjobs"],
        },
        {
            "apiGroups": ["nvidia.com"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["clusterpolicies", "nvidiadrivers"],
        },
    ]
    match: dict[str, Any] = {"resourceRules": resources}
    if exclude_namespaces:
        match["namespaceSelector"] = {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(exclude_namespaces)}
            ]
        }
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "aistack"}},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": match,
                "variables": variables,
                "validations": [{"expression": "variables.outside.size() == 0", "messageExpression": message}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "aistack"}},
            "spec": {"policyName": NAME, "validationActions": [action]},
        },
    ]
