"""Monitoring: kube-prometheus-stack, GPU metrics scraping, a GPU dashboard and alert rules.

The alerts are what turn idle accelerators into a signal: a GPU allocated to a pod but barely
busy, GPU hardware errors (XID, row-remap failures) and queue backlog per team.

Receivers whose endpoint is a credential (Slack webhook URL, PagerDuty routing key, webhook URL)
never reach the chart values: the credentials go into one Secret, mounted into Alertmanager
through ``alertmanagerSpec.secrets``, and the config names the mounted files (``*_file``).

Grafana's admin credentials live in a Secret aistack creates once (``GRAFANA_ADMIN_SECRET``), not in the
chart's own: the chart writes a fresh password quoted on its first render and the stored one unquoted
after that (``grafana.password`` in its _helpers.tpl), so the Deployment's ``checksum/secret`` changed on
the second `pulumi up` and Grafana restarted for nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from ..handle import PodEndpoint, StorageClasses
from ..spec import StackSpec
from ..spec.model import CREDENTIAL_RECEIVERS, AlertReceiver

NAMESPACE = "monitoring"
# The receivers' credentials, one key per receiver name. The Prometheus Operator mounts each Secret
# listed in alertmanagerSpec.secrets at /etc/alertmanager/secrets/<secret>/<key>.
RECEIVERS_SECRET = "alertmanager-aistack-receivers"
SECRETS_DIR = "/etc/alertmanager/secrets"
# Alertmanager (v0.34 in the pinned chart) reads each of these from a file instead of the config.
CREDENTIAL_FILE_FIELD = {"slack": "api_url_file", "pagerduty": "routing_key_file", "webhook": "url_file"}
RULES_NAME = "aistack-accelerators"
DASHBOARD_LABEL = "grafana_dashboard"  # the Grafana sidecar's default dashboard label
GRAFANA_ADMIN_SECRET = "aistack-grafana-admin"
GRAFANA_ADMIN_USER = "admin"
# The keys the grafana chart reads from admin.existingSecret (its defaults userKey/passwordKey).
GRAFANA_USER_KEY, GRAFANA_PASSWORD_KEY = "admin-user", "admin-password"


def prometheus_values(spec: StackSpec, storage: StorageClasses) -> dict[str, Any]:
    """Helm values for kube-prometheus-stack: retention and volume from the spec, and selectors opened
    so ServiceMonitors, PodMonitors and rules from any release (GPU Operator, Kueue, aistack) are used."""
    mon = spec.monitoring
    open_selectors = {
        f"{kind}SelectorNilUsesHelmValues": False for kind in ("serviceMonitor", "podMonitor", "rule", "probe")
    }
    return {
        "crds": {"enabled": True},
        "prometheus": {
            "prometheusSpec": {
                "retention": mon.retention,
                "retentionSize": f"{int(mon.storage_gb * 0.9)}GB",  # leave headroom so the volume never fills
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": storage.default,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{mon.storage_gb}Gi"}},
                        }
                    }
                },
                **open_selectors,
            }
        },
        "alertmanager": alertmanager_values(mon.alert_receivers),
        # The operator's admission webhook gets its certificate from Helm hook Jobs (admission-create/patch),
        # and Pulumi's Chart v4 renders no hooks (the provider templates with hooks disabled): the operator
        # would wait forever for the `*-admission` Secret. Without the webhook and its TLS, nothing waits;
        # PrometheusRules are still checked by the operator when it loads them (and aistack's in tests).
        "prometheusOperator": {"admissionWebhooks": {"enabled": False}, "tls": {"enabled": False}},
        "grafana": {
            "enabled": True,
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET},
            "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "searchNamespace": "ALL"}},
        },
    }


def credential_receivers(receivers: tuple[AlertReceiver, ...]) -> list[AlertReceiver]:
    """Receivers whose endpoint is a credential kept in RECEIVERS_SECRET."""
    return [r for r in receivers if r.type in CREDENTIAL_RECEIVERS]


def credential_file(receiver: AlertReceiver) -> str:
    """Where Alertmanager reads the receiver's credential: its key in the mounted RECEIVERS_SECRET."""
    return f"{SECRETS_DIR}/{RECEIVERS_SECRET}/{receiver.name}"


def alertmanager_values(receivers: tuple[AlertReceiver, ...]) -> dict[str, Any]:
    """The chart's alertmanager section: the config, and the credentials Secret mounted when a receiver needs it."""
    values: dict[str, Any] = {"config": alertmanager_config(receivers)}
    if credential_receivers(receivers):
        values["alertmanagerSpec"] = {"secrets": [RECEIVERS_SECRET]}
    return values


def receivers_secret(credentials: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Receiver name → credential, each value a Pulumi secret (so never a plain output, in state or plan)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": RECEIVERS_SECRET,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "aistack", "app.kubernetes.io/component": "alertmanager"},
        },
        "type": "Opaque",
        "stringData": dict(credentials),
    }


def grafana_admin_secret(password: pulumi.Input[str]) -> dict[str, Any]:
    """Grafana's admin login, which the chart reads through admin.existingSecret; the password a Pulumi secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": GRAFANA_ADMIN_SECRET,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "aistack", "app.kubernetes.io/component": "grafana"},
        },
        "type": "Opaque",
        "stringData": {GRAFANA_USER_KEY: GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_KEY: password},
    }


def _receiver(r: AlertReceiver) -> dict[str, Any]:
    if r.type == "email":
        return {"name": r.name, "email_configs": [{"to": r.target, "send_resolved": True}]}
    field = {CREDENTIAL_FILE_FIELD[r.type]: credential_file(r), "send_resolved": True}
    if r.type == "slack":
        return {"name": r.name, "slack_configs": [{**field, "channel": r.target}]}
    if r.type == "pagerduty":
        return {"name": r.name, "pagerduty_configs": [field]}
    return {"name": r.name, "webhook_configs": [field]}


def alertmanager_config(receivers: tuple[AlertReceiver, ...]) -> dict[str, Any]:
    names = [r.name for r in receivers]
    route: dict[str, Any] = {"receiver": "null", "group_by": ["alertname", "namespace"]}
    if names:
        route["routes"] = [
            {"receiver": n, "matchers": ['severity=~"warning|critical"'], "continue": True} for n in names
        ]
    return {"route": route, "receivers": [{"name": "null"}, *(_receiver(r) for r in receivers)]}


def dcgm_pod_monitor(endpoint: PodEndpoint) -> dict[str, Any]:
    """Scrape the DCGM exporter wherever the target or the GPU Operator runs it (a PodMonitor needs no Service)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "dcgm-exporter", "namespace": NAMESPACE},
        "spec": {
            "namespaceSelector": {"matchNames": [endpoint.namespace]},
            "selector": {"matchLabels": dict(endpoint.selector)},
            "podMetricsEndpoints": [{"port": endpoint.port, "path": "/metrics", "interval": "30s"}],
        },
    }


def gpu_rules(spec: StackSpec) -> list[dict[str, Any]]:
    mon = spec.monitoring
    minutes = mon.idle_gpu_minutes
    ratio = mon.idle_gpu_utilization_percent / 100
    return [
        {
            "alert": "GPUAllocatedButIdle",
            # GR_ENGINE_ACTIVE works for whole GPUs and MIG slices; exported_pod is set only while allocated.
            "expr": f'avg_over_time(DCGM_FI_PROF_GR_ENGINE_ACTIVE{{exported_pod!=""}}[{minutes}m]) < {ratio}',
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "GPU allocated but idle",
                "description": (
                    "GPU {{ $labels.gpu }} on {{ $labels.instance }}, held by {{ $labels.exported_namespace }}/"
                    "{{ $labels.exported_pod }}, was under "
                    f"{mon.idle_gpu_utilization_percent}% busy for {minutes} minutes. Release it to the queue."
                ),
            },
        },
        {
            "alert": "GPUXidError",
            "expr": "max_over_time(DCGM_FI_DEV_XID_ERRORS[5m]) > 0",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "GPU XID error",
                "description": "GPU {{ $labels.gpu }} on {{ $labels.instance }} reported XID {{ $value }}. "
                "Drain the node if it repeats (XID 48, 63, 64, 74, 79 mean hardware or NVLink faults).",
            },
        },
        {
            "alert": "GPURowsRemapped",
            "expr": "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS > 0",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "GPU memory rows remapped after uncorrectable errors",
                "description": "GPU {{ $labels.gpu }} on {{ $labels.instance }} remapped {{ $value }} memory rows; "
                "reset it at the next drain, and replace it if the count keeps growing.",
            },
        },
    ]


def queue_rules(spec: StackSpec) -> list[dict[str, Any]]:
    minutes = spec.monitoring.idle_gpu_minutes
    return [
        {
            "alert": "QueueBacklog",
            "expr": 'sum by (cluster_queue) (kueue_pending_workloads{status="active"}) > 0',
            "for": f"{minutes}m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Jobs waiting for quota",
                "description": "Queue {{ $labels.cluster_queue }} has had {{ $value }} admissible workloads "
                f"waiting for {minutes} minutes: the cohort is full. Raise quotas or pool max_nodes.",
            },
        },
        {
            "alert": "QueueInadmissible",
            "expr": 'sum by (cluster_queue) (kueue_pending_workloads{status="inadmissible"}) > 0',
            "for": "15m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Jobs that can never be admitted",
                "description": "Queue {{ $labels.cluster_queue }} holds {{ $value }} workloads that ask for more "
                "than the queue can ever give (wrong flavor, or above quota plus borrowing).",
            },
        },
    ]


def prometheus_rule(spec: StackSpec, gpus: bool) -> dict[str, Any]:
    groups = []
    if gpus:
        groups.append({"name": "aistack.gpu", "rules": gpu_rules(spec)})
    if spec.teams:
        groups.append({"name": "aistack.queues", "rules": queue_rules(spec)})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": RULES_NAME, "namespace": NAMESPACE},
        "spec": {"groups": groups},
    }


def _panel(pid: int, title: str, expr: str, unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"expr": expr, "refId": "A"}],
    }


def gpu_dashboard() -> dict[str, Any]:
    """Accelerators at a glance: busy, idle-but-allocated, memory, and queue pressure per team."""
    panels = [
        _panel(
            1,
            "GPU busy (graphics engine active)",
            "avg by (instance, gpu) (DCGM_FI_PROF_GR_ENGINE_ACTIVE)",
            "percentunit",
            0,
            0,
        ),
        _panel(
            2,
            "Allocated GPUs under the idle threshold",
            'count by (exported_namespace) (DCGM_FI_PROF_GR_ENGINE_ACTIVE{exported_pod!=""} < 0.1)',
            "none",
            12,
            0,
        ),
        _panel(3, "GPU memory used", "sum by (instance, gpu) (DCGM_FI_DEV_FB_USED) * 1024 * 1024", "bytes", 0, 8),
        _panel(
            4, "Pending workloads per team queue", "sum by (cluster_queue) (kueue_pending_workloads)", "none", 12, 8
        ),
    ]
    return {
        "title": "aistack / accelerators",
        "uid": "aistack-accelerators",
        "schemaVersion": 39,
        "tags": ["aistack", "gpu", "kueue"],
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def dashboard_configmap() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "aistack-accelerators-dashboard",
            "namespace": NAMESPACE,
            "labels": {DASHBOARD_LABEL: "1"},
        },
        "data": {"aistack-accelerators.json": json.dumps(gpu_dashboard(), sort_keys=True)},
    }
