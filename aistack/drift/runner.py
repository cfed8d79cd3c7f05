"""Running drift checks through the Pulumi Automation API (never downloads the CLI)."""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import events

from .report import StackReport, pending_items, refresh_items

# Where `scripts/tools.sh` builds the engine: ~/.cache/aistack/tools/<versions>/bin.
TOOLS_DIR = Path(os.environ.get("AISTACK_TOOLS_DIR", "~/.cache/aistack/tools")).expanduser()


class DriftError(Exception):
    """A problem that is not drift: no CLI, no credentials, no stack, a locked backend."""


def find_pulumi() -> Path:
    """The pulumi CLI on PATH, else the newest one the project's setup built."""
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    built = sorted(glob.glob(str(TOOLS_DIR / "*" / "bin" / "pulumi")), key=os.path.getmtime)
    if built:
        return Path(built[-1])
    raise DriftError(
        f"no pulumi CLI on PATH or in {TOOLS_DIR}/*/bin. To fix: install the Pulumi CLI (the version of the "
        "pulumi SDK in use) on PATH, or build it into that cache, then retry. aistack never downloads it."
    )


def explain(exc: Exception, stack: str) -> str:
    text = str(exc)
    if isinstance(exc, auto.StackNotFoundError):
        return f"stack '{stack}' does not exist in this backend. To fix: `pulumi stack ls` lists the stacks there."
    if isinstance(exc, auto.ConcurrentUpdateError):
        return f"stack '{stack}' is locked by another update. To fix: wait for it, or `pulumi cancel` if it died."
    if "passphrase" in text.lower():
        return "the stack's secrets cannot be decrypted. To fix: set PULUMI_CONFIG_PASSPHRASE (or _FILE) for it."
    if "credentials" in text.lower() or "pulumi login" in text:
        return "no credentials for the backend. To fix: `pulumi login <backend>` or set PULUMI_ACCESS_TOKEN."
    return cli_message(text) or type(exc).__name__


def cli_message(text: str) -> str:
    """The CLI's own words from an Automation API error, whose text is '\n code: N\n stdout: …\n stderr: …':
    the first `error:` line of stderr (then of anything), never the bare exit code."""
    _, _, stderr = text.partition(" stderr:")
    for source in (stderr, text):
        lines = [line.strip() for line in source.splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("code:", "stdout:", "stderr:"))]
        error_lines = [line for line in lines if line.startswith("error:")]
        if error_lines or lines:
            return (error_lines or lines)[0]
    code = re.search(r"code: (-?\d+)", text)
    return f"the pulumi CLI exited with code {code.group(1)} and no message" if code else ""


def check_stack(
    stack: str,
    work_dir: Path,
    *,
    include_pending: bool = False,
    accept: bool = False,
    pulumi: Path | None = None,
) -> StackReport:
    """Drift of one stack. Preview-only unless ``accept`` (then the refresh is written to state)."""
    report = StackReport(stack)
    try:
        binary = pulumi or find_pulumi()
        command = auto.PulumiCommand(root=str(binary.parent.parent), skip_version_check=True)
        workspace = auto.LocalWorkspace(work_dir=str(work_dir), pulumi_command=command)
        target = auto.Stack.select(stack, workspace)
        seen: list[events.EngineEvent] = []
        quiet: dict[str, Any] = {"on_output": lambda _: None, "show_secrets": False}
        if accept:
            target.refresh(on_event=seen.append, **quiet)
        else:
            target.preview_refresh(on_event=seen.append, **quiet)
        report.items = refresh_items(stack, seen)
        if include_pending:
            planned: list[events.EngineEvent] = []
            target.preview(refresh=True, on_event=planned.append, diff=True, **quiet)
            report.items += pending_items(stack, planned)
    except DriftError as exc:
        report.error = str(exc)
    except Exception as exc:  # the Automation API raises CommandError subclasses with CLI text
        report.error = explain(exc, stack)
    return report


def check_stacks(
    stacks: Sequence[str],
    work_dir: Path,
    *,
    parallel: int = 4,
    include_pending: bool = False,
    accept: bool = False,
    on_done: Callable[[StackReport], None] | None = None,
) -> list[StackReport]:
    """Several stacks at once, at most ``parallel`` engines at a time; reports in the given order."""
    pulumi = find_pulumi()

    def one(name: str) -> StackReport:
        r = check_stack(name, work_dir, include_pending=include_pending, accept=accept, pulumi=pulumi)
        if on_done:
            on_done(r)
        return r

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, stacks))
