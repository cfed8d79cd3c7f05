"""Before any resource: can the program reach the places its charts and manifests come from?

Without this check an unreachable chart repository surfaces deep inside the Kubernetes provider's Helm
or kustomize call, and the Python SDK reports it with a traceback per resource ("no such host" for
raw.githubusercontent.com when the README's by-hand steps run on a machine without internet). Here the
stack's remote sources are resolved as the program resolves them (components/sources.py), each host is
tried once on TCP (through the proxy the environment names, if any), and an unreachable one is a single
line that says what to do. Directory mirrors are paths: nothing to try.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.spec import StackSpec

# What the upstreams command lists too: the platform's charts; the targets add their own installs.
PLATFORM_CHARTS = ("gpu-operator", "kueue", "kube-prometheus-stack")
TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Endpoint:
    """A host and port the program would connect to, and the upstreams that need it."""

    host: str
    port: int
    needed_by: tuple[str, ...]


def stack_keys(spec: StackSpec) -> list[str]:
    """The pinned charts and manifest files (components/versions.py keys) the stack installs, Kubeflow's
    manifest tree aside: the platform's charts, NVIDIA's DRA driver for dra pools, the target's own."""
    from components.platform.dra import CHART_KEY as DRA_CHART
    from components.targets import eks
    from components.targets.onprem import upstream_keys

    keys = [*PLATFORM_CHARTS, *upstream_keys(spec), *eks.upstream_keys(spec)]
    if any(p.allocation == "dra" for p in spec.accelerator_pools):
        keys.append(DRA_CHART)
    return keys


def references(spec: StackSpec) -> dict[str, str]:
    """upstream name → the chart reference, manifest directory or file the program would install from."""
    from components.handle import DEFAULT_CNI_BIN_DIR
    from components.platform.kubeflow import MANIFESTS, install_plan
    from components.sources import chart_source, manifest_directory, manifest_file
    from components.versions import UPSTREAMS

    if not spec.upstream.install:
        return {}
    refs: dict[str, str] = {}
    for key in stack_keys(spec):
        kind = UPSTREAMS[key].kind
        refs[key] = chart_source(key, spec.upstream).reference if kind == "chart" else manifest_file(key, spec.upstream)
    for name, path in install_plan(spec, DEFAULT_CNI_BIN_DIR)[:1]:  # one directory names the tree's host
        refs[f"kubeflow ({name})"] = manifest_directory(MANIFESTS, path, spec.upstream, offline=False)
    return refs


def endpoints(refs: Mapping[str, str]) -> list[Endpoint]:
    """The distinct remote endpoints among ``refs`` (paths on disk need none)."""
    found: dict[tuple[str, int], list[str]] = {}
    for name, ref in refs.items():
        parts = urlsplit(ref)
        if parts.scheme not in ("http", "https", "oci") or not parts.hostname:
            continue
        port = parts.port or (80 if parts.scheme == "http" else 443)
        found.setdefault((parts.hostname, port), []).append(name)
    return [Endpoint(host, port, tuple(names)) for (host, port), names in found.items()]


def _via(endpoint: Endpoint, proxies: Mapping[str, str]) -> tuple[str, int]:
    """Where a connection to ``endpoint`` really goes: the environment's proxy for it, unless bypassed."""
    scheme = "http" if endpoint.port == 80 else "https"
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(endpoint.host):
        return endpoint.host, endpoint.port
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname or endpoint.host, parts.port or 8080


def _connect(address: tuple[str, int]) -> str | None:
    try:
        with socket.create_connection(address, timeout=TIMEOUT_S):
            return None
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__


def unreachable(
    spec: StackSpec,
    connect: Callable[[tuple[str, int]], str | None] = _connect,
    proxies: Mapping[str, str] | None = None,
) -> list[tuple[Endpoint, str]]:
    """Each endpoint the stack needs that does not answer, with why (all tried at once, a few seconds)."""
    targets = endpoints(references(spec))
    env_proxies = urllib.request.getproxies() if proxies is None else proxies
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        results = list(pool.map(lambda e: connect(_via(e, env_proxies)), targets))
    return [(e, why) for e, why in zip(targets, results, strict=True) if why is not None]


def message(stack: str, failed: list[tuple[Endpoint, str]]) -> str:
    """One line: what could not be reached, for which upstreams, and the ways out."""
    what = "; ".join(f"{e.host}:{e.port} ({why}) for {', '.join(e.needed_by)}" for e, why in failed)
    local = (
        ' For the local demo: `aistack local up` chooses a mirror, then eval "$(aistack local env)" gives '
        "plain pulumi the same sources."
        if stack == "local"
        else ""
    )
    return (
        f"upstream sources unreachable: {what}. To fix: restore the connection, or point "
        "aistack:upstream.charts_mirror / manifests_mirror at a mirror (`aistack upstreams "
        f"{stack}` lists what to copy), or set aistack:upstream.install: false.{local}"
    )
