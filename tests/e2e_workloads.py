"""What users have running on a deployed platform, for the end-to-end rounds that must leave it alone
(the upgrade in tests/test_e2e_local.py, the destroy): a Kueue-admitted GPU Job that keeps running and
writes its checkpoints to a bound volume, a Notebook in the team's Kubeflow Profile namespace and a
TrainJob. Created where missing, so a second round finds them and changes nothing.

The simulated cluster runs no containers, so no pod ever writes a file: the test writes the checkpoint
into the volume's directory on the host, where the simulated provisioner (aistack/local/provisioner.py)
put the PersistentVolume's hostPath, which is what a real pod's write would reach.

``kubectl`` is a function that runs `kubectl ARGS` against the cluster and returns its stdout, failing
the test on a non-zero exit (tests/test_e2e_local.py passes one bound to its cluster).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aistack.local.cluster import KEEP_RUNNING_LABEL
from components.images import mirrored
from tests.e2e_images import REGISTRY

Kubectl = Callable[..., str]

# A team namespace of the `local` stack (aistack creates it, with its Profile, LocalQueue and quota): the
# upgrade must not replace it, and destroying the stack takes the workloads with it.
# Users' images come from the site registry too: the e2e cluster admits no other (tests/e2e_images.py).
TRAIN_IMAGE = mirrored("registry.example/train:1", REGISTRY)
NOTEBOOK_IMAGE = mirrored("ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter:latest", REGISTRY)
NAMESPACE = "beta"
QUEUE = "default"
JOB = "users-train"
PVC = "users-checkpoints"
NOTEBOOK = "users-notebook"
TRAINJOB = "users-trainjob"
# The Kueue flavor's GPU: one of the two 8-GPU nodes, so the e2e's 8-GPU Job in alpha still finds a whole node.
GPUS = 1
STORAGE_CLASS = "local-path"  # the `local` stack's default class (WaitForFirstConsumer: bound once the pod lands)
CHECKPOINT = "checkpoints/step-100.txt"
MOUNT = "/checkpoints"
SECURE = {  # the restricted Pod Security level, which the team namespaces enforce
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def gpu_job(name: str, gpus: int, namespace: str = "alpha") -> dict[str, Any]:
    """A GPU Job for Kueue's ``default`` LocalQueue: suspended (no webhook does it here), restricted-PSS compliant."""
    container = {
        "name": "train",
        "image": TRAIN_IMAGE,
        "resources": {
            "requests": {"nvidia.com/gpu": str(gpus), "cpu": "1", "memory": "1Gi"},
            "limits": {"nvidia.com/gpu": str(gpus), "cpu": "1", "memory": "1Gi"},
        },
        "securityContext": dict(SECURE),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kueue.x-k8s.io/queue-name": QUEUE}},
        "spec": {
            "suspend": True,
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
        },
    }


def manifests(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """The users' objects: the checkpoint volume's claim, the training Job mounting it, a Notebook, a TrainJob."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": PVC, "namespace": namespace},
        "spec": {
            "storageClassName": STORAGE_CLASS,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    job = gpu_job(JOB, GPUS, namespace)
    # Running until deleted, like a long training run (aistack/local/cluster.kwok_stages), with its volume.
    job["spec"]["template"]["metadata"] = {"labels": {KEEP_RUNNING_LABEL: "true"}}
    pod = job["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "checkpoints", "persistentVolumeClaim": {"claimName": PVC}}]
    pod["containers"][0]["volumeMounts"] = [{"name": "checkpoints", "mountPath": MOUNT}]
    notebook = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Notebook",
        "metadata": {"name": NOTEBOOK, "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": NOTEBOOK,
                            "image": NOTEBOOK_IMAGE,
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                            "securityContext": dict(SECURE),
                        }
                    ]
                }
            }
        },
    }
    # The Kubeflow Trainer's own runtime (applications/trainer/upstream/base/runtimes/torch_distributed.yaml).
    trainjob = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": TRAINJOB, "namespace": namespace},
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {
                "numNodes": 1,
                "resourcesPerNode": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
            },
        },
    }
    return [claim, job, notebook, trainjob]


@dataclass(frozen=True)
class Snapshot:
    """The users' objects as the cluster has them: what a control-plane change must leave as it is."""

    uids: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> uid, the namespace and Profile too
    admitted: bool = False  # the Job's Kueue Workload has Admitted=True
    cluster_queue: str | None = None  # where it was admitted
    node: str | None = None  # where its pod runs
    pod_phase: str | None = None
    claim_phase: str | None = None
    volume: str | None = None  # the PersistentVolume bound to the claim
    volume_path: str | None = None  # its hostPath (the simulated provisioner's directory on this machine)
    checkpoint: str | None = None  # the checkpoint file's content, None when it is not there

    def summary(self) -> str:
        return (
            f"Job {JOB} admitted={self.admitted} to {self.cluster_queue}, pod {self.pod_phase} on {self.node}; "
            f"claim {PVC} {self.claim_phase} to {self.volume}; checkpoint {'present' if self.checkpoint else 'absent'}"
        )


def _get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json"))


def _items(kubectl: Kubectl, *args: str) -> list[dict[str, Any]]:
    return list(_get(kubectl, *args)["items"])


def _workload(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    """The Kueue Workload that the Job's controller made for the Job (owner reference)."""
    for w in _items(kubectl, "workloads.kueue.x-k8s.io", "-n", namespace):
        if any(o.get("kind") == "Job" and o.get("name") == JOB for o in w["metadata"].get("ownerReferences", [])):
            return w
    return None


def _admitted(workload: dict[str, Any] | None) -> bool:
    conditions = (workload or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Admitted" and c["status"] == "True" for c in conditions)


def snapshot(kubectl: Kubectl, namespace: str = NAMESPACE) -> Snapshot:
    """Read the users' objects back (missing ones are simply absent from ``uids``)."""
    uids: dict[str, str] = {}
    wanted = [
        ("namespace", "Namespace", namespace, ()),
        ("profile.kubeflow.org", "Profile", namespace, ()),
        ("job", "Job", JOB, ("-n", namespace)),
        ("persistentvolumeclaim", "PersistentVolumeClaim", PVC, ("-n", namespace)),
        ("notebook.kubeflow.org", "Notebook", NOTEBOOK, ("-n", namespace)),
        ("trainjob.trainer.kubeflow.org", "TrainJob", TRAINJOB, ("-n", namespace)),
    ]
    objects: dict[str, dict[str, Any]] = {}
    for resource, kind, name, scope in wanted:
        found = _items(kubectl, resource, *scope, "--field-selector", f"metadata.name={name}")
        if found:
            objects[kind] = found[0]
            uids[f"{kind}/{name}"] = found[0]["metadata"]["uid"]
    pods = _items(kubectl, "pods", "-n", namespace, "-l", f"job-name={JOB}")
    pod = pods[0] if pods else {}
    if pod:
        uids[f"Pod/{pod['metadata']['name']}"] = pod["metadata"]["uid"]
    workload = _workload(kubectl, namespace)
    if workload is not None:
        uids[f"Workload/{workload['metadata']['name']}"] = workload["metadata"]["uid"]
    claim = objects.get("PersistentVolumeClaim", {})
    volume = claim.get("spec", {}).get("volumeName") or None
    path = None
    if volume:
        pv = _get(kubectl, "pv", volume)
        uids[f"PersistentVolume/{volume}"] = pv["metadata"]["uid"]
        path = pv["spec"].get("hostPath", {}).get("path")
    checkpoint = Path(path, CHECKPOINT) if path else None
    return Snapshot(
        uids=uids,
        admitted=_admitted(workload),
        cluster_queue=((workload or {}).get("status", {}).get("admission") or {}).get("clusterQueue"),
        node=pod.get("spec", {}).get("nodeName"),
        pod_phase=pod.get("status", {}).get("phase"),
        claim_phase=claim.get("status", {}).get("phase"),
        volume=volume,
        volume_path=path,
        checkpoint=checkpoint.read_text() if checkpoint is not None and checkpoint.is_file() else None,
    )


def _ready(s: Snapshot) -> bool:
    return s.admitted and s.pod_phase == "Running" and bool(s.node) and s.claim_phase == "Bound" and bool(s.volume_path)


def _exists(kubectl: Kubectl, manifest: dict[str, Any]) -> bool:
    group = manifest["apiVersion"].rpartition("/")[0]
    resource = f"{manifest['kind'].lower()}.{group}" if group else manifest["kind"].lower()
    meta = manifest["metadata"]
    return bool(kubectl("get", resource, "-n", meta["namespace"], meta["name"], "--ignore-not-found", "-o", "name"))


def create(kubectl: Kubectl, namespace: str = NAMESPACE, timeout: float = 240) -> Snapshot:
    """Create the users' objects that are missing (a second call changes nothing), wait until the Job is admitted
    by Kueue and its pod runs with the claim bound, then write the checkpoint into the volume. Needs a Kueue
    controller."""
    # Created when missing, never re-applied: `kubectl apply` would set the Job's suspend back to what the
    # manifest says (it reverts every field it declares), stopping a Job Kueue had admitted.
    missing = [m for m in manifests(namespace) if not _exists(kubectl, m)]
    if missing:
        with tempfile.TemporaryDirectory(prefix="aistack-workloads-") as tmp:
            path = Path(tmp) / "workloads.json"
            path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}))
            kubectl("create", "-f", str(path))
    deadline = time.monotonic() + timeout
    now = snapshot(kubectl, namespace)
    while not _ready(now) and time.monotonic() < deadline:
        time.sleep(2)
        now = snapshot(kubectl, namespace)
    if not _ready(now):
        raise AssertionError(f"the users' workloads did not start within {timeout:.0f} s: {now.summary()}")
    assert now.volume_path is not None
    file = Path(now.volume_path, CHECKPOINT)
    file.parent.mkdir(parents=True, exist_ok=True)
    # What the training pod would have written: names its own claim's uid, so a fresh volume cannot pass for it.
    file.write_text(f"step 100 of {JOB}; claim {now.uids[f'PersistentVolumeClaim/{PVC}']}\n")
    return snapshot(kubectl, namespace)


def delete(kubectl: Kubectl, namespace: str = NAMESPACE) -> None:
    """Remove the users' objects again (the claim's volume goes with it: reclaim policy Delete)."""
    for resource, name in (
        ("job", JOB),
        ("trainjob.trainer.kubeflow.org", TRAINJOB),
        ("notebook.kubeflow.org", NOTEBOOK),
        ("persistentvolumeclaim", PVC),
    ):
        kubectl("delete", resource, "-n", namespace, name, "--ignore-not-found", "--wait=true", "--timeout=120s")
