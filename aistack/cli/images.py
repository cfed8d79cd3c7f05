"""`aistack images STACK [--json]`: every container image the stack runs, read from what it renders.

The offline plan gives the charts (with aistack's values), the kustomize trees and aistack's own objects;
each chart is rendered by `helm template` and each tree by `kubectl kustomize` from where the stack takes
it (the mirror when `aistack:upstream` names one, so this works air-gapped; else the upstream repository),
and components.images finds every image in the result: pod templates of every kind and the operator
settings that start pods from configuration. The references listed are always the upstream ones (what to
copy into a site registry); with `upstream.image_registry` set, `--json` adds where each one must be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import StackArg, fail, load_or_exit

if TYPE_CHECKING:
    from components.images import ImageRef
    from components.spec import LoadedStack

TOOLS_DIR = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
CHART = "kubernetes:helm.sh/v4:Chart"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
KUBE_VERSION = "v1.34.0"  # components.versions.KUBERNETES_MINOR, as helm's --kube-version wants it
_GITHUB_TREE = "https://github.com/"


class ImagesError(RuntimeError):
    """The stack could not be rendered: a missing tool, or a chart or tree that does not render."""


def tool(name: str) -> str:
    """``name`` on PATH, else as scripts/tools.sh built it (the newest build)."""
    found = shutil.which(name)
    if found:
        return found
    built = sorted(TOOLS_DIR.glob(f"*/bin/{name}"), key=lambda p: p.stat().st_mtime)
    if built:
        return str(built[-1])
    raise ImagesError(
        f"{name} is not on PATH nor in {TOOLS_DIR}/*/bin. To fix: install {name} (or run scripts/tools.sh), "
        "then run the command again."
    )


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ImagesError(
            f"{what} did not render: {last}. To fix: check that the stack's upstream source (`aistack upstreams "
            "STACK`) is reachable from here, or point aistack:upstream at a mirror that holds it."
        )
    return out.stdout


def _documents(text: str) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d]


def render_chart(inputs: dict[str, Any], name: str, home: Path) -> list[dict[str, Any]]:
    """A Chart resource as the provider renders it: its values, release name, namespace, hooks only when asked."""
    values = home / f"{name}.json"
    values.write_text(json.dumps(inputs.get("values") or {}))
    release = inputs.get("name") or name
    cmd = [tool("helm"), "template", release, str(inputs["chart"]), "--namespace", inputs.get("namespace") or "default"]
    cmd += ["--values", str(values), "--kube-version", KUBE_VERSION, "--skip-tests"]
    if inputs.get("version"):
        cmd += ["--version", str(inputs["version"])]
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    if repo:
        cmd += ["--repo", str(repo)]
    if not inputs.get("includeHooks"):
        cmd.append("--no-hooks")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "HELM_CACHE_HOME": str(home / "cache")}
    env |= {"HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
    for key in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "SSL_CERT_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return _documents(_run(cmd, f"chart {inputs['chart']}", env))


def kustomize_target(directory: str) -> str:
    """The provider's ``https://github.com/ORG/REPO/tree/REF/PATH`` as kustomize's remote form."""
    if directory.startswith(_GITHUB_TREE) and "/tree/" in directory:
        repo, _, rest = directory.partition("/tree/")
        ref, _, path = rest.partition("/")
        return f"{repo}//{path}?ref={ref}"
    return directory


def render_directory(directory: str) -> list[dict[str, Any]]:
    return _documents(_run([tool("kubectl"), "kustomize", kustomize_target(directory)], f"kustomization {directory}"))


def render_file(file: str) -> list[dict[str, Any]]:
    if "://" in file:
        from urllib.request import urlopen

        with urlopen(file, timeout=60) as response:
            return _documents(response.read().decode("utf-8"))
    return _documents(Path(file).read_text(encoding="utf-8"))


def rendered(loaded: LoadedStack) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(what rendered them, objects) for every chart, tree, manifest file and aistack's own objects."""
    from ..offline import plan

    p = plan(loaded)
    with tempfile.TemporaryDirectory(prefix="aistack-images-") as tmp:
        for r in p.resources:
            if r.type == CHART:
                yield f"chart {r.name}", render_chart(r.inputs, r.name, Path(tmp))
            elif r.type == DIRECTORY:
                yield f"kustomize {r.name}", render_directory(str(r.inputs["directory"]))
            elif r.type == CONFIG_FILE:
                yield f"manifest {r.name}", render_file(str(r.inputs["file"]))
    yield "aistack", p.kubernetes_objects()


def stack_images(loaded: LoadedStack) -> list[ImageRef]:
    """Every image the stack runs, as upstream references (what to copy), sorted, each once with its sources.

    Rendered without ``upstream.image_registry`` (the references to copy from); where the site registry
    holds each one is ``components.images.mirrored(ref.reference, registry)``.
    """
    from components.images import images_in, merge

    return merge(*(images_in(objects, origin) for origin, objects in rendered(without_registry(loaded))))


def without_registry(loaded: LoadedStack) -> LoadedStack:
    """The stack as it is without ``upstream.image_registry`` and ``upstream.image_pull_secret``."""
    from dataclasses import replace

    drop = ("image_registry", "image_pull_secret")
    spec = loaded.spec
    upstream = spec.upstream.model_copy(update=dict.fromkeys(drop))
    config = dict(loaded.config)
    key = "aistack:upstream"
    if isinstance(config.get(key), dict):
        config[key] = {k: v for k, v in config[key].items() if k not in drop}
    secrets = tuple(s for s in loaded.secret_keys if not s.startswith(f"{key}."))
    return replace(loaded, spec=spec.model_copy(update={"upstream": upstream}), config=config, secret_keys=secrets)


_JSON = typer.Option("--json", help="One JSON document: each image and where it is found.")


def images(
    stack: StackArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document: each image with where it is found.")
    ] = False,
) -> None:
    """List every container image the stack runs (one reference per line: what crane/skopeo copy loops take)."""
    from components.images import mirrored

    loaded = load_or_exit(stack)
    try:
        found = stack_images(loaded)
    except ImagesError as exc:
        fail(str(exc).split(" To fix: ")[0], str(exc).partition(" To fix: ")[2])
    registry = loaded.spec.upstream.image_registry
    if not as_json:
        typer.echo("\n".join(ref.reference for ref in found))
        return
    rows = [{**ref.as_json(), **({"mirror": mirrored(ref.reference, registry)} if registry else {})} for ref in found]
    typer.echo(json.dumps({"stack": loaded.name, "image_registry": registry, "images": rows}, indent=2))
