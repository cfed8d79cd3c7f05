"""Where the local demo takes the upstream charts and manifests from, decided once per cluster.

The committed `local` stack installs every upstream from its public repository, as a user's
machine with internet does. The local demo looks for something better first, in this order:

1. the stack's own ``upstream`` section (``install: false``, or mirrors it names): taken as written;
2. ``AISTACK_MIRROR``: a directory laid out as ``aistack upstreams`` describes (charts as
   ``<chart>-<version>.tgz``, manifest trees, ``remote/``);
3. ``../shared/mirror`` beside the checkout, where this project's test data keeps one;
4. the public repositories, when one answers on TCP within a few seconds;
5. none of these: the upstream CRDs only (``install: false``), so aistack's own objects still apply.

`aistack local up` decides and records the choice in the cluster's state directory, so deploy,
refresh, drift and destroy of the same cluster all see the same program inputs (a mirror that
appeared in between would otherwise look like drift). The choice reaches the engine through the
private copy of the stack's config (``--config-file``), never through the committed stack file.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from components.spec import StackSpec

from .cluster import STATE_DIR

MIRROR_ENV = "AISTACK_MIRROR"
SHARED_MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "mirror"
# One host per kind of public source the local stack reads (the Kueue chart's OCI registry, a Helm
# repository on GitHub-hosted pages, GitHub itself for kubeflow/manifests).
PUBLIC_PROBES = (("registry.k8s.io", 443), ("github.com", 443))
ROUTE_FILE = "upstream.json"

Kind = Literal["stack", "mirror", "public", "crds-only"]


@dataclass(frozen=True)
class UpstreamRoute:
    """``kind``: where the upstreams come from; ``mirror``: the directory (kind mirror); ``why``: one line."""

    kind: Kind
    why: str
    mirror: str | None = None
    # Further upstream settings this cluster's deploys use on top of the route (an image registry, version
    # pins), recorded with it so that every command on the cluster, `aistack local env` included, sees them.
    extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.extra and self.kind in ("stack", "public"):
            raise ValueError(f"a {self.kind} route keeps the stack's upstream section as written: no extra settings")

    def overrides(self) -> dict[str, Any] | None:
        """The stack config's ``aistack:upstream`` for this route; None: keep the stack's as written."""
        if self.kind == "mirror":
            section = {"install": True, "charts_mirror": self.mirror, "manifests_mirror": self.mirror}
        elif self.kind == "crds-only":
            section = {"install": False}
        else:
            return None
        return {**section, **(self.extra or {})}

    @property
    def installs_upstream(self) -> bool:
        return self.kind != "crds-only"


def is_mirror(path: Path) -> bool:
    """A directory mirror as the tests' ../shared/mirror and `aistack upstreams` lay it out."""
    return path.is_dir() and (path / "index.yaml").is_file()


def internet(probes: tuple[tuple[str, int], ...] = PUBLIC_PROBES, timeout: float = 3.0) -> bool:
    """True when every public source answers on TCP (a name that does not resolve fails fast)."""
    for host, port in probes:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError:
            return False
    return True


def decide(
    spec: StackSpec,
    env: Mapping[str, str] = os.environ,
    shared: Path = SHARED_MIRROR,
    online: Callable[[], bool] = internet,
) -> UpstreamRoute:
    """The route, by the order in the module docstring. Pure but for ``online`` (and the file checks)."""
    if not spec.upstream.install:
        return UpstreamRoute("stack", "the stack switches upstream installs off: aistack's objects on the CRDs only")
    if spec.upstream.charts_mirror is not None or spec.upstream.manifests_mirror is not None:
        return UpstreamRoute("stack", f"upstreams from the stack's mirror {spec.upstream.charts_mirror}")
    named = env.get(MIRROR_ENV)
    if named:
        path = Path(named).expanduser().resolve()
        if not is_mirror(path):
            raise ValueError(
                f"{MIRROR_ENV}={named} is not a mirror directory (no index.yaml in it). To fix: point it at the "
                "folder `aistack upstreams local` describes, or unset it"
            )
        return UpstreamRoute("mirror", f"upstreams from the mirror {path} ({MIRROR_ENV})", str(path))
    if is_mirror(shared):
        path = shared.resolve()
        return UpstreamRoute("mirror", f"upstreams from the mirror {path} (beside the checkout)", str(path))
    if online():
        return UpstreamRoute("public", "upstreams from their public repositories (see `aistack upstreams local`)")
    return UpstreamRoute(
        "crds-only",
        f"no internet and no mirror: upstream CRDs only, aistack's objects on top. To install the upstreams: "
        f"{MIRROR_ENV}=/path/to/mirror (see `aistack upstreams local`)",
    )


def record(route: UpstreamRoute, state: Path = STATE_DIR) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / ROUTE_FILE).write_text(json.dumps(asdict(route)))


def recorded(state: Path = STATE_DIR) -> UpstreamRoute | None:
    """The route `aistack local up` chose for this cluster, if it chose one."""
    path = state / ROUTE_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return UpstreamRoute(kind=data["kind"], why=data["why"], mirror=data.get("mirror"), extra=data.get("extra"))
