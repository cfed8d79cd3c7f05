"""Optional MetalLB: LoadBalancer services on bare metal, announced over L2 from a given pool.

L2 mode needs no router configuration, which is what a site without BGP peering can use; BGP
setups stay with the site's network team (configure MetalLB's BGPPeer alongside).
"""

from __future__ import annotations

from typing import Any

from ...spec import StackSpec

NAMESPACE = "metallb-system"  # speakers use host networking and NET_RAW: privileged Pod Security
POOL = "aistack"


def metallb_values() -> dict[str, Any]:
    """The chart's CRDs and native L2 speaker; FRR (BGP) stays off in both of the chart's forms: the speaker's
    FRR container, and the frr-k8s backend, which chart 0.16 turns on by default (a privileged DaemonSet on
    every node, its webhook and four CRDs, none of them used by L2 advertisement)."""
    return {"crds": {"enabled": True}, "speaker": {"frr": {"enabled": False}}, "frrk8s": {"enabled": False}}


def address_pool(spec: StackSpec) -> list[dict[str, Any]]:
    addresses = list(spec.onprem.metallb.addresses)
    if not addresses:
        return []
    labels = {"app.kubernetes.io/managed-by": "aistack", "aistack.io/stack": spec.name}
    return [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": POOL, "namespace": NAMESPACE, "labels": labels},
            "spec": {"addresses": addresses},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": POOL, "namespace": NAMESPACE, "labels": labels},
            "spec": {"ipAddressPools": [POOL]},
        },
    ]
