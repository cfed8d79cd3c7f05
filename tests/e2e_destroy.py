"""`aistack destroy` on a deployed local cluster, for the end-to-end rounds (tests/test_e2e_local.py's final
destroy, tests/test_e2e_destroy.py's small ones). Each function takes the e2e ``env`` dict
(``bin``, ``layout``, ``cli``, ``state``; tests/test_e2e_local.py's fixture makes it).

* :func:`users_work`: what users run (tests/e2e_workloads.py: a Kueue-admitted GPU Job writing to a bound
  claim, a Notebook in the team's Profile namespace, a TrainJob) plus a ``Service type: LoadBalancer`` (on
  MetalLB's pool in an on-prem stack) and an Ingress, and the namespace's ownerReference to its Profile, which
  Kubeflow's profile controller sets and the local cluster, running none, does not. Idempotent: what exists is kept.
* :func:`seed_stuck` / :func:`unseed_stuck`: a finalizer whose controller is gone and a webhook that fails.
* :func:`destroy` runs the teardown as `aistack destroy` does; :func:`kill_destroy_halfway` leaves what a
  killed `pulumi destroy` leaves; :func:`assert_destroyed` checks the cluster afterwards, as the spec says.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aistack.local import cluster
from aistack.teardown.destroy import DestroyReport, Target
from aistack.teardown.destroy import destroy as run_destroy
from tests import e2e_workloads as workloads

LB_SERVICE = "users-lb"
INGRESS = "users-web"
STUCK_SERVICE = "stuck-lb"
GONE_FINALIZER = "aistack.io/e2e-gone-controller"
GONE_MANAGER = "gone-controller"  # the field manager that "set" the finalizer: a controller no longer running
FAILING_CONFIG = "aistack-e2e-failing"
FAILING_WEBHOOK = "refuse-deletes.e2e.aistack.io"
# Kinds aistack's own objects of the `local` stack have; none may be left when data protection is off.
PLATFORM_KINDS = (
    "clusterqueues.kueue.x-k8s.io",
    "localqueues.kueue.x-k8s.io",
    "resourceflavors.kueue.x-k8s.io",
    "profiles.kubeflow.org",
)


def kubectl(env: dict[str, Any], *args: str, check: bool = True) -> str:
    cmd = [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def get(env: dict[str, Any], *args: str) -> Any:
    return json.loads(kubectl(env, "get", *args, "-o", "json"))


def apply(env: dict[str, Any], *objs: dict[str, Any], manager: str | None = None) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": list(objs)}, f)
    try:
        extra = ["--server-side", f"--field-manager={manager}", "--force-conflicts"] if manager else []
        kubectl(env, "apply", *extra, "-f", f.name)
    finally:
        os.unlink(f.name)


def _service(name: str, namespace: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if finalizers:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def users_work(env: dict[str, Any], namespace: str = workloads.NAMESPACE) -> workloads.Snapshot:
    """What users run, created where missing (the upgrade round may have made it already); needs Kueue."""
    assert cluster.start_kueue(env["bin"], env["layout"]) or "kueue" in cluster.running(env["layout"])
    snap = workloads.create(lambda *a: kubectl(env, *a), namespace)
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": INGRESS, "namespace": namespace},
        "spec": {"defaultBackend": {"service": {"name": LB_SERVICE, "port": {"number": 80}}}},
    }
    apply(env, _service(LB_SERVICE, namespace), ingress)
    profile = get(env, "profile.kubeflow.org", namespace)
    ref = {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "name": namespace, "uid": profile["metadata"]["uid"]}
    patch = {"metadata": {"ownerReferences": [{**ref, "controller": True, "blockOwnerDeletion": True}]}}
    kubectl(env, "patch", "namespace", namespace, "--type=merge", "-p", json.dumps(patch))
    return snap


def seed_stuck(env: dict[str, Any], namespace: str = "alpha") -> None:
    """A LoadBalancer Service held by a finalizer whose controller is gone, and a webhook with nothing behind it."""
    apply(env, _service(STUCK_SERVICE, namespace, [GONE_FINALIZER]), manager=GONE_MANAGER)
    hook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": FAILING_CONFIG},
        "webhooks": [
            {
                "name": FAILING_WEBHOOK,
                "clientConfig": {"service": {"namespace": namespace, "name": "gone-webhook", "path": "/validate"}},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["DELETE"],
                        "resources": ["configmaps"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
            }
        ],
    }
    apply(env, hook)


def unseed_stuck(env: dict[str, Any], namespace: str = "alpha") -> None:
    """What a user does after reading the report: remove the dead controller's finalizer and the webhook."""
    patch = json.dumps({"metadata": {"finalizers": None}})
    kubectl(env, "patch", "service", STUCK_SERVICE, "-n", namespace, "--type=merge", "-p", patch, check=False)
    kubectl(env, "delete", "validatingwebhookconfiguration", FAILING_CONFIG, "--ignore-not-found")


def target(env: dict[str, Any], spec: Any) -> Target:
    """The local stack as `aistack destroy` reaches it: the env's CLI runner, file backend and cluster."""
    from aistack.local import deploy

    return Target(spec, "local", env["cli"], deploy.backend_url(env["state"]), env["layout"].kubeconfig)


def destroy(env: dict[str, Any], spec: Any, wait_s: float = 120) -> DestroyReport:
    """`aistack destroy local` against the env's cluster and backend; the report printed."""
    report = run_destroy(
        target(env, spec), wait_s=wait_s, say=lambda line: print(line, end="" if line.endswith("\n") else "\n")
    )
    print("\n".join(report.lines()))
    return report


def kill_destroy_halfway(env: dict[str, Any], after_deletes: int = 3, timeout: float = 300) -> int:
    """Start `pulumi destroy` and kill it (its whole process group) once ``after_deletes`` resources are
    deleted; how many it saw deleted. What is left is a killed run's: its lock, a half-destroyed cluster."""
    cli = env["cli"]
    argv = [*cli.argv("destroy", "--yes", "--skip-preview", "--exclude-protected"), "--non-interactive"]
    seen = 0
    with subprocess.Popen(
        argv,
        cwd=cli.project_dir,
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        assert proc.stdout is not None
        t0 = time.monotonic()
        for line in proc.stdout:
            print(line, end="")
            seen += " deleted" in line
            if seen >= after_deletes or time.monotonic() - t0 > timeout:
                break
        kill_session(proc.pid)
        proc.wait()
    return seen


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``. Pulumi starts each plugin (the language host, the provider) in a
    process group of its own, so killing the CLI's group alone left both running, orphaned, after the test."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command: state ppid pgrp session ...
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == sid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(stat.parent.name), signal.SIGKILL)


def lock_files(env: dict[str, Any]) -> list[Path]:
    return sorted((env["state"] / "backend" / ".pulumi" / "locks").glob("**/*.json"))


def assert_no_namespace_terminating(env: dict[str, Any]) -> None:
    phases = {n["metadata"]["name"]: n["status"].get("phase") for n in get(env, "namespace")["items"]}
    assert not [n for n, p in phases.items() if p == "Terminating"], phases


def assert_destroyed(
    env: dict[str, Any], report: DestroyReport, *, data_protection: bool, users: workloads.Snapshot
) -> None:
    """Exit 0; nothing Terminating; aistack's kinds empty; the claims and volumes as data_protection says."""
    assert report.exit_code == 0, "\n".join(report.lines())
    assert report.destroyed and not report.stuck and not report.webhooks
    assert_no_namespace_terminating(env)
    for kind in PLATFORM_KINDS:
        listed = subprocess.run(
            [str(env["bin"] / "kubectl"), f"--kubeconfig={env['layout'].kubeconfig}", "get", kind, "-A", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if listed.returncode != 0 and "doesn't have a resource type" in listed.stderr:
            continue  # its CRD went with the upstream that brought it
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["items"] == [], f"{kind} left"
    services = [
        s["metadata"]["name"] for s in get(env, "service", "-A")["items"] if s["spec"].get("type") == "LoadBalancer"
    ]
    assert services == [], services
    assert get(env, "ingress", "-A")["items"] == [], "the drain deletes every Ingress"
    claims = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in get(env, "pvc", "-A")["items"]}
    volumes = {v["metadata"]["name"]: v for v in get(env, "pv")["items"]}
    retained = {n for n, v in volumes.items() if v["spec"]["persistentVolumeReclaimPolicy"] == "Retain"}
    for name in retained:  # every volume kept is listed with the step that releases it
        assert any(k.startswith(f"PersistentVolume {name} (reclaim policy Retain") for k in report.kept), name
    if not data_protection:
        # The drain itself deleted the users' claim (while the CSI driver runs), not the namespace's deletion.
        assert f"PersistentVolumeClaim {workloads.NAMESPACE}/{workloads.PVC}" in report.drained, report.drained
        # Only volumes made while data_protection was on (reclaim policy Retain) may stay; no claim does.
        assert not claims and set(volumes) == retained, (claims, sorted(volumes))
        if users.volume not in retained:
            assert users.volume_path and not Path(users.volume_path).exists(), "the volume's data was deleted"
        return
    # Kept: the users' claim with its volume and file, in its namespace, released from the Profile.
    assert (workloads.NAMESPACE, workloads.PVC) in claims, claims
    assert users.volume in volumes and volumes[users.volume]["status"]["phase"] == "Bound", users.volume
    assert users.volume_path and Path(users.volume_path, workloads.CHECKPOINT).read_text() == users.checkpoint
    ns = get(env, "namespace", workloads.NAMESPACE)
    assert not ns["metadata"].get("ownerReferences"), ns["metadata"]
    assert any(f"kept: PersistentVolumeClaim {workloads.NAMESPACE}/{workloads.PVC}" in k for k in report.lines())
    assert report.protected, "the protected workspaces stay in the state, listed"
    assert all(p.startswith("kubernetes:core/v1:PersistentVolumeClaim ") for p in report.protected), report.protected
    assert len(claims - {(workloads.NAMESPACE, workloads.PVC)}) >= len(report.protected), (claims, report.protected)


def assert_stuck_named(report: DestroyReport) -> None:
    """The seeded finalizer (with its controller) and the failing webhook are each named; nothing was destroyed."""
    text = "\n".join(report.lines())
    assert report.exit_code == 1 and not report.destroyed, text
    held = [s for s in report.stuck if s.what.endswith(f"/{STUCK_SERVICE}")]
    assert held and held[0].finalizers == (GONE_FINALIZER,), text
    assert GONE_MANAGER in held[0].controllers[0], held
    assert [(w.configuration, w.name) for w in report.webhooks] == [
        (f"ValidatingWebhookConfiguration {FAILING_CONFIG}", FAILING_WEBHOOK)
    ], text


def assert_no_crd_left(env: dict[str, Any]) -> None:
    """The upstreams' CRDs went with their installs, and with them every custom resource of their kinds."""
    left = sorted(c["metadata"]["name"] for c in get(env, "crd")["items"])
    assert left == [], f"CRDs left behind: {left}"


# Parent chains (in a URN) of what the serving installs render: Kueue's chart, the DRA driver's (and the GPU
# Operator's, which it depends on) and Kubeflow's kustomizations.
SERVING_CHILDREN = (
    "aistack:index:Scheduling$kubernetes:helm.sh/v4:Chart$",
    "aistack:index:AcceleratorEnablement$kubernetes:helm.sh/v4:Chart$",
    "aistack:index:Kubeflow$kubernetes:kustomize/v2:Directory$",
)


def assert_teams_deleted_before_what_serves_them(report: DestroyReport) -> None:
    """Pulumi began deleting every team's namespace before any object of Kueue, the DRA driver or Kubeflow (it
    begins a delete only once all that depends on the object is gone): users' Jobs, Workloads and claims go
    while the controllers and webhooks that release them run."""
    deletes = [(i, urn) for i, (op, _, urn) in enumerate(report.steps) if op == "delete"]
    teams = [i for i, urn in deletes if "$aistack:index:Tenancy$kubernetes:core/v1:Namespace::" in urn]
    serving = [(i, urn) for i, urn in deletes if any(chain in urn for chain in SERVING_CHILDREN)]
    assert teams and serving, (len(teams), len(serving), [u for _, u in deletes][:5])
    early = [urn.rsplit("::", 1)[1] for i, urn in serving if i < max(teams)]
    assert not early, f"deleted before the teams' namespaces: {early[:10]}"


def final_destroy(env: dict[str, Any]) -> DestroyReport:
    """The main e2e's last step: users' work running (made where missing), then `aistack destroy local` of the
    stack as its config file says (data_protection off for the committed `local`), checked as the spec says."""
    from components.spec import load_stack
    from tests.conftest import need

    if env["cli"] is None:
        need("tools", f"no Python language host under {env['bin']}: aistack destroy runs the pulumi CLI")
    config = env["cli"].config_file or Path(env["cli"].project_dir, "stacks", "Pulumi.local.yaml")
    spec = load_stack(str(config)).spec
    users = users_work(env)
    report = destroy(env, spec)
    assert_destroyed(env, report, data_protection=spec.data_protection, users=users)
    if env.get("route") is None or env["route"].installs_upstream:
        assert_no_crd_left(env)
        assert_teams_deleted_before_what_serves_them(report)
    return report
