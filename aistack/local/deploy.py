"""Deploying a stack with the real Pulumi engine through the Automation API.

The program runs inline (in this process), so no language host is needed: the proxy does not
serve the untagged pulumi-language-python module. State lives in a local file backend under the
local cluster's state directory; the stack's config is the file in stacks/, copied into a private
work directory so the engine's additions (the passphrase salt) never touch the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from .cluster import STATE_DIR

PROJECT = "aistack"
# A throwaway passphrase for the local demo's file backend only; set PULUMI_CONFIG_PASSPHRASE to override.
LOCAL_PASSPHRASE = "aistack-local-demo"
REPO = Path(__file__).resolve().parents[2]


def engine_env(bin_dir: Path, state: Path = STATE_DIR) -> dict[str, str]:
    return {
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # A missing plugin must fail fast, never trigger a download.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": str(state / "pulumi-home"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def select(
    stack: str,
    bin_dir: Path,
    program: Callable[[], Any],
    *,
    state: Path = STATE_DIR,
    kubeconfig: Path | None = None,
    stacks_dir: Path = REPO / "stacks",
) -> auto.Stack:
    """The stack in the local file backend under ``state``; ``kubeconfig`` re-points its cluster."""
    work = state / "project"
    work.mkdir(parents=True, exist_ok=True)
    backend = state / "backend"
    backend.mkdir(parents=True, exist_ok=True)
    target = work / f"Pulumi.{stack}.yaml"
    if not target.exists():
        doc = yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text())
        if kubeconfig is not None:
            cluster = doc["config"].setdefault("aistack:cluster", {})
            cluster["kubeconfig"] = str(kubeconfig)
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = auto.ProjectSettings(
        name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=f"file://{backend}")
    )
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent)),
        project_settings=settings,
        env_vars=engine_env(bin_dir, state),
        secrets_provider="passphrase",
    )
    return auto.create_or_select_stack(stack_name=stack, project_name=PROJECT, program=program, opts=opts)
