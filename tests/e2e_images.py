"""Issue #25's registry round on the e2e cluster: helpers the e2e module (tests/test_e2e_local.py) calls with its
``env`` dict (``bin``: the tools' bin directory, ``layout``: the cluster's aistack.local.cluster.Layout,
``upstream``: the private ``aistack:upstream`` overrides of the deploy).

1. Before the deploy that sets ``image_registry`` (e.g. ``{**env["upstream"], "image_registry": REGISTRY}``):
   ``install_policy(env, REGISTRY, "Deny")``: any object the deploy creates with an image outside the registry
   is refused by the API server, so ``pulumi up`` fails naming it.
2. After that deploy: ``missing, extra = compare_with_cluster(env, REGISTRY)``; both must be empty: the images
   in the cluster's pod templates and operator settings are exactly ``aistack images`` mapped by the rule.
3. ``warned = warn_round(env, REGISTRY)`` (same cluster, no extra deploy): the policy in Warn mode, the stack's
   objects rendered *without* the setting created by server dry-run in a scratch namespace;
   returns (registries the warnings name, registries expected); the test asserts they are equal and non-empty.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from components.images import images_in, mirrored, parse_image
from components.images.admission import NAME, policy

REGISTRY = "registry.e2e.aistack.internal:5000/mirror"
WORKLOAD_KINDS = ("Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob")
OPERATOR_KINDS = ("ClusterPolicy", "NVIDIADriver")
# What `aistack images` reads in a live cluster: workloads, their pods, the operators' objects and ConfigMaps.
LIVE_RESOURCES = (
    "pods,deployments,daemonsets,statefulsets,replicasets,jobs,cronjobs,configmaps",
    "clusterpolicies.nvidia.com,nvidiadrivers.nvidia.com",
    "prometheuses.monitoring.coreos.com,alertmanagers.monitoring.coreos.com",
    "clustertrainingruntimes.trainer.kubeflow.org",
)
PROBE_NAMESPACE = "aistack-image-warn-probe"


def _kubectl(
    env: dict[str, Any], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", *args]
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300, check=False)
    assert not check or out.returncode == 0, out.stderr
    return out


def install_policy(env: dict[str, Any], registry: str = REGISTRY, action: str = "Deny") -> None:
    """The ValidatingAdmissionPolicy and its binding (components/images/admission.py), enforced from here on."""
    _kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(policy(registry, action)))  # type: ignore[arg-type]


def remove_policy(env: dict[str, Any]) -> None:
    _kubectl(env, "delete", "validatingadmissionpolicybinding", NAME, "--ignore-not-found", check=False)
    _kubectl(env, "delete", "validatingadmissionpolicy", NAME, "--ignore-not-found", check=False)


def loaded_stack(env: dict[str, Any], **upstream: Any) -> Any:
    """The local stack as the e2e deploys it: its file with the deploy's upstream overrides (and ``upstream``)."""
    from components.spec import load_stack

    root = Path(__file__).resolve().parents[1]
    doc = yaml.safe_load((root / "stacks" / "Pulumi.local.yaml").read_text())
    doc["config"]["aistack:upstream"] = {**(env.get("upstream") or {}), **upstream}
    tmp = Path(tempfile.mkdtemp(prefix="aistack-e2e-images-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the stack's path is read after this returns
    path = tmp / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_stack(str(path))


def live_objects(env: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object of LIVE_RESOURCES in the cluster (kinds whose CRDs are absent are skipped)."""
    out: list[dict[str, Any]] = []
    for resources in LIVE_RESOURCES:
        for resource in resources.split(","):
            got = _kubectl(env, "get", resource, "-A", "-o", "json", check=False)
            if got.returncode == 0:
                out += [o for o in json.loads(got.stdout).get("items") or [] if not _history(o)]
    return out


def _history(obj: dict[str, Any]) -> bool:
    """A Deployment's earlier ReplicaSet, scaled to zero and kept for rollbacks (revisionHistoryLimit): after an
    upgrade it still names the previous release's images, which nothing runs."""
    return obj.get("kind") == "ReplicaSet" and not (obj.get("spec") or {}).get("replicas")


def compare_with_cluster(env: dict[str, Any], registry: str = REGISTRY) -> tuple[set[str], set[str]]:
    """(listed but not in the cluster, in the cluster but not listed): ``aistack images`` of the deployed stack,
    mapped by the rule, against the images the cluster's pod templates and operator settings name."""
    from aistack.cli.images import stack_images

    listed = {mirrored(ref.reference, registry) for ref in stack_images(loaded_stack(env, image_registry=registry))}
    live = {ref.reference for ref in images_in(live_objects(env))}
    return listed - live, live - listed


def _probe(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a new one the API server would create: in the scratch namespace, or renamed if cluster-wide."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("name", "namespace", "labels")}
    if obj["kind"] in OPERATOR_KINDS:
        meta["name"] = f"{meta['name']}-warn-probe"
        meta.pop("namespace", None)
    else:
        meta["namespace"] = PROBE_NAMESPACE
    out["metadata"] = meta
    return out


def expected_registries(objects: list[dict[str, Any]]) -> set[str]:
    """Registries of the images the policy checks: workload pod templates and the GPU Operator's operands."""
    checked = [o for o in objects if o.get("kind") in (*WORKLOAD_KINDS, *OPERATOR_KINDS)]
    return {ref.registry for ref in images_in(checked)}


def warn_round(env: dict[str, Any], registry: str = REGISTRY) -> tuple[set[str], set[str]]:
    """Warn mode over the stack's objects rendered without the setting: (registries warned about, expected)."""
    from aistack.cli.images import rendered, without_registry

    objects = [o for _, objs in rendered(without_registry(loaded_stack(env))) for o in objs]
    probes = [_probe(o) for o in objects if o.get("kind") in (*WORKLOAD_KINDS, *OPERATOR_KINDS)]
    install_policy(env, registry, "Warn")
    _kubectl(env, "create", "namespace", PROBE_NAMESPACE, check=False)
    try:
        out = _kubectl(env, "create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(probes), check=False)
    finally:
        _kubectl(env, "delete", "namespace", PROBE_NAMESPACE, "--wait=false", check=False)
    warned = {
        r.strip()
        for found in re.findall(r"images from registries: (.*?) are not under", out.stderr)
        for r in found.split(",")
    }
    return warned, expected_registries(objects)


def registries_of(references: set[str]) -> set[str]:
    return {parse_image(r).registry for r in references}
