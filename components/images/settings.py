"""Images that operators and controllers start pods from, named in configuration rather than in a pod template.

Each function reads one kind of setting from a rendered object and yields (image text, where). The
fields come from the upstreams' own documentation and code:

- GPU Operator ClusterPolicy / NVIDIADriver: each operand's ``repository`` + ``image`` + ``version``
  joined as ``repository/image:version`` (``@version`` for a ``sha256:`` digest; ``image`` alone when
  repository and version are empty), and the driver's tag suffixed per node OS (``-ubuntu24.04``), as
  NVIDIA/gpu-operator api/nvidia/v1/clusterpolicy_types.go ``ImagePath`` and internal/state/driver.go do.
- Prometheus Operator custom resources: ``spec.image`` of Prometheus, Alertmanager and ThanosRuler, and
  ``spec.thanos.image`` (prometheus-operator Documentation/api-reference/api.md).
- ConfigMaps: any data key ending in ``image`` / ``_IMAGE`` whose value is a reference (Kubeflow
  Pipelines' ``cacheImage``, the TensorBoard controller's ``TENSORBOARD_IMAGE``); the Notebooks spawner's
  ``spawner_ui_config.yaml`` (kubeflow/notebooks jupyter-web-app backend/apps/common/yaml/spawner_ui_config.yaml);
  Katib's ``katib-config.yaml`` runtime (kubeflow/katib docs: "Katib configuration"); Istio's sidecar
  injector ``values`` (global.hub, global.tag, global.proxy.image, global.proxy_init.image); Argo's
  ``workflow-controller-configmap`` ``executor`` (argo-workflows docs/workflow-controller-configmap.yaml);
  KServe's ``inferenceservice-config`` (every ``image`` in its JSON values).
- Pod manifests kept as ConfigMap files (local-path-provisioner's ``helperPod.yaml``, rancher/local-path-provisioner
  README "Configuration").
- Kubeflow Pipelines' profile controller, whose sync.py starts ml-pipeline-ui-artifact from
  ``FRONTEND_IMAGE`` (default ghcr.io/kubeflow/kfp-frontend) at tag ``FRONTEND_TAG`` or ``KFP_VERSION``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

# The OSes NVIDIA publishes driver images for that aistack's targets run (NGC nvidia/driver tags: the
# operator appends -<ID><VERSION_ID> of the node's /etc/os-release to the driver version).
DRIVER_OS = ("ubuntu22.04", "ubuntu24.04")
GPU_OPERATOR_KINDS = ("ClusterPolicy", "NVIDIADriver")
PROMETHEUS_KINDS = ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")
KFP_FRONTEND = "ghcr.io/kubeflow/kfp-frontend"
KFP_REPOSITORY_VARIABLES = ("FRONTEND_IMAGE",)  # sync.py appends FRONTEND_TAG / KFP_VERSION to it

Found = Iterable[tuple[str, str]]


def operand_image(setting: Mapping[str, Any]) -> str | None:
    """One GPU Operator operand's image from repository, image and version (ImagePath's rule)."""
    image = setting.get("image")
    if not isinstance(image, str) or not image:
        return None
    repository, version = str(setting.get("repository") or ""), str(setting.get("version") or "")
    if not repository and not version:
        return image
    joined = f"{repository}/{image}" if repository else image
    if not version:
        return joined
    return f"{joined}@{version}" if version.startswith("sha256:") else f"{joined}:{version}"


def _operands(node: Any, path: str) -> Found:
    if not isinstance(node, Mapping) or node.get("enabled") is False:
        return
    image = operand_image(node) if "image" in node and ("repository" in node or "version" in node) else None
    if image is not None:
        yield image, path or "spec"
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _operands(value, f"{path}.{key}" if path else f"spec.{key}")


def gpu_operator(obj: Mapping[str, Any], driver_os: tuple[str, ...] = DRIVER_OS) -> Found:
    spec = obj.get("spec") or {}
    for image, path in _operands(spec, ""):
        is_driver = path in ("spec", "spec.driver") and "@" not in image and not spec.get("usePrecompiled")
        if is_driver and (obj.get("kind") == "NVIDIADriver" or path == "spec.driver"):
            yield from ((f"{image}-{os}", f"{path} (driver for {os} nodes)") for os in driver_os)
        else:
            yield image, path


def prometheus_operator(obj: Mapping[str, Any]) -> Found:
    spec = obj.get("spec") or {}
    if isinstance(spec.get("image"), str):
        yield spec["image"], "spec.image"
    thanos = spec.get("thanos") or {}
    if isinstance(thanos, Mapping) and isinstance(thanos.get("image"), str):
        yield thanos["image"], "spec.thanos.image"


def _is_reference(value: Any) -> bool:
    from .refs import ImageReferenceError, parse_image

    if not isinstance(value, str) or "/" not in value or value.startswith(("/", "http")):
        return False
    try:
        parse_image(value)
    except ImageReferenceError:
        return False
    return True


def _image_keys(node: Any, path: str) -> Found:
    """Every string under a key named ``image`` in a parsed document (KServe, Argo's executor)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "image" and _is_reference(value):
                yield value, f"{path}.image"
            else:
                yield from _image_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _image_keys(value, f"{path}[{i}]")


def _parsed(text: str) -> Any:
    try:
        return yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError:
        return None


def spawner(text: str) -> Found:
    defaults = (_parsed(text) or {}).get("spawnerFormDefaults") or {}
    for group in ("image", "imageGroupOne", "imageGroupTwo"):
        setting = defaults.get(group) or {}
        for value in [setting.get("value"), *(setting.get("options") or [])]:
            if _is_reference(value):
                yield value, f"spawnerFormDefaults.{group}"


def katib(text: str) -> Found:
    runtime = (_parsed(text) or {}).get("runtime") or {}
    for kind in ("metricsCollectors", "suggestions", "earlyStoppings"):
        for entry in runtime.get(kind) or []:
            if isinstance(entry, Mapping) and _is_reference(entry.get("image")):
                yield entry["image"], f"runtime.{kind}[{entry.get('kind') or entry.get('algorithmName')}]"


def istio_injector(text: str) -> Found:
    values = _parsed(text) or {}
    glob = values.get("global") or {}
    hub, tag = glob.get("hub"), glob.get("tag")
    for part in ("proxy", "proxy_init"):
        image = (glob.get(part) or {}).get("image")
        if not isinstance(image, str) or not image:
            continue
        ref = image if "/" in image or not hub else f"{hub}/{image}:{tag}"
        if _is_reference(ref):
            yield ref, f"values global.{part}.image"


def embedded_pod(text: str) -> Found:
    """A pod manifest kept as a ConfigMap file that a controller starts (local-path-provisioner's helperPod.yaml)."""
    doc = _parsed(text)
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    if not isinstance(spec, Mapping):
        return
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                yield container["image"], f"spec.{field}[{container.get('name')}]"


def configmap(obj: Mapping[str, Any]) -> Found:
    name = str((obj.get("metadata") or {}).get("name", ""))
    data = obj.get("data") or {}
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        if str(key).lower().endswith("image") and _is_reference(value.strip()):
            yield value.strip(), f"data.{key}"
        elif key == "spawner_ui_config.yaml":
            yield from ((i, f"data.{key} {w}") for i, w in spawner(value))
        elif key == "katib-config.yaml":
            yield from ((i, f"data.{key} {w}") for i, w in katib(value))
        elif name.startswith("istio-sidecar-injector") and key == "values":
            yield from ((i, f"data.{key} {w}") for i, w in istio_injector(value))
        elif str(key).endswith((".yaml", ".yml")) and "containers:" in value:
            yield from ((i, f"data.{key} {w}") for i, w in embedded_pod(value))
        elif (name.startswith("workflow-controller-configmap") and key == "executor") or name.startswith(
            "inferenceservice-config"
        ):
            yield from ((i, f"data.{key}{w}") for i, w in _image_keys(_parsed(value), ""))


def kfp_profile_controller(obj: Mapping[str, Any], config: Mapping[str, Mapping[str, str]]) -> Found:
    """Pipelines' profile controller (sync.py) starts the UI artifact server in every profile namespace."""
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in template.get("containers") or []:
        if "/hooks/sync.py" not in (container.get("command") or []) + (container.get("args") or []):
            continue
        env = {e.get("name"): _env_value(e, config) for e in container.get("env") or []}
        image = env.get("FRONTEND_IMAGE") or KFP_FRONTEND
        tag = env.get("FRONTEND_TAG") or env.get("KFP_VERSION")
        if tag:
            yield f"{image}:{tag}", f"containers[{container.get('name')}] sync.py frontend (FRONTEND_IMAGE:KFP_VERSION)"


def _env_value(env: Mapping[str, Any], config: Mapping[str, Mapping[str, str]]) -> str | None:
    if "value" in env:
        return str(env["value"])
    ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
    found = (config.get(str(ref.get("name"))) or {}).get(str(ref.get("key")))
    return str(found) if found is not None else None


def settings_images(
    obj: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, str]] | None = None,
    driver_os: tuple[str, ...] = DRIVER_OS,
) -> Found:
    """(image text, field) of every image one object's configuration names. ``configmaps``: the rendered
    ConfigMaps' data by name, for environment values read from them."""
    kind = obj.get("kind")
    if kind in GPU_OPERATOR_KINDS:
        yield from gpu_operator(obj, driver_os)
    elif kind in PROMETHEUS_KINDS:
        yield from prometheus_operator(obj)
    elif kind == "ConfigMap":
        yield from configmap(obj)
    elif kind == "Deployment":
        yield from kfp_profile_controller(obj, configmaps or {})
