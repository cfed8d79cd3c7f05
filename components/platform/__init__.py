"""Platform layer: identical on every target. It reads the TargetHandle and nothing else.

Each concern is a thin ComponentResource over pure functions in its own module (tenancy,
storage, gpu, scheduling, monitoring, kubeflow) that return manifests as plain dicts. Upstream
installs (charts, manifest trees) come first; objects of their custom kinds depend on them, so
CRDs exist before the objects that need them.
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
from ..objects import register
from ..sources import manifest_directory
from ..spec import StackSpec
from ..spec.loader import NAMESPACE as CONFIG_NAMESPACE
from ..spec.loader import SECRET_PLACEHOLDER
from ..spec.model import ALERT_CREDENTIALS
from . import dra, gpu, kubeflow, monitoring, scheduling, storage, tenancy


class _Part(pulumi.ComponentResource):
    """A platform concern: children go through the handle's provider, never the ambient one."""

    def __init__(self, cls: str, name: str, handle: TargetHandle, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"aistack:index:{cls}", name, None, opts)
        self.prefix = name
        self.handle = handle

    def child(self, depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.handle.provider, depends_on=list(depends_on), **extra)

    def components(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """Options for remote components (charts, kustomizations), which take providers as a list."""
        return pulumi.ResourceOptions(parent=self, providers=[self.handle.provider], depends_on=list(depends_on))

    def add(self, obj: dict[str, Any], depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.Resource:
        patch = bool(extra.pop("patch", False))
        return register(self.prefix, obj, self.child(depends_on, **extra), patch=patch)


class Tenancy(_Part):
    """Team namespaces and what is inside them: network policies, quota, limits, RBAC, service account.

    Namespaces hold team volumes, so they are retained on delete under data protection.
    """

    def __init__(
        self, name: str, spec: StackSpec, handle: TargetHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("Tenancy", name, handle, opts)
        self.namespaces: dict[str, pulumi.Resource] = {}
        for team in spec.teams:
            ns = self.add(tenancy.team_namespace(spec, team, handle.inventory), retain_on_delete=spec.data_protection)
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
        namespaces: dict[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("Storage", name, handle, opts)
        classes = [self.add(obj) for obj in storage.storage_classes(spec, handle.storage)]
        self.workspaces: dict[str, pulumi.Resource] = {}
        for team in spec.teams:
            claim = storage.workspace_claim(team, handle.storage)
            if claim is None:
                continue
            self.workspaces[team.name] = self.add(
                claim,
                [namespaces[team.name], *classes],
                protect=spec.data_protection,
                retain_on_delete=spec.data_protection,
            )
        self.register_outputs(
            {
                "default_class": handle.storage.default,
                "shared_class": handle.storage.shared,
                "workspaces": list(self.workspaces),
            }
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
        namespaces: dict[str, pulumi.Resource] | None = None,
    ) -> None:
        """``namespaces``: the teams' namespaces, where the dra pools' ResourceClaimTemplates go."""
        super().__init__("AcceleratorEnablement", name, handle, opts)
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
            for obj in gpu.driver_objects(handle.inventory, handle.nvidia, gpu.driver_version(spec)):
                self.add(obj, after)
        self.dra_driver = self._dra(name, spec, handle, namespaces or {}) if dra.dra_pools(handle.inventory) else None
        self.register_outputs({"gpu_operator": needed, "dra_pools": [p.pool for p in dra.dra_pools(handle.inventory)]})

    def _dra(
        self, name: str, spec: StackSpec, handle: TargetHandle, namespaces: dict[str, pulumi.Resource]
    ) -> k8s.helm.v4.Chart | None:
        """NVIDIA's DRA driver, the dra pools' DeviceClasses and each team's ResourceClaimTemplates (dra.py)."""
        ns = self.add(system_namespace(dra.NAMESPACE, "privileged", spec))  # its kubelet plugin runs privileged
        chart = install_chart(
            f"{name}-dra-driver",
            dra.CHART_KEY,
            dra.NAMESPACE,
            dra.driver_values(handle.inventory, handle.nvidia),
            spec,
            # After the operator, whose chart owns the ComputeDomain CRDs where it is installed.
            self.components([ns, *([self.operator] if self.operator else [])]),
            skip_crds=not dra.driver_owns_crds(self.operator is not None),
        )
        for obj in dra.cluster_objects(handle.inventory):
            self.add(obj)
        for team in spec.teams:
            for obj in dra.claim_templates(team, handle.inventory):
                self.add(obj, [namespaces[team.name]] if team.name in namespaces else [])
        return chart


class Scheduling(_Part):
    """Kueue with flavors, team ClusterQueues in cohorts, LocalQueues and priority classes."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        namespaces: dict[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
        monitoring: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``monitoring``: what brings the Prometheus Operator's CRDs, which the Kueue chart's ServiceMonitor
        needs when metrics are on (the provider cannot even place an object of an unknown kind)."""
        super().__init__("Scheduling", name, handle, opts)
        ns = self.add(system_namespace(scheduling.NAMESPACE, "restricted", spec))
        self.kueue = install_chart(
            f"{name}-kueue",
            "kueue",
            scheduling.NAMESPACE,
            scheduling.kueue_values(spec, handle.inventory),
            spec,
            self.components([ns, *monitoring]),
            # The chart's names grow with the release's: from the resource name, its metrics Service would
            # be 68 characters, over the 63 a Service name may have (the API server refuses it).
            release="kueue",
        )
        crds = [self.kueue] if self.kueue else []
        self.queues = {}
        for obj in scheduling.queue_objects(spec, handle.inventory):
            res = self.add(obj, crds)
            if obj["kind"] == "ClusterQueue":
                self.queues[obj["metadata"]["name"]] = res
        for team in spec.teams:
            self.add(scheduling.local_queue(team), [*crds, namespaces[team.name], self.queues[team.name]])
        self.register_outputs({"cluster_queues": list(self.queues)})


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
        super().__init__("Monitoring", name, handle, opts)
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


class Kubeflow(_Part):
    """Kubeflow components from the pinned manifests, team Profiles, and Pipelines' artifact store."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        handle: TargetHandle,
        namespaces: dict[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("Kubeflow", name, handle, opts)
        plan = kubeflow.install_plan(spec, handle.cni_bin_dir)
        installed: list[pulumi.Resource] = []
        if spec.upstream.install:
            previous: list[pulumi.Resource] = []
            for part, path in plan:
                directory = k8s.kustomize.v2.Directory(
                    f"{name}-{part}",
                    directory=manifest_directory(kubeflow.MANIFESTS, path, spec.upstream),
                    opts=self.components(previous),
                )
                previous = [directory]
                installed.append(directory)
        after = installed[-1:]
        for team in spec.teams:
            for obj in kubeflow.team_objects(spec, team, handle):
                self.add(obj, [*after, namespaces[team.name]])
        # Cloud identity for in-cluster components whose service account the manifests create (e.g.
        # pipeline-runner): only aistack's annotations are applied, the account stays Kubeflow's.
        for wi in workload_identities(spec):
            # Without the upstream install nothing creates the kubeflow namespace or its accounts to annotate.
            if wi.namespace != kubeflow.NAMESPACE or not spec.upstream.install:
                continue
            sa = tenancy.service_account(
                wi.service_account, wi.namespace, wi.component, handle.service_account_annotations.get(wi.component, {})
            )
            self.add(sa, after, patch=True)
        self.register_outputs({"installed": [part for part, _ in plan]})


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
        self.tenancy = Tenancy(f"{name}-tenancy", spec, handle, mine)
        namespaces = self.tenancy.namespaces
        self.storage = Storage(f"{name}-storage", spec, handle, namespaces, mine)
        self.accelerators = AcceleratorEnablement(f"{name}-accelerators", spec, handle, mine, namespaces)
        # Monitoring first: its chart brings the CRDs of the ServiceMonitors other charts (Kueue) render.
        self.monitoring = Monitoring(f"{name}-monitoring", spec, handle, mine) if spec.monitoring.enabled else None
        prometheus_crds = [self.monitoring.stack] if self.monitoring and self.monitoring.stack else []
        self.scheduling = Scheduling(f"{name}-scheduling", spec, handle, namespaces, mine, prometheus_crds)
        self.kubeflow = Kubeflow(f"{name}-kubeflow", spec, handle, namespaces, mine) if spec.kubeflow.enabled else None
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


__all__ = ["AcceleratorEnablement", "Kubeflow", "Monitoring", "Platform", "Scheduling", "Storage", "Tenancy"]
