"""Shared fixtures. Tests run from any directory; paths are anchored at the repo root."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from aistack.offline import PlannedResource

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
EXAMPLE_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))
# Where scripts/tools.sh builds the engine, the cluster's binaries, helm, kubectl and actionlint.
TOOLS = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()


def built_tool(name: str) -> Path | None:
    """``name`` as scripts/tools.sh built it (TOOLS/<versions>/bin/NAME, the newest build), else None."""
    found = sorted(TOOLS.glob(f"*/bin/{name}"))
    return found[-1] if found else None


# ------------------------------------------------------------------------------------------ skips
# Every skip in tests/ goes through need(): a test that cannot run here says which capability it lacks,
# and under CI (the CI environment variable set) a capability CI must have fails the test instead, so
# a CI run cannot pass by skipping what it exists to check.

# What .ci/run provides (make test: setup sshd shellcheck chromium tools, the checkov and policy venvs,
# with ../shared beside the clone), and what each is.
CI_MUST_HAVE: dict[str, str] = {
    "tools": f"the engine and local-cluster binaries scripts/tools.sh builds into {TOOLS}",
    "helm": f"helm, built by scripts/tools.sh into {TOOLS}",
    "kubectl": f"kubectl (kustomize v5), built by scripts/tools.sh into {TOOLS}",
    "actionlint": f"actionlint, built by scripts/tools.sh into {TOOLS}",
    "shellcheck": "shellcheck on PATH (make shellcheck)",
    "chromium": "chromium on PATH (make chromium)",
    "sshd": "an OpenSSH server (make sshd)",
    "checkov": "checkov in .venv-checkov (make test creates it)",
    "policies-venv": "the policy pack's policies/venv (make test creates it)",
    "mirror": "the pinned upstreams in ../shared/mirror (CI runs with ../shared beside the clone)",
    "shared-crds": "the upstream CRDs in ../shared/crds (CI runs with ../shared beside the clone)",
    "pexpect": "the pexpect package (a dev dependency of pyproject.toml)",
}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need(capability: str, why: str) -> NoReturn:
    """Skip the running test for want of ``capability`` (``why``: what is missing and how to get it);
    under CI, fail instead when CI must have it (CI_MUST_HAVE)."""
    if under_ci() and capability in CI_MUST_HAVE:
        pytest.fail(f"CI must have {CI_MUST_HAVE[capability]}, and this run has not: {why}", pytrace=False)
    pytest.skip(f"[{capability}] {why}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "need(capability, why, have): run only when have is true, else need(capability, why)"
    )


def check_need_markers(item: pytest.Item) -> None:
    """``pytest.mark.need(capability, why, have=bool)`` on a test or module: need() unless ``have``."""
    for mark in item.iter_markers("need"):
        capability, why = mark.args
        if not mark.kwargs["have"]:
            need(capability, why)


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_need_markers(item)


@pytest.fixture(autouse=True)
def _at_repo_root() -> Iterator[None]:
    before = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)


def stack_values(name: str) -> dict[str, Any]:
    """The aistack:* keys of an example stack, namespace stripped."""
    from components.spec.loader import SECRET_CONFIG_KEYS

    doc = yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())
    values = {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("aistack:")}
    return {k: v for k, v in values.items() if k not in SECRET_CONFIG_KEYS}


def of_type(resources: list[PlannedResource], type_: str) -> list[PlannedResource]:
    return [r for r in resources if r.type == type_]


def one(resources: list[PlannedResource], type_: str) -> PlannedResource:
    (found,) = of_type(resources, type_)
    return found


# Object-store credentials for specs that need them, as `pulumi config set --secret` would store them.
CREDENTIALS = {"object_store_access_key_id": "AKIATEST", "object_store_secret_access_key": "s3cr3t-test-key"}


def plan_values(
    values: dict[str, Any], stack: str = "test", secrets: dict[str, str] | None = None
) -> list[PlannedResource]:
    """Plan a spec given as aistack:* values (namespace stripped), under a fixed stack name.

    ``secrets``: extra aistack:* config keys given as Pulumi secrets (default: test object-store credentials).
    """
    from pathlib import Path as _Path

    from aistack.offline import plan
    from components.spec import LoadedStack, parse_spec

    spec = parse_spec(values)
    secrets = CREDENTIALS if secrets is None else secrets
    config = {f"aistack:{k}": v for k, v in {**values, **secrets}.items()}
    return plan(LoadedStack(stack, _Path("x"), spec, config, tuple(f"aistack:{k}" for k in secrets))).resources


def plan_of(values: dict[str, Any], stack: str) -> Any:
    """The offline plan (aistack.offline.Plan) of a spec given as aistack:* values, run as Pulumi stack ``stack``."""
    from pathlib import Path as _Path

    from aistack.offline import plan
    from components.spec import LoadedStack, parse_spec

    return plan(LoadedStack(stack, _Path("x"), parse_spec(values), {f"aistack:{k}": v for k, v in values.items()}))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`aistack ARGS` in this process: exit code, stdout, stderr."""
    from aistack.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def config_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node inside a nested config (keys and list indexes), for the mutation fuzzers."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += config_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += config_paths(v, (*prefix, i))
    return out


def run_aistack(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 180
) -> subprocess.CompletedProcess[str]:
    """`python -m aistack ARGS` in a fresh process, as a user runs it (exit code, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "aistack", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As on a machine with no AWS credentials at all: no keys, profiles, files or instance role."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup off the machine
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
