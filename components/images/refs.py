"""Container image references: parsing, the site-registry rule, and every image a set of rendered objects runs.

Pure functions over plain dicts (rendered manifests). Three things live here:

- :func:`parse_image` normalises a reference the way the container runtimes do (distribution's
  ``reference.ParseNormalizedNamed``: https://github.com/distribution/reference/blob/main/normalize.go):
  a first path element with a ``.`` or ``:`` or equal to ``localhost`` is a registry host, else the
  registry is ``docker.io``, and a single-element Docker Hub name gains ``library/``.
- :func:`mirrored` is THE rule for an air-gapped site registry: the normalised source reference with the
  site registry prefixed, the source registry host kept as the first path element, tag and digest kept
  (``nvcr.io/nvidia/gpu-operator:v26.7.0`` → ``REGISTRY/nvcr.io/nvidia/gpu-operator:v26.7.0``).
- :func:`images_in` finds every image rendered objects make a node pull: pod templates of any kind, and
  the operator settings that create pods from configuration (components/image_settings.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .settings import DRIVER_OS, KFP_REPOSITORY_VARIABLES, settings_images

DOCKER_HUB = "docker.io"
# distribution/reference regexp.go: a path component, a tag and a digest.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?"
)
# Controller flags naming an image the controller starts containers from, beyond the ``--*-image`` ones:
# prometheus-operator cmd/operator/main.go (the config-reloader sidecar it adds to every Prometheus pod).
IMAGE_FLAGS = ("--prometheus-config-reloader",)
POD_SPEC_LISTS = ("initContainers", "containers", "ephemeralContainers")


class ImageReferenceError(ValueError):
    """Text that is not a container image reference."""


@dataclass(frozen=True)
class ImageRef:
    """One image: the normalised reference and its parts, and where it was found."""

    reference: str  # REGISTRY/REPOSITORY[:TAG][@DIGEST]
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    source: str = ""  # the first place it was found
    sources: tuple[str, ...] = ()  # every place (source is sources[0])

    @property
    def name(self) -> str:
        """REGISTRY/REPOSITORY: what kustomize's images transformer and registries call the image's name."""
        return f"{self.registry}/{self.repository}"

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "sources": list(self.sources),
        }


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    if first == "index.docker.io" or (sep and first == DOCKER_HUB):
        return DOCKER_HUB, rest
    return DOCKER_HUB, name if "/" in name else f"library/{name}"


def parse_image(text: str, source: str = "") -> ImageRef:
    """A reference normalised (``busybox`` → ``docker.io/library/busybox``); no tag is invented.

    Raises :class:`ImageReferenceError` for text that no container runtime would pull.
    """
    raw = text.strip()
    rest, _, digest = raw.partition("@")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = rest.rpartition(":")
    registry, repository = _split_domain(name)
    if registry == DOCKER_HUB and repository.count("/") == 0:
        repository = f"library/{repository}"
    problems = []
    if not raw or raw != text or any(c.isspace() for c in raw):
        problems.append("it is empty or holds spaces")
    if not _HOST.fullmatch(registry) or registry != registry.lower():
        problems.append(f"'{registry}' is not a registry host (lowercase, host[:port])")
    if not repository or not all(_COMPONENT.fullmatch(p) for p in repository.split("/")):
        problems.append(f"'{repository}' is not a repository path (lowercase components separated by '/')")
    if tag is not None and not _TAG.fullmatch(tag):
        problems.append(f"'{tag}' is not a tag")
    if digest and not _DIGEST.fullmatch(digest):
        problems.append(f"'{digest}' is not a digest")
    if problems:
        raise ImageReferenceError(f"'{text}' is not an image reference: {'; '.join(problems)}")
    reference = f"{registry}/{repository}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return ImageRef(reference, registry, repository, tag, digest or None, source, (source,) if source else ())


def mirrored(reference: str, registry: str | None) -> str:
    """The rule: where a site registry holds an upstream image. ``registry`` None: the reference, unchanged."""
    if registry is None:
        return reference
    return f"{registry.rstrip('/')}/{parse_image(reference).reference}"


def mirrored_prefix(source_prefix: str, registry: str) -> str:
    """The rule for a registry/repository prefix a chart or an operator joins with an image name
    (``nvcr.io/nvidia`` → ``REGISTRY/nvcr.io/nvidia``); a Docker Hub prefix is normalised like a name."""
    host = source_prefix.partition("/")[0]
    if not ("." in host or ":" in host or host == "localhost"):
        source_prefix = f"{DOCKER_HUB}/{source_prefix}"
    return f"{registry.rstrip('/')}/{source_prefix}"


# ------------------------------------------------------------------------------------ finding them


def pod_spec_images(spec: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(image, container path) of every container of one pod spec."""
    for field in POD_SPEC_LISTS:
        for i, container in enumerate(spec.get(field) or []):
            if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                yield container["image"], f"{field}[{container.get('name', i)}]"


def _pod_specs(node: Any, path: str) -> Iterable[tuple[Mapping[str, Any], str]]:
    """Every mapping holding a list of containers, wherever a kind nests it (Pods, workload templates,
    CronJobs, JobSets in ClusterTrainingRuntimes, serving runtimes, Notebooks)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("containers"), list):
            yield node, path
        for key, value in node.items():
            if key not in POD_SPEC_LISTS:
                yield from _pod_specs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _pod_specs(value, f"{path}[{i}]")


def describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def object_images(
    obj: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, str]] | None = None,
    driver_os: tuple[str, ...] = DRIVER_OS,
) -> list[tuple[str, str]]:
    """(image text, where) of every image one rendered object names: pod specs and operator settings.
    ``configmaps``: the rendered ConfigMaps' data by name (environment values read from them)."""
    found = []
    for spec, path in _pod_specs(obj, ""):
        found += [(image, f"{describe(obj)} {path.lstrip('.')}.{where}") for image, where in pod_spec_images(spec)]
        found += [(image, f"{describe(obj)} {path.lstrip('.')}.{where}") for image, where in _env_images(spec)]
    settings = settings_images(obj, configmaps, driver_os)
    found += [(image, f"{describe(obj)} {where}") for image, where in settings]
    return found


def _env_images(spec: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Images a controller starts pods from, passed in its environment (``*_IMAGE`` variables, as Kubeflow
    Pipelines' V2_DRIVER_IMAGE / V2_LAUNCHER_IMAGE) or in its arguments (``--*-image=REF``)."""
    for field in POD_SPEC_LISTS:
        for container in spec.get(field) or []:
            if not isinstance(container, Mapping):
                continue
            for env in container.get("env") or []:
                name, value = str(env.get("name", "")), env.get("value")
                if name in KFP_REPOSITORY_VARIABLES and "/hooks/sync.py" in (container.get("command") or []):
                    continue  # a repository the tag is appended to (settings.kfp_profile_controller)
                if name.upper().endswith("_IMAGE") and isinstance(value, str) and _looks_like_image(value):
                    yield value, f"{field}[{container.get('name')}].env.{name}"
            args = [str(a) for a in (container.get("args") or []) + (container.get("command") or [])]
            for i, arg in enumerate(args):
                flag, eq, value = arg.partition("=")
                if not eq and i + 1 < len(args):
                    value = args[i + 1]
                named = flag.startswith("--") and (flag.endswith("-image") or flag in IMAGE_FLAGS)
                if named and _looks_like_image(value):
                    yield value, f"{field}[{container.get('name')}].args {flag}"


def _looks_like_image(value: str) -> bool:
    if not value or value.startswith("-") or "/" not in value:
        return False
    try:
        parse_image(value)
    except ImageReferenceError:
        return False
    return True


def images_in(
    objects: Iterable[Mapping[str, Any]], origin: str = "", driver_os: tuple[str, ...] = DRIVER_OS
) -> list[ImageRef]:
    """Every image the objects name, normalised, once each (sorted), each with every place it was found.
    ``origin``: what rendered them (a chart, a kustomization), prefixed to each source."""
    objects = list(objects)
    configmaps = {
        str(o["metadata"].get("name")): o.get("data") or {}
        for o in objects
        if o.get("kind") == "ConfigMap" and isinstance(o.get("metadata"), Mapping)
    }
    by_ref: dict[str, ImageRef] = {}
    for obj in objects:
        for text, where in object_images(obj, configmaps, driver_os):
            source = f"{origin}: {where}" if origin else where
            ref = parse_image(text, source)
            known = by_ref.get(ref.reference)
            if known is None:
                by_ref[ref.reference] = ref
            elif source not in known.sources:
                by_ref[ref.reference] = replace(known, sources=(*known.sources, source))
    return [by_ref[k] for k in sorted(by_ref)]


def merge(*lists: Iterable[ImageRef]) -> list[ImageRef]:
    """Several lists as one: each reference once, its sources joined."""
    by_ref: dict[str, ImageRef] = {}
    for refs in lists:
        for ref in refs:
            known = by_ref.get(ref.reference)
            if known is None:
                by_ref[ref.reference] = ref
            else:
                extra = tuple(s for s in ref.sources if s not in known.sources)
                by_ref[ref.reference] = replace(known, sources=(*known.sources, *extra))
    return [by_ref[k] for k in sorted(by_ref)]
