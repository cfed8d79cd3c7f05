"""The upgrade rules: deployed state + the stack's pins → findings. Pure: plain data in, plain data out.

Each rule is upstream's own word on what an upgrade may do (sources beside the data in
components/versions.py): Kubernetes ranges, upgrade paths, CRD storage versions, objects that would be
replaced, the GPU driver's drain plan. "block" stops the upgrade (exit 1); "warn" is safe but disruptive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.versions import MAJORS, RELEASES, UPGRADE_RULES, UPSTREAMS, Release, release

from .deployed import Deployed

Level = Literal["block", "warn"]

# Kinds whose replacement (delete, then create) loses data or kills running work.
HOLDS_STATE_OR_WORK = frozenset(
    {
        "PersistentVolumeClaim",
        "PersistentVolume",
        "StatefulSet",
        "Namespace",
        "CustomResourceDefinition",
        "Job",
        "Deployment",
        "DaemonSet",
    }
)
_REPLACING = frozenset({"replace", "create-replacement", "delete-replaced", "delete"})
_ROLLING = frozenset({"Deployment", "DaemonSet", "StatefulSet"})


@dataclass(frozen=True)
class Finding:
    level: Level
    component: str
    what: str
    fix: str

    def as_json(self) -> dict[str, str]:
        return {"level": self.level, "component": self.component, "what": self.what, "fix": self.fix}


@dataclass(frozen=True)
class Step:
    """One step of `pulumi preview --json`: the operation and the Kubernetes object it touches."""

    op: str
    kind: str
    name: str
    reasons: tuple[str, ...] = ()

    @classmethod
    def from_preview(cls, step: Mapping[str, Any]) -> Step:
        state = step.get("newState") or step.get("oldState") or {}
        inputs = state.get("inputs") or {}
        kind = inputs.get("kind") or str(state.get("type", step.get("urn", ""))).rsplit(":", 1)[-1]
        meta = inputs.get("metadata") or {}
        name = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p) or str(step.get("urn", ""))
        return cls(str(step.get("op", "")), str(kind), name, tuple(step.get("replaceReasons") or ()))


def _minor(version: str) -> tuple[int, int]:
    major, minor = (int(x) for x in version.split(".")[:2])
    return major, minor


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def kubernetes_range(key: str, target: Release, kubernetes: str | None) -> list[Finding]:
    if kubernetes is None:
        return []
    low, high = target.kubernetes
    if _minor(kubernetes) >= _minor(low) and (high is None or _minor(kubernetes) <= _minor(high)):
        return []
    supported = f"{low}–{high}" if high else f"{low} and newer"
    return [
        Finding(
            "block",
            key,
            f"{key} {target.version} supports Kubernetes {supported}; the cluster runs {kubernetes}",
            f"upgrade the cluster into {supported} first, or pin upstream.versions.{key} to a release that "
            f"supports {kubernetes}",
        )
    ]


def upgrade_path(key: str, deployed: str, target: str) -> list[Finding]:
    """Downgrades and skipped majors, by the upstream's own upgrade rule."""
    if deployed == target:
        return []
    if _numbers(deployed) > _numbers(target):
        return [
            Finding(
                "block",
                key,
                f"{key} {deployed} → {target} is a downgrade: CRDs and stored objects of the "
                "newer release may not be readable by the older one",
                f"pin upstream.versions.{key}: {deployed} (or newer)",
            )
        ]
    rule = UPGRADE_RULES.get(key)
    if rule == "major-or-next":
        majors = MAJORS[key]
        have, want = (".".join(str(n) for n in _numbers(v)[:2]) for v in (deployed, target))
        if have not in majors:
            return [
                Finding(
                    "block",
                    key,
                    f"{key} {deployed} is older than every major aistack knows ({majors[0]}+): "
                    "the path to it cannot be checked",
                    f"upgrade {key} to a {majors[0]}.x release first",
                )
            ]
        skipped = majors[majors.index(have) + 1 : majors.index(want)]
        if skipped:
            return [
                Finding(
                    "block",
                    key,
                    f"{key} {deployed} → {target} skips the major {', '.join(skipped)}; upstream "
                    "supports upgrades within a major or to the next one only",
                    f"upgrade to a {skipped[0]}.x release first (pin upstream.versions.{key})",
                )
            ]
    if rule == "next-major" and _numbers(target)[0] - _numbers(deployed)[0] > 1:
        nxt = _numbers(deployed)[0] + 1
        return [
            Finding(
                "block",
                key,
                f"{key} {deployed} → {target} skips major {nxt}; each major's upgrade steps "
                "(UPGRADE.md) apply in order",
                f"upgrade to {nxt}.x first (pin upstream.versions.{key})",
            )
        ]
    return [Finding("warn", key, f"{key} {deployed} → {target}: its workloads roll out again", "none needed")]


def stored_versions(key: str, target: Release, stored: Mapping[str, tuple[str, ...]]) -> list[Finding]:
    """A CRD whose objects are stored in a version the new release no longer serves cannot be read after it."""
    out = []
    for name, api in target.crds.items():
        gone = [v for v in stored.get(name, ()) if v not in api.served]
        if gone:
            out.append(
                Finding(
                    "block",
                    key,
                    f"CRD {name} has objects stored as {', '.join(gone)}, which {key} {target.version} no longer "
                    f"serves (it serves {', '.join(api.served)})",
                    f"migrate the stored objects to {api.storage} before upgrading: run kube-storage-version-migrator, "
                    "or "
                    f"`kubectl get {name} -A -o json | kubectl replace -f -`, then `kubectl patch crd {name} "
                    f'--subresource=status --type=merge -p \'{{"status":{{"storedVersions":["{api.storage}"]}}}}\'`',
                )
            )
    return out


def crd_changes(key: str, before: Release | None, target: Release) -> list[Finding]:
    if before is None:
        return []
    added = sorted(set(target.crds) - set(before.crds))
    changed = sorted(n for n in set(target.crds) & set(before.crds) if target.crds[n] != before.crds[n])
    if not added and not changed:
        return []
    parts = [
        f"new CRDs {', '.join(added)}" if added else "",
        f"API versions change on {', '.join(changed)}" if changed else "",
    ]
    return [
        Finding(
            "warn",
            key,
            f"{key} {before.version} → {target.version}: " + "; ".join(p for p in parts if p),
            "none needed: the CRDs are applied before the objects that use them",
        )
    ]


def replacements(steps: Iterable[Step]) -> list[Finding]:
    out = []
    for step in steps:
        if step.op in _REPLACING and step.kind in HOLDS_STATE_OR_WORK:
            why = f" (changed: {', '.join(step.reasons)})" if step.reasons else ""
            out.append(
                Finding(
                    "block",
                    step.kind,
                    f"{step.kind} {step.name} would be {step.op}d, not updated{why}: it holds state or running work",
                    "keep the immutable field's current value (pin the previous release's value in the stack), or move "
                    "the data/work off it first and accept the replacement explicitly",
                )
            )
    rolling = sorted({s.name for s in steps if s.op == "update" and s.kind in _ROLLING})
    if rolling:
        out.append(
            Finding(
                "warn",
                "rollouts",
                f"{len(rolling)} workloads roll out: {', '.join(rolling[:8])}" + (" …" if len(rolling) > 8 else ""),
                "none needed",
            )
        )
    return out


def driver_change(
    target: Release, gpu_nodes: Mapping[str, str | None], policy: Mapping[str, Any] | None
) -> list[Finding]:
    """GPU nodes whose driver the new release would change: only with a drain plan the operator follows."""
    moving = sorted(n for n, v in gpu_nodes.items() if target.driver and v != target.driver)
    if not moving:
        return []
    what = f"the NVIDIA driver changes to {target.driver} on {len(moving)} GPU node(s): {', '.join(moving[:6])}"
    drain = (policy or {}).get("drain") or {}
    if not policy or not policy.get("autoUpgrade") or not drain.get("enable"):
        return [
            Finding(
                "block",
                "gpu-operator",
                what + ", with no drain plan: the driver would be swapped under running jobs",
                "emit the operator's driver upgradePolicy (autoUpgrade, drain.enable, "
                "maxUnavailable, timeouts): aistack's default does",
            )
        ]
    return [
        Finding(
            "warn",
            "gpu-operator",
            what + f"; {policy.get('maxParallelUpgrades', 1)} node(s) at a time, at "
            f"most {policy.get('maxUnavailable', '25%')} unavailable, running Kueue jobs finish first",
            "none needed",
        )
    ]


def plan(
    deployed: Deployed,
    targets: Mapping[str, str],
    steps: Iterable[Step] = (),
    driver_policy: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Every finding for moving ``deployed`` to ``targets`` (upstream key → version the stack pins)."""
    findings: list[Finding] = []
    for key, version in targets.items():
        target = release(key, version)
        have = deployed.charts.get(key)
        if target is None:
            if have and have != version:
                findings += [Finding("warn", key, f"{key} {have} → {version}: no release record to check", "none")]
            continue
        findings += kubernetes_range(key, target, deployed.kubernetes)
        findings += stored_versions(key, target, deployed.stored_versions)
        if have:
            findings += upgrade_path(key, have, version)
            findings += crd_changes(key, release(key, have), target)
        if key == "gpu-operator":
            findings += driver_change(target, deployed.gpu_nodes, driver_policy)
    findings += replacements(steps)
    return sorted(findings, key=lambda f: (f.level != "block", f.component))


def stack_targets(versions: Mapping[str, str], installed: Iterable[str]) -> dict[str, str]:
    """The version the stack asks for, for every upstream it installs (its pins over aistack's defaults)."""
    return {key: versions.get(key, UPSTREAMS[key].version) for key in installed if key in UPSTREAMS}


__all__ = ["RELEASES", "Finding", "Step", "plan", "stack_targets"]
