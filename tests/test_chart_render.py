"""Every chart aistack installs, rendered from the air-gapped mirror with the values aistack passes for each
example stack, gives objects that pass strict validation: built-in kinds against the Kubernetes 1.34 schemas,
custom resources against the CRDs the upstreams bring (the rendered charts' own and ../shared/crds).

Rendering is Helm's own (`helm template`, the Helm version inside the Kubernetes provider, built by
scripts/tools.sh), so what is checked is what the provider's Chart resource would register.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.versions import KUBERNETES_MINOR
from tests.conftest import EXAMPLE_STACKS, need
from tests.test_chart_values import MIRROR, charts_of
from tests.test_manifest_schema import CRDS, SHARED_CRDS, _CrdLoader, _strict

TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
KUBE_VERSION = f"v{KUBERNETES_MINOR}.0"


def _helm() -> Path | None:
    found = sorted(TOOLS.glob("*/bin/helm"))
    return found[-1] if found else None


pytestmark = [
    pytest.mark.need("mirror", f"no {MIRROR} (the pinned charts) here", have=MIRROR.is_dir()),
]


def helm_or_fail() -> Path:
    helm = _helm()
    if helm is None:
        need("helm", f"no helm under {TOOLS} (scripts/tools.sh builds it)")
    return helm


def render(tgz: Path, release: str, namespace: str, values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    helm = helm_or_fail()
    values_file = tmp / f"{release}-values.json"
    values_file.write_text(json.dumps(values))
    cmd = [str(helm), "template", release, str(tgz), "--namespace", namespace, "--values", str(values_file)]
    cmd += ["--kube-version", KUBE_VERSION, "--include-crds"]
    # No repository, registry or cluster is consulted: the chart is a local file and its dependencies are inside.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "HELM_CACHE_HOME": str(tmp / "cache")}
    env |= {"HELM_CONFIG_HOME": str(tmp / "config"), "HELM_DATA_HOME": str(tmp / "data")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"helm template {tgz.name}: {out.stderr}"
    return [d for d in yaml.load_all(out.stdout, Loader=_CrdLoader) if isinstance(d, dict) and d]


def _crd_schemas(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    out = {}
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
        for version in doc["spec"]["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served", True) and schema:
                out[(f"{group}/{version['name']}", kind)] = _strict(copy.deepcopy(schema))
    return out


@cache
def _file_crds() -> dict[tuple[str, str], Any]:
    docs = []
    for root in (CRDS, SHARED_CRDS):
        for path in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
            docs += [d for d in yaml.load_all(path.read_text(), Loader=_CrdLoader) if isinstance(d, dict)]
    return _crd_schemas(docs)


def validate(obj: dict[str, Any], custom: dict[tuple[str, str], Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in custom:
        jsonschema.validate(obj, custom[key])
    else:
        kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)


# What the API server checks beyond the schemas (apimachinery's validation): a Service name is a DNS-1035
# label and a Namespace name a DNS-1123 label (63 characters each); a label value is at most 63
# characters. A chart's names grow with the release name, so a long one fails only at install time.
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def name_problems(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    name, problems = str(meta.get("name", "")), []
    pattern = {"Service": DNS_1035, "Namespace": DNS_1123_LABEL}.get(obj["kind"])
    if pattern is not None and (len(name) > 63 or not pattern.fullmatch(name)):
        problems.append(f"name '{name}' ({len(name)} characters) is not a DNS label of at most 63")
    for key, value in (meta.get("labels") or {}).items():
        if len(str(value)) > 63 or not LABEL_VALUE.fullmatch(str(value)):
            problems.append(f"label {key}='{value}' is not a label value of at most 63 characters")
    return problems


def rendered(stack: str, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name, tgz, values, inputs in charts_of(stack):
        release = inputs.get("name") or name
        out[name] = render(tgz, release, inputs.get("namespace") or "default", values, tmp)
    return out


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_rendered_charts_validate_strictly(stack: str, tmp_path: Path) -> None:
    charts = rendered(stack, tmp_path)
    assert charts
    every = [doc for docs in charts.values() for doc in docs]
    custom = {**_file_crds(), **_crd_schemas(every)}
    problems = []
    for name, docs in charts.items():
        assert docs, f"{name} rendered nothing"
        for obj in docs:
            try:
                validate(obj, custom)
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
                where = f"{obj['kind']} {obj.get('metadata', {}).get('name')}"
                problems.append(f"{name}: {where}: {str(exc).splitlines()[0]}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: no schema for {obj['apiVersion']} {obj['kind']} (not built in, no CRD)")
            problems += [f"{name}: {obj['kind']}: {p}" for p in name_problems(obj)]
    assert not problems, "\n".join(problems)


def test_validation_catches_a_bad_rendered_object() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containerz": []}}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, {})


def test_rendering_uses_our_values(tmp_path: Path) -> None:
    docs = render(
        MIRROR / "kueue-0.19.2.tgz", "probe", "kueue-system", {"controllerManager": {"replicas": 3}}, tmp_path
    )
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deploy["spec"]["replicas"] == 3
