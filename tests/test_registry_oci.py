"""A real OCI registry on loopback (the CNCF distribution registry, tests/registry.py): the air-gapped
charts mirror as `oci://` and the site image registry `aistack upstreams` checks.

Charts: the shared mirror's charts go in with `helm push`, and the local stack takes them from
``charts_mirror: oci://127.0.0.1:PORT/charts``: each chart reference the offline plan makes resolves and
renders (`helm show chart` / `helm template`), and, with the engine, `pulumi preview` of the local stack
renders all of them from the registry. Images: small synthetic OCI images pushed through the distribution
API by the test itself, under the site-registry layout ``REGISTRY/<source host>/<path>:<tag>``; the check
is a manifest HEAD each, with the pull secret where the registry asks for one.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.images_check import (
    RegistryAuthError,
    UnreachableRegistryError,
    check_images,
    credentials_for,
    scheme_for,
)
from aistack.local.cluster import free_port
from benchmarks.apply import offline
from components.images import parse_image
from components.versions import KUBERNETES_MINOR
from tests.conftest import ROOT, STACKS, TOOLS, built_tool, need, plan_values, run_cli, stack_values
from tests.registry import Registry, push_image, running

MIRROR = (ROOT.parent / "shared" / "mirror").resolve()
CHART = "kubernetes:helm.sh/v4:Chart"
OPERATOR = "nvcr.io/nvidia/gpu-operator:v26.7.0"
KUEUE = "registry.k8s.io/kueue/kueue:v0.19.2"
BUSYBOX = "busybox:1.37"  # a short name: docker.io/library/busybox in the registry


def helm() -> Path:
    found = built_tool("helm")
    if found is None:
        need("helm", "no helm binary (scripts/tools.sh builds it)")
    return found


def chart_yaml(tgz: Path) -> dict[str, Any]:
    """The Chart.yaml at the top of a packaged chart: what `helm push` names the OCI artifact after."""
    with tarfile.open(tgz) as tar:
        top = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
        data = tar.extractfile(top)
        assert data is not None
        doc: dict[str, Any] = yaml.safe_load(data.read())
    return doc


@pytest.fixture(scope="module")
def charts_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry holding every chart of the shared mirror under charts/ (`helm push`)."""
    if not MIRROR.is_dir():
        need("mirror", f"no {MIRROR} in this workspace")
    helm_bin = helm()
    root = tmp_path_factory.mktemp("charts-registry")
    with running(root / "registry", access_log=True) as registry:
        env = {**os.environ, "HELM_REGISTRY_CONFIG": str(root / "helm-registry.json")}
        for tgz in sorted(MIRROR.glob("*.tgz")):
            argv = [str(helm_bin), "push", str(tgz), f"oci://{registry.host}/charts", "--plain-http"]
            pushed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
            assert pushed.returncode == 0, pushed.stderr
        yield registry


def local_values(upstream: dict[str, Any]) -> dict[str, Any]:
    return {**stack_values("local"), "upstream": upstream}


@pytest.mark.parametrize("base", ["local", "aws-gpu"])  # aws-gpu: Karpenter's chart, an OCI one upstream too
def test_each_chart_a_stack_installs_comes_from_the_oci_mirror(
    charts_registry: Registry, tmp_path: Path, base: str
) -> None:
    """The chart references the product makes for ``charts_mirror: oci://…`` (the offline plan's Chart
    inputs), each one shown and rendered by helm from the registry; what comes back is the chart the
    mirror's .tgz holds (its own Chart.yaml, read here from the archive)."""
    mirror = f"oci://{charts_registry.host}/charts"
    upstream = {"install": True, "charts_mirror": mirror, "manifests_mirror": str(MIRROR)}
    planned = plan_values({**stack_values(base), "upstream": upstream}, stack=base)
    charts = [r for r in planned if r.type == CHART]
    assert len(charts) >= 4, [r.name for r in charts]
    packaged = {(c["name"], c["version"]) for c in map(chart_yaml, MIRROR.glob("*.tgz"))}
    env = {**os.environ, "HELM_REGISTRY_CONFIG": str(tmp_path / "registry.json"), "HELM_CACHE_HOME": str(tmp_path)}
    for r in charts:
        chart, version = r.inputs["chart"], r.inputs["version"]
        assert chart.startswith(f"{mirror}/") and not r.inputs.get("repositoryOpts"), r.inputs
        shown = subprocess.run(
            [str(helm()), "show", "chart", chart, "--version", version, "--plain-http"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert shown.returncode == 0, f"{chart} {version}: {shown.stderr}"
        meta = yaml.safe_load(shown.stdout)
        assert (meta["name"], meta["version"]) in packaged and chart.endswith(f"/{meta['name']}"), (chart, meta)
        values = tmp_path / f"{r.name}.values.json"
        values.write_text(json.dumps(r.inputs.get("values") or {}))
        argv = ["template", "t", chart, "--version", version, "--plain-http", "-f", str(values)]
        rendered = subprocess.run(
            [str(helm()), *argv, "--kube-version", f"v{KUBERNETES_MINOR}.0", "-n", r.inputs.get("namespace") or "t"],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            check=False,
        )
        assert rendered.returncode == 0 and "kind:" in rendered.stdout, f"{chart}: {rendered.stderr[-800:]}"


@pytest.mark.e2e
def test_pulumi_preview_of_the_local_stack_takes_every_chart_from_the_oci_mirror(
    charts_registry: Registry, tmp_path: Path
) -> None:
    """The real engine: `pulumi preview -s local` with ``charts_mirror: oci://127.0.0.1:PORT/charts`` against
    a local cluster, every proxy pointing at a closed port (nothing but loopback answers). Helm v4 Chart
    renders each chart during preview, so each one the plan names must be fetched from the registry: its
    manifest GET is in the registry's own access log."""
    from aistack.local import cluster, deploy, seed
    from components.spec import load_stack

    bin_dir = next((p.parent for p in sorted(TOOLS.glob("*/bin/pulumi"))), None)
    needed = (*cluster.COMPONENTS, "pulumi", "pulumi-resource-kubernetes")
    if bin_dir is None or not all((bin_dir / c).exists() for c in needed) or deploy.language_host(bin_dir) is None:
        need("tools", f"no engine, language host and cluster tools under {TOOLS} (scripts/tools.sh builds them)")
    mirror = f"oci://{charts_registry.host}/charts"
    upstream = {"install": True, "charts_mirror": mirror, "manifests_mirror": str(MIRROR)}
    planned = plan_values(local_values(upstream))
    charts = {(r.inputs["chart"].removeprefix(f"{mirror}/"), r.inputs["version"]) for r in planned if r.type == CHART}
    offset = charts_registry.log.stat().st_size
    spec = load_stack("local").spec
    layout = cluster.up(bin_dir, cluster.Layout(tmp_path / "cluster"))
    with offline():  # every download through a closed proxy: the machine has no internet
        try:
            seed.apply(layout.kubeconfig, seed.fake_nodes(spec))
            seed.apply(layout.kubeconfig, seed.resource_slices(spec))
            state = tmp_path / "state"
            cli = deploy.Cli.for_stack("local", bin_dir, state=state, kubeconfig=layout.kubeconfig, upstream=upstream)
            cli.ensure_stack()
            outcome = cli.run("preview", on_line=lambda line: print(line, end=""))
        finally:
            cluster.down(layout)
    assert outcome.rc == 0, outcome.tail(40)
    previewed = [urn for op, type_, urn in outcome.steps if type_ == CHART and op == "create"]
    assert len(previewed) == len(charts), previewed
    with charts_registry.log.open("rb") as log:
        log.seek(offset)
        requests = log.read().decode(errors="replace")
    fetched = {(name, version) for name, version in charts if f"GET /v2/charts/{name}/manifests/{version} " in requests}
    assert fetched == charts, f"never fetched from {mirror}: {sorted(charts - fetched)}"


# ---------------------------------------------------------------------------------- the image check


@pytest.fixture(scope="module")
def image_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry behind htpasswd auth holding three images under mirror/ (the site layout)."""
    with running(tmp_path_factory.mktemp("image-registry"), auth="htpasswd") as registry:
        yield registry


@pytest.fixture(scope="module")
def pushed(image_registry: Registry) -> dict[str, str]:
    """reference → manifest digest of what the test pushed: the operator and Kueue; busybox is not pushed."""
    return {
        OPERATOR: push_image(image_registry, "mirror/nvcr.io/nvidia/gpu-operator", "v26.7.0"),
        KUEUE: push_image(image_registry, "mirror/registry.k8s.io/kueue/kueue", "v0.19.2"),
    }


def test_the_registry_holds_what_was_pushed_and_nothing_else(image_registry: Registry, pushed: dict[str, str]) -> None:
    site = f"{image_registry.host}/mirror"
    found = check_images([OPERATOR, KUEUE], site, "puller:right-password")
    assert [(c.source, c.present) for c in found] == [(OPERATOR, True), (KUEUE, True)]
    assert found[0].mirrored == f"{site}/nvcr.io/nvidia/gpu-operator:v26.7.0"
    missing = check_images([OPERATOR, BUSYBOX], site, "puller:right-password")
    assert [(c.source, c.present) for c in missing] == [(OPERATOR, True), (BUSYBOX, False)]
    assert missing[1].copy_command == f"crane copy {BUSYBOX} {site}/docker.io/library/busybox:1.37"


def test_a_digest_reference_is_checked_by_its_digest(image_registry: Registry, pushed: dict[str, str]) -> None:
    """The digest the test computed from the manifest bytes it sent is found; another digest of the same
    repository is not, although the repository and its tag are there."""
    site = f"{image_registry.host}/mirror"
    right = f"nvcr.io/nvidia/gpu-operator@{pushed[OPERATOR]}"
    wrong = f"nvcr.io/nvidia/gpu-operator:v26.7.0@sha256:{'0' * 64}"
    found = check_images([right, wrong], site, image_registry.docker_config())
    assert [c.present for c in found] == [True, False]
    assert found[1].mirrored.endswith(f"/mirror/nvcr.io/nvidia/gpu-operator:v26.7.0@sha256:{'0' * 64}")


def test_wrong_or_no_credentials_are_refused_with_the_fix(image_registry: Registry, pushed: dict[str, str]) -> None:
    site = f"{image_registry.host}/mirror"
    for secret in ("puller:wrong-password", image_registry.docker_config(password="wrong-password")):
        with pytest.raises(
            RegistryAuthError, match=r"refused the credentials .*To fix: set upstream.image_pull_secret"
        ):
            check_images([OPERATOR], site, secret)
    with pytest.raises(RegistryAuthError, match="asks for credentials and the stack gives none"):
        check_images([OPERATOR], site, None)
    # A .dockerconfigjson naming only another registry gives none for this one, as for the kubelet.
    other = json.dumps({"auths": {"other.example:5000": {"username": "puller", "password": "right-password"}}})
    with pytest.raises(RegistryAuthError, match="gives none"):
        check_images([OPERATOR], site, other)


def test_a_registry_with_token_auth_is_checked_through_its_token_service(tmp_path: Path) -> None:
    """The registry's ``auth: token``: the check follows its Bearer challenge to the token service with the
    pull secret's account and asks for pull on each repository it looks at; a wrong password is refused
    there, by the token service."""
    with running(tmp_path / "registry", auth="token") as registry:
        assert registry.tokens is not None
        push_image(registry, "mirror/nvcr.io/nvidia/gpu-operator", "v26.7.0")
        site = f"{registry.host}/mirror"
        registry.tokens.scopes.clear()
        found = check_images([OPERATOR, BUSYBOX], site, registry.docker_config())
        assert [c.present for c in found] == [True, False]
        assert sorted(registry.tokens.scopes) == [
            "repository:mirror/docker.io/library/busybox:pull",
            "repository:mirror/nvcr.io/nvidia/gpu-operator:pull",
        ]
        with pytest.raises(RegistryAuthError, match="refused the credentials"):
            check_images([OPERATOR], site, "puller:wrong-password")


def test_a_repository_that_challenges_where_v2_did_not_gets_the_credentials(tmp_path: Path) -> None:
    """Some registries let anyone call ``GET /v2/`` and challenge per repository (the distribution registry
    challenges at /v2/ already, so a stand-in plays that one here): the check answers the challenge the HEAD
    itself gets, with the pull secret's account."""
    import http.server
    import threading

    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def do_HEAD(self) -> None:
            seen.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != "Basic dTpw":  # u:p
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="stand-in"')
            else:
                self.send_response(200 if "/gpu-operator/" in self.path else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        site = f"127.0.0.1:{server.server_address[1]}/mirror"
        found = check_images([OPERATOR, BUSYBOX], site, "u:p", workers=1)
        assert [c.present for c in found] == [True, False]
        assert seen[0] is None and seen[1:] == ["Basic dTpw"] * (len(seen) - 1)
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_registry_is_one_line() -> None:
    port = free_port()  # bound and released: nothing listens there now
    with pytest.raises(UnreachableRegistryError) as caught:
        check_images([OPERATOR], f"127.0.0.1:{port}/mirror")
    message = str(caught.value)
    assert "\n" not in message and f"127.0.0.1:{port} is unreachable" in message and "To fix:" in message


def test_pull_secret_shapes_and_schemes() -> None:
    """Hand-worked: a .dockerconfigjson key may carry a scheme and path (docker login writes
    https://index.docker.io/v1/); ``auth`` is base64 of USER:PASSWORD ("dTpw" = "u:p")."""
    config = json.dumps({"auths": {"https://reg.example:5000/v1/": {"auth": "dTpw"}}})
    found = credentials_for(config, "reg.example:5000")
    assert found is not None and (found.user, found.password) == ("u", "p")
    assert "p" not in repr(found).replace("password", "")
    assert credentials_for("a:b:c", "x") == credentials_for(json.dumps({"auths": {"x": {"auth": "YTpiOmM="}}}), "x")
    assert [scheme_for(h) for h in ("127.0.0.1:5000", "localhost", "[::1]:5000", "reg.example", "10.0.0.1:5000")] == [
        "http",
        "http",
        "http",
        "https",
        "https",
    ]


# ------------------------------------------------------------------- `aistack upstreams STACK`


def site_stack(tmp_path: Path, registry: str) -> Path:
    """The local stack, mirrored (the shared mirror) and pointed at ``registry``, as a stack file. Its pull secret,
    where a test needs one, comes through --pull-secret-file (secret_args): in a stack file it must be a Pulumi
    secret, which the Pulumi-secret test below makes with the real CLI."""
    doc: dict[str, Any] = yaml.safe_load((STACKS / "Pulumi.local.yaml").read_text())
    upstream: dict[str, Any] = {"charts_mirror": str(MIRROR), "manifests_mirror": str(MIRROR)}
    upstream["image_registry"] = registry
    doc["config"]["aistack:upstream"] = upstream
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def secret_args(tmp_path: Path, secret: str) -> list[str]:
    """`--pull-secret-file F` with ``secret`` (USER:PASSWORD or a .dockerconfigjson) in F."""
    file = tmp_path / f"pull-secret-{abs(hash(secret))}"
    file.write_text(secret)
    return ["--pull-secret-file", str(file)]


@pytest.fixture
def stack_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stack's image list stood in by a fixed one (aistack images renders the real one; its own tests
    cover that), so these run in seconds: the operator, Kueue and busybox."""
    images = importlib.import_module("aistack.cli.images")  # the module: aistack.cli.images is also the command
    listed = [OPERATOR, KUEUE, BUSYBOX]
    monkeypatch.setattr(images, "stack_images", lambda loaded: [parse_image(r, "test") for r in listed])
    return listed


def test_upstreams_names_each_missing_image_with_the_copy_command(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    image_registry: Registry,
    pushed: dict[str, str],
    stack_runs: list[str],
) -> None:
    site = f"{image_registry.host}/mirror"
    stack = site_stack(tmp_path, site)
    right = secret_args(tmp_path, "puller:right-password")
    code, out, err = run_cli(capsys, "upstreams", str(stack), *right)
    assert code == 1, err
    assert f"crane copy docker.io/library/busybox:1.37 {site}/docker.io/library/busybox:1.37" in err
    assert "gpu-operator" not in err and "kueue" not in err
    assert "images: 2 of 3" in out
    code, out, err = run_cli(capsys, "upstreams", str(stack), "--json", *right)
    assert code == 1
    images = {r["source"]: r["in_mirror"] for r in json.loads(out) if r["kind"] == "image"}
    assert images == {OPERATOR: "ok", KUEUE: "ok", "docker.io/library/busybox:1.37": "missing"}


def test_upstreams_passes_when_the_registry_holds_every_image(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    image_registry: Registry,
    pushed: dict[str, str],
    stack_runs: list[str],
) -> None:
    push_image(image_registry, "mirror/docker.io/library/busybox", "1.37")
    secret_file = tmp_path / "pull-secret.json"
    secret_file.write_text(image_registry.docker_config())
    # A whole .dockerconfigjson this time: the same check, with the credentials in the other shape.
    stack = site_stack(tmp_path, f"{image_registry.host}/mirror")
    code, out, err = run_cli(capsys, "upstreams", str(stack), "--pull-secret-file", str(secret_file))
    assert code == 0, err
    assert "images: 3 of 3" in out


def test_upstreams_with_wrong_credentials_or_no_registry_says_so_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    image_registry: Registry,
    pushed: dict[str, str],
    stack_runs: list[str],
) -> None:
    stack = site_stack(tmp_path, f"{image_registry.host}/mirror")
    code, _, err = run_cli(capsys, "upstreams", str(stack), *secret_args(tmp_path, "puller:wrong-password"))
    assert code == 2 and "Traceback" not in err
    assert f"image registry {image_registry.host} refused the credentials" in err and "To fix:" in err
    gone = site_stack(tmp_path, f"127.0.0.1:{free_port()}/mirror")
    code, _, err = run_cli(capsys, "upstreams", str(gone))
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "is unreachable" in err, err


def test_upstreams_reads_a_pulumi_secret_pull_secret_through_the_cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    image_registry: Registry,
    pushed: dict[str, str],
    stack_runs: list[str],
) -> None:
    """`pulumi config set --secret --path 'aistack:upstream.image_pull_secret'` as the spec's doc says, in a
    file backend: the stack file holds only ciphertext, and the check uses the decrypted value (the right
    password passes the registry's auth, a wrong one is refused); without the passphrase, one line naming
    the fix."""
    pulumi = built_tool("pulumi")
    if pulumi is None:
        need("tools", f"no pulumi under {TOOLS} (scripts/tools.sh builds it)")
    push_image(image_registry, "mirror/docker.io/library/busybox", "1.37")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "aistack", "runtime": "python"}))
    stack = site_stack(project, f"{image_registry.host}/mirror")
    stack = stack.rename(project / "Pulumi.regsecret.yaml")
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "aistack-local-demo",  # the committed local stack's salt was made with it
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (tmp_path / "backend").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def engine(*args: str) -> None:
        done = subprocess.run([str(pulumi), *args, "--non-interactive"], cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    engine("stack", "init", "regsecret", "--secrets-provider", "passphrase")
    for password, code in (("wrong-password", 2), ("right-password", 0)):
        engine("config", "set", "--secret", "--path", "aistack:upstream.image_pull_secret", f"puller:{password}")
        written = yaml.safe_load(stack.read_text())
        secret = written["config"]["aistack:upstream"]["image_pull_secret"]
        assert set(secret) == {"secure"} and password not in secret["secure"]  # ciphertext only
        # Only that value is taken from the file the CLI rewrote: Pulumi 3.259's `config set` also rewrites
        # every top-level value as a string (data_protection: "false"), which the spec rejects.
        doc = yaml.safe_load((STACKS / "Pulumi.local.yaml").read_text())
        doc["config"]["aistack:upstream"] = {**written["config"]["aistack:upstream"], "image_pull_secret": secret}
        stack.write_text(yaml.safe_dump(doc))
        got, out, err = run_cli(capsys, "upstreams", str(stack))
        assert got == code, err
    assert "images: 3 of 3" in out
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-passphrase")
    got, _, err = run_cli(capsys, "upstreams", str(stack))
    assert got == 2 and "Traceback" not in err
    assert "aistack:upstream.image_pull_secret is a Pulumi secret" in err and "--pull-secret-file" in err


@pytest.mark.e2e
def test_upstreams_checks_every_image_the_local_stack_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the real image list (`aistack images`' renderer, from the shared mirror): every image pushed but
    one, under the site layout, and exactly that one is named missing, with its copy command. (The list is
    rendered once, here, and handed to the command as it is: a render takes ~25 s on a loaded machine.)"""
    from components.spec import load_stack

    if not MIRROR.is_dir():
        need("mirror", f"no {MIRROR} in this workspace")
    helm()
    images = importlib.import_module("aistack.cli.images")
    with running(tmp_path / "registry") as registry:
        site = f"{registry.host}/site"
        stack = site_stack(tmp_path, site)
        found = images.stack_images(load_stack(str(stack)))
        monkeypatch.setattr(images, "stack_images", lambda loaded: found)
        listed = [ref.reference for ref in found]
        assert len(listed) > 30, listed
        left_out = next(ref for ref in listed if ref.startswith("nvcr.io/nvidia/gpu-operator:"))
        for ref in listed:
            if ref != left_out:
                image = parse_image(ref)
                push_image(registry, f"site/{image.registry}/{image.repository}", image.tag or "latest")
        code, out, err = run_cli(capsys, "upstreams", str(stack), "--json")
    assert code == 1, err
    rows = [r for r in json.loads(out) if r["kind"] == "image"]
    assert sorted(r["source"] for r in rows) == sorted(listed)
    assert [r["source"] for r in rows if r["in_mirror"] == "missing"] == [left_out]
    missing = next(r for r in rows if r["source"] == left_out)
    assert missing["copy"] == f"crane copy {left_out} {site}/{left_out}"
