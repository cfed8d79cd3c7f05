"""The README's by-hand path (`eval "$(aistack local env)"`, then plain `pulumi preview -s local`) sees the
sources the demo chose, and an unreachable source is one line, not a traceback (issue #28 item 4).

The oracles are hand-written: the JSON a shell reads back from the exported variable, the upstream
section the demo's mirror route means (aistack/local/upstream.py's docstring), the public hosts the
upstream projects document for their charts and manifests, and the real `pulumi` CLI's output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aistack.local import upstream
from aistack.preflight import sources
from components import local_overrides
from components.spec import load_stack
from tests.conftest import need, run_cli

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()
MIRRORED = {"install": True, "charts_mirror": "/srv/mirror", "manifests_mirror": "/srv/mirror"}


def bag(upstream_json: str = "{}") -> dict[str, Any]:
    """A config bag as the engine hands it over: structured values as JSON text."""
    return {
        "aistack:target": "onprem",
        "aistack:upstream": upstream_json,
        "aistack:cluster": json.dumps({"kubeconfig": "~/.cache/aistack/local/kubeconfig", "simulated": True}),
    }


def test_no_variable_changes_nothing() -> None:
    assert local_overrides.apply(bag(), "local", {}) == (bag(), None)


def test_the_variable_replaces_the_upstream_section_and_the_kubeconfig_of_its_own_stack() -> None:
    raw = local_overrides.encode("local", MIRRORED, "/tmp/k/kubeconfig")
    out, note = local_overrides.apply(bag(), "local", {local_overrides.ENV: raw})
    assert json.loads(out["aistack:upstream"]) == MIRRORED
    assert json.loads(out["aistack:cluster"]) == {"kubeconfig": "/tmp/k/kubeconfig", "simulated": True}
    assert out["aistack:target"] == "onprem"
    assert note is not None and local_overrides.ENV in note and "stack local" in note


def test_a_shell_set_up_for_local_leaves_other_stacks_alone() -> None:
    raw = local_overrides.encode("local", MIRRORED, None)
    assert local_overrides.apply(bag(), "aws-gpu", {local_overrides.ENV: raw}) == (bag(), None)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{not json", "is not JSON"),
        ('["local"]', "JSON object with a 'stack'"),
        ('{"stack": "local", "upstreams": {}}', "unknown field(s) upstreams"),
        ('{"stack": "local", "upstream": "mirror"}', "upstream must be an object"),
        ('{"stack": "local", "kubeconfig": 3}', "kubeconfig must be a path"),
    ],
)
def test_a_malformed_variable_is_an_error_naming_it_and_the_fix(raw: str, says: str) -> None:
    with pytest.raises(local_overrides.OverrideError) as e:
        local_overrides.apply(bag(), "local", {local_overrides.ENV: raw})
    assert says in str(e.value) and str(e.value).startswith(local_overrides.ENV) and "To fix:" in str(e.value)


def test_local_env_exports_what_the_demo_chose_as_a_shell_reads_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    route = upstream.UpstreamRoute(kind="mirror", why="the mirror", mirror="/srv/mirror")
    monkeypatch.setattr(upstream, "recorded", lambda state=None: route)
    code, out, _ = run_cli(capsys, "local", "env")
    assert code == 0
    shell = subprocess.run(
        ["bash", "-c", f'{out}\nprintf %s "${local_overrides.ENV}"'], capture_output=True, text=True, check=True
    )
    assert json.loads(shell.stdout) == {"stack": "local", "upstream": MIRRORED}


def test_local_env_unsets_the_variable_when_the_stack_is_taken_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(upstream, "recorded", lambda state=None: None)
    code, out, _ = run_cli(capsys, "local", "env")
    assert code == 0 and f"unset {local_overrides.ENV}" in out.splitlines()


def test_the_local_stack_reaches_the_hosts_its_upstreams_publish_from() -> None:
    spec = load_stack("local").spec
    hosts = {e.host for e in sources.endpoints(sources.references(spec))}
    # From the projects' install docs: NVIDIA's Helm repository (GPU Operator, DRA driver), Kueue's OCI charts
    # on registry.k8s.io, prometheus-community's OCI charts on ghcr.io, kubeflow/manifests on GitHub.
    assert {"helm.ngc.nvidia.com", "registry.k8s.io", "ghcr.io", "github.com"} <= hosts


def test_a_directory_mirror_needs_no_connection() -> None:
    spec = load_stack("local").spec
    mirrored = spec.model_copy(update={"upstream": spec.upstream.model_copy(update=MIRRORED)})
    assert sources.endpoints(sources.references(mirrored)) == []


def test_an_unreachable_host_is_one_line_naming_it_the_upstreams_and_the_fix() -> None:
    spec = load_stack("local").spec
    failed = sources.unreachable(spec, connect=lambda addr: "Name or service not known", proxies={})
    line = sources.message("local", failed)
    assert "\n" not in line
    assert "registry.k8s.io:443 (Name or service not known) for kueue" in line
    assert "To fix:" in line and "aistack local env" in line


def test_connections_go_through_the_proxy_the_environment_names() -> None:
    spec = load_stack("local").spec
    tried: list[tuple[str, int]] = []
    sources.unreachable(spec, connect=lambda addr: tried.append(addr), proxies={"https": "http://proxy.corp:3128"})
    assert set(tried) == {("proxy.corp", 3128)}


def _pulumi_env(tmp_path: Path, bin_dir: Path) -> dict[str, str]:
    from aistack.local import deploy

    closed = "http://127.0.0.1:9"  # nothing listens: a machine without internet, as fast as it gets
    env = {**os.environ, **deploy.engine_env(bin_dir, tmp_path)}
    env.update({k: closed for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})  # the engine's own gRPC
    env.pop(local_overrides.ENV, None)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def test_plain_pulumi_preview_without_a_source_says_so_in_one_line(tmp_path: Path) -> None:
    """The README's by-hand step on a machine with neither internet nor the demo's variable: the real CLI, the
    committed stack file, the project directory."""
    from aistack.local import deploy

    bin_dir = next((b for b in sorted(TOOLS.glob("*/bin")) if deploy.language_host(b) is not None), None)
    if bin_dir is None:
        need("tools", f"no pulumi with its Python language host under {TOOLS} (scripts/tools.sh builds them)")
    env = _pulumi_env(tmp_path, bin_dir)
    cli = deploy.Cli.for_stack("local", bin_dir, state=tmp_path)
    assert cli.config_file is None  # the committed file, as a user's `pulumi preview -s local` reads it
    cli.ensure_stack()
    result = subprocess.run(
        [str(bin_dir / "pulumi"), "preview", "-s", "local", "--non-interactive"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "upstream sources unreachable:" in out and "aistack local env" in out, out
    assert "Traceback" not in out, out


def test_the_demos_sources_go_on_top_of_the_stacks_own_pins() -> None:
    """A stack that pins a release (upstream.versions) keeps the pin when the demo, or `aistack local env`, adds the
    mirror it found: the sources are added to the section, not put in its place."""
    pinned = bag(json.dumps({"versions": {"kueue": "0.18.6"}}))
    raw = local_overrides.encode("local", MIRRORED, None)
    out, _ = local_overrides.apply(pinned, "local", {local_overrides.ENV: raw})
    assert json.loads(out["aistack:upstream"]) == {**MIRRORED, "versions": {"kueue": "0.18.6"}}


def test_the_demos_private_config_keeps_the_stacks_own_pins(tmp_path: Path) -> None:
    import yaml

    from aistack.local import deploy

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    doc["config"]["aistack:upstream"] = {"versions": {"kueue": "0.18.6"}}
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.local.yaml").write_text(yaml.safe_dump(doc))
    copy = deploy.prepare("local", state=tmp_path / "state", stacks_dir=stacks, upstream=MIRRORED)
    written = yaml.safe_load(copy.read_text())["config"]["aistack:upstream"]
    assert written == {**MIRRORED, "versions": {"kueue": "0.18.6"}}
