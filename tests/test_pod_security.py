"""Every pod template the upstreams install, against the Pod Security level of the namespace it lands in.

The API server enforces Pod Security Admission on pods (the controllers' templates only warn), so a
template that breaks its namespace's level never gets a pod: its Deployment, DaemonSet or Job never
finishes rolling out, and ``pulumi up`` times out on it (in the local simulated cluster too, whose
controller-manager creates pods that the API server then rejects). Kubeflow Trainer's training runtimes
are pod templates too: their pods run in the namespace of the TrainJob, a team namespace.

The checker is a port of the checks of k8s.io/pod-security-admission at Kubernetes 1.34 (policy
version ``latest``; policy/check_*.go of module v0.34.4), default options: no exemptions, user
namespace relaxation off. It was compared with that module's own evaluator on every rendered template
and a few thousand generated pods, with no difference. Levels: a namespace's
``pod-security.kubernetes.io/enforce`` label as aistack or the upstream writes it; without one, the
API server's default, ``privileged``.

Known violations are listed in KNOWN with the fix each needs; the test fails on any other violation,
and on a KNOWN row that no longer happens (fixed: remove the row).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from components.platform.tenancy import TEAM_LABEL
from tests.conftest import plan_values
from tests.test_simulated import STACK, local_values, needs_mirror, rendered_upstreams

ENFORCE = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")
DEFAULT_LEVEL = "privileged"  # the API server's default without an AdmissionConfiguration (the local cluster has none)

Spec = Mapping[str, Any]
Check = Callable[[Mapping[str, Any], Spec], str | None]


# ------------------------------------------------------------------ the checks (policy/check_*.go)


def _containers(spec: Spec) -> Iterator[Mapping[str, Any]]:
    """visitContainers: init containers, containers, ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(container_or_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return container_or_spec.get("securityContext") or {}


def _windows(spec: Spec) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def _bad(names: list[str], what: str) -> str | None:
    return (
        f"{'container' if len(names) == 1 else 'containers'} {', '.join(repr(n) for n in names)} {what}"
        if names
        else None
    )


def host_process(meta: Mapping[str, Any], spec: Spec) -> str | None:
    setters = ["pod"] if (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True else []
    setters += [c["name"] for c in _containers(spec) if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True]
    return f"{setters} must not set securityContext.windowsOptions.hostProcess=true" if setters else None


def host_namespaces(meta: Mapping[str, Any], spec: Spec) -> str | None:
    found = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return ", ".join(found) or None


def privileged(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged") is True]
    return _bad(bad, "must not set securityContext.privileged=true")


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def capabilities_baseline(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad, caps = [], set()
    for c in _containers(spec):
        extra = [a for a in ((_sc(c).get("capabilities") or {}).get("add") or []) if a not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(c["name"])
            caps.update(extra)
    return _bad(bad, f"must not include {sorted(caps)} in securityContext.capabilities.add")


def host_path_volumes(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad = [v["name"] for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    return f"hostPath volumes {bad}" if bad else None


def host_ports(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad, ports = [], set()
    for c in _containers(spec):
        used = [p["hostPort"] for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c["name"])
            ports.update(used)
    return _bad(bad, f"use hostPorts {sorted(ports)}")


def _probe_hosts(probe: Mapping[str, Any] | None) -> list[str]:
    if not probe:
        return []
    return [h for k in ("httpGet", "tcpSocket") if (h := (probe.get(k) or {}).get("host"))]


def host_probes_and_lifecycle(meta: Mapping[str, Any], spec: Spec) -> str | None:
    """New in 1.34 (baseline): probes and lifecycle handlers must not name a host."""
    bad, hosts = [], set()
    for c in _containers(spec):
        lifecycle = c.get("lifecycle") or {}
        found = [h for p in ("livenessProbe", "readinessProbe", "startupProbe") for h in _probe_hosts(c.get(p))]
        found += [h for p in ("postStart", "preStop") for h in _probe_hosts(lifecycle.get(p))]
        if found:
            bad.append(c["name"])
            hosts.update(found)
    return _bad(bad, f"use probe or lifecycle hosts {sorted(hosts)}")


APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def app_armor(meta: Mapping[str, Any], spec: Spec) -> str | None:
    ok_types = {"RuntimeDefault", "Localhost"}
    setters = []
    if (profile := _sc(spec).get("appArmorProfile")) is not None and profile.get("type") not in ok_types:
        setters.append("pod")
    setters += [
        c["name"]
        for c in _containers(spec)
        if (p := _sc(c).get("appArmorProfile")) is not None and p.get("type") not in ok_types
    ]
    for key, value in (meta.get("annotations") or {}).items():
        allowed = not value or value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not allowed:
            setters.append(f"annotation {key}={value}")
    return f"{setters} must not set a forbidden AppArmor profile" if setters else None


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def se_linux_options(meta: Mapping[str, Any], spec: Spec) -> str | None:
    def bad(opts: Mapping[str, Any] | None) -> bool:
        if opts is None:
            return False
        return opts.get("type", "") not in SELINUX_TYPES or bool(opts.get("user")) or bool(opts.get("role"))

    setters = ["pod"] if bad(_sc(spec).get("seLinuxOptions")) else []
    setters += [c["name"] for c in _containers(spec) if bad(_sc(c).get("seLinuxOptions"))]
    return f"{setters} set forbidden securityContext.seLinuxOptions" if setters else None


def proc_mount(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("procMount") not in (None, "Default")]
    return _bad(bad, "must not set securityContext.procMount other than Default")


def _valid_seccomp(profile: Mapping[str, Any]) -> bool:
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def seccomp_baseline(meta: Mapping[str, Any], spec: Spec) -> str | None:
    setters = ["pod"] if (p := _sc(spec).get("seccompProfile")) is not None and not _valid_seccomp(p) else []
    setters += [
        c["name"]
        for c in _containers(spec)
        if (p := _sc(c).get("seccompProfile")) is not None and not _valid_seccomp(p)
    ]
    return f"{setters} must not set securityContext.seccompProfile.type to Unconfined" if setters else None


SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)


def sysctls(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad = [s["name"] for s in _sc(spec).get("sysctls") or [] if s.get("name") not in SYSCTLS]
    return f"forbidden sysctls {bad}" if bad else None


RESTRICTED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)


def restricted_volumes(meta: Mapping[str, Any], spec: Spec) -> str | None:
    bad = []
    for v in spec.get("volumes") or []:
        if not any(v.get(k) is not None for k in RESTRICTED_VOLUMES):
            source = next((k for k in v if k != "name"), "unknown")
            bad.append(f"{v['name']} ({source})")
    return f"restricted volume types: {bad}" if bad else None


def allow_privilege_escalation(meta: Mapping[str, Any], spec: Spec) -> str | None:
    if _windows(spec):
        return None
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    return _bad(bad, "must set securityContext.allowPrivilegeEscalation=false")


def run_as_non_root(meta: Mapping[str, Any], spec: Spec) -> str | None:
    pod = _sc(spec).get("runAsNonRoot")
    explicit = ["pod"] if pod is False else []
    explicit += [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    if explicit:
        return f"{explicit} must not set securityContext.runAsNonRoot=false"
    implicit = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None and pod is not True]
    return _bad(implicit, "(or the pod) must set securityContext.runAsNonRoot=true")


def run_as_user(meta: Mapping[str, Any], spec: Spec) -> str | None:
    setters = ["pod"] if _sc(spec).get("runAsUser") == 0 else []
    setters += [c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    return f"{setters} must not set runAsUser=0" if setters else None


def seccomp_restricted(meta: Mapping[str, Any], spec: Spec) -> str | None:
    if _windows(spec):
        return None
    pod = _sc(spec).get("seccompProfile")
    explicit = ["pod"] if pod is not None and not _valid_seccomp(pod) else []
    explicit += [
        c["name"]
        for c in _containers(spec)
        if (p := _sc(c).get("seccompProfile")) is not None and not _valid_seccomp(p)
    ]
    if explicit:
        return f"{explicit} must not set securityContext.seccompProfile.type to Unconfined"
    pod_set = pod is not None and _valid_seccomp(pod)
    implicit = [c["name"] for c in _containers(spec) if _sc(c).get("seccompProfile") is None and not pod_set]
    return _bad(
        implicit, '(or the pod) must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
    )


def capabilities_restricted(meta: Mapping[str, Any], spec: Spec) -> str | None:
    if _windows(spec):
        return None
    missing, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if capabilities is None:
            missing.append(c["name"])
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing.append(c["name"])
        extra = [a for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c["name"])
            caps.update(extra)
    found = [d for d in (_bad(missing, 'must set securityContext.capabilities.drop=["ALL"]'),) if d]
    found += [d for d in (_bad(adding, f"must not include {sorted(caps)} in securityContext.capabilities.add"),) if d]
    return "; ".join(found) or None


# (check id, level, check, the ids it replaces at restricted) as policy/registry.go orders them.
CHECKS: tuple[tuple[str, str, Check, tuple[str, ...]], ...] = (
    ("appArmorProfile", "baseline", app_armor, ()),
    ("capabilities_baseline", "baseline", capabilities_baseline, ()),
    ("hostNamespaces", "baseline", host_namespaces, ()),
    ("hostPathVolumes", "baseline", host_path_volumes, ()),
    ("hostPorts", "baseline", host_ports, ()),
    ("hostProbesAndHostLifecycle", "baseline", host_probes_and_lifecycle, ()),
    ("privileged", "baseline", privileged, ()),
    ("procMount", "baseline", proc_mount, ()),
    ("seLinuxOptions", "baseline", se_linux_options, ()),
    ("seccompProfile_baseline", "baseline", seccomp_baseline, ()),
    ("sysctls", "baseline", sysctls, ()),
    ("windowsHostProcess", "baseline", host_process, ()),
    ("allowPrivilegeEscalation", "restricted", allow_privilege_escalation, ()),
    ("capabilities_restricted", "restricted", capabilities_restricted, ("capabilities_baseline",)),
    ("restrictedVolumes", "restricted", restricted_volumes, ("hostPathVolumes",)),
    ("runAsNonRoot", "restricted", run_as_non_root, ()),
    ("runAsUser", "restricted", run_as_user, ()),
    ("seccompProfile_restricted", "restricted", seccomp_restricted, ("seccompProfile_baseline",)),
)


def evaluate(level: str, meta: Mapping[str, Any], spec: Spec) -> list[tuple[str, str]]:
    """(check id, detail) of every check of ``level`` the pod breaks (none at privileged)."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}")
    if level == "privileged":
        return []
    checks = [c for c in CHECKS if c[1] == "baseline" or level == "restricted"]
    replaced = {r for c in checks for r in c[3]} if level == "restricted" else set()
    out = []
    for check_id, _, fn, _ in checks:
        if check_id in replaced:
            continue
        detail = fn(meta, spec)
        if detail:
            out.append((check_id, detail))
    return out


# ------------------------------------------------------------------ pod templates and namespace levels

WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "ReplicationController", "Job")
# Kubeflow Trainer's runtimes: JobSet templates whose pods run in the namespace of the TrainJob that names them.
RUNTIMES = ("ClusterTrainingRuntime", "TrainingRuntime")


def pod_templates(obj: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], Spec]]:
    """(part, pod metadata, pod spec) of a Pod, a workload's or CronJob's template, or each replicated job of a
    training runtime (part: its name; "" for the others)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield "", obj.get("metadata") or {}, spec
    elif kind in WORKLOADS:
        template = spec.get("template") or {}
        yield "", template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        yield "", template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "PodTemplate":
        template = obj.get("template") or {}
        yield "", template.get("metadata") or {}, template.get("spec") or {}
    elif kind in RUNTIMES:
        for job in ((spec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []:
            template = ((job.get("template") or {}).get("spec") or {}).get("template") or {}
            yield job.get("name", ""), template.get("metadata") or {}, template.get("spec") or {}


def namespace_levels() -> tuple[dict[str, str], str]:
    """Enforced level of every namespace aistack or an upstream creates (others get DEFAULT_LEVEL), and the
    strictest level of the team namespaces (where TrainJobs, notebooks and pipeline runs land)."""
    levels: dict[str, str] = {}
    teams = []
    for r in plan_values(local_values(), stack=STACK):
        if r.type == "kubernetes:core/v1:Namespace":
            meta = r.inputs.get("metadata") or {}
            levels[meta["name"]] = (meta.get("labels") or {}).get(ENFORCE, DEFAULT_LEVEL)
            if TEAM_LABEL in (meta.get("labels") or {}):
                teams.append(levels[meta["name"]])
    for upstream in rendered_upstreams():
        for _, doc in upstream.objects():
            if doc["kind"] == "Namespace":
                meta = doc["metadata"]
                levels.setdefault(meta["name"], (meta.get("labels") or {}).get(ENFORCE, DEFAULT_LEVEL))
    assert teams, "the local stack has teams"
    return levels, max(teams, key=LEVELS.index)


def violations() -> list[tuple[str, str, str, str, str]]:
    """(upstream, where, level, check id, detail) for every pod template of every upstream; where:
    "Kind namespace/name" ("Kind name/part in team namespaces" for a training runtime)."""
    levels, team_level = namespace_levels()
    out = []
    for upstream in rendered_upstreams():
        for namespace, doc in upstream.objects():
            for part, meta, spec in pod_templates(doc):
                if doc["kind"] in RUNTIMES:
                    level, where = team_level, f"{doc['kind']} {doc['metadata']['name']}/{part} in team namespaces"
                else:
                    ns = namespace or "default"
                    level, where = levels.get(ns, DEFAULT_LEVEL), f"{doc['kind']} {ns}/{doc['metadata']['name']}"
                out += [(upstream.upstream, where, level, c, d) for c, d in evaluate(level, meta, spec)]
    return out


_RUNTIME_FIX = (
    "do not weaken the team namespaces' restricted level: give the runtimes' pods a restricted security "
    "context (pod: runAsNonRoot, non-zero runAsUser, seccompProfile RuntimeDefault; every container: "
    "allowPrivilegeEscalation false, capabilities drop ALL), as aistack-owned ClusterTrainingRuntimes or a "
    "patch of these (TrainJob.spec.podTemplateOverrides cannot set a securityContext)"
)
_RESTRICTED_GAPS = frozenset(
    {"allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"}
)

# Known violations: (upstream, where as an fnmatch pattern) → (the checks it breaks, the fix it needs).
# See /tmp/notes/psa.md. A row must keep matching something, and match all its object's violations.
KNOWN: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("kubeflow-manifests/trainer", "ClusterTrainingRuntime */* in team namespaces"): (_RESTRICTED_GAPS, _RUNTIME_FIX),
}


def _known(upstream: str, where: str) -> tuple[tuple[str, str], frozenset[str]] | None:
    for (u, pattern), (checks, _) in KNOWN.items():
        if u == upstream and fnmatch.fnmatchcase(where, pattern):
            return (u, pattern), checks
    return None


@needs_mirror
def test_no_pod_template_breaks_its_namespace_level() -> None:
    found = violations()
    unexpected, hit = [], set()
    for u, w, lvl, c, d in found:
        known = _known(u, w)
        if known is None or c not in known[1]:
            unexpected.append(f"{u}: {w} [{lvl}] {c}: {d}")
        else:
            hit.add(known[0])
    gone = [f"{k}: {fix}" for k, (_, fix) in KNOWN.items() if k not in hit]
    assert not unexpected, "pods these namespaces' Pod Security level rejects:\n" + "\n".join(unexpected)
    assert not gone, "KNOWN rows that no longer happen (remove them):\n" + "\n".join(gone)


@needs_mirror
def test_every_training_runtime_is_checked() -> None:
    runtimes = [v for v in violations() if v[1].startswith(RUNTIMES)]
    assert runtimes, "the trainer manifests ship ClusterTrainingRuntimes: their pod templates are checked"


# ------------------------------------------------------------------ the checker itself


def _pod(**security: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "x"}
    if security:
        container["securityContext"] = security
    return {"containers": [container]}


RESTRICTED_OK = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def ids(level: str, spec: Spec, meta: Mapping[str, Any] | None = None) -> list[str]:
    return [c for c, _ in evaluate(level, meta or {}, spec)]


def test_a_minimal_pod_passes_baseline_not_restricted() -> None:
    assert ids("baseline", _pod()) == []
    assert ids("restricted", _pod()) == [
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "runAsNonRoot",
        "seccompProfile_restricted",
    ]
    assert ids("restricted", _pod(**RESTRICTED_OK)) == []
    assert ids("privileged", {**_pod(privileged=True), "hostNetwork": True}) == []


def test_pod_level_settings_count_for_every_container() -> None:
    spec = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
        ],
    }
    assert ids("restricted", spec) == []
    spec["containers"][0]["securityContext"]["runAsNonRoot"] = False  # explicit false beats the pod's true
    assert ids("restricted", spec) == ["runAsNonRoot"]


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({**_pod(), "hostNetwork": True}, "hostNamespaces"),
        ({**_pod(), "hostPID": True}, "hostNamespaces"),
        (_pod(privileged=True), "privileged"),
        (_pod(capabilities={"add": ["SYS_ADMIN"]}), "capabilities_baseline"),
        ({**_pod(), "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "hostPathVolumes"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "hostPorts"),
        (
            {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"host": "1.2.3.4", "port": 80}}}]},
            "hostProbesAndHostLifecycle",
        ),
        (_pod(seccompProfile={"type": "Unconfined"}), "seccompProfile_baseline"),
        (_pod(seLinuxOptions={"type": "spc_t"}), "seLinuxOptions"),
        (_pod(procMount="Unmasked"), "procMount"),
        (_pod(appArmorProfile={"type": "Unconfined"}), "appArmorProfile"),
        ({**_pod(), "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "sysctls"),
        (_pod(windowsOptions={"hostProcess": True}), "windowsHostProcess"),
    ],
)
def test_baseline_checks(spec: dict[str, Any], check: str) -> None:
    assert check in ids("baseline", spec)


def test_restricted_replaces_and_adds() -> None:
    hostpath = {
        "containers": [{"name": "c", "securityContext": RESTRICTED_OK}],
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
    }
    assert ids("restricted", hostpath) == ["restrictedVolumes"]  # replaces hostPathVolumes
    nfs = {**hostpath, "volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}
    assert ids("baseline", nfs) == [] and ids("restricted", nfs) == ["restrictedVolumes"]
    added = _pod(**{**RESTRICTED_OK, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})
    assert ids("restricted", added) == []
    chown = _pod(**{**RESTRICTED_OK, "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}})
    assert ids("baseline", chown) == [] and ids("restricted", chown) == ["capabilities_restricted"]
    assert ids("restricted", _pod(**{**RESTRICTED_OK, "runAsUser": 0})) == ["runAsUser"]
    windows = {**_pod(runAsNonRoot=True), "os": {"name": "windows"}}
    assert ids("restricted", windows) == []


def test_annotations_are_checked_for_apparmor_only() -> None:
    meta = {"annotations": {f"{APPARMOR_ANNOTATION}c": "unconfined"}}
    assert ids("baseline", _pod(), meta) == ["appArmorProfile"]
    assert ids("baseline", _pod(), {"annotations": {f"{APPARMOR_ANNOTATION}c": "localhost/p"}}) == []


def test_templates_are_found_in_every_workload_kind() -> None:
    template = {"metadata": {"labels": {"a": "b"}}, "spec": _pod(privileged=True)}
    for kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        ((_, meta, spec),) = pod_templates({"kind": kind, "spec": {"template": template}})
        assert ids("baseline", spec) == ["privileged"] and meta == {"labels": {"a": "b"}}
    ((_, _, spec),) = pod_templates({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}})
    assert ids("baseline", spec) == ["privileged"]
    runtime = {
        "kind": "ClusterTrainingRuntime",
        "spec": {
            "template": {"spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": template}}}]}}
        },
    }
    ((part, _, spec),) = pod_templates(runtime)
    assert part == "node" and ids("baseline", spec) == ["privileged"]
    assert list(pod_templates({"kind": "ConfigMap"})) == []
