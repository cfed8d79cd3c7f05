"""`aistack destroy STACK`: drain, then `pulumi destroy`, then check that nothing is left.

1. **Drain** (drain.py, through kube.py) while the platform's controllers still run; a bounded wait.
   Anything stuck (an object and the finalizer holding it, with the controller that owns it; a webhook
   that refuses deletions; a namespace stuck Terminating) is reported and the destroy stops there,
   exit 1: destroying the controllers now would leave those objects, or the cloud resources behind
   them, for good.
2. **The state**: a stale lock or pending operations of a killed run are cleared (state.py).
3. **`pulumi destroy --exclude-protected`**: everything but what data_protection protects (and what that
   depends on), which stays in the state, listed with the step that releases it.
4. **After**: no namespace may be left Terminating; for cloud stacks, the account sweep (teardown.sweep).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import drain, state
from .drain import DrainPlan, Stuck, Webhook, meta, where
from .model import SweepReport

DRAIN_WAIT_S = 300.0
PULUMI_TIMEOUT_S = 3600.0
DESTROY_ARGS = ("destroy", "--yes", "--skip-preview", "--exclude-protected")

Say = Callable[[str], None]


@dataclass
class DestroyReport:
    stack: str
    data_protection: bool
    drained: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stuck: list[Stuck] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    destroyed: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (op, type, urn), in the order pulumi began them
    protected: list[str] = field(default_factory=list)
    sweep: SweepReport | None = None

    @property
    def exit_code(self) -> int:
        if self.stuck or self.webhooks or self.errors or not self.destroyed:
            return 1
        return self.sweep.exit_code if self.sweep is not None else 0

    def lines(self) -> list[str]:
        out = [f"drained: {d}" for d in self.drained] + [f"kept: {k}" for k in self.kept]
        out += [f"note: {n}" for n in self.notes]
        out += [f"STUCK: {s.line()}" for s in self.stuck] + [f"BLOCKING WEBHOOK: {w.line()}" for w in self.webhooks]
        out += [f"error: {e}" for e in self.errors]
        if self.protected:
            out.append(f"kept in the state (protected): {len(self.protected)}")
            out += [f"  {p}" for p in self.protected]
            out.append(state.RELEASE_STEP.format(stack=self.stack))
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "data_protection": self.data_protection,
            "drained": self.drained,
            "kept": self.kept,
            "notes": self.notes,
            "stuck": [s.as_json() for s in self.stuck],
            "webhooks": [
                {"configuration": w.configuration, "webhook": w.name, "service": w.service, "reason": w.reason}
                for w in self.webhooks
            ],
            "errors": self.errors,
            "destroyed": self.destroyed,
            "changes": self.changes,
            "protected": self.protected,
            "sweep": self.sweep.as_json() if self.sweep is not None else None,
            "exit_code": self.exit_code,
        }


# ------------------------------------------------------------------ 1. drain


def _listing(kube: Any) -> dict[str, list[drain.Obj]]:
    return {k.key: kube.list_kind(k) for k in drain.KINDS}


def _key(o: drain.Obj) -> tuple[str, str, str]:
    return (str(o.get("kind")), str(meta(o).get("namespace", "")), str(meta(o).get("uid", meta(o).get("name"))))


def _alive(kube: Any, objs: list[drain.Obj]) -> list[drain.Obj]:
    """Which of ``objs`` still exist (by uid: an object of the same name made again is another one)."""
    wanted = {_key(o) for o in objs}
    kinds = {(str(o.get("apiVersion", "v1")), str(o["kind"])) for o in objs}
    live = []
    for api_version, kind in kinds:
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        live += [o for o in kube.list(group, kind) if _key(o) in wanted]
    return live


def _delete_all(kube: Any, objs: list[drain.Obj], report: DestroyReport, say: Say) -> None:
    for o in objs:
        if drain.deleting(o):
            continue
        refused = kube.delete_obj(o)
        if refused:
            report.errors.append(f"could not delete {refused}")
        else:
            report.drained.append(where(o))
            say(f"deleting {where(o)}")


def run_drain(kube: Any, data_protection: bool, report: DestroyReport, wait_s: float, say: Say) -> None:
    """Delete per phase and wait for each, within ``wait_s`` overall; fills ``report``."""
    ready, services = kube.ready_services()
    configs = kube.list("admissionregistration.k8s.io", "ValidatingWebhookConfiguration")
    configs += kube.list("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
    report.webhooks = drain.failing_webhooks(configs, ready, services)
    namespaces = kube.list("", "Namespace")
    plan: DrainPlan = drain.plan_drain(
        _listing(kube), data_protection=data_protection, namespaces=namespaces, pods=kube.list("", "Pod")
    )
    report.kept += [f"{where(o)} ({why})" for o, why in plan.kept]
    for r in plan.release:
        refused = kube.release(r)
        report.errors += [f"could not release {refused}"] if refused else []
        report.notes.append(f"Namespace {r.namespace} released from Profile {r.profile} (it holds kept claims)")
    deadline = time.monotonic() + wait_s
    for phase, objs in zip(drain.PHASES, plan.delete, strict=True):
        if phase[0] is drain.WORKLOADS:
            for job in plan.owners:
                refused = kube.delete(job["apiVersion"], job["kind"], job["name"], job["namespace"])
                report.errors += [f"could not delete {refused}"] if refused else []
                report.drained += [] if refused else [f"{job['kind']} {job['namespace']}/{job['name']}"]
        if phase[0] is drain.CLAIMS:
            _stop_pods(kube, plan, report, say)
        _delete_all(kube, objs, report, say)
        if phase[0] is drain.CLAIMS:  # the claims' volumes too, once the claims are gone (reclaim: Delete)
            objs = objs + drain.volumes_of(objs, kube.list("", "PersistentVolume"))
        left = _alive(kube, objs)
        while left and time.monotonic() < deadline:
            time.sleep(1.0)
            left = _alive(kube, objs)
        report.stuck += drain.stuck_objects(left)
        report.stuck += [Stuck(where(o), (), (), _why_left(o)) for o in left if not drain.deleting(o)]
    _check_namespaces(kube, report, deadline)
    report.kept += [f"{where(v)} ({why})" for v, why in drain.retained_volumes(kube.list("", "PersistentVolume"))]
    named = drain.webhooks_named([*report.errors, *(s.detail for s in report.stuck)])
    listed = {w.name for w in report.webhooks}
    report.notes += [f"the API server named webhook {n} in a refusal" for n in named if n not in listed]


def _why_left(o: drain.Obj) -> str:
    if o.get("kind") == "PersistentVolume":
        return "still bound: it goes once its claim is gone (see the claim above)"
    return "not deleted (see the errors)"


def _stop_pods(kube: Any, plan: DrainPlan, report: DestroyReport, say: Say) -> None:
    """Stop what keeps the claims' pods running (scaled to zero, or deleted), then the pods themselves."""
    done = {(o["kind"], o["namespace"], o["name"]) for o in plan.owners}  # the Workloads' jobs: deleted already
    for c in drain.pod_controllers(plan.pods, kube.list("apps", "ReplicaSet")):
        if (c["kind"], c["namespace"], c["name"]) in done:
            continue
        args = (c["apiVersion"], c["kind"], c["name"], c["namespace"])
        stopped = c["kind"] in drain.SCALABLE
        refused = kube.scale_to_zero(*args) if stopped else kube.delete(*args)
        if refused:
            report.errors.append(f"could not stop {refused}")
            continue
        what = f"{c['kind']} {c['namespace']}/{c['name']}"
        report.drained.append(f"{what} (scaled to 0)" if stopped else what)
        say(f"{'scaling to 0' if stopped else 'deleting'} {what} (it mounts a claim)")
    _delete_all(kube, [p for p in plan.pods if p["metadata"].get("ownerReferences")], report, say)


def _check_namespaces(kube: Any, report: DestroyReport, deadline: float) -> None:
    """Namespaces Terminating (a Profile's, or one left by an earlier run): wait for them, then report."""
    while True:
        stuck = drain.terminating_namespaces(kube.list("", "Namespace"))
        if not stuck or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    report.stuck += stuck


# ------------------------------------------------------------------ 2-4. the state, pulumi destroy, after


def recover_state(runner: state.Runner, backend_url: str, report: DestroyReport) -> bool:
    """Clear a killed run's stale lock and pending operations; False when the stack stays locked."""
    backend = state.backend_dir(backend_url)
    if backend is not None:
        from ..local.deploy import PROJECT

        removed, held = state.clear_stale_locks(backend, PROJECT, runner.stack)
        report.notes += removed
        if held:
            report.errors += held
            return False
    report.notes += state.clear_pending(runner, state.export(runner))
    return True


def pulumi_destroy(runner: state.Runner, report: DestroyReport, say: Say) -> None:
    outcome = runner.run(*DESTROY_ARGS, on_line=say, timeout=PULUMI_TIMEOUT_S)
    report.changes, report.steps = dict(outcome.changes), list(outcome.steps)
    if outcome.rc != 0:
        report.errors.append(f"pulumi {' '.join(DESTROY_ARGS)} exited {outcome.rc}:\n{outcome.tail(25)}")
        return
    report.destroyed = True
    report.protected, others = state.kept_resources(state.export(runner))
    if others:
        report.notes.append(f"{others} resource(s) stay in the state because a protected one depends on them")


@dataclass(frozen=True)
class Target:
    """Where the stack runs: its spec, Pulumi stack name, config, the cluster and the engine."""

    spec: Any
    stack: str
    runner: state.Runner
    backend_url: str
    kubeconfig: Path | None
    context: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def destroy(
    target: Target,
    *,
    wait_s: float = DRAIN_WAIT_S,
    sweep: bool = True,
    delete_leftovers: bool = False,
    say: Say = lambda _line: None,
    kube: Any = None,
) -> DestroyReport:
    """Drain, `pulumi destroy`, check after; ``sweep``: the cloud account sweep (cloud targets)."""
    report = DestroyReport(target.stack, bool(target.spec.data_protection))
    if kube is None and target.kubeconfig is not None:
        kube = _connect(target, report)
    elif kube is None:
        report.notes.append("drain skipped: no cluster to reach (--no-drain)")
    if kube is not None:
        run_drain(kube, report.data_protection, report, wait_s, say)
    if report.exit_code and (report.stuck or report.webhooks or report.errors):
        report.notes.append("pulumi destroy not run: fix what is stuck above, then run `aistack destroy` again")
        return report
    if not recover_state(target.runner, target.backend_url, report):
        return report
    pulumi_destroy(target.runner, report, say)
    if report.destroyed and kube is not None:
        _check_namespaces(kube, report, time.monotonic() + wait_s)
    if report.destroyed and sweep and target.spec.target in ("aws", "gcp"):
        from . import sweep as run_sweep

        report.sweep = run_sweep(target.spec, target.stack, target.config, delete=delete_leftovers)
    return report


def _connect(target: Target, report: DestroyReport) -> Any:
    """The cluster, or None with a note when it cannot be reached (already gone: nothing to drain)."""
    from .kube import Kube

    assert target.kubeconfig is not None
    try:
        kube = Kube(target.kubeconfig, target.context)
        kube.list("", "Namespace")
    except Exception as exc:
        report.errors.append(
            f"cluster not reachable through {target.kubeconfig} ({type(exc).__name__}: {str(exc)[:200]}). To fix: "
            "check the kubeconfig and network; if the cluster is already gone, rerun with --no-drain"
        )
        return None
    return kube


__all__ = [
    "DESTROY_ARGS",
    "DRAIN_WAIT_S",
    "DestroyReport",
    "Target",
    "destroy",
    "pulumi_destroy",
    "recover_state",
    "run_drain",
]
