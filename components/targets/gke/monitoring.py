"""Idle accelerators seen from Cloud Monitoring.

In-cluster Prometheus sees GPUs through DCGM, but TPU chips publish their usage only as GKE
system metrics. This alert covers every accelerator container on the cluster (TPU and GPU), so
a reserved TPU slice that sits idle raises the same signal as an idle GPU.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec

# GKE system metric: percent of time the accelerator was busy (https://cloud.google.com/monitoring/api/metrics_kubernetes).
DUTY_CYCLE = "kubernetes.io/container/accelerator/duty_cycle"


def build_accelerator_alerts(
    name: str, spec: StackSpec, project: str, parent: pulumi.Resource
) -> gcp.monitoring.AlertPolicy | None:
    """An alert policy for TPU stacks (GPU-only stacks are covered in-cluster), notifying the spec's email receivers."""
    accelerators = {p.accelerator for p in spec.accelerator_pools}
    if not spec.monitoring.enabled or not any(a.startswith("tpu-") for a in accelerators):
        return None
    opts = pulumi.ResourceOptions(parent=parent)
    labels = {"managed-by": "aistack", **naming.current_identity().gcp_labels()}  # the stack identity (#26)
    channels = [
        gcp.monitoring.NotificationChannel(
            f"{name}-alerts-{r.name}",
            project=project,
            display_name=f"{spec.name} {r.name}",
            type="email",
            labels={"email_address": r.target},
            user_labels=labels,
            opts=opts,
        ).id
        for r in spec.monitoring.alert_receivers
        if r.type == "email" and r.target is not None  # the spec requires an address for email receivers
    ]
    mon = spec.monitoring
    return gcp.monitoring.AlertPolicy(
        f"{name}-idle-accelerators",
        project=project,
        display_name=f"{spec.name}: accelerator allocated but idle",
        user_labels=labels,
        combiner="OR",
        conditions=[
            {
                "display_name": f"duty cycle under {mon.idle_gpu_utilization_percent}% for {mon.idle_gpu_minutes} min",
                "condition_threshold": {
                    "filter": f'resource.type = "k8s_container" AND metric.type = "{DUTY_CYCLE}"',
                    "comparison": "COMPARISON_LT",
                    "threshold_value": mon.idle_gpu_utilization_percent,
                    "duration": f"{mon.idle_gpu_minutes * 60}s",
                    "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_MEAN"}],
                },
            }
        ],
        notification_channels=channels,
        documentation={
            "content": "A pod holds TPU chips or GPUs it barely uses. Ask its owner to release them to the queue.",
            "mime_type": "text/markdown",
        },
        opts=opts,
    )
