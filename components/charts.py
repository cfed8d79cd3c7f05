"""Installing a pinned upstream chart through Pulumi's Helm v4 Chart (rendered objects, each a resource)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import naming
from .images.charts import PULL_SECRET, chart_values
from .images.rewrite import transform
from .sources import chart_source
from .spec import StackSpec


def install_chart(
    name: str,
    key: str,
    namespace: str,
    values: Mapping[str, Any],
    spec: StackSpec,
    opts: pulumi.ResourceOptions,
    *,
    release: str | None = None,
    include_hooks: bool | None = None,
    skip_crds: bool | None = None,
) -> k8s.helm.v4.Chart | None:
    """The chart pinned under ``key`` in versions.UPSTREAMS, or None when upstream installs are off.

    Helm v4 Chart renders the chart and registers every object as its own resource, so drift
    detection and ``pulumi destroy`` see each one, unlike a Helm release. ``release``: the Helm
    release name where objects' names derive from it (default: the resource name). ``include_hooks``:
    render hook objects (e.g. a post-install Job) as ordinary resources. Without ``release``, a resource
    name Helm cannot take as a release name (over 53 characters, from a long stack name) gives way to
    the chart's own name (naming.helm_release). ``skip_crds``: leave out the chart's ``crds/`` (another
    chart owns identical ones: one owner per CRD, or the second's apply fights the first's on every ``up``).
    With ``upstream.image_registry``, the values also point every image of the chart at the site registry
    (components/images/charts.py).
    """
    if not spec.upstream.install:
        return None
    src = chart_source(key, spec.upstream)
    # Air-gapped: every image part of the chart under the site registry (images.charts); none set: unchanged.
    registry, pull = spec.upstream.image_registry, spec.upstream.image_pull_secret is not None
    values = chart_values(key, values, registry, pull)
    if registry is not None:  # and what no value reaches, object by object (images.rewrite); idempotent
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(transforms=transform(registry, PULL_SECRET if pull else None))
        )
    return k8s.helm.v4.Chart(
        name,
        chart=src.chart,
        version=src.version,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=src.repo) if src.repo else None,
        namespace=namespace,
        values=dict(values),
        name=release if release is not None else naming.helm_release(name, key),
        include_hooks=include_hooks,
        skip_crds=skip_crds,
        opts=opts,
    )


def system_namespace(name: str, pod_security: str, spec: StackSpec) -> dict[str, Any]:
    """A namespace the platform's own components run in, with its Pod Security level."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": "aistack",
                "aistack.io/stack": spec.name,
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/audit": pod_security,
                "pod-security.kubernetes.io/warn": pod_security,
            },
        },
    }
