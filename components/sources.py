"""Where each upstream install comes from: the pinned upstream, or the air-gapped mirror.

Pure functions over ``versions.UPSTREAMS`` and the spec's ``upstream`` section. Every chart and
manifest tree the platform installs goes through here, so a mirror covers all of them or the
spec rules say which one it misses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import kustomize_mirror
from .spec.model import UpstreamSpec
from .versions import Upstream, pinned


@dataclass(frozen=True)
class ChartSource:
    """Arguments for a Helm chart install: ``chart`` (name, oci:// reference or .tgz path), version, repo."""

    chart: str
    version: str
    repo: str | None  # None when ``chart`` is a full reference (oci:// or a local file)

    @property
    def reference(self) -> str:
        return f"{self.repo}/{self.chart}" if self.repo else self.chart


def chart_source(key: str, upstream: UpstreamSpec) -> ChartSource:
    u = _pinned(key, "chart", upstream)
    mirror = upstream.charts_mirror
    if mirror is None:
        if u.repo.startswith("oci://"):
            return ChartSource(f"{u.repo}/{u.name}", u.version, None)
        return ChartSource(u.name, u.version, u.repo)
    if mirror.startswith("oci://"):
        return ChartSource(f"{mirror}/{u.name}", u.version, None)
    if mirror.startswith(("http://", "https://")):
        return ChartSource(u.name, u.version, mirror)  # a Helm repository: index.yaml names the chart
    return ChartSource(f"{mirror}/{u.mirror_name}", u.version, None)


def manifest_directory(key: str, path: str, upstream: UpstreamSpec, *, offline: bool = True) -> str:
    """A kustomization directory inside a pinned manifest tree: a git URL at the pinned commit, or the mirror.

    With a directory mirror that is there, a component whose kustomizations name internet resources comes
    back as an offline copy (``kustomize_mirror.offline_directory``: the remote references rewritten to the
    mirror's ``remote/`` copies, in ``~/.cache/aistack/kustomize/``); every other one as its path in the
    mirror. ``offline=False``: always the path in the mirror (what `aistack upstreams` lists).
    """
    u = _pinned(key, "manifests", upstream)
    path = path.strip("/")
    mirror = upstream.manifests_mirror
    if mirror is not None:
        if offline and os.path.isdir(f"{mirror}/{u.mirror_name}"):
            return kustomize_mirror.offline_directory(mirror, u.mirror_name, path)
        return f"{mirror}/{u.mirror_name}/{path}"
    return f"{u.repo}/tree/{u.ref}/{path}"


def _pinned(key: str, kind: str, upstream: UpstreamSpec) -> Upstream:
    """The upstream at the version the stack pins (upstream.versions), else aistack's default."""
    u = pinned(key, upstream.versions)
    if u.kind != kind:
        raise ValueError(f"{key} is a {u.kind}, not a {kind}")
    return u


def manifest_file(key: str, upstream: UpstreamSpec) -> str:
    """A single pinned manifest: its URL at the pinned tag, or its copy in the manifests mirror."""
    u = _pinned(key, "file", upstream)
    if upstream.manifests_mirror is not None:
        return f"{upstream.manifests_mirror}/{u.mirror_name}"
    return u.repo
