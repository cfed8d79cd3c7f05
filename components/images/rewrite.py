"""The site-registry rule applied to rendered objects: every place :mod:`.refs` and :mod:`.settings` find an
image, rewritten to ``mirrored(image, registry)``.

For what no chart value reaches: the Kubeflow manifest trees, whose images sit in pod templates and also in
ConfigMaps (the notebook spawner's list, Pipelines' cacheImage, the TensorBoard image, Istio's sidecar
injector), controller environments (Pipelines' V2_DRIVER_IMAGE) and arguments (Argo's --executor-image). A
kustomize ``images:`` transformer reaches only the first of those, so the trees are rewritten object by object
with :func:`transform`, a Pulumi resource transform applied to the provider's rendered children. Idempotent:
a reference already under the registry is left alone, so objects a chart's values already point there are
unchanged.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from .refs import IMAGE_FLAGS, POD_SPEC_LISTS, ImageReferenceError, mirrored, mirrored_prefix
from .settings import GPU_OPERATOR_KINDS, KFP_FRONTEND, PROMETHEUS_KINDS

Rewrite = Callable[[str], str]
# Kinds that name no image: left alone (a Secret's data may hold secret values; CRDs are large).
_NO_IMAGES = frozenset({"Secret", "CustomResourceDefinition", "Namespace", "Service", "ServiceAccount"})
_IMAGE_KEYED_CONFIGMAPS = ("workflow-controller-configmap", "inferenceservice-config")  # every `image` key


def rewriter(registry: str) -> Rewrite:
    """One reference under ``registry`` by the rule; one already there, or text that is no reference, as it is."""
    prefix = registry.rstrip("/") + "/"

    def one(text: str) -> str:
        if text.startswith(prefix):
            return text
        try:
            return mirrored(text, registry)
        except ImageReferenceError:
            return text

    return one


def _prefix(registry: str, value: str) -> str:
    return value if not value or value.startswith(registry.rstrip("/") + "/") else mirrored_prefix(value, registry)


def _container(container: dict[str, Any], one: Rewrite) -> None:
    if isinstance(container.get("image"), str):
        container["image"] = one(container["image"])
    for env in container.get("env") or []:
        value = env.get("value")
        if str(env.get("name", "")).upper().endswith("_IMAGE") and isinstance(value, str) and "/" in value:
            env["value"] = one(value)
    for field in ("args", "command"):
        args = container.get(field)
        if not isinstance(args, list):
            continue
        for i, arg in enumerate(args):
            flag, eq, value = str(arg).partition("=")
            named = flag.startswith("--") and (flag.endswith("-image") or flag in IMAGE_FLAGS)
            if named and eq and "/" in value:
                args[i] = f"{flag}={one(value)}"
            elif named and not eq and i + 1 < len(args) and "/" in str(args[i + 1]):
                args[i + 1] = one(str(args[i + 1]))


def _pod_specs(node: Any, one: Rewrite, pull_secret: str | None) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            for field in POD_SPEC_LISTS:
                for container in node.get(field) or []:
                    if isinstance(container, dict):
                        _container(container, one)
            if pull_secret and {"name": pull_secret} not in (node.get("imagePullSecrets") or []):
                node["imagePullSecrets"] = [*(node.get("imagePullSecrets") or []), {"name": pull_secret}]
        for key, value in node.items():
            if key not in POD_SPEC_LISTS:
                _pod_specs(value, one, pull_secret)
    elif isinstance(node, list):
        for value in node:
            _pod_specs(value, one, pull_secret)


def _operands(node: Any, registry: str, one: Rewrite) -> None:
    """GPU Operator operands: the repository prefix (or a full image when the repository is empty)."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get("image"), str) and ("repository" in node or "version" in node):
        if node.get("repository"):
            node["repository"] = _prefix(registry, str(node["repository"]))
        elif "/" in node["image"]:
            node["image"] = one(node["image"])
    for value in node.values():
        _operands(value, registry, one)


def _yaml_images(text: str, one: Rewrite, keys: tuple[str, ...]) -> str:
    """A YAML/JSON document kept in a ConfigMap, with the values of ``keys`` (at any depth) rewritten."""
    doc = yaml.safe_load(text)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str) and "/" in value:
                    node[key] = one(value)
                elif key in keys and isinstance(value, list):
                    node[key] = [one(v) if isinstance(v, str) and "/" in v else v for v in value]
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return json.dumps(doc) if text.lstrip().startswith("{") else yaml.safe_dump(doc, sort_keys=False)


def _configmap(obj: dict[str, Any], registry: str, one: Rewrite) -> None:
    name = str((obj.get("metadata") or {}).get("name", ""))
    data = obj.get("data") or {}
    for key, value in list(data.items()):
        if not isinstance(value, str):
            continue
        if str(key).lower().endswith("image") and "/" in value:
            data[key] = one(value.strip())
        elif key == "spawner_ui_config.yaml":
            data[key] = _yaml_images(value, one, ("value", "options"))
        elif key == "katib-config.yaml" or name.startswith(_IMAGE_KEYED_CONFIGMAPS):
            data[key] = _yaml_images(value, one, ("image",))
        elif name.startswith("istio-sidecar-injector") and key == "values":
            data[key] = _istio_values(value, registry, one)
        elif str(key).endswith((".yaml", ".yml")) and "containers:" in value:
            doc = yaml.safe_load(value)
            _pod_specs(doc.get("spec") if isinstance(doc, dict) else None, one, None)
            data[key] = yaml.safe_dump(doc, sort_keys=False)


def _istio_values(text: str, registry: str, one: Rewrite) -> str:
    values = json.loads(text)
    glob = values.get("global") or {}
    if glob.get("hub"):
        glob["hub"] = _prefix(registry, str(glob["hub"]))
    for part in ("proxy", "proxy_init"):
        setting = glob.get(part) or {}
        if isinstance(setting.get("image"), str) and "/" in setting["image"]:
            setting["image"] = one(setting["image"])
    return json.dumps(values)


def _kfp_profile_controller(obj: dict[str, Any], registry: str) -> None:
    """Pipelines' sync.py takes FRONTEND_IMAGE (default ghcr.io/kubeflow/kfp-frontend): name it under the registry."""
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in template.get("containers") or []:
        if "/hooks/sync.py" not in (container.get("command") or []) + (container.get("args") or []):
            continue
        env = container.setdefault("env", [])
        if not any(e.get("name") == "FRONTEND_IMAGE" for e in env):
            env.append({"name": "FRONTEND_IMAGE", "value": _prefix(registry, KFP_FRONTEND)})


def rewrite_object(obj: Mapping[str, Any], registry: str, pull_secret: str | None = None) -> dict[str, Any]:
    """A copy of one rendered object with every image it names under ``registry`` (the rule), and, with
    ``pull_secret``, that Secret named in each pod spec's imagePullSecrets."""
    out = copy.deepcopy(dict(obj))
    one = rewriter(registry)
    kind = out.get("kind")
    _pod_specs(out, one, pull_secret)
    if kind in GPU_OPERATOR_KINDS:
        _operands(out.get("spec"), registry, one)
    elif kind in PROMETHEUS_KINDS:
        spec = out.get("spec") or {}
        if isinstance(spec.get("image"), str):
            spec["image"] = one(spec["image"])
        if isinstance((spec.get("thanos") or {}).get("image"), str):
            spec["thanos"]["image"] = one(spec["thanos"]["image"])
    elif kind == "ConfigMap":
        _configmap(out, registry, one)
    elif kind == "Deployment":
        _kfp_profile_controller(out, registry)
    return out


def transform(registry: str | None, pull_secret: str | None = None) -> list[Any]:
    """Pulumi resource transforms that apply :func:`rewrite_object` to a component's Kubernetes children
    (a kustomize Directory's or a Chart's); none without a registry, so the default install is untouched."""
    if registry is None or _mocked():
        return []
    import pulumi

    def apply(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        props = args.props
        if not args.type_.startswith("kubernetes:") or props.get("kind") in _NO_IMAGES or "kind" not in props:
            return None
        rewritten = rewrite_object(props, registry, pull_secret)
        return None if rewritten == props else pulumi.ResourceTransformResult(rewritten, args.opts)

    return [apply]


def _mocked() -> bool:
    """Under the offline planner's mock monitor there is no callback server to run transforms (registering one
    fails), and a component's children are never rendered there anyway: nothing to transform."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import SETTINGS

    return isinstance(SETTINGS.monitor, MockMonitor)
