"""Storage: the classes the target asks for, and each team's workspace volume.

Only provisioner and parameters come from the target; everything else (reclaim policy, binding
mode, expansion) is decided here, identically everywhere. Under data protection, volumes are
retained when their claim goes, and the claims themselves are protected in Pulumi.
"""

from __future__ import annotations

from typing import Any

from ..handle import StorageClasses, StorageClassSpec
from ..spec import StackSpec, TeamSpec
from .tenancy import TEAM_LABEL

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SKIP_AWAIT = "pulumi.com/skipAwait"
WORKSPACE = "workspace"


def storage_class(spec: StackSpec, sc: StorageClassSpec, default: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": sc.name, "labels": {"app.kubernetes.io/managed-by": "aistack"}}
    if default:
        meta["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
    obj: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": sc.provisioner,
        "reclaimPolicy": "Retain" if spec.data_protection else "Delete",
        "allowVolumeExpansion": True,
        # RWO disks are zonal: bind where the pod lands. Shared filesystems reach every zone.
        "volumeBindingMode": "Immediate" if sc.rwx else "WaitForFirstConsumer",
    }
    if sc.parameters:
        obj["parameters"] = dict(sc.parameters)
    return obj


def storage_classes(spec: StackSpec, classes: StorageClasses) -> list[dict[str, Any]]:
    return [storage_class(spec, sc, default=sc.name == classes.default) for sc in classes.create]


def workspace_claim(team: TeamSpec, classes: StorageClasses) -> dict[str, Any] | None:
    """The team's workspace: RWX on the shared filesystem when there is one, else a RWO disk."""
    if team.storage_gb == 0:
        return None
    shared = classes.shared is not None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": WORKSPACE,
            "namespace": team.name,
            "labels": {TEAM_LABEL: team.name},
            # RWO classes bind on first use (WaitForFirstConsumer): a deploy must not wait for Bound.
            "annotations": {SKIP_AWAIT: "true"},
        },
        "spec": {
            "accessModes": ["ReadWriteMany" if shared else "ReadWriteOnce"],
            "storageClassName": classes.shared if shared else classes.default,
            "resources": {"requests": {"storage": f"{team.storage_gb}Gi"}},
        },
    }
