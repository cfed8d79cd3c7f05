"""Platform layer: identical on every target. It reads the TargetHandle and nothing else.

Each concern is a thin ComponentResource over pure functions in its own module (tenancy,
storage, gpu, scheduling, monitoring, kubeflow) that return manifests as plain dicts. Upstream
installs (charts, manifest trees) come first; objects of their custom kinds depend on them, so
CRDs exist before the objects that need them.

The dependencies are the real ones, because Pulumi deletes in their reverse order (whatever depends on X
is deleted before X; depending on a component counts its children too, pulumi/pulumi
pkg/resource/graph/dependency_graph.go, DependenciesOf): an object of a custom kind
depends on the install that brings its CRD and controller (so the controller outlives it on a destroy and
removes its finalizers); the teams' namespaces depend on the installs whose controllers or webhooks act on
what users run in them (Kueue, NVIDIA's DRA driver, Kubeflow: ``Platform.serving``), so on a destroy
those namespaces and their content, users' Jobs and Workloads included, are deleted while those controllers still run.
Hence the order below: every install first, then the teams' namespaces, then what goes into them
(``for_teams``). Kubeflow's parts depend on the parts they use (KUBEFLOW_NEEDS), not on the one before
them, so independent parts deploy in parallel.
"""

from __future__ import annotations

import json
import secrets as secrets_module
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..charts import install_chart, system_namespace
from ..handle import TargetHandle
from ..identities import workload_identities
from ..images import pull, rewrite
from ..images.charts import PULL_SECRET
from ..objects import register
from ..sources import manifest_directory
from ..spec import StackSpec
from ..spec.loader import NAMESPACE as CONFIG_NAMESPACE
from ..spec.loader import SECRET_PLACEHOLDER
from ..spec.model import ALERT_CREDENTIALS
from . import dra, gpu, kubeflow, monitoring, scheduling, storage, tenancy


class _Part(pulumi.ComponentResource):
    """A platform concern: children go through the handle's provider, never the ambient one."""

    def __init__(
        self, cls: str, name: str, handle: TargetHandle, opts: pulumi.ResourceOptions | None, spec: StackSpec
    ) -> None:
        super().__init__(f"aistack:index:{cls}", name, None, opts)
        self.prefix = name
        self.handle = handle
        self.pull = pull.pull_content(spec)

    def child(self, depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.handle.provider, depends_on=list(depends_on), **extra)

    def components(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """Options for remote components (charts, kustomizations), which take providers as a list."""
        return pulumi.ResourceOptions(parent=self, providers=[self.handle.provider], depends_on=list(depends_on))

    def add(self, obj: dict[str, Any], depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.Resource:
        patch = bool(extra.pop("patch", False))
        made = register(self.prefix, obj, self.child(depends_on, **extra), patch=patch)
        if obj["kind"] == "Namespace" and obj.get("apiVersion") == "v1" and not patch:
            self.pull_secrets([obj["metadata"]["name"]], made)
        return made

    def pull_secrets(self, namespaces: Sequence[str], after: pulumi.Resource) -> None:
        """The site registry's pull secret in each namespace (upstream.image_pull_secret), once it exists."""
        if self.pull is None:
            return
        for ns in namespaces:
            register(self.prefix, pull.pull_secret(ns, self.pull), self.child([after]))


class Tenancy(_Part):
    """Team namespaces and what is inside them: network policies, quota, limits, RBAC, service account.

    Namespaces hold team volumes, so they are retained on delete under data protection.
    """

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        opts: pulumi.ResourceOptions | None = None,
        serving: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``serving``: the installs whose controllers and webhooks act on what users run in these namespaces;
        each namespace depends on them, so a destroy deletes it (and users' work in it) while they still run."""
        super().__init__("Tenancy", name, handle, opts, spec)
        self.namespaces: dict[str, pulumi.Resource] = {}
        for team in spec.teams:
            ns = self.add(
                tenancy.team_namespace(spec, team, handle.inventory), serving, retain_on_delete=spec.data_protection
            )
            self.namespaces[team.name] = ns
            for obj in tenancy.team_objects(spec, team, handle):
                self.add(obj, [ns])
        self.register_outputs({"namespaces": list(self.namespaces)})


class Storage(_Part):
    """Storage classes the target asked for, and each team's workspace volume (protected, retained)."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("Storage", name, handle, opts, spec)
        # A StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated (the API
        # server forbids it): a change, such as turning data_protection off (Retain → Delete), replaces the class
        # (deleted first: the name is fixed; volumes already made keep their own policy).
        immutable = ["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"]
        self.classes = [
            self.add(obj, replace_on_changes=immutable, delete_before_replace=True)
            for obj in storage.storage_classes(spec, handle.storage)
        ]
        # Each team's workspace claim (None: the target has no volumes for it); made by for_teams.
        self.claims = {t.name: storage.workspace_claim(t, handle.storage) for t in spec.teams}
        self.workspaces: dict[str, pulumi.Resource] = {}
        self.register_outputs(
            {
                "default_class": handle.storage.default,
                "shared_class": handle.storage.shared,
                "workspaces": [team for team, claim in self.claims.items() if claim is not None],
            }
        )

    def for_teams(self, spec: StackSpec, namespaces: dict[str, pulumi.Resource]) -> None:
        """Each team's workspace volume, in its namespace."""
        for team, claim in self.claims.items():
            if claim is None:
                continue
            self.workspaces[team] = self.add(
                claim,
                [namespaces[team], *self.classes],
                protect=spec.data_protection,
                retain_on_delete=spec.data_protection,
            )


class AcceleratorEnablement(_Part):
    """The NVIDIA GPU Operator where the target does not already provide the whole GPU stack, and NVIDIA's DRA
    driver with its DeviceClasses and claim templates where pools use allocation: dra."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("AcceleratorEnablement", name, handle, opts, spec)
        self.operator: k8s.helm.v4.Chart | None = None
        needed = gpu.operator_needed(handle.inventory, handle.nvidia)
        if needed:
            ns = self.add(system_namespace(gpu.NAMESPACE, "privileged", spec))  # drivers and toolkit run privileged
            config = self.add(gpu.device_plugin_configmap(spec, handle.inventory), [ns])
            self.operator = install_chart(
                f"{name}-gpu-operator",
                "gpu-operator",
                gpu.NAMESPACE,
                gpu.operator_values(spec, handle.inventory, handle.nvidia),
                spec,
                self.components([ns, config]),
            )
            after = [self.operator] if self.operator else []
            registry, pulls = spec.upstream.image_registry, spec.upstream.image_pull_secret is not None
            for obj in gpu.driver_objects(handle.inventory, handle.nvidia, gpu.operator_release(spec), registry, pulls):
                self.add(obj, after)
        self.dra_driver = self._dra(name, spec, handle) if dra.dra_pools(handle.inventory) else None
        self.register_outputs({"gpu_operator": needed, "dra_pools": [p.pool for p in dra.dra_pools(handle.inventory)]})

    def _dra(self, name: str, spec: StackSpec, handle: TargetHandle) -> k8s.helm.v4.Chart | None:
        """NVIDIA's DRA driver and the dra pools' DeviceClasses (dra.py)."""
        ns = self.add(system_namespace(dra.NAMESPACE, "privileged", spec))  # its kubelet plugin runs privileged
        chart = install_chart(
            f"{name}-dra-driver",
            dra.CHART_KEY,
            dra.NAMESPACE,
            dra.driver_values(handle.inventory, handle.nvidia),
            spec,
            # After the operator, whose chart owns the ComputeDomain CRDs where it is installed. The teams'
            # namespaces come after the driver (Platform.serving): a destroy deletes their pods while the kubelet
            # plugin can still release their claims.
            self.components([ns, *([self.operator] if self.operator else [])]),
            skip_crds=not dra.driver_owns_crds(self.operator is not None),
        )
        for obj in dra.cluster_objects(handle.inventory):
            self.add(obj)
        return chart

    def for_teams(self, spec: StackSpec, namespaces: dict[str, pulumi.Resource]) -> None:
        """Each team's ResourceClaimTemplates for the dra pools, in its namespace."""
        after = [self.dra_driver] if self.dra_driver else []
        for team in spec.teams:
            for obj in dra.claim_templates(team, self.handle.inventory):
                self.add(obj, [*after, namespaces[team.name]])


class Scheduling(_Part):
    """Kueue with flavors, team ClusterQueues in cohorts, LocalQueues and priority classes."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        opts: pulumi.ResourceOptions | None = None,
        monitoring: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``monitoring``: what brings the Prometheus Operator's CRDs, which the Kueue chart's ServiceMonitor
        needs when metrics are on (the provider cannot even place an object of an unknown kind)."""
        super().__init__("Scheduling", name, handle, opts, spec)
        ns = self.add(system_namespace(scheduling.NAMESPACE, "restricted", spec))
        self.kueue = install_chart(
            f"{name}-kueue",
            "kueue",
            scheduling.NAMESPACE,
            scheduling.kueue_values(spec, handle.inventory),
            spec,
            # Before the teams' namespaces (Platform.serving): a destroy deletes them, users' Jobs and Workloads
            # with their finalizers included, while Kueue runs.
            self.components([ns, *monitoring]),
            # The chart's names grow with the release's: from the resource name, its metrics Service would
            # be 68 characters, over the 63 a Service name may have (the API server refuses it).
            release="kueue",
        )
        self.crds = [self.kueue] if self.kueue else []
        self.queues = {}
        for obj in scheduling.queue_objects(spec, handle.inventory):
            res = self.add(obj, self.crds)
            if obj["kind"] == "ClusterQueue":
                self.queues[obj["metadata"]["name"]] = res
        self.register_outputs({"cluster_queues": list(self.queues)})

    def for_teams(self, spec: StackSpec, namespaces: dict[str, pulumi.Resource]) -> None:
        """Each team's LocalQueue, in its namespace, pointing at its ClusterQueue."""
        for team in spec.teams:
            self.add(scheduling.local_queue(team), [*self.crds, namespaces[team.name], self.queues[team.name]])


def _credential_of(receiver: str) -> Callable[[str], str]:
    def pick(raw: str) -> str:
        try:
            found = json.loads(raw)
        except ValueError:
            found = None
        if not isinstance(found, dict):
            return SECRET_PLACEHOLDER  # offline only: one secure value the planner cannot decrypt
        return str(found[receiver]).strip()

    return pick


def alert_credentials(receivers: Sequence[str]) -> dict[str, pulumi.Output[str]]:
    """Each receiver's credential from the secret config key aistack:alert_credentials, as Pulumi secrets
    (spec_from_config has made sure every one is there and stored as a secret)."""
    raw = pulumi.Config(CONFIG_NAMESPACE).require_secret(ALERT_CREDENTIALS)  # structured config: JSON text
    return {r: pulumi.Output.secret(raw.apply(_credential_of(r))) for r in receivers}


class Monitoring(_Part):
    """kube-prometheus-stack, the DCGM PodMonitor, accelerator alerts and the GPU dashboard.

    Receivers' credentials go into the Secret ``alertmanager-aistack-receivers``, created before the chart
    that mounts it; the chart values only name the Secret and the files in it.
    """

    def __init__(
        self, name: str, spec: StackSpec, handle: TargetHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("Monitoring", name, handle, opts, spec)
        # node-exporter reads host namespaces and paths, which only the privileged level allows.
        ns = self.add(system_namespace(monitoring.NAMESPACE, "privileged", spec))
        receivers = [r.name for r in monitoring.credential_receivers(spec.monitoring.alert_receivers)]
        secrets = [self.add(monitoring.receivers_secret(alert_credentials(receivers)), [ns])] if receivers else []
        if spec.upstream.install:
            # Generated on the first `up` and kept after that (what a random-password resource would do):
            # the Secret's content is the live one's from then on, so no run rotates it behind Grafana's back.
            password = pulumi.Output.secret(secrets_module.token_urlsafe(30))
            admin = monitoring.grafana_admin_secret(password)
            secrets.append(self.add(admin, [ns], ignore_changes=["stringData", "data"]))
        self.stack = install_chart(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            monitoring.NAMESPACE,
            monitoring.prometheus_values(spec, handle.storage),
            spec,
            self.components([ns, *secrets]),
        )
        crds = [ns, *([self.stack] if self.stack else [])]
        endpoint = gpu.dcgm_endpoint(handle.inventory, handle.nvidia)
        if endpoint is not None:
            self.add(monitoring.dcgm_pod_monitor(endpoint), crds)
        self.add(monitoring.prometheus_rule(spec, gpus=endpoint is not None), crds)
        self.add(monitoring.dashboard_configmap(), [ns])
        self.register_outputs({"namespace": monitoring.NAMESPACE})


# Kubeflow's parts and what each needs applied (and Ready) before it, from the pinned manifests (rendered by
# tests/test_destroy.py, which fails when a part uses a namespace, a custom kind or a cert-manager or Istio
# object no part it needs brings). Istio's webhooks admit the Istio kinds and inject the pods of the kubeflow
# namespace, cert-manager's admit Certificates and Issuers: their parts come before what they admit. Pulumi
# deletes in the reverse order, so on a destroy every controller and webhook outlives what it serves.
KUBEFLOW_NEEDS: dict[str, tuple[str, ...]] = {
    "cert-manager": (),
    "kubeflow-namespace": (),
    "istio-crds": (),
    "istio-namespace": (),
    "kubeflow-roles": (),
    "istio": ("istio-crds", "istio-namespace", "kubeflow-namespace"),
    "oauth2-proxy": ("istio",),
    "dex": ("istio",),
    "kubeflow-istio-resources": ("istio", "kubeflow-namespace"),
    "knative-serving": ("istio",),
    "cluster-local-gateway": ("istio",),
}
# The namespaces Kubeflow's parts create whose pods pull images (the pinned trees' Namespace objects; cert-manager's,
# dex's and oauth2-proxy's come from their bases): the site registry's pull secret goes into each once it exists.
KUBEFLOW_NAMESPACES: dict[str, tuple[str, ...]] = {
    "kubeflow-namespace": ("kubeflow", "kubeflow-system"),
    "istio-namespace": ("istio-system",),
    "cert-manager": ("cert-manager",),
    "dex": ("auth",),
    "oauth2-proxy": ("oauth2-proxy",),
}
# Parts that create Certificates and Issuers of their webhooks (cert-manager overlays).
KUBEFLOW_CERTIFICATES = frozenset({"pipelines", "katib", "admission-webhook", "pvcviewer", "kserve"})


def kubeflow_needs(part: str) -> tuple[str, ...]:
    """The parts ``part`` needs first: its row above, else (a component) the kubeflow namespaces, Istio for
    the multi-user components (they run behind it), cert-manager where it takes certificates."""
    if part in KUBEFLOW_NEEDS:
        return KUBEFLOW_NEEDS[part]
    needs = ["kubeflow-namespace"]
    if part not in kubeflow.STANDALONE:
        needs.append("istio")
    if part in KUBEFLOW_CERTIFICATES:
        needs.append("cert-manager")
    return tuple(needs)


class Kubeflow(_Part):
    """Kubeflow components from the pinned manifests, team Profiles, and Pipelines' artifact store."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("Kubeflow", name, handle, opts, spec)
        plan = kubeflow.install_plan(spec, handle.cni_bin_dir)
        made: dict[str, pulumi.Resource] = {}
        # Air-gapped: every image of the trees' objects (pod templates, ConfigMaps naming images, operator
        # settings) under the site registry, by the same rule as the charts' values (images/rewrite.py).
        registry = spec.upstream.image_registry
        pulls = PULL_SECRET if spec.upstream.image_pull_secret is not None else None
        images = pulumi.ResourceOptions(transforms=rewrite.transform(registry, pulls) if registry else None)
        if spec.upstream.install:
            for part, path in plan:
                # What this part really needs (kubeflow_needs), not the part before it: independent parts are
                # applied, and their rollouts awaited, in parallel. The teams' namespaces come after every part
                # (Platform.serving), so a destroy deletes them, and what users run in them, while these
                # controllers and webhooks run.
                needs = [made[n] for n in kubeflow_needs(part) if n in made]
                made[part] = k8s.kustomize.v2.Directory(
                    f"{name}-{part}",
                    directory=manifest_directory(kubeflow.MANIFESTS, path, spec.upstream),
                    opts=pulumi.ResourceOptions.merge(self.components(needs), images),
                )
                self.pull_secrets(KUBEFLOW_NAMESPACES.get(part, ()), made[part])
        self.made = made
        installed = list(made.values())
        # Cloud identity for in-cluster components whose service account the manifests create (e.g.
        # pipeline-runner): only aistack's annotations are applied, the account stays Kubeflow's.
        for wi in workload_identities(spec):
            # Without the upstream install nothing creates the kubeflow namespace or its accounts to annotate.
            if wi.namespace != kubeflow.NAMESPACE or not spec.upstream.install:
                continue
            sa = tenancy.service_account(
                wi.service_account, wi.namespace, wi.component, handle.service_account_annotations.get(wi.component, {})
            )
            self.add(sa, installed, patch=True)
        self.register_outputs({"installed": [part for part, _ in plan]})

    def for_teams(self, spec: StackSpec, namespaces: dict[str, pulumi.Resource]) -> None:
        """Each team's Kubeflow objects (its Profile, ...), in its namespace."""
        for team in spec.teams:
            for obj in kubeflow.team_objects(spec, team, self.handle):
                # A Profile needs its CRD and controller (the profiles part); anything else only the namespace.
                crds = [self.made["profiles"]] if obj["kind"] == "Profile" and "profiles" in self.made else []
                self.add(obj, [*crds, namespaces[team.name]])


class Platform(pulumi.ComponentResource):
    """Everything in-cluster. Built from the handle; never asks which cloud it is on.

    Children: ``{name}-tenancy``, ``{name}-storage``, ``{name}-accelerators``, ``{name}-scheduling``,
    ``{name}-monitoring`` (when enabled) and ``{name}-kubeflow`` (when enabled).
    """

    def __init__(
        self, name: str, spec: StackSpec, handle: TargetHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aistack:index:Platform", name, None, opts)
        mine = pulumi.ResourceOptions(parent=self)
        self.storage = Storage(f"{name}-storage", spec, handle, mine)
        self.accelerators = AcceleratorEnablement(f"{name}-accelerators", spec, handle, mine)
        # Monitoring before Kueue: its chart brings the CRDs of the ServiceMonitors other charts (Kueue) render.
        self.monitoring = Monitoring(f"{name}-monitoring", spec, handle, mine) if spec.monitoring.enabled else None
        prometheus_crds = [self.monitoring.stack] if self.monitoring and self.monitoring.stack else []
        self.scheduling = Scheduling(f"{name}-scheduling", spec, handle, mine, prometheus_crds)
        self.kubeflow = Kubeflow(f"{name}-kubeflow", spec, handle, mine) if spec.kubeflow.enabled else None
        # Then the teams' namespaces, after what serves them (Platform.serving), and what goes into each.
        self.tenancy = Tenancy(f"{name}-tenancy", spec, handle, mine, serving=self.serving())
        namespaces = self.tenancy.namespaces
        parts = (self.storage, self.accelerators, self.scheduling, self.kubeflow)
        for part in parts:
            if part is not None:
                part.for_teams(spec, namespaces)
        self.register_outputs(
            {
                "tenancy": self.tenancy,
                "storage": self.storage,
                "accelerators": self.accelerators,
                "scheduling": self.scheduling,
                "monitoring": self.monitoring,
                "kubeflow": self.kubeflow,
            }
        )

    def serving(self) -> list[pulumi.Resource]:
        """The installs whose controllers or webhooks act on what users run in the teams' namespaces
        (Kueue's Workloads and admission, the DRA driver's claims, Kubeflow's Notebooks, Profiles, TrainJobs,
        InferenceServices and Istio's injection), which the teams' namespaces depend on."""
        found: list[pulumi.Resource | None] = [self.scheduling.kueue, self.accelerators.dra_driver]
        if self.kubeflow is not None:
            found += self.kubeflow.made.values()
        return [r for r in found if r is not None]


__all__ = ["AcceleratorEnablement", "Kubeflow", "Monitoring", "Platform", "Scheduling", "Storage", "Tenancy"]
