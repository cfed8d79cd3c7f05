"""On-prem volumes: an existing class (e.g. Ceph RBD), or the pinned local-path provisioner; and a
shared RWX filesystem from an existing NFS export through the pinned NFS CSI driver.

Pure: what to install and which classes the platform creates; ``OnPremTarget`` provisions it.
"""

from __future__ import annotations

from typing import Any

from ...handle import StorageClasses, StorageClassSpec
from ...spec import StackSpec

LOCAL_PATH_CLASS = "aistack-local-path"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"  # deploy/local-path-storage.yaml at v0.0.37
# Namespace the local-path manifest creates; its helper pods mount host paths, so it needs privileged.
LOCAL_PATH_NAMESPACE = "local-path-storage"
NFS_CLASS = "aistack-nfs"
NFS_PROVISIONER = "nfs.csi.k8s.io"
NFS_NAMESPACE = "kube-system"  # where the csi-driver-nfs chart installs by convention


def storage_classes(spec: StackSpec) -> StorageClasses:
    """The classes the platform uses and those it must create (reclaim policy is the platform's call).

    local-path's own 'local-path' class deletes data with its claim; aistack creates its own class
    for the same provisioner so data protection can retain it.
    """
    create: list[StorageClassSpec] = []
    if spec.onprem.volumes == "local-path":
        default = LOCAL_PATH_CLASS
        create.append(StorageClassSpec(LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER))
    else:
        default = spec.storage.default_storage_class or ""  # rules require it for volumes: existing
    shared = None
    fs = spec.storage.shared_filesystem
    if fs.enabled and fs.nfs_server is not None:
        shared = NFS_CLASS
        create.append(
            StorageClassSpec(NFS_CLASS, NFS_PROVISIONER, {"server": fs.nfs_server, "share": fs.nfs_path}, rwx=True)
        )
    return StorageClasses(default=default, shared=shared, create=tuple(create))


def nfs_values(spec: StackSpec) -> dict[str, Any]:
    """csi-driver-nfs values: the driver only; aistack creates the class (with the stack's reclaim policy).

    Under data protection the driver also keeps a volume's directory on the export when its PV is
    deleted (``onDelete: retain``), a second line behind the class's Retain.
    """
    return {
        "storageClass": {"create": False},
        "externalSnapshotter": {"enabled": False},
        "controller": {"defaultOnDeletePolicy": "retain" if spec.data_protection else "delete"},
    }
