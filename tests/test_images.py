"""Issue #25: every container image a stack runs (`aistack images`), the site-registry rule
(`aistack:upstream.image_registry`), and the admission policy that proves it on an API server.

The oracle is this file's own: it walks the rendered YAML generically (every ``image`` key in a
``containers`` / ``initContainers`` / ``ephemeralContainers`` list, whatever the kind) and reads a
hand-written list of the operator settings that start pods, with their paths as the upstreams document
them; it normalises short names with its own three-line rule. It never calls components.images' finders.
Rendering is helm's and kustomize's (the tools scripts/tools.sh builds), from the shared air-gapped mirror.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.images import ImageReferenceError, mirrored, parse_image
from components.images.admission import policy
from components.images.charts import IMAGE_VALUES, PULL_SECRET, chart_values
from components.images.rewrite import rewrite_object
from tests.conftest import CREDENTIALS, ROOT, built_tool, need, plan_values, run_cli, stack_values

MIRROR = (ROOT.parent / "shared" / "mirror").resolve()
SHARED_CRDS = (ROOT.parent / "shared" / "crds").resolve()
REGISTRY = "registry.corp.example:5000/mirror"
CHART, DIRECTORY, CONFIG_FILE = (
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:kustomize/v2:Directory",
    "kubernetes:yaml/v2:ConfigFile",
)
have_mirror = pytest.mark.need("mirror", f"no {MIRROR} (the pinned charts) here", have=MIRROR.is_dir())


# ------------------------------------------------------------------------------ the rule, hand-worked


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # the issue's own example
        ("nvcr.io/nvidia/gpu-operator:v26.7.0", f"{REGISTRY}/nvcr.io/nvidia/gpu-operator:v26.7.0"),
        # short names are written out first (docker.io, library/ for official images); no tag is invented
        ("busybox", f"{REGISTRY}/docker.io/library/busybox"),
        ("mysql:8.4", f"{REGISTRY}/docker.io/library/mysql:8.4"),
        ("filebrowser/filebrowser:v2.25.0", f"{REGISTRY}/docker.io/filebrowser/filebrowser:v2.25.0"),
        ("docker.io/busybox:1.36", f"{REGISTRY}/docker.io/library/busybox:1.36"),
        # digests kept, with or without a tag
        (
            "public.ecr.aws/karpenter/controller:1.14.1@sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa",
            f"{REGISTRY}/public.ecr.aws/karpenter/controller:1.14.1@sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa",
        ),
        # a registry with a port is a host, and stays the first path element
        ("localhost:5000/team/app:1", f"{REGISTRY}/localhost:5000/team/app:1"),
    ],
)
def test_the_rule(source: str, expected: str) -> None:
    assert mirrored(source, REGISTRY) == expected
    assert mirrored(source, None) == source  # no registry: untouched


@pytest.mark.parametrize("bad", ["", "UPPER/case:1", "a b", "nvcr.io/nvidia/x:bad tag", "x@sha256:short"])
def test_a_malformed_reference_is_refused(bad: str) -> None:
    with pytest.raises(ImageReferenceError):
        parse_image(bad)


# ------------------------------------------------------------------------------ validation


def _spec_error(upstream: dict[str, Any]) -> str:
    from components.spec import SpecError, parse_spec

    with pytest.raises(SpecError) as exc:
        parse_spec({**stack_values("local"), "upstream": upstream})
    return str(exc.value)


@pytest.mark.parametrize(
    ("registry", "reason"),
    [
        ("https://registry.corp.example/mirror", "scheme"),
        ("registry.corp.example /mirror", "spaces"),
        ("registry.corp.example/mirror/", "ends with '/'"),
        ("Registry.Corp.Example/mirror", "lowercase"),
        ("registry.corp.example/../etc", "'..'"),
        ("registry", "not a registry host"),
    ],
)
def test_a_malformed_registry_names_the_field_the_reason_and_the_fix(registry: str, reason: str) -> None:
    text = _spec_error({"image_registry": registry})
    assert "upstream.image_registry" in text and reason in text and "To fix:" in text, text


def test_a_pull_secret_without_a_registry_is_an_error_that_never_shows_the_secret() -> None:
    text = _spec_error({"image_pull_secret": "robot:hunter2"})
    assert "upstream.image_pull_secret" in text and "image_registry" in text and "To fix:" in text
    assert "hunter2" not in text
    text = _spec_error({"image_registry": REGISTRY, "image_pull_secret": "hunter2"})
    assert "USER:PASSWORD" in text and "hunter2" not in text


def test_a_valid_setting_parses() -> None:
    from components.spec import parse_spec

    spec = parse_spec({**stack_values("local"), "upstream": {"image_registry": REGISTRY, "image_pull_secret": "u:p"}})
    assert spec.upstream.image_registry == REGISTRY
    assert spec.upstream.image_pull_secret is not None and "u:p" not in repr(spec)


def test_the_default_install_is_unchanged() -> None:
    """An empty setting plans the very same resources, and no chart's values change without a registry."""
    values = stack_values("local")
    plain = plan_values({**values, "upstream": {}}, stack="local")
    empty = plan_values({**values, "upstream": {"image_registry": None, "image_pull_secret": None}}, stack="local")
    assert [r.as_json() for r in plain] == [r.as_json() for r in empty]
    for key in IMAGE_VALUES:
        given = {"a": {"b": 1}}
        assert chart_values(key, given, None) == given


# ------------------------------------------------------------------------------ the oracle


def _normalise(ref: str) -> str:
    """The oracle's own rule: a first element with '.', ':' or 'localhost' is a host; else Docker Hub."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if rest else f"docker.io/library/{ref}"


def _container_images(node: Any, parent: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and parent in ("containers", "initContainers", "ephemeralContainers"):
                if isinstance(value, str):
                    yield value
            else:
                yield from _container_images(value, key if isinstance(value, list) else "")
    elif isinstance(node, list):
        for value in node:
            yield from _container_images(value, parent)


# Operator settings that start pods, as the upstreams document them (kind, name prefix, how to read them).
def _env(obj: dict[str, Any], name: str) -> Iterator[str]:
    for c in obj["spec"]["template"]["spec"]["containers"]:
        yield from (e["value"] for e in c.get("env") or [] if e.get("name") == name and "value" in e)


def _flag(obj: dict[str, Any], flag: str) -> Iterator[str]:
    for c in obj["spec"]["template"]["spec"]["containers"]:
        args = [str(a) for a in c.get("args") or []]
        yield from (a.split("=", 1)[1] for a in args if a.startswith(f"{flag}="))
        yield from (args[i + 1] for i, a in enumerate(args[:-1]) if a == flag)


def _data_yaml(obj: dict[str, Any], key: str) -> Any:
    return yaml.safe_load((obj.get("data") or {}).get(key) or "null") or {}


def _spawner(obj: dict[str, Any]) -> Iterator[str]:
    # kubeflow/notebooks jupyter-web-app spawner_ui_config.yaml: spawnerFormDefaults.<group>.{value,options}
    form = _data_yaml(obj, "spawner_ui_config.yaml").get("spawnerFormDefaults") or {}
    for group in ("image", "imageGroupOne", "imageGroupTwo"):
        yield from [form.get(group, {}).get("value"), *form.get(group, {}).get("options", [])]


def _katib(obj: dict[str, Any]) -> Iterator[str]:
    # kubeflow/katib docs "Katib Configuration": runtime.{suggestions,earlyStoppings,metricsCollectors}[].image
    runtime = _data_yaml(obj, "katib-config.yaml").get("runtime") or {}
    for kind in ("suggestions", "earlyStoppings", "metricsCollectors"):
        yield from (e["image"] for e in runtime.get(kind) or [])


def _istio(obj: dict[str, Any]) -> Iterator[str]:
    # istio manifests/charts/istio-control/istio-discovery: global.hub + global.proxy.image + global.tag
    g = json.loads(obj["data"]["values"])["global"]
    yield f"{g['hub']}/{g['proxy']['image']}:{g['tag']}"


# NVIDIA/gpu-operator docs (ClusterPolicy and NVIDIADriver API): <operand>.repository/image/version.
CLUSTER_POLICY_OPERANDS = (
    *("validator", "toolkit", "devicePlugin", "dcgmExporter", "dcgm", "gfd", "migManager"),
    *("nodeStatusExporter", "gds", "gdrcopy", "vgpuDeviceManager", "ccManager"),
)


def _gpu_operand(o: dict[str, Any]) -> str | None:
    if not o or o.get("enabled") is False or not o.get("repository"):
        return None
    return f"{o['repository']}/{o['image']}:{o['version']}" if o.get("version") else None


def _cluster_policy(obj: dict[str, Any]) -> Iterator[str]:
    for name in CLUSTER_POLICY_OPERANDS:
        found = _gpu_operand(obj["spec"].get(name) or {})
        if found:
            yield found


def _nvidia_driver(obj: dict[str, Any]) -> Iterator[str]:
    s = obj["spec"]
    yield f"{s['repository']}/{s['image']}:{s['version']}-ubuntu24.04"  # the tag the operator pulls on Ubuntu 24.04


OPERATOR_FIELDS: list[tuple[str, str, Any]] = [
    ("ClusterPolicy", "", _cluster_policy),
    ("NVIDIADriver", "", _nvidia_driver),
    ("Prometheus", "", lambda o: [o["spec"]["image"]]),
    ("Alertmanager", "", lambda o: [o["spec"]["image"]]),
    ("Deployment", "", lambda o: _flag(o, "--prometheus-config-reloader")),  # prometheus-operator
    ("Deployment", "workflow-controller", lambda o: _flag(o, "--executor-image")),  # Argo
    ("Deployment", "ml-pipeline", lambda o: [*_env(o, "V2_DRIVER_IMAGE"), *_env(o, "V2_LAUNCHER_IMAGE")]),
    ("Deployment", "volumes-web-app", lambda o: _env(o, "VOLUME_VIEWER_IMAGE")),
    ("ConfigMap", "jupyter-web-app-config", _spawner),
    ("ConfigMap", "katib-config", _katib),
    ("ConfigMap", "pipeline-install-config", lambda o: [o["data"]["cacheImage"]]),
    ("ConfigMap", "tensorboard-controller-config", lambda o: [o["data"]["TENSORBOARD_IMAGE"]]),
    ("ConfigMap", "istio-sidecar-injector", _istio),
]


def oracle(objects: list[dict[str, Any]]) -> set[str]:
    found = {i for obj in objects for i in _container_images(obj)}
    for obj in objects:
        for kind, prefix, read in OPERATOR_FIELDS:
            if obj.get("kind") == kind and str(obj["metadata"].get("name", "")).startswith(prefix):
                found |= {i for i in read(obj) if i}
    return {_normalise(i) for i in found}


# ------------------------------------------------------------------------------ rendering the stacks


def _tool(name: str) -> Path:
    found = built_tool(name)
    if found is None:
        need(name, f"no {name} built by scripts/tools.sh")
    assert found is not None
    return found


def _helm(inputs: dict[str, Any], name: str, tmp: Path) -> list[dict[str, Any]]:
    values = tmp / f"{name}.json"
    values.write_text(json.dumps(inputs.get("values") or {}))
    cmd = [str(_tool("helm")), "template", inputs.get("name") or name, inputs["chart"], "--values", str(values)]
    cmd += ["--namespace", inputs.get("namespace") or "default", "--kube-version", "v1.34.0", "--skip-tests"]
    cmd += [] if inputs.get("includeHooks") else ["--no-hooks"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _kustomize(directory: str) -> list[dict[str, Any]]:
    out = subprocess.run([str(_tool("kubectl")), "kustomize", directory], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _values(stack: str, **upstream: Any) -> dict[str, Any]:
    values = stack_values(stack)
    if values["target"] == "gcp":
        values.setdefault("project", "acme-ml-prod")
    mirror = {"install": True, "charts_mirror": str(MIRROR), "manifests_mirror": str(MIRROR)}
    values["upstream"] = {**values.get("upstream", {}), **mirror, **upstream}
    return values


@cache
def rendered(stack: str, registry: str | None = None, charts_only: bool = False) -> dict[str, list[dict[str, Any]]]:
    """What each chart, tree and manifest file of the stack renders to, plus aistack's own objects."""
    import tempfile

    from aistack.offline import Plan

    up = {"image_registry": registry} if registry else {}
    resources = plan_values(_values(stack, **up), stack=stack)
    out: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in resources:
            if r.type == CHART:
                out[r.name] = _helm(r.inputs, r.name, Path(tmp))
            elif r.type == DIRECTORY and not charts_only:
                out[r.name] = _kustomize(r.inputs["directory"])
            elif r.type == CONFIG_FILE and not charts_only:
                out[r.name] = [d for d in yaml.safe_load_all(Path(r.inputs["file"]).read_text()) if d]
    own = Plan(stack, None, resources).kubernetes_objects()  # type: ignore[arg-type]
    out["aistack"] = own
    return out


def _stack_file(stack: str, tmp: Path, **upstream: Any) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    doc["config"]["aistack:upstream"] = {"charts_mirror": str(MIRROR), "manifests_mirror": str(MIRROR), **upstream}
    path = tmp / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@cache
def _listed(stack: str) -> dict[str, Any]:
    """`aistack images STACK --json` for the example stack with the mirror and a registry, run once per stack."""
    import io
    import tempfile
    from contextlib import redirect_stdout

    from aistack.cli import main

    buffer = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, redirect_stdout(buffer):
        code = main(["images", str(_stack_file(stack, Path(tmp), image_registry=REGISTRY)), "--json"])
    assert code == 0
    return dict(json.loads(buffer.getvalue()))


# ------------------------------------------------------------------------------ item 1: the list


@have_mirror
@pytest.mark.parametrize("stack", ["local", "aws-gpu"])
def test_every_rendered_image_and_operator_setting_is_listed(stack: str) -> None:
    listed = _listed(stack)
    refs = {row["reference"] for row in listed["images"]}
    every = [obj for objects in rendered(stack).values() for obj in objects]
    expected = oracle(every)
    assert len(expected) > 20
    assert not expected - refs, f"rendered but not listed: {sorted(expected - refs)}"
    # --json: each with where it is found and, with image_registry set, where the site registry holds it
    for row in listed["images"]:
        assert row["sources"] and row["mirror"] == f"{REGISTRY}/{row['reference']}"


@have_mirror
def test_known_references_from_the_mirror_charts() -> None:
    """Read by hand from the pinned charts and trees in ../shared/mirror."""
    refs = {row["reference"] for row in _listed("local")["images"]}
    assert {
        # gpu-operator-v26.7.0 values.yaml operator.repository/image, tag = appVersion v26.7.0
        "nvcr.io/nvidia/gpu-operator:v26.7.0",
        # the same values.yaml: toolkit nvcr.io/nvidia/k8s container-toolkit v1.20.0 (a ClusterPolicy operand)
        "nvcr.io/nvidia/k8s/container-toolkit:v1.20.0",
        # the NVIDIADriver aistack creates: driver 595.91.07 of v26.7.0, per node OS
        "nvcr.io/nvidia/driver:595.91.07-ubuntu24.04",
        # kueue-0.19.2 values, as aistack pins it
        "registry.k8s.io/kueue/kueue:v0.19.2",
        # kube-prometheus-stack 88.5.3: the operator's --prometheus-config-reloader (appVersion v0.93.1)
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
        # kubeflow-manifests 26.03: Pipelines' mysql (a short name), Argo's executor, the KFP driver env
        "docker.io/library/mysql:8.4",
        "quay.io/argoproj/argoexec:v3.7.3",
        "ghcr.io/kubeflow/kfp-driver:2.16.0",
        # the notebook spawner's default image (jupyter-web-app spawner_ui_config.yaml)
        "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
        # local-path-provisioner v0.0.37's helper pod (its ConfigMap's helperPod.yaml)
        "docker.io/library/busybox",
    } <= refs


@have_mirror
def test_a_pinned_digest_is_kept() -> None:
    refs = {row["reference"] for row in _listed("aws-gpu")["images"]}
    # karpenter-1.14.1 values.yaml controller.image: tag 1.14.1 and its digest
    digest = "sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa"
    assert f"public.ecr.aws/karpenter/controller:1.14.1@{digest}" in refs


def test_plain_output_is_one_reference_per_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    cli = importlib.import_module("aistack.cli.images")  # the attribute aistack.cli.images is the command
    monkeypatch.setattr(cli, "stack_images", lambda loaded: [parse_image("busybox"), parse_image("quay.io/a/b:1")])
    code, out, _ = run_cli(capsys, "images", "local")
    assert code == 0 and out.splitlines() == ["docker.io/library/busybox", "quay.io/a/b:1"]


# ------------------------------------------------------------------------------ item 2: the rewrite


@have_mirror
def test_chart_values_put_every_chart_image_under_the_registry_by_the_rule() -> None:
    """Charts split registry/repository/tag differently; rendered with the registry each image is exactly the rule's."""
    before = rendered("local", None, charts_only=True)
    after = rendered("local", REGISTRY, charts_only=True)
    for name, objects in before.items():
        if name == "aistack":
            continue
        assert oracle(after[name]) == {mirrored(i, REGISTRY) for i in oracle(objects)}, name


@have_mirror
def test_aistacks_own_nvidiadriver_objects_follow_the_rule() -> None:
    before = [o for o in rendered("local", None, charts_only=True)["aistack"] if o["kind"] == "NVIDIADriver"]
    after = [o for o in rendered("local", REGISTRY, charts_only=True)["aistack"] if o["kind"] == "NVIDIADriver"]
    assert before and oracle(after) == {mirrored(i, REGISTRY) for i in oracle(before)}


@have_mirror
def test_the_object_rewrite_reaches_every_image_of_the_manifest_trees() -> None:
    """The trees' images in ConfigMaps, environments and arguments too, where kustomize's images transformer
    cannot reach; and every pod spec names the pull Secret."""
    for name, objects in rendered("local").items():
        rewritten = [rewrite_object(o, REGISTRY, PULL_SECRET) for o in objects]
        assert oracle(rewritten) == {mirrored(i, REGISTRY) for i in oracle(objects)}, name
        assert [rewrite_object(o, REGISTRY) for o in rewritten] == [rewrite_object(o, REGISTRY) for o in rewritten]


@have_mirror
def test_a_pull_secret_reaches_the_charts_pod_specs(tmp_path: Path) -> None:
    values = _values("local", image_registry=REGISTRY, image_pull_secret="robot:token")
    secret_upstream = {**CREDENTIALS, "upstream": json.dumps(values["upstream"])}  # a Pulumi secret, as it must be
    charts = [r for r in plan_values(values, stack="local", secrets=secret_upstream) if r.type == CHART]
    assert charts
    for r in charts:
        for obj in _helm(r.inputs, r.name, tmp_path):
            spec = ((obj.get("spec") or {}).get("template") or {}).get("spec")
            if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet") and spec:
                secrets = [s.get("name") for s in spec.get("imagePullSecrets") or []]
                assert PULL_SECRET in secrets, f"{r.name}: {obj['kind']} {obj['metadata']['name']}"


# ------------------------------------------------------------------------------ item 3: the policy, live


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    from aistack.local import cluster

    kubectl = built_tool("kubectl")
    bins = kubectl.parent if kubectl is not None else None
    if bins is None or not (bins / "kube-apiserver").exists():
        need("tools", "no local-cluster tools (scripts/tools.sh builds them)")
    assert bins is not None
    layout = cluster.Layout(tmp_path_factory.mktemp("images-cluster"))
    cluster.up(bins, layout)
    try:
        yield [str(bins / "kubectl"), "--kubeconfig", str(layout.kubeconfig)]
    finally:
        cluster.down(layout)


def _apply(
    kubectl: list[str], objects: list[dict[str, Any]], dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    cmd = [*kubectl, "apply", "-f", "-", *(["--dry-run=server"] if dry_run else [])]
    return subprocess.run(cmd, input=yaml.safe_dump_all(objects), capture_output=True, text=True, timeout=120)


def _deployment(image: str, name: str = "probe") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}},
        },
    }


def _until_established(kubectl: list[str], crds: list[str]) -> None:
    import time

    path = '{.status.conditions[?(@.type=="Established")].status}'
    deadline = time.monotonic() + 60
    for crd in crds:
        while True:
            out = subprocess.run(
                [*kubectl, "get", "crd", crd, "-o", f"jsonpath={path}"], capture_output=True, text=True
            )
            if out.stdout.strip() == "True":
                break
            assert time.monotonic() < deadline, f"{crd} not Established: {out.stderr}"
            time.sleep(1)


def _until_enforced(kubectl: list[str], probe: dict[str, Any], denied: bool) -> subprocess.CompletedProcess[str]:
    import time

    deadline = time.monotonic() + 30  # the API server picks up a new policy within a few seconds
    while True:
        out = _apply(kubectl, [probe], dry_run=True)
        if (out.returncode != 0) == denied or time.monotonic() > deadline:
            return out
        time.sleep(1)


def test_the_policy_denies_upstream_images_and_admits_mirrored_ones(api_server: list[str]) -> None:
    assert _apply(api_server, policy(REGISTRY, "Deny")).returncode == 0
    upstream = _deployment("quay.io/prometheus/prometheus:v3.14.0")
    out = _until_enforced(api_server, upstream, denied=True)
    assert out.returncode != 0 and "quay.io/prometheus/prometheus:v3.14.0" in out.stderr
    ok = _apply(api_server, [_deployment(mirrored("quay.io/prometheus/prometheus:v3.14.0", REGISTRY))], dry_run=True)
    assert ok.returncode == 0, ok.stderr
    # the GPU Operator's objects: their operands never become pods on this cluster, so the fields are checked
    crds = subprocess.run(
        [*api_server, "apply", "--server-side", "-f", str(SHARED_CRDS / "nvidia-gpu-operator")],
        capture_output=True,
        text=True,
    )
    assert crds.returncode == 0, crds.stderr
    _until_established(api_server, ["nvidiadrivers.nvidia.com", "clusterpolicies.nvidia.com"])
    driver: dict[str, Any] = {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "NVIDIADriver",
        "metadata": {"name": "probe"},
        "spec": {"driverType": "gpu", "repository": "nvcr.io/nvidia", "image": "driver", "version": "595.91.07"},
    }
    out = _until_enforced(api_server, driver, denied=True)
    assert out.returncode != 0 and "nvcr.io/nvidia/driver" in out.stderr
    driver["spec"]["repository"] = f"{REGISTRY}/nvcr.io/nvidia"
    assert _apply(api_server, [driver], dry_run=True).returncode == 0


def test_warn_mode_names_each_upstream_registry(api_server: list[str]) -> None:
    assert _apply(api_server, policy(REGISTRY, "Warn")).returncode == 0
    probe = _deployment("busybox:1.36", "warned")
    probe["spec"]["template"]["spec"]["initContainers"] = [{"name": "i", "image": "ghcr.io/dexidp/dex:v2.45.0"}]
    import time

    deadline = time.monotonic() + 30
    while True:
        out = _apply(api_server, [probe], dry_run=True)
        if "Warning" in out.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert out.returncode == 0, out.stderr  # admitted
    assert "images from registries: docker.io, ghcr.io are not under" in out.stderr, out.stderr


def test_the_pull_secret_is_a_dockerconfigjson_for_the_registry_host() -> None:
    import base64

    from components.images.pull import dockerconfigjson, pull_secret

    # hand-worked: base64("robot:token") == "cm9ib3Q6dG9rZW4="
    assert json.loads(dockerconfigjson(REGISTRY, "robot:token")) == {
        "auths": {"registry.corp.example:5000": {"auth": "cm9ib3Q6dG9rZW4="}}
    }
    assert base64.b64decode("cm9ib3Q6dG9rZW4=") == b"robot:token"
    given = '{"auths": {"r.example": {"auth": "eA=="}}}'
    assert dockerconfigjson(REGISTRY, given) == given
    secret = pull_secret("kueue-system", "X")
    assert secret["type"] == "kubernetes.io/dockerconfigjson" and secret["metadata"]["name"] == PULL_SECRET
